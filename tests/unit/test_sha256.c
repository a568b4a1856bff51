/* core/sha256: SHA-256 known answers (FIPS 180-4 examples), HMAC-SHA256 known answers (all seven
 * test cases of RFC 4231), and the incremental interface against the one-call one at every
 * split of a message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sha256.h"

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void assert_sha256(const void *msg, size_t n, const char *want)
{
    uint8_t h[REC_SHA256_SIZE];
    char got[2 * REC_SHA256_SIZE + 1];
    rec_sha256(msg, n, h);
    hex(h, sizeof h, got);
    assert_string_equal(got, want);
}

/* FIPS 180-4 / the NIST CSRC examples (SHA256.pdf, SHA2_Additional.pdf). */
static void test_sha256_known_answers(void **state)
{
    assert_sha256("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    assert_int_equal(strlen(m448) * 8, 448);   /* its padding spills into a second block */
    assert_sha256(m448, strlen(m448),
                  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    assert_sha256("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                       "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    assert_sha256(m896, strlen(m896),
                  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    char *million = malloc(1000000);
    assert_non_null(million);
    memset(million, 'a', 1000000);
    assert_sha256(million, 1000000,
                  "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(million);
}

/* One RFC 4231 case: want is the MAC in hex, or its first 32 characters for test case 5
 * (truncated output). */
static void assert_hmac(const void *key, size_t klen, const void *data, size_t n,
                        const char *want)
{
    uint8_t mac[REC_SHA256_SIZE];
    char got[2 * REC_SHA256_SIZE + 1];
    rec_hmac_sha256(key, klen, data, n, mac);
    hex(mac, sizeof mac, got);
    assert_int_equal(strncmp(got, want, strlen(want)), 0);
}

static void test_hmac_rfc4231(void **state)
{
    uint8_t key[131], data[152];

    /* 1: a 20-byte key */
    memset(key, 0x0b, 20);
    assert_hmac(key, 20, "Hi There", 8,
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    /* 2: a key shorter than the output */
    assert_hmac("Jefe", 4, "what do ya want for nothing?", 28,
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* 3: combined length of key and data over 64 bytes */
    memset(key, 0xaa, 20);
    memset(data, 0xdd, 50);
    assert_hmac(key, 20, data, 50,
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
    /* 4: key 0x01..0x19 */
    for (int i = 0; i < 25; i++)
        key[i] = (uint8_t)(i + 1);
    memset(data, 0xcd, 50);
    assert_hmac(key, 25, data, 50,
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
    /* 5: output truncated to 128 bits (as keyed user ids are) */
    memset(key, 0x0c, 20);
    assert_hmac(key, 20, "Test With Truncation", 20, "a3b6167473100ee06e0c796c2955552b");
    /* 6: a key longer than a block is hashed first */
    memset(key, 0xaa, 131);
    const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    assert_hmac(key, 131, m6, strlen(m6),
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    /* 7: long key and data longer than a block */
    const char *m7 = "This is a test using a larger than block-size key and a larger than "
                     "block-size data. The key needs to be hashed before being used by the "
                     "HMAC algorithm.";
    assert_int_equal(strlen(m7), sizeof data);
    assert_hmac(key, 131, m7, strlen(m7),
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

/* Absorbing a message in two pieces, split anywhere (across the 55/56/64-byte padding edges
 * too), gives the one-call digest; so does a keyed HMAC context copied and reused. */
static void test_incremental_matches_one_call(void **state)
{
    uint8_t msg[200];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(i * 131 + 7);
    for (size_t n = 0; n <= sizeof msg; n += n < 130 ? 1 : 7) {
        uint8_t want[REC_SHA256_SIZE], got[REC_SHA256_SIZE];
        rec_sha256(msg, n, want);
        for (size_t cut = 0; cut <= n; cut++) {
            struct rec_sha256_ctx c;
            rec_sha256_init(&c);
            rec_sha256_update(&c, msg, cut);
            rec_sha256_update(&c, NULL, 0);
            rec_sha256_update(&c, msg + cut, n - cut);
            rec_sha256_final(&c, got);
            assert_memory_equal(got, want, sizeof want);
        }
    }
    struct rec_hmac_sha256_ctx keyed, h;
    rec_hmac_sha256_init(&keyed, "Jefe", 4);
    for (int round = 0; round < 2; round++) {
        uint8_t mac[REC_SHA256_SIZE], want[REC_SHA256_SIZE];
        h = keyed;   /* the keyed state is reusable by copy */
        rec_hmac_sha256_update(&h, "what do ya ", 11);
        rec_hmac_sha256_update(&h, "want for nothing?", 17);
        rec_hmac_sha256_final(&h, mac);
        rec_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, want);
        assert_memory_equal(mac, want, sizeof want);
    }
    /* final wipes the context it used */
    static const struct rec_hmac_sha256_ctx zero;
    assert_memory_equal(&h, &zero, sizeof h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_known_answers),
        cmocka_unit_test(test_hmac_rfc4231),
        cmocka_unit_test(test_incremental_matches_one_call),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
