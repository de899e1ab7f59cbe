#include "stats_peek.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <unistd.h>

/* The first column of sql's first row (?1 bound to param when not NULL), or
 * -1 when there is none. */
static long query(const char *db_path, const char *sql, const char *param)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long v = -1;
    assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        (param == NULL || sqlite3_bind_text(st, 1, param, -1, SQLITE_STATIC) == SQLITE_OK) &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

long stats_peek_outbox(const char *scv_db)
{
    return query(scv_db, "SELECT COUNT(*) FROM stats_outbox", NULL);
}

void stats_peek_wait_drained(const char *scv_db, int timeout_s)
{
    for (int i = 0; i < timeout_s * 10; i++) {
        if (stats_peek_outbox(scv_db) == 0)
            return;
        usleep(100 * 1000);
    }
    fail_msg("the SCV's stats outbox still holds %ld fragments after %d s", stats_peek_outbox(scv_db),
             timeout_s);
}

long stats_peek_credited(const char *cc_db, const char *stream_id)
{
    return query(cc_db, "SELECT COALESCE(SUM(frames), 0) FROM stats WHERE stream_id = ?1", stream_id);
}
