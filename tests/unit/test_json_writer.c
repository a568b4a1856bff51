/* The JSON text writer (src/json/writer.c): commas and nesting, string escapes, numbers encoded
 * as jansson encodes them (what the responses used to be), null for values JSON cannot hold,
 * and text jansson parses back to the same values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json/writer.h"

static void test_nesting_and_commas(void **state)
{
    (void)state;
    struct rec_jw w;
    rec_jw_init(&w);
    rec_jw_open(&w, '{');
    rec_jw_key(&w, "a");
    rec_jw_open(&w, '[');
    rec_jw_int(&w, 1);
    rec_jw_open(&w, '{');
    rec_jw_close(&w, '}');
    rec_jw_str(&w, NULL);
    rec_jw_bool(&w, 1);
    rec_jw_close(&w, ']');
    rec_jw_key(&w, "b");
    rec_jw_raw_value(&w, "{\"x\":[]}");
    rec_jw_key(&w, "c");
    rec_jw_bool(&w, 0);
    rec_jw_close(&w, '}');
    size_t len;
    char *text = rec_jw_finish(&w, &len);
    assert_non_null(text);
    assert_string_equal(text, "{\"a\":[1,{},null,true],\"b\":{\"x\":[]},\"c\":false}");
    assert_int_equal(len, strlen(text));
    free(text);
    assert_null(w.buf); /* finish reset the writer */
}

static void test_escapes_round_trip(void **state)
{
    (void)state;
    const char *s = "q\" b\\ \n\t\r\b\f \x01\x1f /é€ end";
    struct rec_jw w;
    rec_jw_init(&w);
    rec_jw_open(&w, '[');
    rec_jw_str(&w, s);
    rec_jw_close(&w, ']');
    char *text = rec_jw_finish(&w, NULL);
    assert_non_null(text);
    assert_non_null(strstr(text, "\\\"") );
    assert_non_null(strstr(text, "\\u0001\\u001F"));
    assert_non_null(strstr(text, "\\n\\t\\r\\b\\f"));
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_array_get(j, 0)), s);
    /* the same bytes as jansson's own encoding */
    char *ref = json_dumps(j, JSON_COMPACT);
    assert_string_equal(text, ref);
    free(ref);
    json_decref(j);
    free(text);
}

static void test_reals_as_jansson(void **state)
{
    (void)state;
    const double v[] = {1.0, 0.990099012852, -3.25, 1e-7, 123456789012345.0, 0.1f, 2.5e300, 0.0};
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
        struct rec_jw w;
        rec_jw_init(&w);
        rec_jw_real(&w, v[k]);
        char *mine = rec_jw_finish(&w, NULL);
        json_t *j = json_real(v[k]);
        char *ref = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(12));
        assert_string_equal(mine, ref);
        free(mine);
        free(ref);
        json_decref(j);
    }
    struct rec_jw w;
    rec_jw_init(&w);
    rec_jw_open(&w, '[');
    rec_jw_real(&w, NAN);
    rec_jw_real(&w, INFINITY);
    rec_jw_int(&w, -42);
    rec_jw_close(&w, ']');
    char *text = rec_jw_finish(&w, NULL);
    assert_string_equal(text, "[null,null,-42]");
    free(text);
}

static void test_empty(void **state)
{
    (void)state;
    struct rec_jw w;
    rec_jw_init(&w);
    size_t len = 7;
    char *text = rec_jw_finish(&w, &len);
    assert_non_null(text);
    assert_string_equal(text, "");
    assert_int_equal(len, 0);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nesting_and_commas),
        cmocka_unit_test(test_escapes_round_trip),
        cmocka_unit_test(test_reals_as_jansson),
        cmocka_unit_test(test_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
