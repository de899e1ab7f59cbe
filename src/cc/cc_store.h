/* cc_store: the Command Center's durable state (users, engine keys, targets
 * and their shards, the SCV registry, stats fragments and donor credit).
 *
 * Blocking, thread-safe calls meant for worker threads. They validate
 * sizes, hash passwords (Argon2id) and tokens (SHA-256), seal secrets that
 * must be shown again (engine keys, SCV passwords) with a key derived from
 * cc_pass and the database's salt (auth.h), and run the business logic
 * (cc_store.c; stats and donor credit in cc_store_credit.c, the credit's
 * own rules in cc_credit.h) over a backend
 * that only stores rows: SQLite (WAL file
 * <data>/cc.db) or PostgreSQL (cc_store_backend.h).
 *
 * Every call returns a status_code and, on failure, fills the caller's
 * struct status (may be NULL) with a message a user can act on: INVALID for
 * bad or oversized input, NOT_FOUND, EXISTS (a name, donor email or id
 * taken), CONFLICT (delete with shards), DENIED (wrong password),
 * UNAVAILABLE (PostgreSQL unreachable) and IO (any other database
 * failure). Handlers answer status_http(code) with the message. Records
 * returned by pointer are owned by the caller and released with the
 * matching *_free function. */
#ifndef ST_CC_STORE_H
#define ST_CC_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "cc/auth.h"
#include "cc/cc_credit.h"
#include "util/status.h"

/* Input limits (bytes, excluding the NUL). */
#define CC_NAME_MAX 254   /* manager email, donor username/email */
#define CC_ENGINE_MAX 64  /* engine name */
#define CC_ENGINES_MAX 64 /* engines per target */
#define CC_DESCRIPTION_MAX 1024
#define CC_OPTIONS_MAX 65536 /* target options, as compact JSON */
#define CC_SCV_NAME_MAX 64
#define CC_HOST_MAX 255
#define CC_ID_MAX 128 /* stats fragment id, stream id */
#define CC_STATS_BATCH_MAX 10000
#define CC_TARGET_ID_LEN 36 /* uuid4 */

typedef enum cc_role { CC_ROLE_ADMIN, CC_ROLE_MANAGER, CC_ROLE_DONOR } cc_role;
typedef enum cc_stage { CC_STAGE_DISABLED, CC_STAGE_PRIVATE, CC_STAGE_BETA, CC_STAGE_PUBLIC } cc_stage;

const char *cc_role_name(cc_role role);
int cc_role_parse(const char *name, cc_role *out); /* 0, or -1 if unknown */
const char *cc_stage_name(cc_stage stage);
int cc_stage_parse(const char *name, cc_stage *out); /* 0, or -1 if unknown */

typedef struct cc_user {
    char name[CC_NAME_MAX + 1]; /* manager/admin: the email; donor: the username */
    char email[CC_NAME_MAX + 1];
    cc_role role;
    double weight; /* managers' share in the draw; 1 by default */
    double creation_date;
} cc_user;

typedef struct cc_engine_key {
    char key[AUTH_SECRET_MAX + 1]; /* plain key, unsealed for listing */
    char engine[CC_ENGINE_MAX + 1];
    char description[CC_DESCRIPTION_MAX + 1];
    double creation_date;
} cc_engine_key;

typedef struct cc_target {
    char id[CC_TARGET_ID_LEN + 1];
    char owner[CC_NAME_MAX + 1];
    cc_stage stage;
    char **engines;
    size_t n_engines;
    json_t *options; /* an object, never NULL in a returned target */
    double weight;
    double points_per_frame; /* credit per committed frame, >= 0 */
    double creation_date;
    char **shards; /* SCV names, sorted */
    size_t n_shards;
} cc_target;

typedef struct cc_target_new {
    const char *owner;
    cc_stage stage;
    const char *const *engines; /* non-empty */
    size_t n_engines;
    const json_t *options;   /* object or NULL for {} */
    double weight;           /* clamped at 0 */
    double points_per_frame; /* >= 0 */
} cc_target_new;

/* Only the fields marked set are changed; options keys are merged into the
 * stored options (never removed). Nothing set → STATUS_INVALID. */
typedef struct cc_target_update {
    int set_stage;
    cc_stage stage;
    int set_engines;
    const char *const *engines;
    size_t n_engines;
    int set_weight;
    double weight; /* clamped at 0 */
    int set_points_per_frame;
    double points_per_frame; /* >= 0; credit from then on */
    const json_t *options;   /* object to merge, or NULL */
} cc_target_update;

typedef struct cc_scv {
    char name[CC_SCV_NAME_MAX + 1];
    char host[CC_HOST_MAX + 1];
    char password[AUTH_SECRET_MAX + 1]; /* unsealed: the CC presents it to the SCV */
} cc_scv;

typedef struct cc_stats_fragment {
    char id[CC_ID_MAX + 1];
    char target_id[CC_TARGET_ID_LEN + 1];
    char stream_id[CC_ID_MAX + 1];
    char engine[CC_ENGINE_MAX + 1];
    char user[CC_NAME_MAX + 1];
    double start_time;
    double end_time;
    long long frames;
} cc_stats_fragment;

/* Credit (cc_credit.h). Team is "" for none. */
typedef struct cc_credit_total {
    char target_id[CC_TARGET_ID_LEN + 1];
    long long frames;
    double points;
} cc_credit_total;

typedef struct cc_donor_info {
    char username[CC_NAME_MAX + 1];
    char team[CC_TEAM_BYTES + 1];
    long long frames;
    double points;
    long long fragments;
    double last_credit;       /* 0 when never credited */
    cc_credit_total *targets; /* by target id; free() it */
    size_t n_targets;
} cc_donor_info;

/* Only the fields marked set change. team NULL: no team. */
typedef struct cc_donor_settings {
    int set_team;
    const char *team;
    int set_public;
    int public_;
} cc_donor_settings;

typedef struct cc_board_entry {
    char name[CC_NAME_MAX > CC_TEAM_BYTES ? CC_NAME_MAX + 1 : CC_TEAM_BYTES + 1]; /* donor or team */
    char team[CC_TEAM_BYTES + 1];                                                 /* donors' boards */
    long long members;                                                            /* teams' boards */
    double points;
    long long frames;
    long long total; /* the board's size, as read with the row */
} cc_board_entry;

typedef struct cc_board {
    long long total;   /* entries on the whole board */
    cc_board_entry *v; /* free() it */
    size_t n;
} cc_board;

typedef struct cc_board_query {
    int teams;
    cc_period period;
    long long period_start; /* cc_period_start(period, now) */
    long long limit;        /* 1..CC_BOARD_LIMIT_MAX */
    long long offset;
} cc_board_query;

typedef struct cc_manager_weight {
    char name[CC_NAME_MAX + 1];
    cc_role role;
    double weight;
} cc_manager_weight;

typedef struct cc_engine_key_ref {
    char key_hash[AUTH_TOKEN_HASH_LEN + 1]; /* auth_token_hash of the key */
    char engine[CC_ENGINE_MAX + 1];
} cc_engine_key_ref;

/* Everything the CC caches, read in one pass (one query per table). */
typedef struct cc_snapshot {
    cc_target *targets; /* sorted by id, shards filled in */
    size_t n_targets;
    cc_manager_weight *managers; /* admins and managers */
    size_t n_managers;
    cc_engine_key_ref *keys;
    size_t n_keys;
    cc_scv *scvs;
    size_t n_scvs;
} cc_snapshot;

typedef struct cc_strlist {
    char **v;
    size_t n;
} cc_strlist;

void cc_target_free(cc_target *t); /* frees the contents, not t itself */
void cc_targets_free(cc_target *v, size_t n);
void cc_strlist_free(cc_strlist *l);
void cc_snapshot_free(cc_snapshot *s);

typedef struct cc_store cc_store;

/* database: NULL or "sqlite" for <data_dir>/cc.db, or a postgresql://…
 * URL (cc_pg.h). Secrets are sealed under a key derived from cc_pass
 * (required) and a random salt kept in the database, so every CC with the
 * same cc_pass and database shares them. cc_pass_previous (NULL or empty:
 * none) lists earlier cc_pass values, separated by spaces, that still
 * unseal; with <data_dir>/secret.key of older versions, when present, they
 * open what was sealed before. At open every secret found under one of
 * them is sealed again under the current key; a secret no key opens is
 * logged once and left out of every listing and cache (the rest is
 * served). NULL with the reason in st. */
cc_store *cc_store_open(const char *database, const char *data_dir, const char *cc_pass,
                        const char *cc_pass_previous, struct status *st);
void cc_store_close(cc_store *s);

/* Users. token_out receives the user's fresh token. EXISTS when the name,
 * or a donor's email among donors, is taken. */
status_code cc_store_create_manager(cc_store *s, const char *email, const char *password, cc_role role,
                                    double weight, char token_out[AUTH_TOKEN_HEX_LEN + 1], struct status *st);
status_code cc_store_create_donor(cc_store *s, const char *username, const char *email, const char *password,
                                  char token_out[AUTH_TOKEN_HEX_LEN + 1], struct status *st);
/* donors: 1 authenticates a donor by username, 0 an admin/manager by
 * email. A fresh token replaces the stored one. DENIED on a wrong
 * password, NOT_FOUND for an unknown name (same cost, so timing does not
 * reveal which names exist). */
status_code cc_store_authenticate(cc_store *s, int donors, const char *name, const char *password,
                                  char token_out[AUTH_TOKEN_HEX_LEN + 1], struct status *st);
status_code cc_store_user_by_token(cc_store *s, const char *token, cc_user *out, struct status *st);
status_code cc_store_admin_exists(cc_store *s, int *out, struct status *st);

/* Engine keys. */
status_code cc_store_key_create(cc_store *s, const char *engine, const char *description,
                                char key_out[AUTH_TOKEN_HEX_LEN + 1], struct status *st);
status_code cc_store_key_list(cc_store *s, cc_engine_key **out, size_t *n,
                              struct status *st); /* free() *out */
status_code cc_store_key_delete(cc_store *s, const char *key, struct status *st);

/* Targets. */
status_code cc_store_target_create(cc_store *s, const cc_target_new *t, char id_out[CC_TARGET_ID_LEN + 1],
                                   struct status *st);
status_code cc_store_target_get(cc_store *s, const char *id, cc_target *out, struct status *st);
status_code cc_store_target_update(cc_store *s, const char *id, const cc_target_update *u, struct status *st);
/* CONFLICT while shards remain. */
status_code cc_store_target_delete(cc_store *s, const char *id, struct status *st);
status_code cc_store_target_list_owner(cc_store *s, const char *owner, cc_strlist *out, struct status *st);
status_code cc_store_target_list_public(cc_store *s, cc_strlist *out, struct status *st);
/* Idempotent; NOT_FOUND when the target does not exist. */
status_code cc_store_shard_add(cc_store *s, const char *target_id, const char *scv, struct status *st);
status_code cc_store_shard_remove(cc_store *s, const char *target_id, const char *scv, struct status *st);

/* SCVs. */
status_code cc_store_scv_upsert(cc_store *s, const char *name, const char *host, const char *password,
                                struct status *st);

/* Stats: fragments whose id exists are skipped. *inserted (may be NULL)
 * counts the new ones. Each new fragment is worth its frames x its
 * target's points_per_frame (1 for an unknown target) and, when it has a
 * user, is queued in the same transaction for cc_store_credit_fold. On
 * SQLite concurrent calls share one transaction (and one commit); a batch
 * that fails fails alone. */
status_code cc_store_stats_insert(cc_store *s, const cc_stats_fragment *v, size_t n, size_t *inserted,
                                  struct status *st);
/* Credits at most max queued fragments (the oldest) to their donors,
 * targets and teams (cc_credit.h) and removes them from the queue, in one
 * transaction, so each is credited exactly once. Among CCs sharing a
 * database one folds at a time: the others fold nothing (*folded 0).
 * *pending: what the queue still holds when the fold commits. */
status_code cc_store_credit_fold(cc_store *s, size_t max, size_t *folded, long long *pending,
                                 struct status *st);

/* Donors and credit (PROTOCOL.md "Donors and credit"). */
/* NOT_FOUND when name is not a donor or is not public. */
status_code cc_store_donor_info(cc_store *s, const char *name, cc_donor_info *out, struct status *st);
/* NOT_FOUND when name is not a donor; INVALID on a bad team name. */
status_code cc_store_donor_settings(cc_store *s, const char *name, const cc_donor_settings *set,
                                    struct status *st);
/* Erases the donor's login, email, password and token; its credit stays in
 * the totals under a fresh anonymous name, hidden. */
status_code cc_store_donor_delete(cc_store *s, const char *name, struct status *st);
status_code cc_store_leaderboard(cc_store *s, const cc_board_query *q, cc_board *out, struct status *st);
/* The latest stats export (gzip JSON lines; free() *data), remade first
 * when it is older than max_age and no other CC is remaking it. data NULL:
 * only that remake. NOT_FOUND while the first one is being made. */
status_code cc_store_export(cc_store *s, double max_age, unsigned char **data, size_t *len,
                            struct status *st);

/* What the cache needs to catch up from the generation *since (a value
 * *generation returned earlier), read in one consistent transaction so the
 * cache can patch its view instead of reloading 100,000 targets:
 * out->targets holds the targets written after it (or whose shards changed),
 * deleted the ids of the targets deleted after it, and managers, keys and
 * SCVs (those whose password unseals) come in full (small tables). since
 * NULL loads everything (deleted is then empty). *generation receives the
 * change counter as of the read. Release with cc_snapshot_free and
 * cc_strlist_free; both are empty on error. */
status_code cc_store_load_changes(cc_store *s, const uint64_t *since, cc_snapshot *out, cc_strlist *deleted,
                                  uint64_t *generation, struct status *st);

/* Change notification for the cache, across every process and CC sharing
 * the database. *out receives a counter that increases in the same
 * transaction as any write to what cc_store_load_changes returns: targets,
 * shards, admins and managers (creation, role, weight), engine keys, SCVs.
 * Stats, donors and token changes leave it alone. Every target row carries
 * the generation of its last change (its shards' included) and a deleted
 * target leaves its id and generation behind, in the same transaction, so
 * cc_store_load_changes can return only what moved. It is one small query:
 * poll it (every ~500 ms), and when it differs from the generation of the
 * last load, load the changes since that one. */
status_code cc_store_change_counter(cc_store *s, uint64_t *out, struct status *st);

/* Calls that failed because of the database (IO or UNAVAILABLE) since the
 * store was opened; lock-free, for /metrics. */
unsigned long cc_store_errors(cc_store *s);

#endif
