/* The SCV's SQLite records: streams, reconcile batches, the stats outbox,
 * commit credit intents. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scv/scv_db.h"
#include "util/fs.h"
#include "util/log.h"

typedef struct {
    char dir[64];
    char path[128];
    scv_db *db;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/st_scvdb_XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/scv.db", f->dir);
    f->db = scv_db_open(f->path);
    *state = f;
    return f->db ? 0 : -1;
}

static int teardown(void **state)
{
    fixture *f = *state;
    scv_db_close(f->db);
    fs_rm_rf(f->dir);
    free(f);
    return 0;
}

typedef struct {
    int n;
    char ids[8][64];
    scv_stream_record recs[8];
} seen;

static int collect(const scv_stream_record *rec, void *ctx)
{
    seen *s = ctx;
    if (s->n == 8)
        return 7;
    snprintf(s->ids[s->n], sizeof s->ids[0], "%s", rec->id);
    s->recs[s->n] = *rec;
    s->recs[s->n].id = s->ids[s->n];
    s->recs[s->n].target_id = NULL;
    s->n++;
    return 0;
}

/* The record of stream id among those seen (the order is unspecified). */
static const scv_stream_record *seen_record(const seen *s, const char *id)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->ids[i], id) == 0)
            return &s->recs[i];
    fail_msg("stream %s not listed", id);
    return NULL;
}

static int stop_at_first(const scv_stream_record *rec, void *ctx)
{
    (void)rec;
    (void)ctx;
    return 42;
}

static void test_streams(void **state)
{
    fixture *f = *state;
    assert_int_equal(scv_db_stream_insert(f->db, "b:scv", "t1", 10.5), 0);
    assert_int_equal(scv_db_stream_insert(f->db, "a:scv", "t1", 11.0), 0);
    assert_int_equal(scv_db_stream_insert(f->db, "a:scv", "t2", 12.0), STATUS_EXISTS);
    assert_int_equal(scv_db_stream_set_frames(f->db, "a:scv", 38), 0);
    assert_int_equal(scv_db_stream_set_state(f->db, "b:scv", SCV_STREAM_STOPPED, 4), 0);
    assert_int_equal(scv_db_stream_set_state(f->db, "zz", SCV_STREAM_OK, 0), STATUS_NOT_FOUND);
    assert_int_equal(scv_db_stream_set_frames(f->db, "zz", 1), STATUS_NOT_FOUND);
    int64_t frames = -1;
    assert_int_equal(scv_db_stream_get_frames(f->db, "a:scv", &frames), 0);
    assert_int_equal(frames, 38);
    assert_int_equal(scv_db_stream_get_frames(f->db, "zz", &frames), STATUS_NOT_FOUND);

    seen s = {0};
    assert_int_equal(scv_db_stream_foreach(f->db, collect, &s), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(seen_record(&s, "a:scv")->frames, 38);
    assert_int_equal(seen_record(&s, "a:scv")->status, SCV_STREAM_OK);
    assert_int_equal(seen_record(&s, "b:scv")->status, SCV_STREAM_STOPPED);
    assert_int_equal(seen_record(&s, "b:scv")->error_count, 4);
    assert_true(seen_record(&s, "b:scv")->creation_date == 10.5);
    assert_int_equal(scv_db_stream_foreach(f->db, stop_at_first, NULL), STATUS_IO);

    assert_int_equal(scv_db_stream_delete(f->db, "a:scv"), 0);
    assert_int_equal(scv_db_stream_delete(f->db, "a:scv"), STATUS_NOT_FOUND);
}

static void test_reconcile_batch(void **state)
{
    fixture *f = *state;
    assert_int_equal(scv_db_stream_insert(f->db, "a", "t", 1), 0);
    assert_int_equal(scv_db_stream_insert(f->db, "b", "t", 1), 0);
    assert_int_equal(scv_db_stream_insert(f->db, "c", "t", 1), 0);
    const char *drop[] = {"a"};
    scv_db_frames_fix fix[] = {{"b", 7}, {"c", 9}};
    assert_int_equal(scv_db_reconcile(f->db, drop, 1, fix, 2), 0);
    seen s = {0};
    assert_int_equal(scv_db_stream_foreach(f->db, collect, &s), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(seen_record(&s, "b")->frames, 7);
    assert_int_equal(seen_record(&s, "c")->frames, 9);
}

static void test_outbox(void **state)
{
    fixture *f = *state;
    assert_int_equal(scv_db_outbox_add(f->db, "f1", "{\"id\":\"f1\",\"frames\":1}", 1), 0);
    assert_int_equal(scv_db_outbox_add(f->db, "f2", "{\"id\":\"f2\",\"frames\":2}", 2), 0);
    assert_int_equal(scv_db_outbox_add(f->db, "f1", "{\"id\":\"f1\",\"frames\":99}", 3), 0);
    assert_int_equal(scv_db_outbox_add(f->db, "f3", "{\"id\":\"f3\",\"frames\":3}", 4), 0);
    /* The count /metrics shows: a repeated id is not a new row. */
    double oldest = -1;
    assert_int_equal(scv_db_outbox_count(f->db), 3);
    assert_int_equal(scv_db_outbox_oldest(f->db, &oldest), 0);
    assert_true(oldest == 1);
    json_t *list = NULL;
    assert_int_equal(scv_db_outbox_list(f->db, 2, &list), 0);
    assert_int_equal(json_array_size(list), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "id")), "f1");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "frames")), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 1), "id")), "f2");
    json_decref(list);
    const char *done[] = {"f1", "f2", "never-added"};
    assert_int_equal(scv_db_outbox_delete(f->db, done, 3), 0);
    assert_int_equal(scv_db_outbox_list(f->db, 10, &list), 0);
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "id")), "f3");
    json_decref(list);
    assert_int_equal(scv_db_outbox_count(f->db), 1);
    assert_int_equal(scv_db_outbox_oldest(f->db, &oldest), 0);
    assert_true(oldest == 4);
    /* Counted again from the table at the next open. */
    scv_db_close(f->db);
    f->db = scv_db_open(f->path);
    assert_non_null(f->db);
    assert_int_equal(scv_db_outbox_count(f->db), 1);
    assert_int_equal(scv_db_outbox_delete(f->db, (const char *[]){"f3"}, 1), 0);
    assert_int_equal(scv_db_outbox_count(f->db), 0);
    assert_int_equal(scv_db_outbox_oldest(f->db, &oldest), 0);
    assert_true(oldest == 0);
}

/* Partition "present" of stream "s1" exists; nothing else does. */
static int fake_partition(const char *stream_id, int64_t partition, void *ctx)
{
    (*(int *)ctx)++;
    return strcmp(stream_id, "s1") == 0 && partition == 10;
}

/* The fragment body the outbox holds for id, as its "frames" (-1: none). */
static long outbox_frames(scv_db *db, const char *id)
{
    json_t *list = NULL;
    size_t i;
    json_t *frag;
    long frames = -1;
    assert_int_equal(scv_db_outbox_list(db, 100, &list), 0);
    json_array_foreach(list, i, frag)
    {
        if (strcmp(json_string_value(json_object_get(frag, "id")), id) == 0)
            frames = (long)json_integer_value(json_object_get(frag, "frames"));
    }
    json_decref(list);
    return frames;
}

/* An intent becomes the open fragment by commit_done, or at start when its
 * partition exists; dropped otherwise. */
static void test_commit_intents(void **state)
{
    fixture *f = *state;
    int64_t applied = 0, moved = 0;
    int calls = 0;
    assert_int_equal(scv_db_stream_insert(f->db, "s1", "t", 1), 0);
    assert_int_equal(scv_db_stream_insert(f->db, "s2", "t", 1), 0);
    /* s1: done once (4 frames), then an intent for partition 10 left by a crash. */
    assert_int_equal(scv_db_commit_intent(f->db, "s1", 4, "a", "{\"id\":\"a\",\"frames\":4}"), 0);
    assert_int_equal(scv_db_commit_done(f->db, "s1", 4, "a", "{\"id\":\"a\",\"frames\":4}"), 0);
    assert_int_equal(scv_db_commit_intent(f->db, "s1", 10, "a", "{\"id\":\"a\",\"frames\":10}"), 0);
    /* s2: an intent whose rename never happened. */
    assert_int_equal(scv_db_commit_done(f->db, "s2", 3, "b", "{\"id\":\"b\",\"frames\":3}"), 0);
    assert_int_equal(scv_db_commit_intent(f->db, "s2", 5, "b", "{\"id\":\"b\",\"frames\":5}"), 0);
    int64_t frames = 0;
    assert_int_equal(scv_db_stream_get_frames(f->db, "s1", &frames), 0);
    assert_int_equal(frames, 4);

    assert_int_equal(scv_db_commit_intents_resolve(f->db, fake_partition, &calls, &applied), 0);
    assert_int_equal(calls, 2);
    assert_int_equal(applied, 1);
    assert_int_equal(scv_db_open_fragments_close(f->db, 9, &moved), 0);
    assert_int_equal(moved, 2);
    assert_int_equal(scv_db_outbox_count(f->db), 2);
    assert_int_equal(outbox_frames(f->db, "a"), 10);
    assert_int_equal(outbox_frames(f->db, "b"), 3);
    /* Settled once: a second start finds nothing left. */
    calls = 0;
    assert_int_equal(scv_db_commit_intents_resolve(f->db, fake_partition, &calls, &applied), 0);
    assert_int_equal(calls, 0);
    assert_int_equal(applied, 0);
}

static void test_reopen_and_newer_schema(void **state)
{
    fixture *f = *state;
    assert_int_equal(scv_db_stream_insert(f->db, "kept", "t", 1), 0);
    scv_db_close(f->db);
    f->db = scv_db_open(f->path);
    assert_non_null(f->db);
    int64_t frames = -1;
    assert_int_equal(scv_db_stream_get_frames(f->db, "kept", &frames), 0);
    scv_db_close(f->db);
    f->db = NULL;

    /* As versions before the shared scheme left it: only the table. */
    sqlite3 *raw = NULL;
    assert_int_equal(sqlite3_open(f->path, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw, "PRAGMA user_version = 0", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    f->db = scv_db_open(f->path);
    assert_non_null(f->db);
    assert_int_equal(scv_db_stream_get_frames(f->db, "kept", &frames), 0);
    scv_db_close(f->db);
    f->db = NULL;

    assert_int_equal(sqlite3_open(f->path, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw, "INSERT INTO schema_version VALUES (99)", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(raw);
    assert_null(scv_db_open(f->path));

    char bad[160];
    snprintf(bad, sizeof bad, "%s/no/such/folder/scv.db", f->dir);
    assert_null(scv_db_open(bad));
}

int main(void)
{
    log_set_quiet(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_streams, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconcile_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_intents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_and_newer_schema, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
