/* The SCV daemon through the real `siegetank scv` and `siegetank cc`
 * binaries on loopback (PROTOCOL.md, "SCV").
 *
 * For later tests (crash, stats): the SCV's secret is the single line of
 * <data folder>/secret (scv_secret below); a stream's state is
 * GET /streams/info/:id; streams can be made without a CC by creating them
 * with stream_store before the SCV starts (seed_streams below). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon_proc.h"
#include "harness.h"
#include "metrics_page.h"
#include "scv/stream_store.h"
#include "core/xtc.h"
#include "util/crypto.h"
#include "util/fs.h"
#include "util/wire_file.h"

#define TARGET "3f1b0d4e-8c1a-4c39-9a43-6f2c0c4f8a11"

/* A daemon of kind named firebat in a fresh folder. */
static void prepare(struct daemon_proc *d, const char *kind)
{
    daemon_proc_prepare(d, kind, "firebat", NULL, 0);
}

/* Writes its config (cc_pass 'ccpw', then extra) and starts it. */
static void start(struct daemon_proc *d, const char *extra)
{
    daemon_proc_write_conf(d, "cc_pass = 'ccpw'\n%s", extra ? extra : "");
    assert_int_equal(daemon_proc_start(d, 15), 0);
}

static void scv_secret(const struct daemon_proc *scv, char *out, size_t n)
{
    char path[PATH_MAX + 200];
    size_t len = 0;
    snprintf(path, sizeof path, "%s/secret", scv->data);
    char *text = fs_read_file(path, 4096, &len);
    assert_non_null(text);
    text[strcspn(text, "\n")] = '\0';
    snprintf(out, n, "%s", text);
    free(text);
}

/* One request; auth and md5 may be NULL; md5 "auto" = the body's. */
static json_t *call(const char *base, const char *method, const char *path, const char *auth, const char *md5,
                    const void *body, size_t len, long *status, struct harness_response *raw)
{
    char url[1024], auth_h[512], md5_h[128], digest[CRYPTO_MD5_HEX_LEN + 1];
    const char *headers[3] = {NULL, NULL, NULL};
    int h = 0;
    struct harness_response r;
    snprintf(url, sizeof url, "%s%s", base, path);
    if (auth != NULL) {
        snprintf(auth_h, sizeof auth_h, "Authorization: %s", auth);
        headers[h++] = auth_h;
    }
    if (md5 != NULL) {
        if (strcmp(md5, "auto") == 0) {
            crypto_md5_hex(body, len, digest);
            md5 = digest;
        }
        snprintf(md5_h, sizeof md5_h, "Content-MD5: %s", md5);
        headers[h++] = md5_h;
    }
    harness_http(method, url, headers, body, len, NULL, &r);
    *status = r.status;
    json_t *j = json_loadb(r.body, r.len, 0, NULL);
    if (raw != NULL)
        *raw = r;
    else
        harness_response_free(&r);
    return j;
}

static json_t *jcall(const char *base, const char *method, const char *path, const char *auth, json_t *body,
                     long expect)
{
    long status;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_t *j =
        call(base, method, path, auth, text ? "auto" : NULL, text, text ? strlen(text) : 0, &status, NULL);
    free(text);
    json_decref(body);
    if (status != expect)
        fprintf(stderr, "%s %s: expected %ld, got %ld: %s\n", method, path, expect, status,
                j ? json_dumps(j, 0) : "(no JSON)");
    assert_int_equal(status, expect);
    if (expect != 200) {
        assert_true(json_is_string(json_object_get(j, "error")));
    }
    return j;
}

static void jcall_expect(const char *base, const char *method, const char *path, const char *auth,
                         json_t *body, long expect)
{
    json_decref(jcall(base, method, path, auth, body, expect));
}

/* Sends a frame whose frames.dat is bytes (base64, gzip too when gz). */
static void send_frame(const char *scv, const char *token, const char *bytes, int gz, long expect)
{
    json_t *files = json_object();
    char *enc = wire_file_encode(bytes, strlen(bytes), WIRE_FILE_B64 | (gz ? WIRE_FILE_GZ : 0), NULL);
    json_object_set_new(files, gz ? "frames.dat.gz.b64" : "frames.dat.b64", json_string(enc));
    free(enc);
    jcall_expect(scv, "PUT", "/core/frame", token, json_pack("{s:o}", "files", files), expect);
}

static void checkpoint(const char *scv, const char *token, const char *state)
{
    jcall_expect(scv, "PUT", "/core/checkpoint", token, json_pack("{s:{s:s}}", "files", "state.xml", state),
                 200);
}

static json_t *info(const char *scv, const char *id)
{
    char path[512];
    snprintf(path, sizeof path, "/streams/info/%s", id);
    return jcall(scv, "GET", path, NULL, NULL, 200);
}

static long info_frames(const char *scv, const char *id, int *active)
{
    json_t *j = info(scv, id);
    long frames = (long)json_integer_value(json_object_get(j, "frames"));
    *active = json_is_true(json_object_get(j, "active"));
    json_decref(j);
    return frames;
}

static char *download(const char *scv, const char *auth, const char *id, const char *file, long *status,
                      size_t *len)
{
    char path[512];
    struct harness_response r;
    snprintf(path, sizeof path, "/streams/download/%s/%s", id, file);
    json_decref(call(scv, "GET", path, auth, NULL, NULL, 0, status, &r));
    char *body = r.body;
    *len = r.len;
    r.body = NULL;
    harness_response_free(&r);
    return body;
}

/* 1 once the SCV's stats outbox is empty (shipped and acknowledged). */
static int outbox_drained(const char *data)
{
    char path[PATH_MAX + 96];
    snprintf(path, sizeof path, "%s/scv.db", data);
    scv_db *db = scv_db_open(path);
    assert_non_null(db);
    size_t left = 1;
    for (int i = 0; i < 100 && left > 0; i++) {
        json_t *list = NULL;
        assert_int_equal(scv_db_outbox_list(db, 10, &list), 0);
        left = json_array_size(list);
        json_decref(list);
        if (left > 0)
            usleep(100 * 1000);
    }
    scv_db_close(db);
    return left == 0;
}

/* ---- a deployment: CC + SCV --------------------------------------------- */

struct deployment {
    struct daemon_proc cc, scv;
    char admin[256];
    char key[256];
    char target[128];
};

static void deploy(struct deployment *dep, const char *scv_extra)
{
    char extra[1024];
    prepare(&dep->cc, "cc");
    start(&dep->cc, NULL);
    json_t *j = jcall(
        dep->cc.url, "POST", "/managers", NULL,
        json_pack("{s:s,s:s,s:s}", "email", "admin@x.org", "password", "pw-admin-1", "role", "admin"), 200);
    snprintf(dep->admin, sizeof dep->admin, "%s", json_string_value(json_object_get(j, "token")));
    json_decref(j);
    j = jcall(dep->cc.url, "POST", "/engines/keys", dep->admin,
              json_pack("{s:s,s:s}", "engine", "openmm", "description", "test"), 200);
    snprintf(dep->key, sizeof dep->key, "%s", json_string_value(json_object_get(j, "key")));
    json_decref(j);
    j = jcall(dep->cc.url, "POST", "/targets", dep->admin,
              json_pack("{s:[s],s:{s:i}}", "engines", "openmm", "options", "steps_per_frame", 50), 200);
    snprintf(dep->target, sizeof dep->target, "%s", json_string_value(json_object_get(j, "target_id")));
    json_decref(j);

    prepare(&dep->scv, "scv");
    snprintf(extra, sizeof extra, "command_center = 'http://127.0.0.1:%d'\n%s", dep->cc.port,
             scv_extra ? scv_extra : "");
    start(&dep->scv, extra);
    /* registration runs on a one-second ticker */
    for (int i = 0; i < 100; i++) {
        json_t *s = jcall(dep->cc.url, "GET", "/scvs/status", NULL, NULL, 200);
        int online = json_is_true(json_object_get(json_object_get(s, "firebat"), "online"));
        json_decref(s);
        if (online)
            return;
        usleep(100 * 1000);
    }
    fail_msg("the SCV never registered with the CC");
}

static void undeploy(struct deployment *dep)
{
    assert_int_equal(harness_stop(dep->scv.pid, SIGTERM, 15), 0);
    assert_int_equal(harness_stop(dep->cc.pid, SIGTERM, 15), 0);
}

static char *add_stream(const struct deployment *dep, const char *auth, long expect)
{
    json_t *j = jcall(dep->scv.url, "POST", "/streams", auth,
                      json_pack("{s:s,s:{s:s,s:s},s:{s:s}}", "target_id", dep->target, "files",
                                "system.xml.gz.b64", "c3lzdGVt", "state.xml", "S0", "tags", "note", "first"),
                      expect);
    char *id = expect == 200 ? strdup(json_string_value(json_object_get(j, "stream_id"))) : NULL;
    json_decref(j);
    return id;
}

/* POST /core/assign for the target; *token and the SCV origin out. */
static void assign(const struct deployment *dep, char *token, size_t n)
{
    json_t *j = jcall(dep->cc.url, "POST", "/core/assign", dep->key,
                      json_pack("{s:s}", "target_id", dep->target), 200);
    snprintf(token, n, "%s", json_string_value(json_object_get(j, "token")));
    char expect[256];
    snprintf(expect, sizeof expect, "http://127.0.0.1:%d/core/start", dep->scv.port);
    assert_string_equal(json_string_value(json_object_get(j, "url")), expect);
    json_decref(j);
}

static int target_has_shard(const struct deployment *dep)
{
    char path[256];
    snprintf(path, sizeof path, "/targets/info/%s", dep->target);
    json_t *j = jcall(dep->cc.url, "GET", path, NULL, NULL, 200);
    json_t *shards = json_object_get(j, "shards");
    int found = 0;
    for (size_t i = 0; i < json_array_size(shards); i++)
        found |= strcmp(json_string_value(json_array_get(shards, i)), "firebat") == 0;
    json_decref(j);
    return found;
}

static void test_lifecycle(void **state)
{
    (void)state;
    struct deployment dep;
    char token[256], path[512];
    long status;
    deploy(&dep, NULL);
    const char *scv = dep.scv.url;

    assert_false(target_has_shard(&dep));
    char *id = add_stream(&dep, dep.admin, 200);
    assert_non_null(strstr(id, ":firebat"));
    assert_true(target_has_shard(&dep));
    int active;
    assert_int_equal(info_frames(scv, id, &active), 0);
    assert_false(active);

    assign(&dep, token, sizeof token);
    assert_int_equal(info_frames(scv, id, &active), 0);
    assert_true(active);

    /* core start: files and options, with a Content-MD5 of the body */
    struct harness_response raw;
    char md5[64], digest[CRYPTO_MD5_HEX_LEN + 1];
    json_t *start_reply = call(scv, "GET", "/core/start", token, NULL, NULL, 0, &status, &raw);
    assert_int_equal(status, 200);
    assert_int_equal(harness_header(&raw, "content-md5", md5, sizeof md5), 0);
    crypto_md5_hex(raw.body, raw.len, digest);
    assert_string_equal(md5, digest);
    harness_response_free(&raw);
    assert_string_equal(json_string_value(json_object_get(start_reply, "stream_id")), id);
    assert_string_equal(json_string_value(json_object_get(start_reply, "target_id")), dep.target);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(start_reply, "files"), "system.xml.gz.b64")),
        "c3lzdGVt");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(start_reply, "options"), "steps_per_frame")), 50);
    json_decref(start_reply);

    /* frames, a retry, a checkpoint, more frames, heartbeat, checkpoint */
    send_frame(scv, token, "AAAA", 0, 200);
    send_frame(scv, token, "AAAA", 0, 200); /* same body again: a retry, not appended */
    send_frame(scv, token, "BBBB", 1, 200);
    checkpoint(scv, token, "S2");
    assert_int_equal(info_frames(scv, id, &active), 2);
    checkpoint(scv, token, "S2-again"); /* nothing buffered: no change */
    send_frame(scv, token, "CCCC", 1, 200);
    jcall_expect(scv, "POST", "/core/heartbeat", token, NULL, 200);
    json_t *act = jcall(scv, "GET", "/active_streams", NULL, NULL, 200);
    json_t *entry = json_object_get(json_object_get(act, dep.target), id);
    assert_int_equal(json_integer_value(json_object_get(entry, "buffer_frames")), 1);
    assert_int_equal(json_integer_value(json_object_get(entry, "active_frames")), 2);
    assert_string_equal(json_string_value(json_object_get(entry, "engine")), "openmm");
    json_decref(act);
    act = jcall(scv, "GET", "/active_cores", NULL, NULL, 200);
    assert_int_equal(json_integer_value(json_object_get(act, "openmm")), 1);
    json_decref(act);
    checkpoint(scv, token, "S3");
    send_frame(scv, token, "DDDD", 0, 200); /* never committed */

    /* upload is refused while a core holds the stream */
    snprintf(path, sizeof path, "/streams/upload/%s/files/extra.txt", id);
    json_decref(call(scv, "PUT", path, dep.admin, "auto", "x", 1, &status, NULL));
    assert_int_equal(status, 400);

    jcall_expect(scv, "PUT", "/core/stop", token, json_object(), 200);
    assert_int_equal(info_frames(scv, id, &active), 3);
    assert_false(active);
    jcall_expect(scv, "POST", "/core/heartbeat", token, NULL, 400);
    assert_int_equal(outbox_drained(dep.scv.data), 1); /* the CC acknowledged the stats fragment */

    /* GET /metrics counts the two commits: 3 frames and their 12 bytes */
    char *page = metrics_page_get(scv);
    assert_true(metrics_page_value(page, "siegetank_scv_frames_committed_total") == 3);
    assert_true(metrics_page_value(page, "siegetank_scv_bytes_committed_total") == 12);
    assert_true(metrics_page_value(page, "siegetank_scv_checkpoint_duration_seconds_count") == 2);
    assert_true(metrics_page_value(page, "siegetank_scv_store_errors_total") == 0);
    free(page);

    /* sync and download: the partitions concatenate to the committed bytes */
    snprintf(path, sizeof path, "/streams/sync/%s", id);
    json_t *sync = jcall(scv, "GET", path, dep.admin, NULL, 200);
    json_t *parts = json_object_get(sync, "partitions");
    assert_int_equal(json_array_size(parts), 2);
    assert_int_equal(json_integer_value(json_array_get(parts, 0)), 2);
    assert_int_equal(json_integer_value(json_array_get(parts, 1)), 3);
    char all[64] = "";
    for (size_t i = 0; i < json_array_size(parts); i++) {
        char file[64];
        size_t len;
        snprintf(file, sizeof file, "%lld/frames.dat",
                 (long long)json_integer_value(json_array_get(parts, i)));
        char *bytes = download(scv, dep.admin, id, file, &status, &len);
        assert_int_equal(status, 200);
        strncat(all, bytes, len);
        free(bytes);
    }
    assert_string_equal(all, "AAAABBBBCCCC");
    json_decref(sync);
    size_t len;
    char *cp = download(scv, dep.admin, id, "3/checkpoint_files/state.xml", &status, &len);
    assert_int_equal(status, 200);
    assert_string_equal(cp, "S3");
    free(cp);

    /* a second activation starts from the last checkpoint */
    assign(&dep, token, sizeof token);
    start_reply = call(scv, "GET", "/core/start", token, NULL, NULL, 0, &status, NULL);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(start_reply, "files"), "state.xml")), "S3");
    json_decref(start_reply);
    /* a manager stop deactivates it */
    snprintf(path, sizeof path, "/streams/stop/%s", id);
    jcall_expect(scv, "PUT", path, dep.admin, json_object(), 200);
    json_t *j = info(scv, id);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "STOPPED");
    assert_false(json_is_true(json_object_get(j, "active")));
    json_decref(j);
    jcall_expect(scv, "PUT", "/core/frame", token, json_pack("{s:{}}", "files"), 400);
    jcall_expect(dep.cc.url, "POST", "/core/assign", dep.key, json_pack("{s:s}", "target_id", dep.target),
                 400);
    snprintf(path, sizeof path, "/streams/start/%s", id);
    jcall_expect(scv, "PUT", path, dep.admin, json_object(), 200);

    /* the target's listing, then delete: the SCV leaves the shards */
    snprintf(path, sizeof path, "/targets/streams/%s", dep.target);
    j = jcall(scv, "GET", path, NULL, NULL, 200);
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "streams"), 0)), id);
    json_decref(j);
    snprintf(path, sizeof path, "/streams/delete/%s", id);
    jcall_expect(scv, "PUT", path, dep.admin, json_object(), 200);
    assert_false(target_has_shard(&dep));
    snprintf(path, sizeof path, "/streams/info/%s", id);
    jcall_expect(scv, "GET", path, NULL, NULL, 400);
    snprintf(path, sizeof path, "/targets/streams/%s", dep.target);
    jcall_expect(scv, "GET", path, NULL, NULL, 400);
    free(id);
    /* databases with their WAL and shared memory, logs, secrets and stream
     * files: owner only */
    char shared[PATH_MAX];
    if (harness_private_tree(dep.scv.data, shared) != 0 || harness_private_tree(dep.cc.data, shared) != 0)
        fail_msg("%s may be read by others", shared);
    undeploy(&dep);
}

static void test_manager_refusals(void **state)
{
    (void)state;
    struct deployment dep;
    char path[512], token[256];
    long status;
    deploy(&dep, "max_stream_errors = 3");
    const char *scv = dep.scv.url;
    json_t *j = jcall(
        dep.cc.url, "POST", "/managers", dep.admin,
        json_pack("{s:s,s:s,s:s}", "email", "other@x.org", "password", "pw-other-1", "role", "manager"), 200);
    char other[256];
    snprintf(other, sizeof other, "%s", json_string_value(json_object_get(j, "token")));
    json_decref(j);

    /* adding: no token, bad token, not the owner, unknown target, bad fields */
    add_stream(&dep, NULL, 401);
    add_stream(&dep, "not-a-token", 401);
    add_stream(&dep, other, 401);
    assert_false(target_has_shard(&dep));
    jcall_expect(scv, "POST", "/streams", dep.admin,
                 json_pack("{s:s,s:{}}", "target_id", "7d0c7c1e-0000-4000-8000-000000000000", "files"), 400);
    jcall_expect(scv, "POST", "/streams", dep.admin,
                 json_pack("{s:s,s:{s:i}}", "target_id", dep.target, "files", "a", 1), 400);
    jcall_expect(scv, "POST", "/streams", dep.admin,
                 json_pack("{s:s,s:{s:s}}", "target_id", dep.target, "files", "../evil", "x"), 400);
    jcall_expect(scv, "POST", "/streams", dep.admin, json_pack("{s:s}", "target_id", dep.target), 400);
    assert_false(target_has_shard(&dep));

    char *id = add_stream(&dep, dep.admin, 200);
    snprintf(path, sizeof path, "/streams/stop/%s", id);
    jcall_expect(scv, "PUT", path, other, json_object(), 401);
    snprintf(path, sizeof path, "/streams/delete/%s", id);
    jcall_expect(scv, "PUT", path, other, json_object(), 401);
    snprintf(path, sizeof path, "/streams/sync/%s", id);
    jcall_expect(scv, "GET", path, other, NULL, 401);
    jcall_expect(scv, "GET", "/streams/sync/nope:firebat", dep.admin, NULL, 400);

    /* downloads and uploads are confined to the stream */
    size_t len;
    const char *bad[] = {"..%2Fsecret", "%2E%2E/%2E%2E/secret", "files/..%2F..%2Fscv.db", "files/missing"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        free(download(scv, dep.admin, id, bad[i], &status, &len));
        assert_int_equal(status, 400);
        snprintf(path, sizeof path, "/streams/upload/%s/%s", id, bad[i]);
        json_decref(call(scv, "PUT", path, dep.admin, "auto", "x", 1, &status, NULL));
        assert_int_equal(status, i == 3 ? 200 : 400);
    }
    free(download(scv, other, id, "files/state.xml", &status, &len));
    assert_int_equal(status, 401);
    char *bytes = download(scv, dep.admin, id, "files/state.xml", &status, &len);
    assert_int_equal(status, 200);
    assert_string_equal(bytes, "S0");
    free(bytes);

    /* upload: MD5 checked; the new bytes replace the file */
    snprintf(path, sizeof path, "/streams/upload/%s/files/state.xml", id);
    json_decref(
        call(scv, "PUT", path, dep.admin, "0123456789abcdef0123456789abcdef", "S9", 2, &status, NULL));
    assert_int_equal(status, 400);
    json_decref(call(scv, "PUT", path, dep.admin, NULL, "S9", 2, &status, NULL));
    assert_int_equal(status, 400);
    json_decref(call(scv, "PUT", path, dep.admin, "auto", "S9", 2, &status, NULL));
    assert_int_equal(status, 200);
    bytes = download(scv, dep.admin, id, "files/state.xml", &status, &len);
    assert_string_equal(bytes, "S9");
    free(bytes);

    /* core errors stop the stream at max_stream_errors (3 here) */
    for (int i = 0; i < 3; i++) {
        assign(&dep, token, sizeof token);
        jcall_expect(scv, "PUT", "/core/stop", token, json_pack("{s:s}", "error", "Ym9vbQ=="), 200);
    }
    j = info(scv, id);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "STOPPED");
    assert_int_equal(json_integer_value(json_object_get(j, "error_count")), 3);
    json_decref(j);
    bytes = download(scv, dep.admin, id, "error_log.txt", &status, &len);
    assert_non_null(strstr(bytes, "boom"));
    free(bytes);
    free(id);
    undeploy(&dep);
}

/* ---- SCV alone: streams seeded straight into the store ------------------ */

static void seed_streams(const char *data, int n)
{
    char id[128];
    struct status err;
    stream_store *s = stream_store_open(data, &err);
    assert_non_null(s);
    json_t *files = json_pack("{s:s}", "state.xml", "S0");
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof id, "00000000-0000-4000-8000-00000000000%d:firebat", i);
        assert_int_equal(stream_store_create(s, id, TARGET, files, NULL, 0, &err), STATUS_OK);
    }
    json_decref(files);
    stream_store_close(s);
}

static void activate(const struct daemon_proc *scv, const char *secret, const char *target, char *token,
                     size_t n, long expect)
{
    json_t *j =
        jcall(scv->url, "POST", "/streams/activate", secret,
              json_pack("{s:s,s:s,s:s}", "target_id", target, "engine", "openmm", "user", "donor"), expect);
    if (expect == 200)
        snprintf(token, n, "%s", json_string_value(json_object_get(j, "token")));
    json_decref(j);
}

static void test_core_refusals(void **state)
{
    (void)state;
    struct daemon_proc scv;
    char secret[256], token[256], token2[256], extra[256];
    long status;
    prepare(&scv, "scv");
    seed_streams(scv.data, 2);
    snprintf(extra, sizeof extra,
             "heartbeat_increment = 2\nmax_body_size = 4K\ncommand_center = 'http://127.0.0.1:%d'",
             harness_free_port());
    start(&scv, extra);
    scv_secret(&scv, secret, sizeof secret);
    assert_true(strlen(secret) >= 32);

    /* the CC is down: manager requests get 503 and change nothing */
    jcall_expect(scv.url, "POST", "/streams", "manager-token",
                 json_pack("{s:s,s:{s:s}}", "target_id", TARGET, "files", "a", "b"), 503);
    jcall_expect(scv.url, "GET", "/targets/streams/other-target", NULL, NULL, 400);

    /* only the secret activates */
    activate(&scv, NULL, TARGET, token, sizeof token, 401);
    activate(&scv, "wrong", TARGET, token, sizeof token, 401);
    activate(&scv, secret, "other-target", token, sizeof token, 400);
    jcall_expect(scv.url, "POST", "/streams/activate", secret, json_pack("{s:s}", "target_id", TARGET), 400);
    jcall_expect(scv.url, "POST", "/streams/activate", secret,
                 json_pack("{s:s,s:i}", "target_id", TARGET, "engine", 3), 400);
    activate(&scv, secret, TARGET, token, sizeof token, 200);
    activate(&scv, secret, TARGET, token2, sizeof token2, 200);
    activate(&scv, secret, TARGET, token2, sizeof token2, 400);    /* both streams are held */
    jcall_expect(scv.url, "GET", "/core/start", token, NULL, 503); /* options come from the CC */
    assert_string_not_equal(token, token2);

    /* wrong MD5, unknown token, bad bodies */
    const char *frame = "{\"files\":{\"frames.dat\":\"abc\"}}";
    json_decref(call(scv.url, "PUT", "/core/frame", token, "00000000000000000000000000000000", frame,
                     strlen(frame), &status, NULL));
    assert_int_equal(status, 400);
    json_decref(call(scv.url, "PUT", "/core/frame", token, NULL, frame, strlen(frame), &status, NULL));
    assert_int_equal(status, 400);
    json_decref(call(scv.url, "PUT", "/core/frame", "nope", "auto", frame, strlen(frame), &status, NULL));
    assert_int_equal(status, 400);
    jcall_expect(scv.url, "POST", "/core/heartbeat", "nope", NULL, 400);
    jcall_expect(scv.url, "POST", "/core/heartbeat", NULL, NULL, 400);
    jcall_expect(scv.url, "PUT", "/core/frame", token, json_pack("{s:{s:s}}", "files", "x.b64", "!!"), 400);
    jcall_expect(scv.url, "PUT", "/core/frame", token, json_pack("{s:{s:s}}", "files", "x.gz", "notgzip"),
                 400);
    jcall_expect(scv.url, "PUT", "/core/frame", token, json_pack("{s:{s:s}}", "files", "..", "x"), 400);
    jcall_expect(scv.url, "PUT", "/core/frame", token,
                 json_pack("{s:{s:s},s:i}", "files", "a", "x", "frames", 0), 400);
    jcall_expect(scv.url, "PUT", "/core/checkpoint", token, json_pack("{s:i}", "files", 1), 400);
    jcall_expect(scv.url, "PUT", "/core/stop", token, json_pack("{s:i}", "error", 1), 400);

    /* oversized body */
    char *big = calloc(1, 5000);
    memset(big, 'a', 4999);
    json_decref(call(scv.url, "PUT", "/core/frame", token, "auto", big, 4999, &status, NULL));
    assert_int_equal(status, 413);
    free(big);

    /* a good frame after all the refusals: nothing else was buffered */
    jcall_expect(scv.url, "PUT", "/core/frame", token, json_pack("{s:{s:s}}", "files", "frames.dat", "ok"),
                 200);
    json_t *act = jcall(scv.url, "GET", "/active_streams", NULL, NULL, 200);
    json_t *streams = json_object_get(act, TARGET);
    assert_int_equal(json_object_size(streams), 2);
    const char *sid;
    json_t *e;
    int64_t buffered = 0;
    json_object_foreach(streams, sid, e) buffered += json_integer_value(json_object_get(e, "buffer_frames"));
    assert_int_equal(buffered, 1);
    json_decref(act);

    /* expiry: token2 sends no heartbeat; token keeps beating */
    for (int i = 0; i < 8; i++) {
        jcall_expect(scv.url, "POST", "/core/heartbeat", token, NULL, 200);
        usleep(500 * 1000);
    }
    jcall_expect(scv.url, "POST", "/core/heartbeat", token2, NULL, 400);
    jcall_expect(scv.url, "PUT", "/core/frame", token2, json_pack("{s:{s:s}}", "files", "frames.dat", "late"),
                 400);
    act = jcall(scv.url, "GET", "/active_cores", NULL, NULL, 200);
    assert_int_equal(json_integer_value(json_object_get(act, "openmm")), 1);
    json_decref(act);
    char *page = metrics_page_get(scv.url);
    assert_true(metrics_page_value(page, "siegetank_scv_expiries_total") == 1);
    assert_true(
        metrics_page_value(page, "siegetank_scv_active_cores{target=\"" TARGET "\",engine=\"openmm\"}") == 1);
    free(page);
    activate(&scv, secret, TARGET, token2, sizeof token2, 200); /* the expired stream is assignable again */
    assert_int_equal(harness_stop(scv.pid, SIGTERM, 15), 0);
}

/* ---- hostile frames ------------------------------------------------------ */

#define STREAM0 "00000000-0000-4000-8000-000000000000:firebat"

/* n zero bytes gzipped, then base64 (a gzip bomb when n is large). */
static char *zeros_gz_b64(size_t n)
{
    char *zeros = calloc(1, n);
    char *enc = wire_file_encode(zeros, n, WIRE_FILE_GZ | WIRE_FILE_B64, NULL);
    free(zeros);
    return enc;
}

/* PUT /core/frame of files (stolen) claiming frames (0: no claim). */
static long frame_put(const char *scv, const char *token, json_t *files, long frames, char *error, size_t n)
{
    long status;
    json_t *body = json_pack("{s:o}", "files", files);
    if (frames > 0)
        json_object_set_new(body, "frames", json_integer(frames));
    char *text = json_dumps(body, JSON_COMPACT);
    json_t *j = call(scv, "PUT", "/core/frame", token, "auto", text, strlen(text), &status, NULL);
    snprintf(error, n, "%s", j ? json_string_value(json_object_get(j, "error")) : "");
    json_decref(j);
    free(text);
    json_decref(body);
    return status;
}

static void assert_buffer(const struct daemon_proc *scv, const char *name, const char *expect)
{
    char path[PATH_MAX + 256];
    snprintf(path, sizeof path, "%s/streams/%s/buffer_files/%s", scv->data, STREAM0, name);
    size_t len = 0;
    char *got = fs_read_file(path, 4096, &len);
    if (expect == NULL) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, expect);
    free(got);
}

/* Gzip bombs: a stranger's are refused before anything is inflated; a
 * core's frame may inflate to max_inflate_size in all, or is refused whole. */
static void test_frame_bombs(void **state)
{
    (void)state;
    struct daemon_proc scv;
    char secret[256], token[256], extra[256], error[256];
    prepare(&scv, "scv");
    seed_streams(scv.data, 1);
    snprintf(extra, sizeof extra, "max_inflate_size = 1M\ncommand_center = 'http://127.0.0.1:%d'",
             harness_free_port());
    start(&scv, extra);
    scv_secret(&scv, secret, sizeof secret);
    activate(&scv, secret, TARGET, token, sizeof token, 200);

    /* four 64 MiB bombs and a file that is not gzip, under a garbage token:
     * the token is refused first (a decoding error would name the file) */
    char *bomb = zeros_gz_b64(64u << 20);
    json_t *files = json_pack("{s:s,s:s,s:s,s:s,s:s}", "a.gz.b64", bomb, "b.gz.b64", bomb, "c.gz.b64", bomb,
                              "d.gz.b64", bomb, "e.gz", "not gzip");
    long hwm = harness_proc_status_kb(scv.pid, "VmHWM");
    assert_int_equal(frame_put(scv.url, "garbage", json_incref(files), 0, error, sizeof error), 400);
    assert_string_equal(error, "unknown or expired core token");
    assert_true(harness_proc_status_kb(scv.pid, "VmHWM") - hwm < 32 << 10); /* kB */
    /* under the real token they are refused past 1M inflated */
    assert_int_equal(frame_put(scv.url, token, files, 0, error, sizeof error), 413);
    free(bomb);

    /* three files each under the cap, over it together: nothing appended */
    assert_int_equal(
        frame_put(scv.url, token, json_pack("{s:s}", "frames.dat", "ok"), 0, error, sizeof error), 200);
    char *part = zeros_gz_b64(400u << 10);
    files = json_pack("{s:s,s:s,s:s}", "frames.dat.gz.b64", part, "x.gz.b64", part, "y.gz.b64", part);
    assert_int_equal(frame_put(scv.url, token, files, 0, error, sizeof error), 413);
    assert_buffer(&scv, "frames.dat", "ok");
    assert_buffer(&scv, "x", NULL);
    assert_buffer(&scv, "y", NULL);
    /* two of them fit, streamed to the buffer */
    files = json_pack("{s:s,s:s}", "x.gz.b64", part, "y.gz.b64", part);
    assert_int_equal(frame_put(scv.url, token, files, 0, error, sizeof error), 200);
    free(part);
    char path[PATH_MAX + 256];
    struct stat sb;
    snprintf(path, sizeof path, "%s/streams/%s/buffer_files/y", scv.data, STREAM0);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, 400 << 10);
    json_t *act = jcall(scv.url, "GET", "/active_streams", NULL, NULL, 200);
    json_t *entry = json_object_get(json_object_get(act, TARGET), STREAM0);
    assert_int_equal(json_integer_value(json_object_get(entry, "buffer_frames")), 2);
    json_decref(act);
    assert_int_equal(harness_stop(scv.pid, SIGTERM, 15), 0);
}

/* ---- credit integrity ---------------------------------------------------- */

/* Size of buffer_files/<name> of STREAM0, or -1 when there is none. */
static long long buffer_size(const struct daemon_proc *scv, const char *name)
{
    char path[PATH_MAX + 256];
    struct stat sb;
    snprintf(path, sizeof path, "%s/streams/%s/buffer_files/%s", scv->data, STREAM0, name);
    return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

/* n XTC frames of a 3-atom system, back to back. */
static unsigned char *xtc_bytes(int n, size_t *len)
{
    float coords[3][3] = {{0.1f, 0.2f, 0.3f}, {1, 1, 1}, {2, 0, 2}};
    unsigned char *out = malloc((size_t)n * XTC_RAW_FRAME_BYTES(3));
    assert_non_null(out);
    *len = 0;
    for (int i = 0; i < n; i++) {
        xtc_frame f = {.natoms = 3, .step = i, .time = (float)i, .coords = coords};
        size_t k = xtc_encode(&f, out + *len, XTC_RAW_FRAME_BYTES(3));
        assert_true(k > 0);
        *len += k;
    }
    return out;
}

/* Credit integrity (PROTOCOL.md, "Donors and credit"): the .xtc files of a
 * frame hold exactly the frames it claims, in whatever encoding they come;
 * otherwise 400 and nothing of the frame is appended. */
static void test_frame_integrity(void **state)
{
    (void)state;
    struct daemon_proc scv;
    char secret[256], token[256], extra[256], error[256];
    size_t one_len, two_len;
    prepare(&scv, "scv");
    seed_streams(scv.data, 1);
    snprintf(extra, sizeof extra, "command_center = 'http://127.0.0.1:%d'", harness_free_port());
    start(&scv, extra);
    scv_secret(&scv, secret, sizeof secret);
    activate(&scv, secret, TARGET, token, sizeof token, 200);
    unsigned char *one = xtc_bytes(1, &one_len), *two = xtc_bytes(2, &two_len);
    char *one_b64 = wire_file_encode(one, one_len, WIRE_FILE_B64, NULL);
    char *two_b64 = wire_file_encode(two, two_len, WIRE_FILE_B64, NULL);
    char *two_gz = wire_file_encode(two, two_len, WIRE_FILE_GZ | WIRE_FILE_B64, NULL);
    json_t *honest = json_pack("{s:s,s:s}", "frames.xtc.b64", two_b64, "frames.xtc.gz.b64", two_gz);

    /* a billion frames claimed for one byte */
    assert_int_equal(frame_put(scv.url, token, json_pack("{s:s}", "frames.xtc.b64", "QQ=="), 1000000000,
                               error, sizeof error),
                     400);
    /* two frames claimed as three, or as one: the frame's other file goes too */
    assert_int_equal(frame_put(scv.url, token,
                               json_pack("{s:s,s:s}", "log.txt", "x", "frames.xtc.b64", two_b64), 3, error,
                               sizeof error),
                     400);
    assert_non_null(strstr(error, "holds 2 XTC frames"));
    assert_int_equal(
        frame_put(scv.url, token, json_pack("{s:s}", "frames.xtc.gz.b64", two_gz), 0, error, sizeof error),
        400);
    /* bytes that are not XTC at all */
    assert_int_equal(
        frame_put(scv.url, token, json_pack("{s:s}", "frames.xtc", "xtc-bytes"), 1, error, sizeof error),
        400);
    assert_int_equal(buffer_size(&scv, "frames.xtc"), -1);
    assert_int_equal(buffer_size(&scv, "log.txt"), -1);

    /* honest claims, each file counted; no claim is one frame */
    assert_int_equal(
        frame_put(scv.url, token, json_pack("{s:s}", "frames.xtc.b64", one_b64), 0, error, sizeof error),
        200);
    assert_int_equal(frame_put(scv.url, token, json_incref(honest), 2, error, sizeof error), 200);
    assert_int_equal(buffer_size(&scv, "frames.xtc"), (long long)(one_len + 2 * two_len));
    /* one honest file and one short one: neither is kept */
    json_object_set_new(honest, "frames.xtc.b64", json_string(one_b64));
    assert_int_equal(frame_put(scv.url, token, honest, 2, error, sizeof error), 400);
    assert_int_equal(buffer_size(&scv, "frames.xtc"), (long long)(one_len + 2 * two_len));
    /* files that are not .xtc carry no count */
    assert_int_equal(
        frame_put(scv.url, token, json_pack("{s:s}", "notes.dat", "abc"), 5, error, sizeof error), 200);
    free(one);
    free(two);
    free(one_b64);
    free(two_b64);
    free(two_gz);
    assert_int_equal(harness_stop(scv.pid, SIGTERM, 15), 0);
}

/* ---- hostile names ------------------------------------------------------- */

/* Plants a file straight into a stream folder, as an old version or an
 * operator might have left it. */
static void plant(const struct daemon_proc *scv, const char *id, const char *rel)
{
    char path[PATH_MAX + 512];
    snprintf(path, sizeof path, "%s/streams/%s/%s", scv->data, id, rel);
    harness_write(path, "planted");
}

/* Names with control characters or bytes that are not UTF-8 are refused
 * wherever a request could store them, %ff anywhere in a path parameter is
 * a 400 (never a 500), a stream that already holds such a file still syncs
 * and starts, and Content-Disposition is RFC 6266. */
static void test_hostile_names(void **state)
{
    (void)state;
    struct deployment dep;
    char token[256], path[512], value[512];
    long status;
    deploy(&dep, NULL);
    const char *scv = dep.scv.url;
    char *id = add_stream(&dep, dep.admin, 200);

    /* seed files and tags */
    jcall_expect(scv, "POST", "/streams", dep.admin,
                 json_pack("{s:s,s:{s:s}}", "target_id", dep.target, "files", "a\001b", "x"), 400);
    jcall_expect(scv, "POST", "/streams", dep.admin,
                 json_pack("{s:s,s:{s:s},s:{s:s}}", "target_id", dep.target, "files", "ok", "x", "tags",
                           "t\r\nX-Injected: yes", "x"),
                 400);
    /* frame and checkpoint files */
    assign(&dep, token, sizeof token);
    jcall_expect(scv, "PUT", "/core/frame", token,
                 json_pack("{s:{s:s}}", "files", "evil\r\nX-Injected: yes", "x"), 400);
    jcall_expect(scv, "PUT", "/core/frame", token, json_pack("{s:{s:s}}", "files", "frames.dat", "AB"), 200);
    jcall_expect(scv, "PUT", "/core/checkpoint", token, json_pack("{s:{s:s}}", "files", "st\x7f", "S"), 400);
    checkpoint(scv, token, "S1");
    jcall_expect(scv, "PUT", "/core/stop", token, json_object(), 200);
    /* uploads */
    const char *bad[] = {"files/evil%0D%0AX-Injected:%20yes", "files/bad%ffname", "files/c1%C2%85"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(path, sizeof path, "/streams/upload/%s/%s", id, bad[i]);
        json_t *j = call(scv, "PUT", path, dep.admin, "auto", "x", 1, &status, NULL);
        assert_int_equal(status, 400);
        assert_true(json_is_string(json_object_get(j, "error")));
        json_decref(j);
    }
    snprintf(path, sizeof path, "/streams/upload/%s/files/donn%%C3%%A9es%%20%%22x%%22.txt", id);
    json_decref(call(scv, "PUT", path, dep.admin, "auto", "x", 1, &status, NULL));
    assert_int_equal(status, 200);
    struct harness_response raw;
    snprintf(path, sizeof path, "/streams/download/%s/files/donn%%C3%%A9es%%20%%22x%%22.txt", id);
    json_decref(call(scv, "GET", path, dep.admin, NULL, NULL, 0, &status, &raw));
    assert_int_equal(status, 200);
    assert_int_equal(harness_header(&raw, "content-disposition", value, sizeof value), 0);
    assert_string_equal(value, "attachment; filename=\"files/donn__es _x_.txt\"; "
                               "filename*=UTF-8''files%2Fdonn%C3%A9es%20%22x%22.txt");
    harness_response_free(&raw);

    /* %ff in any path parameter: 400 with an error, on the SCV and the CC */
    const char *scv_paths[][2] = {{"GET", "/streams/info/%ff"},       {"GET", "/streams/sync/%ff"},
                                  {"PUT", "/streams/start/%ff"},      {"PUT", "/streams/stop/%ff"},
                                  {"PUT", "/streams/delete/%ff"},     {"GET", "/targets/streams/%ff"},
                                  {"GET", "/streams/download/%ff/x"}, {"GET", "/streams/info/a%ffb"}};
    for (size_t i = 0; i < sizeof scv_paths / sizeof *scv_paths; i++)
        jcall_expect(scv, scv_paths[i][0], scv_paths[i][1], dep.admin, NULL, 400);
    snprintf(path, sizeof path, "/streams/download/%s/files/bad%%ffname", id);
    jcall_expect(scv, "GET", path, dep.admin, NULL, 400);
    jcall_expect(dep.cc.url, "GET", "/targets/info/%ff", NULL, NULL, 400);
    jcall_expect(dep.cc.url, "GET", "/targets/streams/%ff", NULL, NULL, 400);
    jcall_expect(dep.cc.url, "PUT", "/engines/keys/delete/%ff", dep.admin, json_object(), 400);
    jcall_expect(dep.cc.url, "PUT", "/targets/update/%ff", dep.admin, json_object(), 400);

    /* names planted on disk: sync and start go on without them, and say so */
    plant(&dep.scv, id, "files/bad\xffname");
    plant(&dep.scv, id, "1/evil\r\nname");
    snprintf(path, sizeof path, "/streams/sync/%s", id);
    json_t *sync = jcall(scv, "GET", path, dep.admin, NULL, 200);
    json_t *skipped = json_object_get(sync, "skipped_files");
    assert_int_equal(json_array_size(skipped), 2);
    assert_string_equal(json_string_value(json_array_get(skipped, 0)), "files/bad\\xFFname");
    assert_string_equal(json_string_value(json_array_get(skipped, 1)), "1/evil\\x0D\\x0Aname");
    assert_int_equal(json_array_size(json_object_get(sync, "seed_files")), 3);
    assert_int_equal(json_array_size(json_object_get(sync, "frame_files")), 1);
    json_decref(sync);
    assign(&dep, token, sizeof token);
    json_t *start_reply = jcall(scv, "GET", "/core/start", token, NULL, 200);
    assert_int_equal(json_object_size(json_object_get(start_reply, "files")), 3);
    json_decref(start_reply);
    free(id);
    undeploy(&dep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_core_refusals),    cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_manager_refusals), cmocka_unit_test(test_frame_bombs),
        cmocka_unit_test(test_frame_integrity),  cmocka_unit_test(test_hostile_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
