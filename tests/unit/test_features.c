/* The learned ranker's feature builder (src/rank/features.c): stable hashes for a fixed input
 * (saved models depend on them), the mask selecting exactly its sets, crosses only when every
 * side is known, the max bound, the buckets, the session features. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "rank/features.h"

#define BITS 20

static const char *const cats[] = {"Drama", "Comedy"};
static const char *const tags[] = {"classic"};
static const char *const keys[] = {"age", "gender"};
static const char *const vals[] = {"25-34", "F"};

static struct rec_rank_input full_input(void)
{
    return (struct rec_rank_input){
        .user = "u1", .item = "i42", .categories = cats, .n_categories = 2, .tags = tags,
        .n_tags = 1, .duration_min = 7, .age_days = 400, .user_attr_keys = keys,
        .user_attr_values = vals, .n_user_attrs = 2, .device = "mobile", .region = "DE",
        .hour = 19, .weekday = 6};
}

static const char *const sess_cats[] = {"Comedy", "Horror"};

/* full_input plus a session: 3 events before (2-4), 2 minutes since the last (<10m), engaged
 * with Comedy (one of the item's categories) and Horror. */
static struct rec_rank_input session_input(void)
{
    struct rec_rank_input in = full_input();
    in.session_categories = sess_cats;
    in.n_session_categories = 2;
    in.session_known = 1;
    in.session_position = 3;
    in.since_last_s = 120;
    return in;
}

static uint32_t h(const char *field, const char *value) { return rec_fm_hash(field, value, BITS); }
static uint32_t h32(const char *field, const char *value) { return rec_fm_hash(field, value, 32); }

/* The documented cross: the sides' 32-bit hashes as 8 hex digits each. */
static uint32_t cross(const char *field, uint32_t a, uint32_t b)
{
    char v[17];
    snprintf(v, sizeof v, "%08x%08x", (unsigned)a, (unsigned)b);
    return h(field, v) | REC_FM_LINEAR; /* crosses are linear-only features */
}

/* The groups (REC_FM_GROUP) of the features the last strip_groups saw, which then clears them
 * from the indexes, so slots compare with h() and cross(). */
static unsigned group_of[REC_RANK_FEATURES_CAP];

static void strip_groups(struct rec_fm_feature *f, int n)
{
    for (int i = 0; i < n; i++) {
        group_of[i] = REC_FM_GROUP_OF(f[i].index);
        f[i].index &= ~REC_FM_GROUP(3);
    }
}

static int build(const struct rec_rank_input *in, unsigned mask, struct rec_fm_feature *f)
{
    int n = rec_rank_features(in, mask, BITS, f, REC_RANK_FEATURES_CAP);
    strip_groups(f, n);
    return n;
}

static int has(const struct rec_fm_feature *f, int n, uint32_t index)
{
    for (int i = 0; i < n; i++)
        if (f[i].index == index)
            return 1;
    return 0;
}

/* Golden slots: a change here changes every saved ranker model, so it must be deliberate. */
static void test_stable_hashes(void **state)
{
    (void)state;
    static const uint32_t gold[] = {
        441086u, 152050u, 378886u, 819977u, 969359u, 892144u, 1000559u, 1011131u,
        509777u, 276326u, 532851u, 260880u, 538981u, 928702u, 775147u, 634670u,
        871243u, 225065u, 933399u, 878885u, 331964u, 38614u,  869280u, 434104u};
    struct rec_rank_input in = full_input();
    struct rec_fm_feature f[REC_RANK_FEATURES_CAP];
    int n = build(&in, REC_FEAT_IDS | REC_FEAT_ATTRS | REC_FEAT_CONTEXT, f);
    assert_int_equal(n, (int)(sizeof gold / sizeof gold[0]));
    for (int i = 0; i < n; i++) {
        assert_int_equal(f[i].index & ~REC_FM_LINEAR, gold[i]);
        assert_true(f[i].value == 1.0f);
        assert_true((f[i].index & ~REC_FM_LINEAR) < (1u << BITS));
    }
    /* and they are the documented strings */
    assert_int_equal(f[0].index, h("user", "u1"));
    assert_int_equal(f[1].index, h("item", "i42"));
    assert_int_equal(f[2].index, h("category", "Drama"));
    assert_int_equal(f[4].index, h("tag", "classic"));
    assert_int_equal(f[5].index, h("duration", "5-10"));
    assert_int_equal(f[6].index, h("item_age", "1-3y"));
    assert_int_equal(f[7].index, h("user.age", "25-34"));
    assert_int_equal(f[8].index, h("user.gender", "F"));
    assert_int_equal(f[9].index, cross("user.age*category", h32("user.age", "25-34"), h32("category", "Drama")));
    assert_int_equal(f[13].index, h("device", "mobile"));
    assert_int_equal(f[14].index, h("daypart", "evening"));
    assert_int_equal(f[15].index, h("weekend", "1"));
    assert_int_equal(f[16].index, h("region", "DE"));
    assert_int_equal(f[17].index, cross("daypart*category", h32("daypart", "evening"), h32("category", "Drama")));
    assert_int_equal(f[19].index, cross("device*category", h32("device", "mobile"), h32("category", "Drama")));
    assert_int_equal(f[21].index, cross("device*duration", h32("device", "mobile"), h32("duration", "5-10")));
    assert_int_equal(f[22].index, cross("daypart*duration", h32("daypart", "evening"), h32("duration", "5-10")));
    char v[25];
    snprintf(v, sizeof v, "%08x%08x%08x", (unsigned)h32("device", "mobile"),
             (unsigned)h32("daypart", "evening"), (unsigned)h32("duration", "5-10"));
    assert_int_equal(f[23].index, h("device*daypart*duration", v) | REC_FM_LINEAR);
    /* the crosses, and only they, enter the model without factors */
    for (int i = 0; i < n; i++)
        assert_int_equal((f[i].index & REC_FM_LINEAR) != 0, (i >= 9 && i <= 12) || i >= 17);
    /* groups: user id and attributes; item id, categories, tag, duration, age; context */
    static const unsigned want[] = {0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0};
    for (int i = 0; i < n; i++)
        assert_int_equal(group_of[i], want[i]);
    assert_int_equal(REC_RANK_GROUP_USER, 0);
    assert_int_equal(REC_RANK_GROUP_ITEM, 1);
    assert_int_equal(REC_RANK_GROUP_CONTEXT, 2);
}

/* Each set alone writes exactly its features, and the union is their concatenation. */
static void test_mask_selects_sets(void **state)
{
    (void)state;
    struct rec_rank_input in = full_input();
    struct rec_fm_feature all[REC_RANK_FEATURES_CAP], part[REC_RANK_FEATURES_CAP];
    int n_all = build(&in, 7, all);
    int n_ids = build(&in, REC_FEAT_IDS, part);
    assert_int_equal(n_ids, 2);
    assert_int_equal(part[0].index, h("user", "u1"));
    assert_int_equal(part[1].index, h("item", "i42"));
    int n_attrs = build(&in, REC_FEAT_ATTRS, part);
    /* 2 categories, 1 tag, duration, age, 2 user attributes, 2 x 2 crosses */
    assert_int_equal(n_attrs, 2 + 1 + 1 + 1 + 2 + 4);
    assert_memory_equal(part, all + n_ids, sizeof part[0] * (size_t)n_attrs);
    assert_false(has(part, n_attrs, h("user", "u1")));
    assert_false(has(part, n_attrs, h("device", "mobile")));
    int n_ctx = build(&in, REC_FEAT_CONTEXT, part);
    /* device, daypart, weekend, region, 2 daypart x category, 2 device x category, 3 duration crosses */
    assert_int_equal(n_ctx, 4 + 2 + 2 + 3);
    assert_memory_equal(part, all + n_ids + n_attrs, sizeof part[0] * (size_t)n_ctx);
    assert_false(has(part, n_ctx, h("category", "Drama")));
    assert_int_equal(n_all, n_ids + n_attrs + n_ctx);
    assert_int_equal(build(&in, 0, part), 0);
    int n_ic = build(&in, REC_FEAT_IDS | REC_FEAT_CONTEXT, part);
    assert_int_equal(n_ic, n_ids + n_ctx);
    assert_memory_equal(part + 2, all + n_ids + n_attrs, sizeof part[0] * (size_t)n_ctx);
}

/* A cross appears only when every side is known; unknown inputs give no feature at all. */
static void test_crosses_need_both_sides(void **state)
{
    (void)state;
    struct rec_fm_feature f[REC_RANK_FEATURES_CAP];
    uint32_t dev = h32("device", "mobile"), dp = h32("daypart", "evening"), dur = h32("duration", "5-10");
    uint32_t drama = h32("category", "Drama");

    struct rec_rank_input in = full_input();
    in.device = NULL;
    int n = build(&in, REC_FEAT_CONTEXT, f);
    assert_int_equal(n, 3 + 2 + 1); /* daypart, weekend, region, daypart x 2 categories, daypart x duration */
    assert_false(has(f, n, h("device", "mobile")));
    assert_false(has(f, n, cross("device*category", dev, drama)));
    assert_false(has(f, n, cross("device*duration", dev, dur)));
    assert_true(has(f, n, cross("daypart*duration", dp, dur)));
    in.device = ""; /* empty is unknown too */
    assert_int_equal(build(&in, REC_FEAT_CONTEXT, f), n);

    in = full_input();
    in.hour = -1;
    n = build(&in, REC_FEAT_CONTEXT, f);
    assert_int_equal(n, 3 + 2 + 1); /* device, weekend, region, device x 2 categories, device x duration */
    assert_false(has(f, n, h("daypart", "evening")));
    assert_false(has(f, n, cross("daypart*category", dp, drama)));
    assert_true(has(f, n, cross("device*duration", dev, dur)));
    in.hour = 24;
    assert_int_equal(build(&in, REC_FEAT_CONTEXT, f), n);

    in = full_input();
    in.duration_min = NAN;
    n = build(&in, REC_FEAT_CONTEXT, f);
    assert_int_equal(n, 4 + 2 + 2); /* no duration crosses */
    n = build(&in, REC_FEAT_ATTRS, f);
    assert_int_equal(n, 11 - 1);
    assert_false(has(f, n, h("duration", "5-10")));

    in = full_input();
    in.n_categories = 0;
    n = build(&in, REC_FEAT_ATTRS | REC_FEAT_CONTEXT, f);
    assert_int_equal(n, (1 + 1 + 1 + 2) + (4 + 3)); /* no category, no category cross */

    in = full_input();
    in.user_attr_values = (const char *const[]){"25-34", NULL}; /* gender unknown */
    n = build(&in, REC_FEAT_ATTRS, f);
    assert_int_equal(n, 2 + 1 + 1 + 1 + 1 + 2);
    assert_false(has(f, n, h("user.gender", "F")));

    in = full_input();
    in.weekday = -1;
    in.region = NULL;
    in.age_days = NAN;
    assert_int_equal(build(&in, REC_FEAT_CONTEXT, f), 2 + 4 + 3);
    assert_int_equal(build(&in, REC_FEAT_ATTRS, f), 11 - 1);

    struct rec_rank_input empty = {.duration_min = NAN, .age_days = NAN, .hour = -1, .weekday = -1};
    assert_int_equal(build(&empty, 7, f), 0);
}

#define ALL_SETS (REC_FEAT_IDS | REC_FEAT_ATTRS | REC_FEAT_CONTEXT | REC_FEAT_SESSION)

/* The session features (set SESSION) come after CONTEXT, are the documented strings, and leave
 * every older slot where it was (saved models keep working). */
static void test_session_features(void **state)
{
    (void)state;
    static const uint32_t gold[] = {278850u, 170732u, 867308u, 470539u, 27029u, 541665u, 472470u};
    struct rec_rank_input base = full_input(), in = session_input();
    struct rec_fm_feature f0[REC_RANK_FEATURES_CAP], f[REC_RANK_FEATURES_CAP];
    int n0 = build(&base, ALL_SETS, f0), n = build(&in, ALL_SETS, f);
    /* position, gap, 2 session categories x 2 categories, match */
    assert_int_equal(n, n0 + (int)(sizeof gold / sizeof gold[0]));
    assert_memory_equal(f, f0, sizeof f[0] * (size_t)n0);
    for (int i = n0; i < n; i++)
        assert_int_equal(f[i].index & ~REC_FM_LINEAR, gold[i - n0]);
    uint32_t comedy = h32("session_category", "Comedy"), horror = h32("session_category", "Horror");
    assert_int_equal(f[n0].index, h("session_position", "2-4"));
    assert_int_equal(f[n0 + 1].index, h("session_gap", "<10m"));
    assert_int_equal(f[n0 + 2].index, cross("session_category*category", comedy, h32("category", "Drama")));
    assert_int_equal(f[n0 + 3].index, cross("session_category*category", comedy, h32("category", "Comedy")));
    assert_int_equal(f[n0 + 4].index, cross("session_category*category", horror, h32("category", "Drama")));
    assert_int_equal(f[n0 + 5].index, cross("session_category*category", horror, h32("category", "Comedy")));
    assert_int_equal(f[n0 + 6].index, h("session_match", "1"));
    /* only in CONTEXT: ids and attributes do not see the session */
    assert_int_equal(build(&in, REC_FEAT_IDS | REC_FEAT_ATTRS, f), build(&base, REC_FEAT_IDS | REC_FEAT_ATTRS, f0));
    assert_memory_equal(f, f0, sizeof f[0] * 13);
    assert_int_equal(build(&in, REC_FEAT_CONTEXT | REC_FEAT_SESSION, f), 11 + 7);
}

/* Unknown session inputs give no feature; the zero value of every session field is unknown. */
static void test_session_unknown(void **state)
{
    (void)state;
    struct rec_fm_feature f[REC_RANK_FEATURES_CAP];
    const int ctx = 11; /* CONTEXT of full_input */
    uint32_t pos = h("session_position", "2-4"), gap = h("session_gap", "<10m"), match = h("session_match", "1");

    /* zero-initialized (as a caller written before sessions existed): no session feature, even
     * though position 0 and gap 0 would be valid values once session_known is set */
    struct rec_rank_input in = full_input();
    assert_int_equal(build(&in, REC_FEAT_CONTEXT | REC_FEAT_SESSION, f), ctx);
    in.session_known = 1;
    int n = build(&in, REC_FEAT_CONTEXT | REC_FEAT_SESSION, f);
    assert_int_equal(n, ctx + 2);
    assert_int_equal(f[ctx].index, h("session_position", "0"));
    assert_int_equal(f[ctx + 1].index, h("session_gap", "<1m"));

    /* session_known 0 hides position and gap but not the categories */
    in = session_input();
    in.session_known = 0;
    n = build(&in, REC_FEAT_CONTEXT | REC_FEAT_SESSION, f);
    assert_int_equal(n, ctx + 4 + 1);
    assert_false(has(f, n, pos));
    assert_false(has(f, n, gap));

    /* each of position and gap alone */
    in = session_input();
    in.session_position = -1;
    n = build(&in, REC_FEAT_CONTEXT | REC_FEAT_SESSION, f);
    assert_int_equal(n, ctx + 1 + 4 + 1);
    assert_false(has(f, n, pos));
    assert_true(has(f, n, gap));
    in = session_input();
    in.since_last_s = NAN;
    n = build(&in, REC_FEAT_CONTEXT | REC_FEAT_SESSION, f);
    assert_int_equal(n, ctx + 1 + 4 + 1);
    assert_true(has(f, n, pos));
    assert_false(has(f, n, gap));

    /* no candidate category: no cross and no match (both sides must be known) */
    in = session_input();
    in.n_categories = 0;
    n = build(&in, REC_FEAT_CONTEXT | REC_FEAT_SESSION, f);
    assert_int_equal(n, 4 + 3 + 2); /* device, daypart, weekend, region, 3 duration crosses, position, gap */
    assert_false(has(f, n, match));

    /* NULL and empty session categories are skipped; a NULL array is no categories */
    in = session_input();
    in.session_categories = (const char *const[]){NULL, "", "Horror"};
    in.n_session_categories = 3;
    n = build(&in, REC_FEAT_CONTEXT | REC_FEAT_SESSION, f);
    assert_int_equal(n, ctx + 2 + 2); /* Horror x Drama, Horror x Comedy; no match */
    assert_false(has(f, n, match));
    assert_true(has(f, n, cross("session_category*category", h32("session_category", "Horror"),
                                h32("category", "Comedy"))));
    in.session_categories = NULL;
    assert_int_equal(build(&in, REC_FEAT_CONTEXT | REC_FEAT_SESSION, f), ctx + 2);

    /* the match needs equal strings, not just any overlap of hashes or prefixes */
    in = session_input();
    in.session_categories = (const char *const[]){"Comed", "comedy", "Drama "};
    in.n_session_categories = 3;
    n = build(&in, REC_FEAT_CONTEXT | REC_FEAT_SESSION, f);
    assert_int_equal(n, ctx + 2 + 6);
    assert_false(has(f, n, match));
    in.session_categories = (const char *const[]){"Thriller", "Drama"};
    in.n_session_categories = 2;
    n = build(&in, REC_FEAT_CONTEXT | REC_FEAT_SESSION, f);
    assert_int_equal(f[n - 1].index, match);
}

/* At most REC_RANK_SESSION_CATS session categories are used: the first (most recent) ones. */
static void test_session_cap(void **state)
{
    (void)state;
    static const char *const many[] = {"a", "b", "c", "d", "e", "f", "g", "h", "Drama", "Comedy"};
    struct rec_rank_input in = session_input();
    in.session_categories = many;
    in.n_session_categories = 10;
    struct rec_fm_feature f[REC_RANK_FEATURES_CAP];
    int n = build(&in, REC_FEAT_CONTEXT | REC_FEAT_SESSION, f);
    assert_int_equal(REC_RANK_SESSION_CATS, 8);
    assert_int_equal(n, 11 + 2 + 8 * 2); /* no match: Drama and Comedy are 9th and 10th */
    assert_false(has(f, n, h("session_match", "1")));
    assert_false(has(f, n, cross("session_category*category", h32("session_category", "Drama"),
                                 h32("category", "Drama"))));
    assert_true(has(f, n, cross("session_category*category", h32("session_category", "h"),
                                h32("category", "Comedy"))));
    /* and the documented bound holds for a large input */
    in.n_categories = 2;
    assert_true(build(&in, ALL_SETS, f) <= 2 + 3 * 2 + 1 + 2 + 2 + 4 + 2 * 2 + 3 + 2 + 8 * 2 + 1);
}

/* Never more than max, never a write past it, and the first max of the full list. */
static void test_max_respected(void **state)
{
    (void)state;
    struct rec_rank_input in = session_input();
    struct rec_fm_feature all[REC_RANK_FEATURES_CAP], f[40];
    int n_all = build(&in, ALL_SETS, all);
    for (int max = 0; max <= n_all + 2; max++) {
        for (int i = 0; i < 40; i++)
            f[i] = (struct rec_fm_feature){0xdeadbeefu, -1.0f};
        int n = rec_rank_features(&in, ALL_SETS, BITS, f, max);
        strip_groups(f, n);
        assert_int_equal(n, max < n_all ? max : n_all);
        assert_memory_equal(f, all, sizeof f[0] * (size_t)n);
        for (int i = n; i < 40; i++)
            assert_int_equal(f[i].index, 0xdeadbeefu);
    }
    assert_int_equal(rec_rank_features(&in, 7, BITS, f, -1), 0);
    assert_int_equal(rec_rank_features(NULL, 7, BITS, f, 8), 0);
    assert_int_equal(rec_rank_features(&in, 7, BITS, NULL, 8), 0);
}

static void test_buckets_and_bits(void **state)
{
    (void)state;
    assert_null(rec_rank_duration_bucket(NAN));
    assert_string_equal(rec_rank_duration_bucket(0), "0-5");
    assert_string_equal(rec_rank_duration_bucket(10), "10-20");
    assert_string_equal(rec_rank_duration_bucket(45), "45-90");
    assert_string_equal(rec_rank_duration_bucket(120), "90+");
    assert_null(rec_rank_age_bucket(NAN));
    assert_string_equal(rec_rank_age_bucket(-3), "<1d");
    assert_string_equal(rec_rank_age_bucket(30), "30-90d");
    assert_string_equal(rec_rank_age_bucket(5000), "3y+");
    static const char *const dp[24] = {
        "night",     "night",     "night",     "night",     "night",   "night",   "morning", "morning",
        "morning",   "morning",   "morning",   "morning",   "afternoon", "afternoon", "afternoon",
        "afternoon", "afternoon", "evening",   "evening",   "evening", "evening", "evening", "evening", "night"};
    for (int hr = 0; hr < 24; hr++)
        assert_string_equal(rec_rank_daypart(hr), dp[hr]);
    assert_null(rec_rank_daypart(-1));
    assert_null(rec_rank_daypart(24));
    static const struct {
        int p;
        const char *b;
    } pos[] = {{-1, NULL}, {0, "0"}, {1, "1"}, {2, "2-4"}, {4, "2-4"}, {5, "5-9"}, {9, "5-9"},
               {10, "10+"}, {100000, "10+"}};
    for (size_t i = 0; i < sizeof pos / sizeof pos[0]; i++) {
        if (pos[i].b)
            assert_string_equal(rec_rank_position_bucket(pos[i].p), pos[i].b);
        else
            assert_null(rec_rank_position_bucket(pos[i].p));
    }
    assert_null(rec_rank_position_bucket(-5));
    static const struct {
        double s;
        const char *b;
    } gap[] = {{-5, "<1m"}, {0, "<1m"}, {59.9, "<1m"}, {60, "<10m"}, {599, "<10m"}, {600, "<1h"},
               {3599, "<1h"}, {3600, "<1d"}, {86399, "<1d"}, {86400, "1d+"}, {INFINITY, "1d+"}};
    for (size_t i = 0; i < sizeof gap / sizeof gap[0]; i++)
        assert_string_equal(rec_rank_gap_bucket(gap[i].s), gap[i].b);
    assert_null(rec_rank_gap_bucket(NAN));
    /* small hash spaces keep every slot in range */
    struct rec_rank_input in = session_input();
    struct rec_fm_feature f[REC_RANK_FEATURES_CAP];
    int n = rec_rank_features(&in, 7, 10, f, REC_RANK_FEATURES_CAP);
    for (int i = 0; i < n; i++)
        assert_true((f[i].index & ~(REC_FM_LINEAR | REC_FM_GROUP(3))) < 1024u);
    /* a very long attribute key goes by its hash, not cut into another key */
    char k1[300], k2[300];
    memset(k1, 'k', sizeof k1 - 1);
    k1[sizeof k1 - 1] = '\0';
    memcpy(k2, k1, sizeof k2);
    k2[250] = 'x';
    const char *ka[] = {k1}, *kb[] = {k2}, *va[] = {"v"};
    struct rec_rank_input a = {.user_attr_keys = ka, .user_attr_values = va, .n_user_attrs = 1,
                               .duration_min = NAN, .age_days = NAN, .hour = -1, .weekday = -1};
    struct rec_rank_input b = a;
    b.user_attr_keys = kb;
    struct rec_fm_feature fa[2], fb[2];
    assert_int_equal(rec_rank_features(&a, REC_FEAT_ATTRS, BITS, fa, 2), 1);
    assert_int_equal(rec_rank_features(&b, REC_FEAT_ATTRS, BITS, fb, 2), 1);
    assert_int_not_equal(fa[0].index, fb[0].index);
}

/* Side features get scale / sqrt(their count), the ids keep 1; scale 0 changes nothing; an
 * unknown id is not counted as one. */
static void test_scale_side(void **state)
{
    (void)state;
    struct rec_rank_input in = full_input();
    const unsigned mask = REC_FEAT_IDS | REC_FEAT_ATTRS | REC_FEAT_CONTEXT;
    struct rec_fm_feature f[REC_RANK_FEATURES_CAP];
    int n = rec_rank_features(&in, mask, BITS, f, REC_RANK_FEATURES_CAP);
    assert_true(n > 10);
    rec_rank_scale_side(&in, mask, 0, f, n);
    for (int i = 0; i < n; i++)
        assert_true(f[i].value == 1.0f);
    rec_rank_scale_side(&in, mask, 0.5, f, n);
    assert_true(f[0].value == 1.0f && f[1].value == 1.0f);
    for (int i = 2; i < n; i++)
        assert_float_equal(f[i].value, 0.5 / sqrt(n - 2), 1e-6);
    /* without the ids in the mask every feature is a side feature */
    n = rec_rank_features(&in, REC_FEAT_CONTEXT, BITS, f, REC_RANK_FEATURES_CAP);
    rec_rank_scale_side(&in, REC_FEAT_CONTEXT, 2, f, n);
    for (int i = 0; i < n; i++)
        assert_float_equal(f[i].value, 2 / sqrt(n), 1e-6);
    /* no user id: only the item's is written first */
    in.user = NULL;
    n = rec_rank_features(&in, mask, BITS, f, REC_RANK_FEATURES_CAP);
    rec_rank_scale_side(&in, mask, 1, f, n);
    assert_true(f[0].value == 1.0f);
    assert_float_equal(f[1].value, 1 / sqrt(n - 1), 1e-6);
    /* not finite or negative: unchanged */
    n = rec_rank_features(&in, mask, BITS, f, REC_RANK_FEATURES_CAP);
    rec_rank_scale_side(&in, mask, NAN, f, n);
    rec_rank_scale_side(&in, mask, -1, f, n);
    assert_true(f[n - 1].value == 1.0f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stable_hashes),
        cmocka_unit_test(test_mask_selects_sets),
        cmocka_unit_test(test_crosses_need_both_sides),
        cmocka_unit_test(test_session_features),
        cmocka_unit_test(test_session_unknown),
        cmocka_unit_test(test_session_cap),
        cmocka_unit_test(test_max_respected),
        cmocka_unit_test(test_buckets_and_bits),
        cmocka_unit_test(test_scale_side),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
