/* cc_store_backend: the interface between the business logic (cc_store.c,
 * and cc_store_credit.c for the stats and donor credit) and the databases
 * that keep its rows (internal to the store), and what those two files
 * share: struct cc_store and its failure helpers.
 *
 * A backend is a table of primitive row operations over a transaction
 * (cc_store_tx), its stats and credit ones in a table of their own
 * (cc_store_credit_ops): the logic opens one with begin, calls the operations it
 * needs in order, and closes it with end, which commits or rolls back. A
 * backend only maps rows to records and back; it never decides, validates,
 * hashes or seals (secret columns hold sealed hex, *_hash columns
 * auth_token_hash hex). Sizes are validated before any operation runs.
 * In a WRITE transaction a target row that was read or probed stays
 * locked until end (PostgreSQL locks the row; SQLite's write lock holds
 * the whole file). Every call returns a status_code: NOT_FOUND and EXISTS
 * as documented per call, UNAVAILABLE when the database server cannot be reached, IO for any
 * other failure (logged by the backend with the database's reason). Two
 * backends: SQLite (cc_store_sqlite.c, its credit SQL in
 * cc_store_sqlite_credit.c) and PostgreSQL (cc_store_pg.c,
 * cc_store_pg_credit.c). */
#ifndef ST_CC_STORE_BACKEND_H
#define ST_CC_STORE_BACKEND_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "cc/cc_seal.h"
#include "cc/cc_store.h"
#include "util/status.h"

typedef struct cc_store_tx cc_store_tx; /* defined by each backend */

typedef enum cc_tx_mode {
    CC_TX_ONE,      /* a single read statement, no transaction */
    CC_TX_SNAPSHOT, /* several reads that see one instant */
    CC_TX_WRITE,    /* reads and writes, committed together by end */
} cc_tx_mode;

typedef struct cc_user_row {
    cc_user user;
    char password_hash[AUTH_PWHASH_LEN];
} cc_user_row;

typedef struct cc_engine_key_row {
    char key_hash[AUTH_TOKEN_HASH_LEN + 1];
    char *key_sealed; /* malloc'd */
    char engine[CC_ENGINE_MAX + 1];
    char description[CC_DESCRIPTION_MAX + 1];
    double creation_date;
} cc_engine_key_row;

typedef struct cc_scv_row {
    char name[CC_SCV_NAME_MAX + 1];
    char host[CC_HOST_MAX + 1];
    char *password_sealed; /* malloc'd */
} cc_scv_row;

/* Yes/no questions about the rows, keyed by one text value. */
typedef enum cc_probe {
    CC_PROBE_USER,          /* a user (any role) has this name */
    CC_PROBE_DONOR_EMAIL,   /* a donor has this email */
    CC_PROBE_ADMIN,         /* an admin exists (key unused) */
    CC_PROBE_TARGET,        /* the target exists */
    CC_PROBE_TARGET_SHARDS, /* the target has shards */
    CC_PROBE_DONOR,         /* a donor has this name */
} cc_probe;

/* A recorded fragment waiting in credit_pending for the fold. */
typedef struct cc_credit_pending {
    char user[CC_NAME_MAX + 1];
    char target_id[CC_TARGET_ID_LEN + 1];
    long long frames;
    double points;
    double recorded; /* when the CC recorded it: its credit's time */
} cc_credit_pending;

/* Receives one line of the stats export (team: e is a team's); 0, or -1
 * to fail the scan with IO. */
typedef int (*cc_export_fn)(void *arg, const cc_board_entry *e, int team, long long fragments,
                            double last_credit);

/* Receives one shard row; 0, or -1 to fail the read with IO. */
typedef int (*cc_shard_fn)(const char *target_id, const char *scv, void *arg);

/* The operations behind cc_store_credit.c: stats fragments and the donor
 * credit (cc_credit.h); each backend keeps them in a file of their own. */
typedef struct cc_store_credit_ops {
    /* Skips fragments whose id exists (the first of a batch wins); a new
     * one is stored worth points[i] and, when it has a user, queued in
     * credit_pending stamped recorded (the fold credits it later).
     * *inserted counts the new ones. INVALID for text the database
     * refuses. */
    status_code (*stats_insert)(cc_store_tx *tx, const cc_stats_fragment *v, const double *points, size_t n,
                                double recorded, size_t *inserted);
    /* Claims the right to fold, held until end: with wait, waits for
     * another CC's fold to end; without, *claimed is 0 while one holds it.
     * A donor's deletion holds it too, so a fold never waits for a donor
     * row that waits for the fold's queue rows. */
    status_code (*fold_claim)(cc_store_tx *tx, int wait, int *claimed);
    /* Deletes at most max of the oldest queued fragments and returns them
     * (*out malloc'd, *n of them), in queue order. */
    status_code (*pending_take)(cc_store_tx *tx, size_t max, cc_credit_pending **out, size_t *n);
    /* How many fragments the queue holds, as this transaction sees it. */
    status_code (*pending_count)(cc_store_tx *tx, long long *n);

    status_code (*points_per_frame)(cc_store_tx *tx, const char *target_id, double *out); /* NOT_FOUND */
    /* Adds each of b's donor deltas to its row (made on first credit,
     * public only when the name is a donor's), in key order; rows[i] and
     * teams[i] (malloc'd, NULL for none) report donor i's row after it. */
    status_code (*credit_donors)(cc_store_tx *tx, const cc_credit_batch *b, cc_credit_row *rows,
                                 char **teams);
    status_code (*credit_targets)(cc_store_tx *tx, const cc_credit_batch *b);
    /* The same for team deltas v (sorted by key); rows[i] after v[i]. */
    status_code (*credit_teams)(cc_store_tx *tx, const cc_credit_batch *b, const cc_credit_delta *v, size_t n,
                                cc_credit_row *rows);
    status_code (*board_add)(cc_store_tx *tx, cc_board_id board, long long period, long long n);
    status_code (*board_read)(cc_store_tx *tx, const cc_board_query *q, cc_board *out);
    /* The donor's credit row (made when missing), locked until end: its
     * state, and its team (malloc'd, NULL for none). */
    status_code (*donor_row)(cc_store_tx *tx, const char *name, cc_credit_row *row, char **team);
    status_code (*donor_set_public)(cc_store_tx *tx, const char *name, int public_);
    status_code (*donor_set_team)(cc_store_tx *tx, const char *name, const char *team); /* NULL: none */
    /* One member more; *made when the row was just created. */
    status_code (*team_join)(cc_store_tx *tx, const char *team, int *made);
    /* One member fewer; a team left without members and credit is removed
     * (*removed). */
    status_code (*team_leave)(cc_store_tx *tx, const char *team, int *removed);
    /* Deletes the donor's user row and renames its credit rows and its
     * fragments' user to anon. */
    status_code (*donor_erase)(cc_store_tx *tx, const char *name, const char *anon);
    /* A donor's totals and per-target credit (out->targets malloc'd) and
     * whether it is public; NOT_FOUND unless name is a donor. */
    status_code (*donor_info)(cc_store_tx *tx, const char *name, cc_donor_info *out, int *public_);
    /* Calls fn for every public donor with credit, then every team, by
     * points. */
    status_code (*export_scan)(cc_store_tx *tx, cc_export_fn fn, void *arg);
    /* The stored export: its time (0 when none) and its bytes (malloc'd;
     * NULL when none). */
    status_code (*export_load)(cc_store_tx *tx, double *created, unsigned char **data, size_t *len);
    /* Claims the remake: *claimed when the stored export is older than
     * max_age and no other claim is younger than lease. */
    status_code (*export_claim)(cc_store_tx *tx, double now, double max_age, double lease, int *claimed);
    status_code (*export_save)(cc_store_tx *tx, double created, const unsigned char *data, size_t len);
} cc_store_credit_ops;

typedef struct cc_store_ops {
    /* 1 when write transactions run one at a time (SQLite): concurrent
     * stats batches then share one transaction and its commit. */
    int serial_writes;
    /* where: the SQLite file or the PostgreSQL URL. Creates or upgrades
     * the schema. NULL with the reason in st. */
    void *(*open)(const char *where, struct status *st);
    void (*close)(void *impl);
    status_code (*begin)(void *impl, cc_tx_mode mode, cc_store_tx **tx);
    /* Commits when rc is OK (a failed commit turns it into IO), else rolls
     * back; releases tx and returns the outcome. */
    status_code (*end)(cc_store_tx *tx, status_code rc);

    status_code (*exists)(cc_store_tx *tx, cc_probe what, const char *key, int *found);

    /* EXISTS when the name is taken, CONFLICT when a donor's email is (a
     * concurrent insert through another CC after the probes). */
    status_code (*user_insert)(cc_store_tx *tx, const cc_user *user, const char *password_hash,
                               const char *token_hash);
    /* donors: 1 looks up donors by username, 0 admins/managers by email. */
    status_code (*user_get)(cc_store_tx *tx, int donors, const char *name, cc_user_row *out);
    /* NOT_FOUND unless password_hash is still the current one. */
    status_code (*user_set_token)(cc_store_tx *tx, const char *name, const char *password_hash,
                                  const char *token_hash);
    status_code (*user_by_token)(cc_store_tx *tx, const char *token_hash, cc_user *out);

    status_code (*key_insert)(cc_store_tx *tx, const cc_engine_key_row *row);
    /* Ordered by creation date. */
    status_code (*key_list)(cc_store_tx *tx, cc_engine_key_row **out, size_t *n);
    status_code (*key_delete)(cc_store_tx *tx, const char *key_hash); /* NOT_FOUND */

    /* A target's row; its shards are left empty. */
    status_code (*target_insert)(cc_store_tx *tx, const cc_target *t);
    status_code (*target_read)(cc_store_tx *tx, const char *id, cc_target *out); /* NOT_FOUND */
    /* Writes stage, engines, options and weight of the row t->id. */
    status_code (*target_write)(cc_store_tx *tx, const cc_target *t);
    status_code (*target_delete)(cc_store_tx *tx, const char *id); /* NOT_FOUND */
    /* Ids by creation date; owner NULL: the public targets. */
    status_code (*target_list)(cc_store_tx *tx, const char *owner, cc_strlist *out);
    /* The targets written after *since (all when NULL), ordered by id
     * (strcmp order). */
    status_code (*targets_since)(cc_store_tx *tx, const uint64_t *since, cc_target **out, size_t *n);
    /* The ids of the targets deleted after *since, ordered. */
    status_code (*deleted_since)(cc_store_tx *tx, uint64_t since, cc_strlist *out);

    /* Shard rows ordered by target id then SCV (strcmp order): those of
     * target_id when it is not NULL, else those of the targets written
     * after *since (all when since is NULL). */
    status_code (*shard_rows)(cc_store_tx *tx, const char *target_id, const uint64_t *since, cc_shard_fn fn,
                              void *arg);
    /* Adding a shard present or removing one absent changes nothing; a
     * shard of a target deleted meanwhile is NOT_FOUND. */
    status_code (*shard_change)(cc_store_tx *tx, int add, const char *target_id, const char *scv);

    status_code (*scv_upsert)(cc_store_tx *tx, const cc_scv_row *row);
    status_code (*scv_list)(cc_store_tx *tx, cc_scv_row **out, size_t *n); /* ordered by name */

    /* Admins and managers ordered by name, engine keys by hash. */
    status_code (*managers)(cc_store_tx *tx, cc_manager_weight **out, size_t *n);
    status_code (*key_refs)(cc_store_tx *tx, cc_engine_key_ref **out, size_t *n);
    status_code (*generation)(cc_store_tx *tx, uint64_t *out);

    /* Stores candidate unless a salt is there already; salt_get reads it. */
    status_code (*salt_offer)(cc_store_tx *tx, const char *candidate);
    status_code (*salt_get)(cc_store_tx *tx, char out[AUTH_SALT_HEX_LEN + 1]);
    /* Replaces a sealed secret only while it still is old_sealed, so a
     * concurrent write wins; NOT_FOUND when it is not. scv: 1 for the SCV
     * named id, 0 for the engine key whose hash is id. */
    status_code (*reseal)(cc_store_tx *tx, int scv, const char *id, const char *old_sealed,
                          const char *new_sealed);

    /* The stats and donor credit (cc_store_credit_ops). */
    const struct cc_store_credit_ops *credit;
} cc_store_ops;

extern const cc_store_ops cc_store_sqlite_ops;
extern const cc_store_ops cc_store_pg_ops;
extern const cc_store_credit_ops cc_store_sqlite_credit_ops;
extern const cc_store_credit_ops cc_store_pg_credit_ops;

/* A caller of cc_store_stats_insert waiting to share a transaction
 * (cc_store_credit.c). */
struct stats_call;

/* The store: a backend's operations and connection, shared by cc_store.c
 * and cc_store_credit.c. */
struct cc_store {
    const cc_store_ops *ops;
    void *impl;
    cc_seal *seal;
    atomic_ulong errors; /* calls the database failed (IO, UNAVAILABLE) */
    /* Group commit of stats batches on a backend with serial writes: one
     * caller at a time (the leader) records every batch queued meanwhile
     * in one transaction. */
    pthread_mutex_t stats_lock;
    pthread_cond_t stats_cond;
    struct stats_call *stats_queue;
    int stats_leader;
};

/* Shared by cc_store.c and cc_store_credit.c. cc_store_text_ok: s is
 * non-empty and at most max bytes. cc_store_fail records a failed call in
 * st, "cannot <what>: <reason>" (the backend logged the database's own
 * reason), and counts the database's failures; cc_store_invalid: "cannot
 * <what>: invalid or oversized input". Both return the status. */
int cc_store_text_ok(const char *s, size_t max);
status_code cc_store_fail(cc_store *s, struct status *st, status_code rc, const char *what);
status_code cc_store_invalid(struct status *st, const char *what);

void cc_engine_key_rows_free(cc_engine_key_row *v, size_t n);
void cc_scv_rows_free(cc_scv_row *v, size_t n);

/* A target's engines as both backends store them: a JSON array of strings.
 * cc_engines_json returns malloc'd compact text, NULL when out of memory;
 * cc_engines_parse fills t->engines and t->n_engines from that text, 0 or
 * -1 (t may then hold a partial list for cc_target_free). */
char *cc_engines_json(const char *const *engines, size_t n);
int cc_engines_parse(const char *text, cc_target *t);

/* Fills the row part of t (not its shards) from stored text: stage name,
 * engines JSON, options JSON (an unreadable object becomes {}). 0 or -1
 * when out of memory. */
int cc_target_from_row(cc_target *t, const char *stage, const char *engines, const char *options);

#endif
