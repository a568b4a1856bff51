/* uid.c: keyed user ids (see uid.h). */
#include "core/uid.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/sha256.h"

struct rec_uid_key {
    struct rec_hmac_sha256_ctx mac;   /* keyed once; copied for every id */
};

/* Domain separation: ids never hold control characters, so no id hashes to the fingerprint. */
static const char fingerprint_label[] = "\x01recd user-id-key fingerprint";

int rec_uid_key_create(const void *key, size_t n, struct rec_uid_key **out, char *err,
                       size_t errlen)
{
    *out = NULL;
    if (n < REC_UID_KEY_MIN)
        return rec_errf(err, errlen, REC_EINVAL,
                        "the key has %zu bytes; it needs at least %d (e.g. head -c 32 "
                        "/dev/urandom > FILE)", n, REC_UID_KEY_MIN);
    struct rec_uid_key *k = malloc(sizeof *k);
    if (!k)
        return rec_errf(err, errlen, REC_ENOMEM, "out of memory");
    rec_hmac_sha256_init(&k->mac, key, n);
    *out = k;
    return 0;
}

int rec_uid_key_load(const char *path, struct rec_uid_key **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return rec_errf(err, errlen, REC_EIO, "cannot read the user id key file %s: %s", path,
                        strerror(errno));
    /* two bytes over the limit: room for a line end, and to tell a longer file */
    unsigned char buf[REC_UID_KEY_MAX + 3];
    size_t n = fread(buf, 1, sizeof buf, f);
    int bad = ferror(f);
    fclose(f);
    int rc;
    if (bad) {
        rc = rec_errf(err, errlen, REC_EIO, "error reading the user id key file %s", path);
        goto out;
    }
    if (n >= 2 && buf[n - 2] == '\r' && buf[n - 1] == '\n')
        n -= 2;
    else if (n >= 1 && buf[n - 1] == '\n')
        n -= 1;
    if (n > REC_UID_KEY_MAX) {
        rc = rec_errf(err, errlen, REC_EINVAL, "the user id key file %s is longer than %d bytes",
                      path, REC_UID_KEY_MAX);
        goto out;
    }
    char why[200];
    if ((rc = rec_uid_key_create(buf, n, out, why, sizeof why)))
        rec_errf(err, errlen, rc, "user id key file %s: %s", path, why);
out:
    explicit_bzero(buf, sizeof buf);
    return rc;
}

void rec_uid_key_destroy(struct rec_uid_key *k)
{
    if (!k)
        return;
    explicit_bzero(k, sizeof *k);
    free(k);
}

/* The first len/2 bytes of the MAC of msg, as len lowercase hex characters and a NUL. */
static void mac_hex(const struct rec_uid_key *k, const void *msg, size_t n, char *out, int len)
{
    static const char digits[] = "0123456789abcdef";
    struct rec_hmac_sha256_ctx h = k->mac;
    uint8_t d[REC_SHA256_SIZE];
    rec_hmac_sha256_update(&h, msg, n);
    rec_hmac_sha256_final(&h, d);
    for (int i = 0; i < len / 2; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[len] = '\0';
}

const char *rec_uid_map(const struct rec_uid_key *k, const char *id, char buf[REC_UID_BUF])
{
    if (!k)
        return id;
    mac_hex(k, id, strlen(id), buf, REC_UID_HEX);
    return buf;
}

void rec_uid_key_fingerprint(const struct rec_uid_key *k, char out[REC_UID_FINGERPRINT + 1])
{
    mac_hex(k, fingerprint_label, sizeof fingerprint_label - 1, out, REC_UID_FINGERPRINT);
}
