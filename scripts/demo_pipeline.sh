#!/bin/sh
# A curl session against a fresh `recd serve`: rules, user preferences, not-interested feedback,
# context and explanations at work. Usage: sh scripts/demo_pipeline.sh [path/to/recd]
# Needs curl and python3 (to pretty-print). Starts recd on a free port in a temp directory and
# stops it at the end.
set -eu
RECD=${1:-build/recd}
DIR=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
B=http://127.0.0.1:$PORT
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT

cat > "$DIR/rules.json" <<'EOF'
{"rules": [
  {"name": "in-stock", "filter": {"item.attributes.available": {"eq": true}}},
  {"name": "short-on-mobile-evening", "boost": 3,
   "when": {"all": [{"context.device": {"eq": "mobile"}}, {"context.hour": {"between": [17, 22]}},
                    {"item.attributes.duration_min": {"lt": 10}}]}},
  {"name": "promo-fr", "pin": [{"item": "doc-1", "position": 1}], "when": {"context.region": {"eq": "FR"}}}
]}
EOF
"$RECD" serve --port "$PORT" --data "$DIR/data" --rules "$DIR/rules.json" --log-level warn &
PID=$!
for _ in $(seq 50); do curl -fs "$B/health" >/dev/null 2>&1 && break; sleep 0.1; done

show() { python3 -c 'import json,sys; r=json.load(sys.stdin); print(json.dumps(r, indent=1, ensure_ascii=False))'; }
brief() { python3 -c '
import json,sys
r=json.load(sys.stdin)
for x in r["items"]:
    w=x.get("reason",{})
    print("  %-9s %-8s %-22s %s" % (x["id"], x["source"], w.get("kind",""), w.get("text","")))'; }
say() { printf '\n$ %s\n' "$*"; }

# a catalog: films (long), clips (short), docs; one clip out of stock
python3 - "$B" <<'EOF'
import json, sys, urllib.request
B = sys.argv[1]
def post(path, body):
    req = urllib.request.Request(B + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()
items = []
for k in range(12):
    items.append({"id": "film-%d" % k, "title": "Film %d" % k, "categories": ["film"],
                  "tags": ["drama" if k % 2 else "comedy"], "attributes": {"duration_min": 100, "available": True}})
    items.append({"id": "clip-%d" % k, "title": "Clip %d" % k, "categories": ["clip"],
                  "tags": ["comedy"], "attributes": {"duration_min": 4, "available": k != 3}})
    items.append({"id": "doc-%d" % k, "title": "Doc %d" % k, "categories": ["documentary"],
                  "tags": ["nature"], "attributes": {"duration_min": 50, "available": True}})
post("/v1/items", items)
ev = []
for u in range(30):  # film fans also watch clips; doc fans watch docs
    for k in range(6):
        ev.append({"user": "u%d" % u, "item": ("film-%d" if u % 2 else "doc-%d") % ((u + k) % 12), "type": "view"})
        if u % 2:
            ev.append({"user": "u%d" % u, "item": "clip-%d" % ((u + k) % 12), "type": "view"})
ev += [{"user": "ann", "item": "film-%d" % k, "type": "like"} for k in (0, 1, 2)]
ev += [{"user": "ann", "item": "clip-0", "type": "view"}]
post("/v1/events", ev)
urllib.request.urlopen(urllib.request.Request(B + "/v1/train?wait=1", b"", method="POST")).read()
EOF

say curl "$B/v1/rules"
curl -s "$B/v1/rules" | show
say curl "$B/v1/recommend/ann?n=6"
curl -s "$B/v1/recommend/ann?n=6" | brief
say curl "$B/v1/recommend/ann?n=6&device=mobile&hour=20"
curl -s "$B/v1/recommend/ann?n=6&device=mobile&hour=20" | brief
say curl "$B/v1/recommend/ann?n=6&region=FR"
curl -s "$B/v1/recommend/ann?n=6&region=FR" | brief
say curl -X PUT "$B/v1/users/ann/preferences" -d '{"exclude_categories":["clip"]}'
curl -s -X PUT "$B/v1/users/ann/preferences" -H 'Content-Type: application/json' -d '{"exclude_categories":["clip"]}' | show
say curl "$B/v1/recommend/ann?n=6&device=mobile&hour=20"
curl -s "$B/v1/recommend/ann?n=6&device=mobile&hour=20" | brief
say curl -X POST "$B/v1/events" -d '{"user":"ann","item":"film-3","type":"not_interested"}'
curl -s -X POST "$B/v1/events" -H 'Content-Type: application/json' -d '{"user":"ann","item":"film-3","type":"not_interested"}' | show
say curl "$B/v1/recommend/ann?n=6"
curl -s "$B/v1/recommend/ann?n=6" | brief
say curl "$B/v1/recommend/ann?n=4&diversity=0.8"
curl -s "$B/v1/recommend/ann?n=4&diversity=0.8" | brief
say curl -X POST "$B/v1/recommend/ann" -d '{"n":3,"debug":true,"context":{"device":"tv","tz":"+01:00"}}'
curl -s -X POST "$B/v1/recommend/ann" -H 'Content-Type: application/json' -d '{"n":3,"debug":true,"context":{"device":"tv","tz":"+01:00"}}' | show
say curl "$B/v1/recommend/ann?diversity=2"
curl -s "$B/v1/recommend/ann?diversity=2" | show
