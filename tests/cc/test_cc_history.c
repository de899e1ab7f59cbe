/* cc_history: per-minute counting, gaps, the hour's frames, the window,
 * expiry, and the save/load round trip a restarted CC relies on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cc/cc_history.h"
#include "util/fs.h"
#include "util/gz.h"

#define T "0b7c1d8e-0000-4000-8000-000000000001"
#define DAY0 (1700000000.0 - 1700000000 % 60) /* a minute's first second */

static json_t *at(json_t *series, const char *field, size_t minutes_ago)
{
    json_t *a = json_object_get(series, field);
    return json_array_get(a, json_array_size(a) - 1 - minutes_ago);
}

static json_int_t value(json_t *series, const char *field, size_t minutes_ago)
{
    json_t *v = at(series, field, minutes_ago);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static void sample(cc_history *h, double now, int64_t frames, int64_t cores)
{
    struct cc_history_point p[] = {
        {"", frames, cores}, {T, frames, cores}, {CC_HISTORY_SCV_PREFIX "s1", frames, cores}};
    cc_history_sample(h, now, p, 3);
}

static void test_minutes_and_gaps(void **state)
{
    (void)state;
    cc_history *h = cc_history_new();
    sample(h, DAY0 + 1, 0, 2);
    cc_history_assigned(h, T, DAY0 + 2);
    cc_history_assigned(h, T, DAY0 + 59);
    sample(h, DAY0 + 30, 5, 3);
    sample(h, DAY0 + 50, 7, 1);
    /* Two minutes later: the minute in between had no survey. */
    sample(h, DAY0 + 125, 4, 0);

    json_t *all = cc_history_series(h, "", DAY0 + 130), *t = cc_history_series(h, T, DAY0 + 130);
    assert_int_equal(json_array_size(json_object_get(all, "frames")), CC_HISTORY_WINDOW);
    assert_int_equal(json_integer_value(json_object_get(all, "step")), 60);
    assert_int_equal(json_integer_value(json_object_get(all, "start")),
                     (json_int_t)DAY0 + 120 - 60 * (CC_HISTORY_WINDOW - 1));
    assert_int_equal(value(all, "assignments", 2), 2);
    assert_int_equal(value(t, "assignments", 2), 2);
    assert_int_equal(value(t, "frames", 2), 12);
    assert_int_equal(value(t, "active_cores", 2), 1); /* the minute's last survey */
    assert_true(json_is_null(at(t, "frames", 1)));
    assert_true(json_is_null(at(all, "active_cores", 1)));
    assert_int_equal(value(t, "frames", 0), 4);
    assert_int_equal(value(t, "active_cores", 0), 0);
    assert_true(json_is_null(at(all, "frames", 3))); /* before the CC knew anything */

    /* An unknown target reads as zeros where the system was surveyed. */
    json_t *other = cc_history_series(h, "nothing", DAY0 + 130);
    assert_int_equal(value(other, "frames", 2), 0);
    assert_true(json_is_null(at(other, "frames", 1)));

    assert_int_equal(cc_history_frames_last_hour(h, T, DAY0 + 130), 16);
    assert_int_equal(cc_history_frames_last_hour(h, CC_HISTORY_SCV_PREFIX "s1", DAY0 + 130), 16);
    assert_int_equal(cc_history_frames_last_hour(h, T, DAY0 + 60 * 60 + 1), 4); /* the first minute left */
    assert_int_equal(cc_history_frames_last_hour(h, "nothing", DAY0 + 130), 0);
    json_decref(all);
    json_decref(t);
    json_decref(other);
    cc_history_free(h);
}

/* A target not listed by a survey had no cores that minute. */
static void test_unlisted_target_has_no_cores(void **state)
{
    (void)state;
    cc_history *h = cc_history_new();
    sample(h, DAY0 + 1, 1, 4);
    struct cc_history_point only_all = {"", 0, 0};
    cc_history_sample(h, DAY0 + 20, &only_all, 1);
    json_t *t = cc_history_series(h, T, DAY0 + 21);
    assert_int_equal(value(t, "active_cores", 0), 0);
    assert_int_equal(value(t, "frames", 0), 1);
    json_decref(t);
    cc_history_free(h);
}

/* An assignment shows at once, before the minute's first survey. */
static void test_assignment_before_survey(void **state)
{
    (void)state;
    cc_history *h = cc_history_new();
    sample(h, DAY0 + 55, 1, 1);
    cc_history_assigned(h, T, DAY0 + 61);
    json_t *all = cc_history_series(h, "", DAY0 + 62), *t = cc_history_series(h, T, DAY0 + 62);
    assert_int_equal(value(all, "assignments", 0), 1);
    assert_int_equal(value(t, "assignments", 0), 1);
    assert_int_equal(value(t, "active_cores", 0), 0);
    json_decref(all);
    json_decref(t);
    cc_history_free(h);
}

static void save_path(char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/cc_history_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(dir));
    snprintf(path, PATH_MAX, "%.*s/history.json.gz", PATH_MAX - 20, dir);
}

static void test_save_and_load(void **state)
{
    (void)state;
    char path[PATH_MAX];
    save_path(path);
    cc_history *h = cc_history_new();
    assert_int_equal(cc_history_load(h, path), 0); /* missing: empty */
    sample(h, DAY0 + 1, 3, 2);
    cc_history_assigned(h, T, DAY0 + 3);
    sample(h, DAY0 + 65, 5, 1);
    assert_int_equal(cc_history_save(h, path), 0);

    cc_history *back = cc_history_new();
    assert_int_equal(cc_history_load(back, path), 0);
    /* Restarted ten minutes later: the old minutes are back, the gap stays. */
    json_t *before = cc_history_series(h, T, DAY0 + 665), *after = cc_history_series(back, T, DAY0 + 665);
    assert_true(json_equal(before, after));
    assert_int_equal(value(after, "frames", 11), 3);
    assert_int_equal(value(after, "assignments", 11), 1);
    assert_int_equal(value(after, "active_cores", 10), 1);
    assert_int_equal(value(after, "frames", 10), 5);
    assert_true(json_is_null(at(after, "frames", 0)));
    json_decref(before);
    json_decref(after);

    /* A damaged file is refused and changes nothing: a row that does not
     * fit, then bytes that are not gzip. */
    static const char bad_row[] = "{\"version\":1,\"series\":{\"\":[[1,2]]}}";
    size_t gz_len = 0;
    unsigned char *gz = gz_compress(bad_row, strlen(bad_row), &gz_len);
    assert_int_equal(fs_write_file(path, gz, gz_len, 0), 0);
    free(gz);
    assert_int_equal(cc_history_load(back, path), -1);
    assert_int_equal(fs_write_file(path, bad_row, strlen(bad_row), 0), 0);
    assert_int_equal(cc_history_load(back, path), -1);
    assert_int_equal(cc_history_frames_last_hour(back, T, DAY0 + 665), 8);
    cc_history_free(h);
    cc_history_free(back);
    unlink(path);
}

static char *saved_text(const char *path)
{
    size_t len = 0, text_len = 0;
    char *gz = fs_read_file(path, 1 << 20, &len);
    assert_non_null(gz);
    char *text = (char *)gz_decompress(gz, len, 1 << 24, &text_len);
    assert_non_null(text);
    free(gz);
    return text;
}

/* A target that saw no work for the whole ring is forgotten. */
static void test_idle_series_expire(void **state)
{
    (void)state;
    char path[PATH_MAX];
    save_path(path);
    cc_history *h = cc_history_new();
    sample(h, DAY0, 2, 1);
    struct cc_history_point only_all = {"", 0, 0};
    cc_history_sample(h, DAY0 + 60.0 * (CC_HISTORY_MINUTES - 1), &only_all, 1);
    assert_int_equal(cc_history_save(h, path), 0);
    char *text = saved_text(path);
    assert_non_null(strstr(text, T));
    free(text);
    cc_history_sample(h, DAY0 + 60.0 * CC_HISTORY_MINUTES, &only_all, 1);
    assert_int_equal(cc_history_save(h, path), 0);
    text = saved_text(path);
    assert_null(strstr(text, T));
    free(text);
    cc_history_free(h);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minutes_and_gaps),         cmocka_unit_test(test_unlisted_target_has_no_cores),
        cmocka_unit_test(test_assignment_before_survey), cmocka_unit_test(test_save_and_load),
        cmocka_unit_test(test_idle_series_expire),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
