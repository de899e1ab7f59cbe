/* cc_store_sqlite: what the SQLite backend's two files share (internal to
 * the store): its transaction, and the reading of a statement's first row.
 * cc_store_sqlite.c holds the schema and most rows, cc_store_sqlite_credit.c
 * the stats and donor credit (cc_store_backend.h). */
#ifndef ST_CC_STORE_SQLITE_H
#define ST_CC_STORE_SQLITE_H

#include "cc/cc_store_backend.h"
#include "util/sqldb.h"

/* A transaction: the connection, locked from begin to end. */
struct cc_store_tx {
    sqldb *db;
    cc_tx_mode mode;
};

/* A statement's first row, NOT_FOUND without one; read fills out from it.
 * Finalizes stmt (NULL: IO). */
status_code cc_store_sqlite_one_row(sqldb *db, sqlite3_stmt *stmt, const char *what,
                                    int (*read)(sqlite3_stmt *stmt, void *out), void *out);

#endif
