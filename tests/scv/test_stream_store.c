/* The SCV stream store: layout, commits, reconcile after crashes, confined
 * paths, uploads, the stats outbox. Each test runs in its own folder. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scv/scv_db.h"
#include "scv/stream_store.h"
#include "util/fs.h"
#include "util/log.h"

#define ID "0b7c3e5e-1111-4222-8333-944455556666:scv1"
#define ID2 "1c8d4f6f-2222-4333-9444-a55566667777:scv1"
#define S(lit) lit, sizeof(lit) - 1

typedef struct {
    char dir[64];
    stream_store *s;
    struct status err;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/st_store_XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    f->s = stream_store_open(f->dir, &f->err);
    *state = f;
    return f->s ? 0 : -1;
}

static int teardown(void **state)
{
    fixture *f = *state;
    stream_store_close(f->s);
    fs_rm_rf(f->dir);
    free(f);
    return 0;
}

static void reopen(fixture *f)
{
    stream_store_close(f->s);
    f->s = stream_store_open(f->dir, &f->err);
    assert_non_null(f->s);
}

/* Path below the stream folder of id. */
static const char *sp(fixture *f, const char *id, const char *rel)
{
    static char buf[4][512];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, 512, "%s/streams/%s%s%s", f->dir, id, rel ? "/" : "", rel ? rel : "");
    return p;
}

static void assert_file(const char *path, const char *data, size_t len)
{
    size_t got = 0;
    char *content = fs_read_file(path, 1 << 20, &got);
    assert_non_null(content);
    assert_int_equal(got, len);
    assert_memory_equal(content, data, len);
    free(content);
}

/* Number of entries (but . and ..) in a folder; -1 if it cannot be read. */
static int count_entries(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

typedef struct {
    int n;
    char ids[8][128];
    char targets[8][64];
    scv_stream_record recs[8];
} seen;

static int collect(const scv_stream_record *rec, void *ctx)
{
    seen *s = ctx;
    if (s->n == 8)
        return 1;
    snprintf(s->ids[s->n], sizeof s->ids[0], "%s", rec->id);
    snprintf(s->targets[s->n], sizeof s->targets[0], "%s", rec->target_id);
    s->recs[s->n] = *rec;
    s->n++;
    return 0;
}

static seen list_streams(fixture *f)
{
    seen s = {0};
    assert_int_equal(stream_store_foreach(f->s, collect, &s), STATUS_OK);
    return s;
}

static void create_default(fixture *f, const char *id)
{
    json_t *files = json_pack("{s:s, s:s}", "system.xml.gz.b64", "SYSTEM", "state.xml.gz.b64", "SEEDSTATE");
    json_t *tags = json_pack("{s:s}", "note", "hello");
    assert_int_equal(stream_store_create(f->s, id, "target-1", files, tags, 1000.0, &f->err), STATUS_OK);
    json_decref(files);
    json_decref(tags);
}

/* One frame of one file through the frame API; its stream_store_rc. */
static int append_one(fixture *f, const char *id, const char *name, const char *data)
{
    stream_store_frame *fr;
    int rc = stream_store_frame_begin(f->s, id, &fr, &f->err);
    if (rc != STATUS_OK)
        return rc;
    rc = stream_store_frame_file(fr, name, &f->err);
    if (rc == STATUS_OK)
        rc = stream_store_frame_write(fr, data, strlen(data), &f->err);
    int end = stream_store_frame_end(fr, rc == STATUS_OK, &f->err);
    return rc != STATUS_OK ? rc : end;
}

static void append(fixture *f, const char *id, const char *name, const char *data)
{
    assert_int_equal(append_one(f, id, name, data), STATUS_OK);
}

static int64_t commit(fixture *f, const char *id, const char *state, int64_t k)
{
    json_t *ck = json_pack("{s:s}", "state.xml.gz.b64", state);
    int64_t total = -1;
    assert_int_equal(stream_store_commit(f->s, id, ck, k, NULL, &total, &f->err), STATUS_OK);
    json_decref(ck);
    return total;
}

static void test_create_list_delete(void **state)
{
    fixture *f = *state;
    json_t *files = json_object();
    json_object_set_new(files, "bin", json_stringn("a\0b", 3));
    assert_int_equal(stream_store_create(f->s, ID, "target-1", files, NULL, 1000.0, &f->err), STATUS_OK);
    json_decref(files);
    create_default(f, ID2);

    assert_file(sp(f, ID, "files/bin"), "a\0b", 3);
    assert_true(fs_is_dir(sp(f, ID, "tags")));
    assert_file(sp(f, ID2, "tags/note"), S("hello"));
    seen s = list_streams(f);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.ids[0], ID);
    assert_string_equal(s.targets[0], "target-1");
    assert_int_equal(s.recs[0].status, SCV_STREAM_OK);
    assert_int_equal(s.recs[0].frames, 0);
    assert_int_equal(s.recs[0].error_count, 0);
    assert_true(s.recs[0].creation_date == 1000.0);

    json_t *again = json_pack("{s:s}", "x", "y");
    assert_int_equal(stream_store_create(f->s, ID, "target-1", again, NULL, 1.0, &f->err), STATUS_EXISTS);
    json_decref(again);
    assert_file(sp(f, ID, "files/bin"), "a\0b", 3);

    assert_int_equal(stream_store_delete(f->s, ID, &f->err), STATUS_OK);
    assert_false(fs_exists(sp(f, ID, NULL)));
    s = list_streams(f);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.ids[0], ID2);
    assert_int_equal(stream_store_delete(f->s, ID, &f->err), STATUS_NOT_FOUND);
    assert_int_equal(stream_store_delete(f->s, "../x", &f->err), STATUS_INVALID);
    char streams[128];
    snprintf(streams, sizeof streams, "%s/streams", f->dir);
    assert_int_equal(count_entries(streams), 1);
}

static void expect_create_refused(fixture *f, const char *id, const char *target, json_t *files, json_t *tags)
{
    status_clear(&f->err);
    assert_int_equal(stream_store_create(f->s, id, target, files, tags, 1.0, &f->err), STATUS_INVALID);
    assert_true(strlen(f->err.msg) > 0);
    json_decref(files);
    json_decref(tags);
}

static void test_create_refuses_bad_input(void **state)
{
    fixture *f = *state;
    char longname[300];
    memset(longname, 'n', 256);
    longname[256] = '\0';
    expect_create_refused(f, ID, "t", json_pack("{s:s}", "", "x"), NULL);
    expect_create_refused(f, ID, "t", json_pack("{s:s}", "a/b", "x"), NULL);
    expect_create_refused(f, ID, "t", json_pack("{s:s}", "..", "x"), NULL);
    expect_create_refused(f, ID, "t", json_pack("{s:s}", ".hidden", "x"), NULL);
    expect_create_refused(f, ID, "t", json_pack("{s:s}", longname, "x"), NULL);
    expect_create_refused(f, ID, "t", json_pack("{s:i}", "state", 3), NULL);
    expect_create_refused(f, ID, "t", json_pack("[s]", "state"), NULL);
    expect_create_refused(f, ID, "t", NULL, NULL);
    expect_create_refused(f, ID, "t", json_pack("{s:s}", "ok", "x"), json_pack("{s:s}", "../tag", "x"));
    expect_create_refused(f, ID, "t", json_pack("{s:s}", "ok", "x"), json_pack("[]"));
    json_t *nul = json_object();
    json_object_setn_new_nocheck(nul, "a\0b", 3, json_string("x"));
    expect_create_refused(f, ID, "t", nul, NULL);
    expect_create_refused(f, "a/b", "t", json_pack("{s:s}", "ok", "x"), NULL);
    expect_create_refused(f, "..", "t", json_pack("{s:s}", "ok", "x"), NULL);
    expect_create_refused(f, "", "t", json_pack("{s:s}", "ok", "x"), NULL);
    expect_create_refused(f, longname, "t", json_pack("{s:s}", "ok", "x"), NULL);
    expect_create_refused(f, ID, "", json_pack("{s:s}", "ok", "x"), NULL);
    expect_create_refused(f, ID, NULL, json_pack("{s:s}", "ok", "x"), NULL);

    char streams[128];
    snprintf(streams, sizeof streams, "%s/streams", f->dir);
    assert_int_equal(count_entries(streams), 0);
    assert_int_equal(list_streams(f).n, 0);
}

static void test_frames_commit_sync_start(void **state)
{
    fixture *f = *state;
    create_default(f, ID);

    json_t *sync = NULL;
    assert_int_equal(stream_store_sync(f->s, ID, &sync, &f->err), STATUS_OK);
    assert_int_equal(json_array_size(json_object_get(sync, "partitions")), 0);
    assert_int_equal(json_array_size(json_object_get(sync, "seed_files")), 2);
    assert_null(json_object_get(sync, "frame_files"));
    assert_null(json_object_get(sync, "checkpoint_files"));
    json_decref(sync);

    append(f, ID, "frames.xtc", "AB");
    append(f, ID, "frames.xtc", "CD");
    append(f, ID, "log.txt", "L");
    assert_file(sp(f, ID, "buffer_files/frames.xtc"), S("ABCD"));
    assert_int_equal(commit(f, ID, "S1", 2), 2);
    assert_false(fs_exists(sp(f, ID, "buffer_files")));
    assert_file(sp(f, ID, "2/frames.xtc"), S("ABCD"));
    assert_file(sp(f, ID, "2/checkpoint_files/state.xml.gz.b64"), S("S1"));

    append(f, ID, "frames.xtc", "EF");
    assert_int_equal(commit(f, ID, "S2", 3), 5);
    assert_file(sp(f, ID, "5/frames.xtc"), S("EF"));
    assert_int_equal(list_streams(f).recs[0].frames, 5);

    assert_int_equal(stream_store_sync(f->s, ID, &sync, &f->err), STATUS_OK);
    json_t *want =
        json_pack("{s:[i,i], s:[s,s], s:[s], s:[s]}", "partitions", 2, 5, "seed_files", "state.xml.gz.b64",
                  "system.xml.gz.b64", "frame_files", "frames.xtc", "checkpoint_files", "state.xml.gz.b64");
    assert_true(json_equal(sync, want));
    json_decref(want);
    json_decref(sync);

    json_t *start = NULL;
    assert_int_equal(stream_store_start_files(f->s, ID, 1 << 20, &start, &f->err), STATUS_OK);
    want = json_pack("{s:s, s:s}", "state.xml.gz.b64", "S2", "system.xml.gz.b64", "SYSTEM");
    assert_true(json_equal(start, want));
    json_decref(want);
    json_decref(start);

    /* A budget smaller than the files refuses rather than truncating. */
    assert_int_equal(stream_store_start_files(f->s, ID, 4, &start, &f->err), STATUS_IO);
    assert_null(start);
}

static void test_start_files_without_partition_and_refusals(void **state)
{
    fixture *f = *state;
    create_default(f, ID);
    json_t *start = NULL;
    assert_int_equal(stream_store_start_files(f->s, ID, 1 << 20, &start, &f->err), STATUS_OK);
    assert_string_equal(json_string_value(json_object_get(start, "state.xml.gz.b64")), "SEEDSTATE");
    json_decref(start);
    assert_int_equal(fs_write_file(sp(f, ID, "files/binary"), "\xff\xfe", 2, 0), 0);
    assert_int_equal(stream_store_start_files(f->s, ID, 1 << 20, &start, &f->err), STATUS_IO);
    assert_non_null(strstr(f->err.msg, "UTF-8"));
    assert_int_equal(stream_store_start_files(f->s, ID2, 1 << 20, &start, &f->err), STATUS_NOT_FOUND);
    json_t *sync = NULL;
    assert_int_equal(stream_store_sync(f->s, ID2, &sync, &f->err), STATUS_NOT_FOUND);
    assert_null(sync);
}

/* A refused frame leaves the buffer as it was, whatever it touched. */
static void test_frame_rollback(void **state)
{
    fixture *f = *state;
    create_default(f, ID);
    append(f, ID, "frames.xtc", "AB");
    stream_store_frame *fr;
    assert_int_equal(stream_store_frame_begin(f->s, ID, &fr, &f->err), STATUS_OK);
    const char *names[] = {"frames.xtc", "new.log", "frames.xtc"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(stream_store_frame_file(fr, names[i], &f->err), STATUS_OK);
        assert_int_equal(stream_store_frame_write(fr, "xyz", 3, &f->err), STATUS_OK);
    }
    assert_int_equal(stream_store_frame_file(fr, ".hidden", &f->err), STATUS_INVALID);
    assert_int_equal(stream_store_frame_end(fr, 0, &f->err), STATUS_OK);
    assert_file(sp(f, ID, "buffer_files/frames.xtc"), S("AB"));
    assert_false(fs_exists(sp(f, ID, "buffer_files/new.log")));
    append(f, ID, "frames.xtc", "CD");
    assert_file(sp(f, ID, "buffer_files/frames.xtc"), S("ABCD"));
}

static void test_frame_and_commit_refusals(void **state)
{
    fixture *f = *state;
    create_default(f, ID);
    const char *bad[] = {"", "../x", "a/b", ".x", "checkpoint_files"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(append_one(f, ID, bad[i], "x"), STATUS_INVALID);
    assert_int_equal(append_one(f, ID, NULL, "x"), STATUS_INVALID);
    assert_int_equal(append_one(f, ID2, "frames.xtc", "x"), STATUS_NOT_FOUND);
    assert_false(fs_exists(sp(f, ID, "buffer_files")));

    append(f, ID, "frames.xtc", "AB");
    json_t *ck = json_pack("{s:s}", "state", "S");
    json_t *badck = json_pack("{s:s}", "../state", "S");
    int64_t total = -1;
    assert_int_equal(stream_store_commit(f->s, ID, ck, 0, NULL, &total, &f->err), STATUS_INVALID);
    assert_int_equal(stream_store_commit(f->s, ID, badck, 1, NULL, &total, &f->err), STATUS_INVALID);
    assert_int_equal(stream_store_commit(f->s, ID, NULL, 1, NULL, &total, &f->err), STATUS_INVALID);
    assert_int_equal(stream_store_commit(f->s, ID2, ck, 1, NULL, &total, &f->err), STATUS_NOT_FOUND);
    assert_int_equal(total, -1);
    assert_false(fs_exists(sp(f, ID, "buffer_files/checkpoint_files")));
    assert_file(sp(f, ID, "buffer_files/frames.xtc"), S("AB"));
    json_decref(ck);
    json_decref(badck);
}

static void test_discard(void **state)
{
    fixture *f = *state;
    create_default(f, ID);
    append(f, ID, "frames.xtc", "AB");
    assert_int_equal(stream_store_discard_buffer(f->s, ID, &f->err), STATUS_OK);
    assert_false(fs_exists(sp(f, ID, "buffer_files")));
    assert_int_equal(stream_store_discard_buffer(f->s, ID, &f->err), STATUS_OK);
    assert_int_equal(stream_store_discard_buffer(f->s, ID2, &f->err), STATUS_NOT_FOUND);
    append(f, ID, "frames.xtc", "CD");
    assert_int_equal(commit(f, ID, "S", 1), 1);
    assert_file(sp(f, ID, "1/frames.xtc"), S("CD"));
}

static void set_record_frames(fixture *f, const char *id, int64_t frames)
{
    char path[128];
    snprintf(path, sizeof path, "%s/scv.db", f->dir);
    scv_db *db = scv_db_open(path);
    assert_non_null(db);
    assert_int_equal(scv_db_stream_set_frames(db, id, frames), 0);
    scv_db_close(db);
}

static void test_reconcile_after_crashes(void **state)
{
    fixture *f = *state;
    create_default(f, ID);
    create_default(f, ID2);
    append(f, ID, "frames.xtc", "AB");
    assert_int_equal(commit(f, ID, "S1", 2), 2);
    stream_store_close(f->s);
    f->s = NULL;

    /* ID: a crash before the rename (a complete buffer left behind), a stray
     * partition-named folder without checkpoint_files, temporaries, and a
     * record that disagrees with the folders. */
    assert_int_equal(fs_mkdir_p(sp(f, ID, "buffer_files/checkpoint_files"), 0755), 0);
    assert_int_equal(fs_write_file(sp(f, ID, "buffer_files/frames.xtc"), "XX", 2, 0), 0);
    assert_int_equal(fs_mkdir_p(sp(f, ID, "9"), 0755), 0);
    assert_int_equal(fs_write_file(sp(f, ID, "9/frames.xtc"), "YY", 2, 0), 0);
    assert_int_equal(fs_write_file(sp(f, ID, ".upload-0123"), "T", 1, 0), 0);
    assert_int_equal(fs_mkdir_p(sp(f, ".new-someid", "files"), 0755), 0);
    assert_int_equal(fs_mkdir_p(sp(f, ".trash-other", "files"), 0755), 0);
    set_record_frames(f, ID, 77);
    /* ID2: a crash after the rename but before the record update. */
    assert_int_equal(fs_mkdir_p(sp(f, ID2, "4/checkpoint_files"), 0755), 0);
    assert_int_equal(fs_write_file(sp(f, ID2, "4/frames.xtc"), "ZZ", 2, 0), 0);

    reopen(f);
    seen s = list_streams(f);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.recs[0].frames, 2);
    assert_int_equal(s.recs[1].frames, 4);
    assert_false(fs_exists(sp(f, ID, "buffer_files")));
    assert_false(fs_exists(sp(f, ID, "9")));
    assert_false(fs_exists(sp(f, ID, ".upload-0123")));
    assert_false(fs_exists(sp(f, ".new-someid", NULL)));
    assert_false(fs_exists(sp(f, ".trash-other", NULL)));
    assert_file(sp(f, ID, "2/frames.xtc"), S("AB"));
    assert_file(sp(f, ID, "files/system.xml.gz.b64"), S("SYSTEM"));

    /* The next commit continues from the true count. */
    append(f, ID2, "frames.xtc", "QQ");
    assert_int_equal(commit(f, ID2, "S", 1), 5);
}

static void test_reconcile_missing_folder_and_orphan(void **state)
{
    fixture *f = *state;
    create_default(f, ID);
    create_default(f, ID2);
    stream_store_close(f->s);
    f->s = NULL;
    assert_int_equal(fs_rm_rf(sp(f, ID, NULL)), 0);
    assert_int_equal(fs_mkdir_p(sp(f, "orphan:scv1", "files"), 0755), 0);
    reopen(f);
    seen s = list_streams(f);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.ids[0], ID2);
    assert_true(fs_is_dir(sp(f, "orphan:scv1", "files")));
}

static void expect_open_refused(fixture *f, const char *path, size_t len, int want)
{
    int fd = -1;
    off_t size = -1;
    assert_int_equal(stream_store_open_file(f->s, ID, path, len, &fd, &size, &f->err), want);
    assert_int_equal(fd, -1);
}

static void test_open_file_confinement(void **state)
{
    fixture *f = *state;
    create_default(f, ID);
    append(f, ID, "frames.xtc", "ABC");
    assert_int_equal(commit(f, ID, "S1", 1), 1);

    int fd = -1;
    off_t size = 0;
    assert_int_equal(stream_store_open_file(f->s, ID, S("1/frames.xtc"), &fd, &size, &f->err), STATUS_OK);
    assert_int_equal(size, 3);
    char buf[8] = {0};
    assert_int_equal(read(fd, buf, sizeof buf), 3);
    assert_memory_equal(buf, "ABC", 3);
    close(fd);
    assert_int_equal(
        stream_store_open_file(f->s, ID, S("1/checkpoint_files/state.xml.gz.b64"), &fd, &size, &f->err),
        STATUS_OK);
    close(fd);

    char outside[128];
    snprintf(outside, sizeof outside, "%s/secret", f->dir);
    assert_int_equal(fs_write_file(outside, "SECRET", 6, 0), 0);
    assert_int_equal(symlink(outside, sp(f, ID, "files/evil")), 0);
    assert_int_equal(symlink(f->dir, sp(f, ID, "escape")), 0);

    expect_open_refused(f, S("../" ID2 "/files/system.xml.gz.b64"), STATUS_INVALID);
    expect_open_refused(f, S("files/../../x"), STATUS_INVALID);
    expect_open_refused(f, S("/etc/passwd"), STATUS_INVALID);
    expect_open_refused(f, S(""), STATUS_INVALID);
    expect_open_refused(f, S("files/system.xml.gz.b64\0/x"), STATUS_INVALID);
    expect_open_refused(f, S("files/evil"), STATUS_INVALID);
    expect_open_refused(f, S("escape/secret"), STATUS_INVALID);
    expect_open_refused(f, S("files"), STATUS_INVALID);
    expect_open_refused(f, S("files/missing"), STATUS_NOT_FOUND);
    assert_int_equal(stream_store_open_file(f->s, ID2, S("files/a"), &fd, &size, &f->err), STATUS_NOT_FOUND);
    assert_int_equal(stream_store_open_file(f->s, "..", S("secret"), &fd, &size, &f->err), STATUS_INVALID);
}

static void test_upload(void **state)
{
    fixture *f = *state;
    create_default(f, ID);
    append(f, ID, "frames.xtc", "AB");
    assert_int_equal(commit(f, ID, "S1", 2), 2);

    assert_int_equal(stream_store_upload(f->s, ID, S("files/state.xml.gz.b64"), S("NEW"), &f->err),
                     STATUS_OK);
    assert_file(sp(f, ID, "files/state.xml.gz.b64"), S("NEW"));
    assert_int_equal(
        stream_store_upload(f->s, ID, S("2/checkpoint_files/state.xml.gz.b64"), S("CK"), &f->err), STATUS_OK);
    assert_file(sp(f, ID, "2/checkpoint_files/state.xml.gz.b64"), S("CK"));
    assert_int_equal(stream_store_upload(f->s, ID, S("analysis/deep/notes"), S("N"), &f->err), STATUS_OK);
    assert_file(sp(f, ID, "analysis/deep/notes"), S("N"));

    /* A symlink as the last component is replaced, never written through. */
    char outside[128];
    snprintf(outside, sizeof outside, "%s/secret", f->dir);
    assert_int_equal(fs_write_file(outside, "SECRET", 6, 0), 0);
    assert_int_equal(symlink(outside, sp(f, ID, "files/link")), 0);
    assert_int_equal(stream_store_upload(f->s, ID, S("files/link"), S("MINE"), &f->err), STATUS_OK);
    assert_file(outside, S("SECRET"));
    struct stat sb;
    assert_int_equal(lstat(sp(f, ID, "files/link"), &sb), 0);
    assert_true(S_ISREG(sb.st_mode));

    assert_int_equal(symlink(f->dir, sp(f, ID, "escape")), 0);
    const char *refused[] = {"../x",           "/abs",          "",     "files/../x",
                             "buffer_files/x", "9/x",           "2",    "escape/new",
                             "escape/sub/new", "files/.hidden", "files"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        int rc = stream_store_upload(f->s, ID, refused[i], strlen(refused[i]), S("X"), &f->err);
        assert_int_equal(rc, STATUS_INVALID);
    }
    assert_int_equal(stream_store_upload(f->s, ID, S("files/a\0b"), S("X"), &f->err), STATUS_INVALID);
    assert_int_equal(stream_store_upload(f->s, ID2, S("files/a"), S("X"), &f->err), STATUS_NOT_FOUND);
    assert_false(fs_exists(sp(f, ID, "buffer_files")));
    assert_false(fs_exists(sp(f, ID, "9")));
    char sub[128];
    snprintf(sub, sizeof sub, "%s/sub", f->dir);
    assert_false(fs_exists(sub));

    /* No temporary is left behind, after successes or failures. */
    DIR *d = opendir(sp(f, ID, NULL));
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        assert_true(strncmp(e->d_name, ".upload-", 8) != 0);
    closedir(d);
    assert_int_equal(list_streams(f).recs[0].frames, 2);
}

static void test_outbox(void **state)
{
    fixture *f = *state;
    for (int i = 1; i <= 3; i++) {
        char id[8];
        snprintf(id, sizeof id, "frag%d", i);
        json_t *frag =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:f, s:f, s:i}", "id", id, "target_id", "t", "stream_id", ID,
                      "engine", "openmm", "user", "donor", "start_time", 1.0, "end_time", 2.0, "frames", i);
        assert_int_equal(stream_store_outbox_add(f->s, frag, &f->err), STATUS_OK);
        assert_int_equal(stream_store_outbox_add(f->s, frag, &f->err), STATUS_OK);
        json_decref(frag);
    }
    json_t *bad = json_pack("{s:i}", "frames", 1);
    assert_int_equal(stream_store_outbox_add(f->s, bad, &f->err), STATUS_INVALID);
    json_decref(bad);
    bad = json_pack("{s:s}", "id", "");
    assert_int_equal(stream_store_outbox_add(f->s, bad, &f->err), STATUS_INVALID);
    json_decref(bad);
    assert_int_equal(stream_store_outbox_add(f->s, NULL, &f->err), STATUS_INVALID);

    json_t *list = NULL;
    assert_int_equal(stream_store_outbox_list(f->s, 2, &list, &f->err), STATUS_OK);
    assert_int_equal(json_array_size(list), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "id")), "frag1");
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "engine")), "openmm");
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 1), "id")), "frag2");
    json_decref(list);
    const char *acked[] = {"frag1", "frag2"};
    assert_int_equal(stream_store_outbox_delete(f->s, acked, 2, &f->err), STATUS_OK);
    reopen(f);
    assert_int_equal(stream_store_outbox_list(f->s, 10, &list, &f->err), STATUS_OK);
    assert_int_equal(json_array_size(list), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "frames")), 3);
    json_decref(list);
}

static void test_state_error_log_and_reopen(void **state)
{
    fixture *f = *state;
    create_default(f, ID);
    append(f, ID, "frames.xtc", "AB");
    assert_int_equal(commit(f, ID, "S1", 3), 3);
    assert_int_equal(stream_store_set_state(f->s, ID, SCV_STREAM_STOPPED, 3, &f->err), STATUS_OK);
    assert_int_equal(stream_store_set_state(f->s, ID2, SCV_STREAM_OK, 0, &f->err), STATUS_NOT_FOUND);
    assert_int_equal(stream_store_set_state(f->s, ID, SCV_STREAM_OK, -1, &f->err), STATUS_INVALID);
    assert_int_equal(stream_store_log_error(f->s, ID, S("core crashed"), 0.0, &f->err), STATUS_OK);
    assert_int_equal(stream_store_log_error(f->s, ID, S("again"), 86400.0, &f->err), STATUS_OK);
    assert_int_equal(stream_store_log_error(f->s, ID2, S("x"), 0.0, &f->err), STATUS_NOT_FOUND);
    assert_int_equal(stream_store_log_error(f->s, ID, "x", STREAM_STORE_ERROR_TEXT_MAX + 1, 0.0, &f->err),
                     STATUS_INVALID);
    assert_file(sp(f, ID, "error_log.txt"),
                S("[1970-01-01T00:00:00Z] core crashed\n[1970-01-02T00:00:00Z] again\n"));

    reopen(f);
    seen s = list_streams(f);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.recs[0].status, SCV_STREAM_STOPPED);
    assert_int_equal(s.recs[0].error_count, 3);
    assert_int_equal(s.recs[0].frames, 3);
    assert_file(sp(f, ID, "error_log.txt"),
                S("[1970-01-01T00:00:00Z] core crashed\n[1970-01-02T00:00:00Z] again\n"));
}

/* ---- clean-stop marker ---- */

static const char *marker(fixture *f, const char *suffix)
{
    static char path[2][128];
    static int next;
    char *p = path[next++ % 2];
    snprintf(p, 128, "%s/" STREAM_STORE_CLEAN_MARKER "%s", f->dir, suffix);
    return p;
}

static void close_clean(fixture *f)
{
    assert_int_equal(stream_store_close_clean(f->s, &f->err), STATUS_OK);
    f->s = NULL;
}

/* Leftovers only the walk removes, planted inside a stream folder (so
 * streams/ itself is unchanged): a partition without checkpoint_files and a
 * temporary. */
static void plant_leftovers(fixture *f)
{
    assert_int_equal(fs_mkdir_p(sp(f, ID, "9"), 0755), 0);
    assert_int_equal(fs_write_file(sp(f, ID, ".upload-0123"), "T", 1, 0), 0);
}

static void assert_walked(fixture *f)
{
    assert_false(fs_exists(sp(f, ID, "9")));
    assert_false(fs_exists(sp(f, ID, ".upload-0123")));
    assert_false(fs_exists(marker(f, "")));
    assert_false(fs_exists(marker(f, ".tmp")));
}

static void test_clean_stop_skips_walk(void **state)
{
    fixture *f = *state;
    create_default(f, ID);
    create_default(f, ID2);
    append(f, ID, "frames.xtc", "AB");
    assert_int_equal(commit(f, ID, "S1", 2), 2);
    /* Buffers of activations still running at the stop, one of them
     * discarded and started again. */
    append(f, ID, "frames.xtc", "CD");
    append(f, ID2, "frames.xtc", "EF");
    assert_int_equal(stream_store_discard_buffer(f->s, ID2, &f->err), STATUS_OK);
    append(f, ID2, "frames.xtc", "GH");
    close_clean(f);
    assert_true(fs_exists(marker(f, "")));
    assert_false(fs_exists(marker(f, ".tmp")));
    assert_false(fs_exists(sp(f, ID, "buffer_files")));
    assert_false(fs_exists(sp(f, ID2, "buffer_files")));

    plant_leftovers(f);
    reopen(f);
    /* Removed before serving; the leftovers prove the walk was skipped. */
    assert_false(fs_exists(marker(f, "")));
    assert_true(fs_exists(sp(f, ID, "9")));
    seen s = list_streams(f);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.recs[0].frames, 2);
    assert_int_equal(s.recs[1].frames, 0);
    append(f, ID2, "frames.xtc", "IJ");
    assert_int_equal(commit(f, ID2, "S", 1), 1);
    assert_file(sp(f, ID2, "1/frames.xtc"), S("IJ"));

    /* A crash after the marker was taken: the next open walks. */
    reopen(f);
    assert_walked(f);
    s = list_streams(f);
    assert_int_equal(s.recs[0].frames, 2);
    assert_int_equal(s.recs[1].frames, 1);
}

static void test_clean_marker_corrupt_or_stale(void **state)
{
    fixture *f = *state;
    create_default(f, ID);
    append(f, ID, "frames.xtc", "AB");
    assert_int_equal(commit(f, ID, "S1", 2), 2);

    /* Garbage of the right kind of size, an oversized file, and a folder. */
    close_clean(f);
    assert_int_equal(fs_write_file(marker(f, ""), "siegetank SCV store: stopped cleanly\n", 37, 0), 0);
    plant_leftovers(f);
    reopen(f);
    assert_walked(f);

    static char big[4096];
    memset(big, 'x', sizeof big);
    close_clean(f);
    assert_int_equal(fs_write_file(marker(f, ""), big, sizeof big, 0), 0);
    plant_leftovers(f);
    reopen(f);
    assert_walked(f);

    close_clean(f);
    assert_int_equal(fs_rm_rf(marker(f, "")), 0);
    assert_int_equal(fs_mkdir_p(marker(f, ""), 0755), 0);
    plant_leftovers(f);
    reopen(f);
    assert_walked(f);

    /* A crash while the marker was being written leaves only its temporary. */
    close_clean(f);
    assert_int_equal(rename(marker(f, ""), marker(f, ".tmp")), 0);
    plant_leftovers(f);
    reopen(f);
    assert_walked(f);

    /* Stale: a stream folder copied in, or another scv.db put back, while
     * stopped. */
    close_clean(f);
    assert_int_equal(fs_mkdir_p(sp(f, "copied:scv1", "files"), 0755), 0);
    plant_leftovers(f);
    reopen(f);
    assert_walked(f);
    close_clean(f);
    set_record_frames(f, ID, 77);
    plant_leftovers(f);
    reopen(f);
    assert_walked(f);
    seen s = list_streams(f);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.recs[0].frames, 2);
}

static void test_no_marker_after_failure(void **state)
{
    fixture *f = *state;
    create_default(f, ID);
    append(f, ID, "frames.xtc", "AB");
    /* A file where the commit's partition folder must go: the rename fails. */
    assert_int_equal(fs_write_file(sp(f, ID, "1"), "x", 1, 0), 0);
    json_t *ck = json_pack("{s:s}", "state.xml.gz.b64", "S1");
    int64_t total = -1;
    assert_int_equal(stream_store_commit(f->s, ID, ck, 1, NULL, &total, &f->err), STATUS_IO);
    json_decref(ck);
    assert_int_equal(stream_store_close_clean(f->s, &f->err), STATUS_IO);
    f->s = NULL;
    assert_non_null(strstr(f->err.msg, "checks every stream"));
    assert_false(fs_exists(marker(f, "")));
    plant_leftovers(f);
    reopen(f);
    assert_walked(f);
    assert_false(fs_exists(sp(f, ID, "buffer_files")));

    /* Refusals of the caller's making do not cost the next start a walk. */
    assert_int_equal(stream_store_commit(f->s, ID, NULL, 1, NULL, &total, &f->err), STATUS_INVALID);
    assert_int_equal(stream_store_delete(f->s, ID2, &f->err), STATUS_NOT_FOUND);
    close_clean(f);
    assert_true(fs_exists(marker(f, "")));
}

static void test_second_open_refused(void **state)
{
    fixture *f = *state;
    struct status err = {0};
    create_default(f, ID);
    close_clean(f);
    reopen(f);
    assert_null(stream_store_open(f->dir, &err));
    assert_non_null(strstr(err.msg, "in use"));
    /* The refused open took nothing: the marker was the first open's, and
     * that one removed it; the records are intact. */
    assert_false(fs_exists(marker(f, "")));
    seen s = list_streams(f);
    assert_int_equal(s.n, 1);
    reopen(f);
}

static void test_open_refuses_unusable_folder(void **state)
{
    fixture *f = *state;
    char path[128];
    struct status err = {0};
    snprintf(path, sizeof path, "%s/afile", f->dir);
    assert_int_equal(fs_write_file(path, "x", 1, 0), 0);
    assert_null(stream_store_open(path, &err));
    assert_true(strlen(err.msg) > 0);
}

/* ---- the walk on several threads ---- */

/* Enough stream folders for the walk to run on several threads (its
 * threshold is 2048 folders). */
#define MANY 2600
#define DEEP_LEVELS 18

static const char *many_id(int i)
{
    static char buf[4][32];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, 32, "many-%05d:scv1", i);
    return p;
}

/* What the walk must make of stream i, by the leftover planted in it. */
enum {
    PLANT_NONE,
    PLANT_BUFFER,
    PLANT_TEMPS,
    PLANT_INCOMPLETE_TOP,
    PLANT_UNRECORDED_COMMIT,
    PLANT_STALE_COUNT,
    PLANT_NO_FOLDER,
    PLANT_KINDS
};

static int64_t many_expected_frames(int i)
{
    switch (i % PLANT_KINDS) {
    case PLANT_INCOMPLETE_TOP:
        return 3;
    case PLANT_UNRECORDED_COMMIT:
        return 5;
    default:
        return 0;
    }
}

/* Records and folders for MANY streams made through scv_db and the file
 * system (as st-bench-fill does; the store's create would fsync each one),
 * then every kind of crash leftover planted across them. */
static void plant_many(fixture *f)
{
    char path[128];
    snprintf(path, sizeof path, "%s/scv.db", f->dir);
    scv_db *db = scv_db_open(path);
    assert_non_null(db);
    for (int i = 0; i < MANY; i++) {
        const char *id = many_id(i);
        assert_int_equal(scv_db_stream_insert(db, id, "target-1", 1000.0), 0);
        /* A plain file stands for the stream's own content (fewer folders
         * keep the test quick). */
        assert_int_equal(fs_mkdir_p(sp(f, id, NULL), 0755), 0);
        assert_int_equal(fs_write_file(sp(f, id, "error_log.txt"), "E", 1, 0), 0);
        switch (i % PLANT_KINDS) {
        case PLANT_BUFFER:
            assert_int_equal(fs_mkdir_p(sp(f, id, "buffer_files/checkpoint_files"), 0755), 0);
            assert_int_equal(fs_write_file(sp(f, id, "buffer_files/frames.xtc"), "XX", 2, 0), 0);
            break;
        case PLANT_TEMPS:
            assert_int_equal(fs_write_file(sp(f, id, ".upload-0123"), "T", 1, 0), 0);
            assert_int_equal(fs_mkdir_p(sp(f, id, ".trash-old/files"), 0755), 0);
            break;
        case PLANT_INCOMPLETE_TOP:
            assert_int_equal(fs_mkdir_p(sp(f, id, "3/checkpoint_files"), 0755), 0);
            assert_int_equal(fs_mkdir_p(sp(f, id, "7"), 0755), 0);
            assert_int_equal(scv_db_stream_set_frames(db, id, 7), 0);
            break;
        case PLANT_UNRECORDED_COMMIT:
            assert_int_equal(fs_mkdir_p(sp(f, id, "5/checkpoint_files"), 0755), 0);
            break;
        case PLANT_STALE_COUNT:
            assert_int_equal(scv_db_stream_set_frames(db, id, 9), 0);
            break;
        case PLANT_NO_FOLDER:
            assert_int_equal(fs_rm_rf(sp(f, id, NULL)), 0);
            break;
        }
    }
    scv_db_close(db);
    assert_int_equal(fs_mkdir_p(sp(f, "orphan:scv1", "files"), 0755), 0);
    assert_int_equal(fs_mkdir_p(sp(f, ".new-someid", "files"), 0755), 0);
}

static int collect_many(const scv_stream_record *rec, void *ctx)
{
    int64_t *frames = ctx;
    int i = -1;
    if (sscanf(rec->id, "many-%05d:scv1", &i) != 1 || i < 0 || i >= MANY || frames[i] != -1)
        return -1;
    frames[i] = rec->frames;
    return 0;
}

static void assert_many_repaired(fixture *f)
{
    int64_t *frames = malloc(MANY * sizeof *frames);
    assert_non_null(frames);
    for (int i = 0; i < MANY; i++)
        frames[i] = -1;
    assert_int_equal(stream_store_foreach(f->s, collect_many, frames), STATUS_OK);
    for (int i = 0; i < MANY; i++) {
        const char *id = many_id(i);
        if (i % PLANT_KINDS == PLANT_NO_FOLDER) {
            assert_int_equal(frames[i], -1);
            continue;
        }
        assert_int_equal(frames[i], many_expected_frames(i));
        assert_false(fs_exists(sp(f, id, "buffer_files")));
        assert_false(fs_exists(sp(f, id, ".upload-0123")));
        assert_false(fs_exists(sp(f, id, ".trash-old")));
        assert_false(fs_exists(sp(f, id, "7")));
        assert_file(sp(f, id, "error_log.txt"), S("E"));
        /* Committed partitions stay. */
        if (frames[i] > 0)
            assert_true(fs_is_dir(sp(f, id, frames[i] == 3 ? "3/checkpoint_files" : "5/checkpoint_files")));
    }
    free(frames);
    assert_true(fs_is_dir(sp(f, "orphan:scv1", "files")));
    assert_false(fs_exists(sp(f, ".new-someid", NULL)));
}

/* The walk's log line says how many threads it ran on. */
static void assert_walk_threads(const char *log_path)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    long want = cpus < 2 ? 1 : cpus < 4 ? cpus : 4;
    char line[64];
    snprintf(line, sizeof line, "%d folders checked on %ld threads", MANY - MANY / PLANT_KINDS + 1, want);
    char *log = fs_read_file(log_path, 1 << 20, NULL);
    assert_non_null(log);
    assert_non_null(strstr(log, line));
    free(log);
}

static void test_reconcile_many_streams(void **state)
{
    fixture *f = *state;
    char log_path[128];
    stream_store_close(f->s);
    f->s = NULL;
    plant_many(f);
    snprintf(log_path, sizeof log_path, "%s/log", f->dir);
    assert_int_equal(log_open(log_path), 0);
    reopen(f);
    log_close();
    assert_many_repaired(f);
    assert_walk_threads(log_path);
}

/* A chain of DEEP_LEVELS folders with 250-byte names below streams/<id>/
 * name: deeper than PATH_MAX, so the walk cannot remove it by path. */
static void deep_tree(fixture *f, const char *id, const char *name, int make)
{
    char level[251];
    int fds[DEEP_LEVELS + 1];
    memset(level, 'd', 250);
    level[250] = '\0';
    fds[0] = open(sp(f, id, NULL), O_RDONLY | O_DIRECTORY);
    assert_true(fds[0] >= 0);
    for (int i = 0; i < DEEP_LEVELS; i++) {
        const char *sub = i == 0 ? name : level;
        if (make)
            assert_int_equal(mkdirat(fds[i], sub, 0755), 0);
        fds[i + 1] = openat(fds[i], sub, O_RDONLY | O_DIRECTORY);
        assert_true(fds[i + 1] >= 0);
    }
    close(fds[DEEP_LEVELS]);
    for (int i = DEEP_LEVELS - 1; i >= 0; i--) {
        if (!make)
            assert_int_equal(unlinkat(fds[i], i == 0 ? name : level, AT_REMOVEDIR), 0);
        close(fds[i]);
    }
}

static void test_reconcile_many_streams_failure(void **state)
{
    fixture *f = *state;
    struct status err = {0};
    /* In the last slice of the walk, not the calling thread's. */
    const char *bad = many_id(MANY - 10);
    stream_store_close(f->s);
    f->s = NULL;
    plant_many(f);
    deep_tree(f, bad, ".trash-deep", 1);
    assert_null(stream_store_open(f->dir, &err));
    assert_non_null(strstr(err.msg, bad));
    assert_non_null(strstr(err.msg, "too long"));

    /* Every other folder's repair stands on its own; once the cause is gone
     * the next open finishes the walk. */
    deep_tree(f, bad, ".trash-deep", 0);
    reopen(f);
    assert_many_repaired(f);
}

int main(void)
{
    log_set_quiet(1);
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_create_list_delete),
        T(test_create_refuses_bad_input),
        T(test_frames_commit_sync_start),
        T(test_start_files_without_partition_and_refusals),
        T(test_frame_rollback),
        T(test_frame_and_commit_refusals),
        T(test_discard),
        T(test_reconcile_after_crashes),
        T(test_reconcile_missing_folder_and_orphan),
        T(test_open_file_confinement),
        T(test_upload),
        T(test_outbox),
        T(test_state_error_log_and_reopen),
        T(test_open_refuses_unusable_folder),
        T(test_clean_stop_skips_walk),
        T(test_clean_marker_corrupt_or_stale),
        T(test_no_marker_after_failure),
        T(test_second_open_refused),
        T(test_reconcile_many_streams),
        T(test_reconcile_many_streams_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
