/* The cc_store cases (cc_store_cases.c) against SQLite, plus what only
 * SQLite has: the schema version pragma and a file two stores share. */
#include "cc_store_cases.h"

#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/log.h"

/* 1 when needle occurs in the file's bytes. */
static int file_contains(const char *path, const char *needle)
{
    size_t len = 0, n = strlen(needle);
    char *data = fs_read_file(path, 64 << 20, &len);
    int found = 0;
    for (size_t i = 0; data && i + n <= len && !found; i++)
        found = memcmp(data + i, needle, n) == 0;
    free(data);
    return found;
}

static int db_contains(store_fixture *f, const char *needle)
{
    char path[128];
    snprintf(path, sizeof path, "%s/cc.db", f->dir);
    if (file_contains(path, needle))
        return 1;
    snprintf(path, sizeof path, "%s/cc.db-wal", f->dir);
    return file_contains(path, needle);
}

static long long stats_rows(store_fixture *f)
{
    char path[128];
    sqlite3 *db;
    sqlite3_stmt *stmt;
    long long n = -1;
    snprintf(path, sizeof path, "%s/cc.db", f->dir);
    sqlite3_open(path, &db);
    sqlite3_prepare_v2(db, "SELECT count(*), sum(frames) FROM stats", -1, &stmt, NULL);
    if (sqlite3_step(stmt) == SQLITE_ROW)
        n = sqlite3_column_int64(stmt, 0) * 1000000 + sqlite3_column_int64(stmt, 1);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return n;
}

static const store_backend sqlite_backend = {db_contains, stats_rows};

static int setup(void **state)
{
    store_fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_cc_store.XXXXXX");
    snprintf(f->database, sizeof f->database, "sqlite");
    f->backend = &sqlite_backend;
    *state = f;
    if (!mkdtemp(f->dir))
        return -1;
    f->st = store_cases_open(f);
    return f->st ? 0 : -1;
}

static int teardown(void **state)
{
    store_fixture *f = *state;
    cc_store_close(f->st);
    fs_rm_rf(f->dir);
    free(f);
    return 0;
}

static void test_open_errors(void **state)
{
    store_fixture *f = *state;
    struct status err = {0};
    char path[128];
    assert_null(cc_store_open("mysql://u:hunter2@nowhere/db", f->dir, STORE_TEST_PASS, NULL, &err));
    assert_non_null(strstr(err.msg, "not supported"));
    assert_null(strstr(err.msg, "hunter2"));

    /* A database from a newer schema is refused, not silently used. */
    cc_store_close(f->st);
    f->st = NULL;
    sqlite3 *db;
    snprintf(path, sizeof path, "%s/cc.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE schema_version SET version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_null(cc_store_open(NULL, f->dir, STORE_TEST_PASS, NULL, &err));
    assert_non_null(strstr(err.msg, "newer"));
}

/* A failing SQLite database is IO (answered 500, as on the SCV), not
 * UNAVAILABLE (503, an unreachable PostgreSQL server), and says which
 * call failed. */
static void test_database_failure(void **state)
{
    store_fixture *f = *state;
    char path[128];
    struct status st;
    sqlite3 *db;

    snprintf(path, sizeof path, "%s/cc.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DROP TABLE scvs", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    log_set_quiet(1);
    assert_int_equal(cc_store_scv_upsert(f->st, "s1", "h:1", "pw", &st), STATUS_IO);
    log_set_quiet(0);
    assert_int_equal(status_http(st.code), 500);
    assert_non_null(strstr(st.msg, "cannot register the SCV"));
}

/* A version 1 database (before the change counter, versioned by PRAGMA
 * user_version, with the stats column `user`) is upgraded in place and
 * keeps its rows. */
static void test_upgrade_v1(void **state)
{
    store_fixture *f = *state;
    char path[128], id[CC_TARGET_ID_LEN + 1];
    const char *engines[] = {"openmm"};
    cc_target_new t = {.owner = "m@x.org", .stage = CC_STAGE_PUBLIC, .engines = engines, .n_engines = 1};
    sqlite3 *db;
    cc_target got;
    uint64_t v = 0, w = 0;

    assert_int_equal(cc_store_target_create(f->st, &t, id, NULL), STATUS_OK);
    cc_store_close(f->st);
    f->st = NULL;
    snprintf(path, sizeof path, "%s/cc.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "DROP TABLE meta; DROP TRIGGER targets_ins; DROP TRIGGER targets_upd;"
                     "DROP TRIGGER targets_del; DROP TRIGGER shards_ins; DROP TRIGGER shards_del;"
                     "DROP TRIGGER engine_keys_ins; DROP TRIGGER engine_keys_del;"
                     "DROP TRIGGER scvs_ins; DROP TRIGGER scvs_upd; DROP TRIGGER managers_ins;"
                     "DROP TRIGGER managers_upd; DROP TRIGGER managers_del; DROP TABLE schema_version;"
                     "ALTER TABLE stats RENAME COLUMN user_name TO user; PRAGMA user_version = 1",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    f->st = store_cases_open(f);
    assert_non_null(f->st);
    assert_int_equal(cc_store_target_get(f->st, id, &got, NULL), STATUS_OK);
    cc_target_free(&got);
    assert_int_equal(cc_store_change_counter(f->st, &v, NULL), STATUS_OK);
    assert_int_equal(cc_store_shard_add(f->st, id, "scv1", NULL), STATUS_OK);
    assert_int_equal(cc_store_change_counter(f->st, &w, NULL), STATUS_OK);
    assert_true(w > v);
    cc_stats_fragment fr = {.id = "f1", .target_id = "t", .stream_id = "s", .engine = "e", .frames = 3};
    size_t inserted = 0;
    assert_int_equal(cc_store_stats_insert(f->st, &fr, 1, &inserted, NULL), STATUS_OK);
    assert_int_equal(inserted, 1);
    assert_int_equal(f->backend->stats_rows(f), 1000003);
}

/* Two stores on one file (the CC and the bootstrap CLI): each sees the
 * other's writes through the counter and the data. */
/* plain sealed the way older versions did with secret.key: hex of nonce ||
 * MAC || ciphertext, no key id. */
static void legacy_seal(const unsigned char *key, const char *plain, char *out, size_t outlen)
{
    unsigned char bin[crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + 64];
    size_t len = strlen(plain);
    assert_true(len <= 64);
    randombytes_buf(bin, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(bin + crypto_secretbox_NONCEBYTES, (const unsigned char *)plain, len, bin, key);
    sodium_bin2hex(out, outlen, bin, crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + len);
}

static void sql_text(const char *path, const char *sql, const char *param, char *out, size_t outlen)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (param)
        sqlite3_bind_text(st, 1, param, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    assert_true(r == SQLITE_ROW || r == SQLITE_DONE);
    if (out)
        snprintf(out, outlen, "%s", r == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : "");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* A database an older version sealed with <data>/secret.key: with the file
 * there, its secrets open and are sealed again under cc_pass at open; from
 * then on the file is not needed. */
static void test_legacy_secret_key_migrates(void **state)
{
    store_fixture *f = *state;
    char key[AUTH_TOKEN_HEX_LEN + 1], path[128], keyfile[128], hex[2 * crypto_secretbox_KEYBYTES + 2];
    char sealed[512], stored[512];
    unsigned char file_key[crypto_secretbox_KEYBYTES];
    cc_engine_key *keys = NULL;
    cc_scv *scvs = NULL;
    size_t n = 0;
    assert_int_equal(cc_store_key_create(f->st, "openmm", "old", key, NULL), STATUS_OK);
    assert_int_equal(cc_store_scv_upsert(f->st, "s1", "127.0.0.1:9", "scv-password", NULL), STATUS_OK);
    cc_store_close(f->st);
    f->st = NULL;

    snprintf(path, sizeof path, "%s/cc.db", f->dir);
    snprintf(keyfile, sizeof keyfile, "%s/secret.key", f->dir);
    crypto_secretbox_keygen(file_key);
    sodium_bin2hex(hex, sizeof hex, file_key, sizeof file_key);
    assert_int_equal(fs_write_file(keyfile, hex, strlen(hex), 0), 0);
    chmod(keyfile, 0600);
    legacy_seal(file_key, key, sealed, sizeof sealed);
    sql_text(path, "UPDATE engine_keys SET key_sealed = ?", sealed, NULL, 0);
    legacy_seal(file_key, "scv-password", sealed, sizeof sealed);
    sql_text(path, "UPDATE scvs SET password_sealed = ?", sealed, NULL, 0);

    store_cases_reopen(f);
    sql_text(path, "SELECT key_sealed FROM engine_keys", NULL, stored, sizeof stored);
    assert_non_null(strchr(stored, ':'));
    sql_text(path, "SELECT password_sealed FROM scvs", NULL, stored, sizeof stored);
    assert_non_null(strchr(stored, ':'));

    assert_int_equal(unlink(keyfile), 0);
    store_cases_reopen(f);
    assert_int_equal(cc_store_key_list(f->st, &keys, &n, NULL), STATUS_OK);
    assert_int_equal(n, 1);
    assert_string_equal(keys[0].key, key);
    free(keys);
    assert_int_equal(store_scv_list(f->st, &scvs, &n), STATUS_OK);
    assert_int_equal(n, 1);
    assert_string_equal(scvs[0].password, "scv-password");
    free(scvs);
}

static void test_two_stores(void **state)
{
    store_fixture *f = *state;
    char id[CC_TARGET_ID_LEN + 1];
    const char *engines[] = {"openmm"};
    cc_target_new t = {.owner = "m@x.org", .stage = CC_STAGE_PUBLIC, .engines = engines, .n_engines = 1};
    cc_store *other = store_cases_open(f);
    uint64_t v = 0, w = 0;
    cc_snapshot s;

    assert_non_null(other);
    assert_int_equal(cc_store_change_counter(f->st, &v, NULL), STATUS_OK);
    assert_int_equal(cc_store_target_create(other, &t, id, NULL), STATUS_OK);
    assert_int_equal(cc_store_change_counter(f->st, &w, NULL), STATUS_OK);
    assert_true(w > v);
    assert_int_equal(store_load_all(f->st, &s), STATUS_OK);
    assert_int_equal(s.n_targets, 1);
    assert_string_equal(s.targets[0].id, id);
    cc_snapshot_free(&s);
    cc_store_close(other);
}

int main(void)
{
    const struct CMUnitTest extra[] = {
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_database_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_v1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_stores, setup, teardown),
        cmocka_unit_test_setup_teardown(test_legacy_secret_key_migrates, setup, teardown),
    };
    return store_cases_run("cc_store (sqlite)", setup, teardown, extra, sizeof extra / sizeof extra[0]);
}
