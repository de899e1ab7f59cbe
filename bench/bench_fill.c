/* bench_fill: populates a daemon's data folder with many streams or targets
 * for the start-up and load benchmarks, far faster than the HTTP API.
 *
 *   st-bench-fill scv DATA_DIR SCV_NAME TARGET_ID COUNT
 *       COUNT streams of TARGET_ID, each with one small seed file, laid out
 *       as stream_store does (streams/<id>/files/), recorded through scv_db.
 *   st-bench-fill cc DATA_DIR OWNER ENGINE SCV_NAME COUNT
 *       COUNT public targets of OWNER for ENGINE, each sharded on SCV_NAME,
 *       inserted through SQLite into <DATA_DIR>/cc.db (which the CC must
 *       have created, e.g. by `siegetank cc ... add-manager`).
 *
 * Nothing is fsynced per item: the tool ends with one syncfs(), because
 * benchmark data needs no crash safety while it is being made and the disk
 * here takes ~5 ms per fsync. The stream ids and target ids are printed, one
 * a line, so scripts can drive load at them. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scv/scv_db.h"
#include "util/clock.h"
#include "util/crypto.h"
#include "util/fs.h"

#define SEED_TEXT "{\"bench\": true}\n"

static long parse_count(const char *s)
{
    char *end;
    long n = strtol(s, &end, 10);
    if (*end != '\0' || n < 1 || n > 10000000) {
        fprintf(stderr, "st-bench-fill: COUNT must be 1..10000000, got '%s'\n", s);
        return -1;
    }
    return n;
}

static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0 || syncfs(fd) != 0) {
        fprintf(stderr, "st-bench-fill: cannot sync %s: %s\n", dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

static int fill_scv(const char *data_dir, const char *scv_name, const char *target_id, long count)
{
    char path[PATH_MAX], id[256], uuid[CRYPTO_UUID_LEN + 1];
    int rc = -1;
    snprintf(path, sizeof path, "%s/scv.db", data_dir);
    if (fs_mkdir_p(data_dir, 0755) != 0) {
        fprintf(stderr, "st-bench-fill: cannot create %s: %s\n", data_dir, strerror(errno));
        return -1;
    }
    scv_db *db = scv_db_open(path);
    if (db == NULL)
        return -1;
    double now = clock_wall_s();
    for (long i = 0; i < count; i++) {
        crypto_uuid4(uuid);
        snprintf(id, sizeof id, "%s:%s", uuid, scv_name);
        snprintf(path, sizeof path, "%s/streams/%s/files", data_dir, id);
        if (fs_mkdir_p(path, 0755) != 0) {
            fprintf(stderr, "st-bench-fill: cannot create %s: %s\n", path, strerror(errno));
            goto out;
        }
        snprintf(path, sizeof path, "%s/streams/%s/tags", data_dir, id);
        if (fs_mkdir_p(path, 0755) != 0)
            goto out;
        snprintf(path, sizeof path, "%s/streams/%s/files/state.json", data_dir, id);
        FILE *f = fopen(path, "w");
        if (f == NULL || fputs(SEED_TEXT, f) == EOF || fclose(f) != 0) {
            fprintf(stderr, "st-bench-fill: cannot write %s\n", path);
            goto out;
        }
        if (scv_db_stream_insert(db, id, target_id, now) != 0)
            goto out;
        printf("%s\n", id);
    }
    rc = sync_dir(data_dir);
out:
    scv_db_close(db);
    return rc;
}

static int exec_sql(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    fprintf(stderr, "st-bench-fill: %s: %s\n", sql, msg ? msg : "?");
    sqlite3_free(msg);
    return -1;
}

static int fill_cc(const char *data_dir, const char *owner, const char *engine, const char *scv_name,
                   long count)
{
    char path[PATH_MAX], engines[256], id[CRYPTO_UUID_LEN + 1];
    sqlite3 *db = NULL;
    sqlite3_stmt *target = NULL, *shard = NULL;
    int rc = -1;
    snprintf(path, sizeof path, "%s/cc.db", data_dir);
    snprintf(engines, sizeof engines, "[\"%s\"]", engine);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        fprintf(stderr, "st-bench-fill: cannot open %s (run add-manager first): %s\n", path,
                sqlite3_errmsg(db));
        goto out;
    }
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO targets(id, owner, stage, engines, options, weight, creation_date)"
                           " VALUES (?, ?, 'public', ?, '{}', 1, ?)",
                           -1, &target, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO shards(target_id, scv) VALUES (?, ?)", -1, &shard, NULL) !=
            SQLITE_OK) {
        fprintf(stderr, "st-bench-fill: %s (is %s a CC database?)\n", sqlite3_errmsg(db), path);
        goto out;
    }
    if (exec_sql(db, "BEGIN") != 0)
        goto out;
    double now = clock_wall_s();
    for (long i = 0; i < count; i++) {
        crypto_uuid4(id);
        sqlite3_bind_text(target, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(target, 2, owner, -1, SQLITE_STATIC);
        sqlite3_bind_text(target, 3, engines, -1, SQLITE_STATIC);
        sqlite3_bind_double(target, 4, now);
        sqlite3_bind_text(shard, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(shard, 2, scv_name, -1, SQLITE_STATIC);
        if (sqlite3_step(target) != SQLITE_DONE || sqlite3_step(shard) != SQLITE_DONE) {
            fprintf(stderr, "st-bench-fill: insert failed: %s\n", sqlite3_errmsg(db));
            goto out;
        }
        sqlite3_reset(target);
        sqlite3_reset(shard);
        printf("%s\n", id);
    }
    rc = exec_sql(db, "COMMIT");
out:
    sqlite3_finalize(target);
    sqlite3_finalize(shard);
    sqlite3_close(db);
    return rc;
}

int main(int argc, char **argv)
{
    long count;
    if (argc == 6 && strcmp(argv[1], "scv") == 0 && (count = parse_count(argv[5])) > 0)
        return fill_scv(argv[2], argv[3], argv[4], count) == 0 ? 0 : 1;
    if (argc == 7 && strcmp(argv[1], "cc") == 0 && (count = parse_count(argv[6])) > 0)
        return fill_cc(argv[2], argv[3], argv[4], argv[5], count) == 0 ? 0 : 1;
    fprintf(stderr, "usage: st-bench-fill scv DATA_DIR SCV_NAME TARGET_ID COUNT\n"
                    "       st-bench-fill cc DATA_DIR OWNER ENGINE SCV_NAME COUNT\n");
    return 2;
}
