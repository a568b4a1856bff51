// Checks recd's web dashboard in a real headless Chromium (Debian's, driven by playwright-core).
//
//   node dashboard_check.mjs --url http://127.0.0.1:PORT/dashboard --user ID [--screenshots DIR]
//                            [--key ADMIN_KEY]
//
// With --key (a recd started with --keys), the page must first ask for a key (its requests get
// 401), then work as without keys once the key is typed into it.
// Exit 0 when every check passes, 1 otherwise (failures listed on stderr). The last line on
// stdout is a one-line JSON summary. CHROMIUM overrides the browser path (/usr/bin/chromium).
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const DATA_TIMEOUT_MS = 15000; // the page polls every 2 s, so data must show well within this
const STEP_TIMEOUT_MS = 10000;

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i], v = argv[i + 1];
    if (!["--url", "--user", "--screenshots", "--key"].includes(k) || v === undefined) {
      console.error(`usage: node dashboard_check.mjs --url URL --user ID [--screenshots DIR] (bad argument ${k})`);
      process.exit(2);
    }
    out[k.slice(2)] = v;
  }
  if (!out.url || !out.user) {
    console.error("usage: node dashboard_check.mjs --url URL --user ID [--screenshots DIR]");
    process.exit(2);
  }
  return out;
}

const args = parseArgs(process.argv.slice(2));
const started = Date.now();
const failures = [];
const summary = { ok: false, url: args.url };
// An id no one has: its lookup is the one request allowed (and expected) to answer 404.
const unknownUser = `no-such-user-${process.pid}-${Date.now()}`;
const unknownPath = "/v1/users/" + encodeURIComponent(unknownUser);
const isUnknownLookup = (url) => { try { return new URL(url).pathname === unknownPath; } catch { return false; } };
// With --key: URLs that answered 401 to a request sent without a key, before one was typed in.
// Those are the expected ones (the page learns that it needs a key from them); a 401 to a
// request that carried a key, or any 403, is a failure.
const keylessRefusals = new Set();
let unauthorized = 0;

// Runs one named check; a failure is recorded and the run goes on, so one report lists them all.
async function check(name, fn) {
  try {
    await fn();
  } catch (e) {
    failures.push(`${name}: ${String(e.message || e).split("\n")[0]}`);
  }
}

// A hung browser must not hang the test suite.
setTimeout(() => {
  failures.push("timed out after 120 s");
  finish(null);
}, 120000).unref();

let finished = false;
async function finish(browser) {
  if (finished) return;
  finished = true;
  summary.ok = failures.length === 0;
  summary.elapsed_s = +((Date.now() - started) / 1000).toFixed(1);
  summary.failures = failures;
  if (browser) await browser.close().catch(() => {});
  if (failures.length) console.error("dashboard check FAILED:\n" + failures.map((f) => "  - " + f).join("\n"));
  console.log(JSON.stringify(summary));
  process.exit(failures.length ? 1 : 0);
}

let browser = null;
try {
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    // Chromium refuses to start its sandbox as root (containers, CI); a container's small
    // /dev/shm can crash the renderer
    args: ["--disable-dev-shm-usage", ...(isRoot ? ["--no-sandbox"] : [])],
  });
} catch (e) {
  failures.push(`cannot launch Chromium: ${String(e.message).split("\n")[0]}`);
  await finish(null);
}

const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
page.setDefaultTimeout(STEP_TIMEOUT_MS);
const consoleErrors = [];
page.on("console", (m) => {
  // Chromium logs every 4xx as "Failed to load resource"; the unknown-user one is deliberate
  const url = m.location().url;
  if (m.type() === "error" && !isUnknownLookup(url) && !keylessRefusals.has(url)) consoleErrors.push(`console error: ${m.text()}`);
});
page.on("pageerror", (e) => consoleErrors.push(`page error: ${e.message}`));
page.on("requestfailed", (r) => {
  if (!finished) consoleErrors.push(`request failed: ${r.method()} ${r.url()} (${r.failure()?.errorText})`);
});
// The dashboard must work offline: anything it loads comes from recd itself (or is inline data:).
const origin = new URL(args.url).origin;
page.on("request", (r) => {
  const u = r.url();
  if (!u.startsWith("data:") && new URL(u).origin !== origin) consoleErrors.push(`request to another origin: ${u}`);
});
page.on("response", (r) => {
  if (args.key && r.status() === 401 && !r.request().headers()["authorization"]) {
    keylessRefusals.add(r.url());
    unauthorized++;
    return;
  }
  if (r.status() >= 400 && !isUnknownLookup(r.url())) consoleErrors.push(`HTTP ${r.status()} for ${r.url()}`);
});

await check("page loads", async () => {
  const resp = await page.goto(args.url, { waitUntil: "load", timeout: STEP_TIMEOUT_MS });
  if (!resp || resp.status() !== 200) throw new Error(`GET ${args.url} answered ${resp ? resp.status() : "nothing"}`);
});
if (failures.length) await finish(browser); // nothing else can pass without the page

if (args.key) {
  await check("asks for an API key", async () => {
    await page.waitForSelector("#key-form:not([hidden])", { timeout: DATA_TIMEOUT_MS });
    if (!unauthorized) throw new Error("the key field showed without a 401");
    summary.unauthorized_before_key = unauthorized;
  });
  await check("takes the key", async () => {
    await page.fill("#key-input", args.key);
    await page.click("#key-use");
    await page.waitForSelector("#key-form", { state: "hidden" });
  });
  if (failures.length) await finish(browser);
}

// What the data checks look at, read in the page in one go.
const state = () => page.evaluate(() => {
  const pts = (sel) => Number(document.querySelector(sel)?.getAttribute("data-points") || 0);
  return {
    events_text: document.querySelector("#stat-events .v")?.textContent || "",
    items_text: document.querySelector("#stat-items .v")?.textContent || "",
    events_chart: pts("#chart-events"),
    ctr_chart: pts("#experiments svg.ctr-chart"),
    drift_chart: pts("#chart-drift"),
    variant_rows: document.querySelectorAll("#experiments tr.variant-row").length,
  };
});
const dataProblems = (s) => [
  !/\d/.test(s.events_text) && `overview shows no event count (got "${s.events_text}")`,
  !/\d/.test(s.items_text) && `overview shows no item count (got "${s.items_text}")`,
  !(s.events_chart > 0) && "events/s chart has no points",
  !(s.ctr_chart > 0) && "experiment CTR chart has no points",
  !(s.drift_chart > 0) && "drift chart has no points",
  !(s.variant_rows >= 2) && `experiment table has ${s.variant_rows} variant rows, want >= 2`,
].filter(Boolean);

await check("data within 15 s", async () => {
  const deadline = Date.now() + DATA_TIMEOUT_MS;
  let s = await state();
  while (dataProblems(s).length && Date.now() < deadline) {
    await page.waitForTimeout(250);
    s = await state();
  }
  Object.assign(summary, { points: { events: s.events_chart, ctr: s.ctr_chart, drift: s.drift_chart },
                           variant_rows: s.variant_rows });
  const bad = dataProblems(s);
  if (bad.length) throw new Error(bad.join("; "));
});

// Types id into the lookup box and submits it.
async function lookup(id) {
  await page.fill("#user-input", id);
  await page.click("#user-lookup");
}

await check(`lookup of user ${args.user}`, async () => {
  await lookup(args.user);
  await page.waitForFunction(() =>
    document.querySelectorAll("#user-history tr.history-row").length > 0 &&
    [...document.querySelectorAll("#user-recs tr.rec-row .reason")].some((td) => td.textContent.trim() !== ""),
  null, { timeout: STEP_TIMEOUT_MS }).catch(async () => {
    const msg = await page.textContent("#lookup-msg").catch(() => "");
    throw new Error(`no history row or no recommendation with a reason (panel says "${msg}")`);
  });
  summary.history_rows = await page.locator("#user-history tr.history-row").count();
  summary.recs = await page.locator("#user-recs tr.rec-row").count();
});

if (args.screenshots) {
  await check("screenshots", async () => {
    mkdirSync(args.screenshots, { recursive: true });
    await page.screenshot({ path: join(args.screenshots, "dashboard.png"), fullPage: true });
    await page.locator("#lookup").screenshot({ path: join(args.screenshots, "dashboard-lookup.png") });
  });
}

await check("lookup of an unknown user", async () => {
  await lookup(unknownUser);
  await page.waitForFunction(() => /not found/i.test(document.querySelector("#lookup-msg")?.textContent || ""),
    null, { timeout: STEP_TIMEOUT_MS }).catch(async () => {
    const msg = await page.textContent("#lookup-msg").catch(() => "");
    throw new Error(`no not-found message (panel says "${msg}")`);
  });
});

summary.console_errors = consoleErrors.length;
failures.push(...consoleErrors);
await finish(browser);
