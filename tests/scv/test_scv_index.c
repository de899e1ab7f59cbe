/* The SCV's in-memory stream table: activation order, tokens, expiry,
 * deactivation and its stats fragment, removal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "scv/scv_index.h"

#define T1 "target-1"
#define HASH_A "aaaa"
#define HASH_B "bbbb"

static void test_activation_picks_most_frames(void **state)
{
    (void)state;
    char id[STREAM_STORE_ID_MAX + 1];
    scv_index *ix = scv_index_new();
    assert_int_equal(scv_index_add(ix, "s1", T1, SCV_STREAM_OK, 5, 0), 0);
    assert_int_equal(scv_index_add(ix, "s2", T1, SCV_STREAM_OK, 40, 0), 0);
    assert_int_equal(scv_index_add(ix, "s3", T1, SCV_STREAM_STOPPED, 99, 0), 0);
    assert_int_equal(scv_index_add(ix, "s4", T1, SCV_STREAM_OK, 7, 0), 0);
    assert_int_equal(scv_index_add(ix, "s4", T1, SCV_STREAM_OK, 7, 0), -1); /* duplicate id */
    assert_int_equal(scv_index_target_count(ix, T1), 4);

    const char *order[] = {"s2", "s4", "s1"};
    for (int i = 0; i < 3; i++) {
        char hash[8];
        snprintf(hash, sizeof hash, "h%d", i);
        assert_int_equal(scv_index_activate(ix, T1, "openmm", NULL, hash, 100, 10, id), 0);
        assert_string_equal(id, order[i]);
    }
    assert_int_equal(scv_index_activate(ix, T1, "openmm", NULL, "h9", 100, 10, id),
                     -1); /* STOPPED s3 is never picked */
    assert_int_equal(scv_index_activate(ix, "other", "openmm", NULL, "h9", 100, 10, id), -1);
    json_t *cores = scv_index_active_cores(ix);
    assert_int_equal(json_integer_value(json_object_get(cores, "openmm")), 3);
    json_decref(cores);
    scv_index_free(ix);
}

static void test_token_expiry_and_fragment(void **state)
{
    (void)state;
    char id[STREAM_STORE_ID_MAX + 1];
    uint64_t act = 0;
    int dup = 0;
    scv_index *ix = scv_index_new();
    assert_int_equal(scv_index_add(ix, "s1", T1, SCV_STREAM_OK, 0, 0), 0);
    assert_int_equal(scv_index_activate(ix, T1, "openmm", "donor", HASH_A, 100, 10, id), 0);

    assert_null(scv_index_by_token(ix, HASH_B, 100, &act));
    scv_stream *st = scv_index_by_token(ix, HASH_A, 105, &act);
    assert_non_null(st);
    assert_int_equal(scv_index_heartbeat(ix, HASH_A, 109, 10), 0); /* now expires at 119 */
    assert_int_equal(scv_index_heartbeat(ix, HASH_B, 109, 10), -1);

    assert_int_equal(scv_index_frame_check(ix, st, act, "m1", &dup), 0);
    assert_false(dup);
    scv_index_frame_accepted(ix, st, act, "m1", 2, 100);
    assert_int_equal(scv_index_frame_check(ix, st, act, "m1", &dup), 0);
    assert_true(dup);
    assert_int_equal(scv_index_buffered(ix, st, act), 2);
    assert_int_equal(scv_index_committed(ix, st, 2, 2), 100);
    scv_index_frame_accepted(ix, st, act, "m2", 1, 50); /* buffered, never committed */

    scv_stream **expired = NULL;
    assert_int_equal(scv_index_expire(ix, 118, &expired), 0);
    free(expired);
    assert_int_equal(scv_index_expire(ix, 119, &expired), 1);
    assert_ptr_equal(expired[0], st);
    scv_index_put(ix, expired[0]);
    free(expired);

    /* unbound: nothing more is accepted, and it is not assignable until finished */
    assert_null(scv_index_by_token(ix, HASH_A, 119, &act));
    assert_int_equal(scv_index_buffered(ix, st, act), -1);
    assert_int_equal(scv_index_activate(ix, T1, "openmm", NULL, HASH_B, 120, 10, id), -1);
    json_t *fragment = scv_index_finish(ix, st);
    assert_non_null(fragment);
    assert_int_equal(json_integer_value(json_object_get(fragment, "frames")), 2);
    assert_string_equal(json_string_value(json_object_get(fragment, "user")), "donor");
    assert_string_equal(json_string_value(json_object_get(fragment, "stream_id")), "s1");
    assert_string_equal(json_string_value(json_object_get(fragment, "target_id")), T1);
    /* 32 hex digits: the activation's time (100 s) in ms, then random ones. */
    const char *fid = json_string_value(json_object_get(fragment, "id"));
    assert_int_equal(strlen(fid), 32);
    assert_int_equal(strspn(fid, "0123456789abcdef"), 32);
    assert_memory_equal(fid, "0000000186a0", 12);
    json_decref(fragment);
    assert_null(scv_index_finish(ix, st)); /* only once */

    /* a second activation that commits nothing yields no fragment */
    assert_int_equal(scv_index_activate(ix, T1, "openmm", NULL, HASH_B, 120, 10, id), 0);
    assert_int_equal(scv_index_unbind(ix, st, 0, 121), 1);
    assert_int_equal(scv_index_unbind(ix, st, 0, 121), 0);
    assert_null(scv_index_finish(ix, st));
    scv_index_put(ix, st);
    scv_index_free(ix);
}

static void test_state_and_remove(void **state)
{
    (void)state;
    char id[STREAM_STORE_ID_MAX + 1];
    struct scv_stream_info info;
    scv_index *ix = scv_index_new();
    assert_int_equal(scv_index_add(ix, "s1", T1, SCV_STREAM_OK, 0, 0), 0);
    assert_int_equal(scv_index_add(ix, "s2", T1, SCV_STREAM_OK, 0, 0), 0);
    scv_stream *st = scv_index_get(ix, "s1");
    scv_index_set_state(ix, st, SCV_STREAM_STOPPED, 4);
    assert_int_equal(scv_index_info(ix, st, &info), 0);
    assert_int_equal(info.status, SCV_STREAM_STOPPED);
    assert_int_equal(info.error_count, 4);
    assert_int_equal(scv_index_activate(ix, T1, "e", NULL, HASH_A, 1, 10, id), 0);
    assert_string_equal(id, "s2");
    assert_int_equal(scv_index_activate(ix, T1, "e", NULL, HASH_B, 1, 10, id), -1);
    scv_index_set_state(ix, st, SCV_STREAM_OK, 0);
    assert_int_equal(scv_index_activate(ix, T1, "e", NULL, HASH_B, 1, 10, id), 0);
    assert_string_equal(id, "s1");

    assert_int_equal(scv_index_remove(ix, st), 1);
    assert_int_equal(scv_index_info(ix, st, &info), -1); /* removed, still referenced */
    assert_null(scv_index_get(ix, "s1"));
    uint64_t act;
    assert_null(scv_index_by_token(ix, HASH_B, 2, &act));
    scv_index_put(ix, st);
    json_t *list = scv_index_target_streams(ix, T1);
    assert_int_equal(json_array_size(json_object_get(list, "streams")), 1);
    json_decref(list);
    scv_stream *s2 = scv_index_get(ix, "s2");
    assert_int_equal(scv_index_remove(ix, s2), 0);
    scv_index_put(ix, s2);
    assert_null(scv_index_target_streams(ix, T1));
    scv_index_free(ix);
}

static json_int_t at(const json_t *v, const char *a, const char *b)
{
    const json_t *o = json_object_get(v, a);
    return json_integer_value(b != NULL ? json_object_get(o, b) : o);
}

/* GET /survey's figures follow the streams: statuses, frames, errors,
 * active cores by engine, commits (the SCV's count outlives a target). */
static void test_survey_counters(void **state)
{
    (void)state;
    char id[STREAM_STORE_ID_MAX + 1];
    scv_index *ix = scv_index_new();
    assert_int_equal(scv_index_add(ix, "s1", T1, SCV_STREAM_OK, 5, 0), 0);
    assert_int_equal(scv_index_add(ix, "s2", T1, SCV_STREAM_STOPPED, 10, 2), 0);
    assert_int_equal(scv_index_add(ix, "s3", "t2", SCV_STREAM_OK, 1, 0), 0);
    assert_int_equal(scv_index_activate(ix, T1, "openmm", NULL, HASH_A, 100, 10, id), 0);
    assert_int_equal(scv_index_activate(ix, "t2", "toy", NULL, HASH_B, 100, 10, id), 0);
    scv_stream *st = scv_index_get(ix, "s1");
    scv_index_committed(ix, st, 8, 3);
    scv_index_put(ix, st);

    json_t *v = scv_index_survey(ix), *t1 = json_object_get(json_object_get(v, "targets"), T1);
    assert_int_equal(at(t1, "streams", "ok"), 1);
    assert_int_equal(at(t1, "streams", "stopped"), 1);
    assert_int_equal(at(t1, "frames", NULL), 18);
    assert_int_equal(at(t1, "frames_committed", NULL), 3);
    assert_int_equal(at(t1, "with_errors", NULL), 1);
    assert_int_equal(at(t1, "active_cores", "openmm"), 1);
    assert_null(json_object_get(json_object_get(t1, "active_cores"), "toy"));
    assert_int_equal(at(v, "streams", "ok"), 2);
    assert_int_equal(at(v, "frames", NULL), 19);
    assert_int_equal(at(v, "active_cores", "toy"), 1);
    assert_true(json_is_real(json_object_get(v, "started")));
    json_decref(v);

    /* restarted and errors cleared; a core gone; t2 deleted */
    st = scv_index_get(ix, "s2");
    scv_index_set_state(ix, st, SCV_STREAM_OK, 0);
    scv_index_put(ix, st);
    st = scv_index_get(ix, "s1");
    assert_int_equal(scv_index_unbind(ix, st, 0, 101), 1);
    json_decref(scv_index_finish(ix, st));
    scv_index_put(ix, st);
    st = scv_index_get(ix, "s3");
    scv_index_committed(ix, st, 3, 2);
    assert_int_equal(scv_index_remove(ix, st), 0);
    scv_index_put(ix, st);
    v = scv_index_survey(ix);
    t1 = json_object_get(json_object_get(v, "targets"), T1);
    assert_int_equal(at(t1, "streams", "ok"), 2);
    assert_int_equal(at(t1, "with_errors", NULL), 0);
    assert_int_equal(json_object_size(json_object_get(t1, "active_cores")), 0);
    assert_null(json_object_get(json_object_get(v, "targets"), "t2"));
    assert_int_equal(at(v, "frames", NULL), 18);
    assert_int_equal(at(v, "frames_committed", NULL), 5);
    assert_int_equal(json_object_size(json_object_get(v, "active_cores")), 0);
    json_decref(v);

    v = scv_index_target_rows(ix, T1);
    assert_int_equal(json_array_size(json_object_get(v, "streams")), 2);
    json_decref(v);
    v = scv_index_target_rows(ix, "t2");
    assert_int_equal(json_array_size(json_object_get(v, "streams")), 0);
    json_decref(v);
    scv_index_free(ix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_activation_picks_most_frames),
        cmocka_unit_test(test_token_expiry_and_fragment),
        cmocka_unit_test(test_state_and_remove),
        cmocka_unit_test(test_survey_counters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
