/* cc_store: the Command Center's durable state (users, engine keys, targets
 * and their shards, the SCV registry, stats fragments).
 *
 * Two layers in one header:
 * - the public API (cc_store_*): blocking, thread-safe calls meant for
 *   worker threads. It validates sizes, hashes passwords (Argon2id) and
 *   tokens (SHA-256), seals secrets that must be shown again (engine keys,
 *   SCV passwords) with a key derived from cc_pass and the database's salt
 *   (auth.h), then calls
 * - a backend (cc_store_ops): a struct of function pointers over an opaque
 *   handle that only ever sees hashes and sealed text. SQLite implements it
 *   (cc_store_sqlite.c, WAL file <data>/cc.db), and so does PostgreSQL
 *   (cc_store_pg.c).
 *
 * Every call returns a cc_store_status; handlers map NOT_FOUND/EXISTS/
 * EMAIL_EXISTS/CONFLICT/INVALID to 400, DENIED to 401 and IO to 503.
 * Records returned by pointer are owned by the caller and released with the
 * matching *_free function. */
#ifndef ST_CC_STORE_H
#define ST_CC_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "cc/auth.h"

typedef enum cc_store_status {
    CC_STORE_OK = 0,
    CC_STORE_NOT_FOUND,    /* no such user, key, target */
    CC_STORE_EXISTS,       /* name (manager email, donor username, target id) taken */
    CC_STORE_EMAIL_EXISTS, /* donor email taken */
    CC_STORE_CONFLICT,     /* refused state change (delete with shards) */
    CC_STORE_INVALID,      /* bad or oversized input, nothing to update */
    CC_STORE_DENIED,       /* wrong password */
    CC_STORE_IO            /* database or disk failure, out of memory */
} cc_store_status;

const char *cc_store_status_str(cc_store_status st); /* a human readable reason */

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
    double creation_date;
    char **shards; /* SCV names, sorted */
    size_t n_shards;
} cc_target;

typedef struct cc_target_new {
    const char *owner;
    cc_stage stage;
    const char *const *engines; /* non-empty */
    size_t n_engines;
    const json_t *options; /* object or NULL for {} */
    double weight;         /* clamped at 0 */
} cc_target_new;

/* Only the fields marked set are changed; options keys are merged into the
 * stored options (never removed). Nothing set → CC_STORE_INVALID. */
typedef struct cc_target_update {
    int set_stage;
    cc_stage stage;
    int set_engines;
    const char *const *engines;
    size_t n_engines;
    int set_weight;
    double weight;         /* clamped at 0 */
    const json_t *options; /* object to merge, or NULL */
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

/* ---- Backend interface ------------------------------------------------
 * Sizes are validated before these are called. Secret columns hold sealed
 * hex (auth_box_seal); *_hash columns hold auth_token_hash hex. Each call
 * is atomic and safe to call from several threads at once. */
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

typedef struct cc_store_ops {
    void (*close)(void *impl);
    /* EXISTS when the name is taken; EMAIL_EXISTS when a donor's email is. */
    cc_store_status (*user_insert)(void *impl, const cc_user *user, const char *password_hash,
                                   const char *token_hash);
    /* donors: 1 looks up donors by username, 0 admins/managers by email. */
    cc_store_status (*user_get)(void *impl, int donors, const char *name, cc_user_row *out);
    cc_store_status (*user_set_token)(void *impl, const char *name, const char *password_hash,
                                      const char *token_hash); /* only while password_hash is current */
    cc_store_status (*user_by_token)(void *impl, const char *token_hash, cc_user *out);
    cc_store_status (*admin_exists)(void *impl, int *out);
    cc_store_status (*key_insert)(void *impl, const cc_engine_key_row *row);
    cc_store_status (*key_list)(void *impl, cc_engine_key_row **out, size_t *n);
    cc_store_status (*key_delete)(void *impl, const char *key_hash);
    cc_store_status (*key_lookup)(void *impl, const char *key_hash, char engine[CC_ENGINE_MAX + 1]);
    cc_store_status (*target_insert)(void *impl, const cc_target *t);
    cc_store_status (*target_get)(void *impl, const char *id, cc_target *out);
    cc_store_status (*target_update)(void *impl, const char *id, const cc_target_update *u);
    cc_store_status (*target_delete)(void *impl, const char *id);
    /* owner NULL: the public targets. */
    cc_store_status (*target_list)(void *impl, const char *owner, cc_strlist *out);
    cc_store_status (*shard_add)(void *impl, const char *target_id, const char *scv);
    cc_store_status (*shard_remove)(void *impl, const char *target_id, const char *scv);
    cc_store_status (*scv_upsert)(void *impl, const cc_scv_row *row);
    cc_store_status (*scv_list)(void *impl, cc_scv_row **out, size_t *n);
    /* The database's sealing salt: candidate is stored unless a salt is
     * there already (the first CC to open the database wins, also when
     * several start at once); *out receives the stored one. */
    cc_store_status (*seal_salt)(void *impl, const char *candidate, char out[AUTH_SALT_HEX_LEN + 1]);
    /* Replaces a sealed secret only while it still is old_sealed, so a
     * concurrent write wins; NOT_FOUND when it is not. scv: 1 for the SCV
     * named id, 0 for the engine key whose hash is id. */
    cc_store_status (*reseal)(void *impl, int scv, const char *id, const char *old_sealed,
                              const char *new_sealed);
    cc_store_status (*stats_insert)(void *impl, const cc_stats_fragment *v, size_t n, size_t *inserted);
    /* From one consistent read: the generation in *generation; the
     * targets of out (all of them when since is NULL, else those written or
     * whose shards changed after *since) with their shards, and in deleted
     * the ids of the targets deleted after *since (nothing when since is
     * NULL); managers and keys of out and the SCVs, still sealed, in full. */
    cc_store_status (*load_since)(void *impl, const uint64_t *since, cc_snapshot *out, cc_strlist *deleted,
                                  uint64_t *generation, cc_scv_row **scvs, size_t *n_scvs);
    /* The generation: bumped in the same transaction as every write to
     * cached state, by whichever process made it. */
    cc_store_status (*change_counter)(void *impl, uint64_t *out);
} cc_store_ops;

/* The SQLite backend on the file db_path (WAL, schema created on first
 * open). NULL with a reason in err. */
void *cc_store_sqlite_open(const char *db_path, char *err, size_t errlen);
extern const cc_store_ops cc_store_sqlite_ops;

void cc_engine_key_rows_free(cc_engine_key_row *v, size_t n);
void cc_scv_rows_free(cc_scv_row *v, size_t n);

/* A target's engines as both backends store them: a JSON array of strings.
 * cc_engines_json returns malloc'd compact text, NULL when out of memory;
 * cc_engines_parse fills t->engines and t->n_engines from that text, 0 or
 * -1 (t may then hold a partial list for cc_target_free). */
char *cc_engines_json(const char *const *engines, size_t n);
int cc_engines_parse(const char *text, cc_target *t);

/* ---- Public API ----------------------------------------------------- */
typedef struct cc_store cc_store;

/* database: NULL or "sqlite" for <data_dir>/cc.db, or a postgresql://…
 * URL (cc_store_pg.h). Secrets are sealed under a key derived from cc_pass
 * (required) and a random salt kept in the database, so every CC with the
 * same cc_pass and database shares them. cc_pass_previous (NULL or empty:
 * none) lists earlier cc_pass values, separated by spaces, that still
 * unseal; with <data_dir>/secret.key of older versions, when present, they
 * open what was sealed before. At open every secret found under one of
 * them is sealed again under the current key; a secret no key opens is
 * logged once and left out of every listing and cache (the rest is
 * served). NULL with a reason in err. */
cc_store *cc_store_open(const char *database, const char *data_dir, const char *cc_pass,
                        const char *cc_pass_previous, char *err, size_t errlen);
void cc_store_close(cc_store *st);

/* Users. token_out receives the user's fresh token. */
cc_store_status cc_store_create_manager(cc_store *st, const char *email, const char *password, cc_role role,
                                        double weight, char token_out[AUTH_TOKEN_HEX_LEN + 1]);
cc_store_status cc_store_create_donor(cc_store *st, const char *username, const char *email,
                                      const char *password, char token_out[AUTH_TOKEN_HEX_LEN + 1]);
/* donors: 1 authenticates a donor by username, 0 an admin/manager by
 * email. A fresh token replaces the stored one. DENIED on a wrong
 * password, NOT_FOUND for an unknown name (same cost, so timing does not
 * reveal which names exist). */
cc_store_status cc_store_authenticate(cc_store *st, int donors, const char *name, const char *password,
                                      char token_out[AUTH_TOKEN_HEX_LEN + 1]);
cc_store_status cc_store_user_by_token(cc_store *st, const char *token, cc_user *out);
cc_store_status cc_store_admin_exists(cc_store *st, int *out);

/* Engine keys. */
cc_store_status cc_store_key_create(cc_store *st, const char *engine, const char *description,
                                    char key_out[AUTH_TOKEN_HEX_LEN + 1]);
cc_store_status cc_store_key_list(cc_store *st, cc_engine_key **out, size_t *n); /* free() *out */
cc_store_status cc_store_key_delete(cc_store *st, const char *key);
cc_store_status cc_store_key_lookup(cc_store *st, const char *key, char engine_out[CC_ENGINE_MAX + 1]);

/* Targets. */
cc_store_status cc_store_target_create(cc_store *st, const cc_target_new *t,
                                       char id_out[CC_TARGET_ID_LEN + 1]);
cc_store_status cc_store_target_get(cc_store *st, const char *id, cc_target *out);
cc_store_status cc_store_target_update(cc_store *st, const char *id, const cc_target_update *u);
cc_store_status cc_store_target_delete(cc_store *st, const char *id); /* CONFLICT while shards remain */
cc_store_status cc_store_target_list_owner(cc_store *st, const char *owner, cc_strlist *out);
cc_store_status cc_store_target_list_public(cc_store *st, cc_strlist *out);
/* Idempotent; NOT_FOUND when the target does not exist. */
cc_store_status cc_store_shard_add(cc_store *st, const char *target_id, const char *scv);
cc_store_status cc_store_shard_remove(cc_store *st, const char *target_id, const char *scv);

/* SCVs. */
cc_store_status cc_store_scv_upsert(cc_store *st, const char *name, const char *host, const char *password);
cc_store_status cc_store_scv_list(cc_store *st, cc_scv **out, size_t *n); /* free() *out */

/* Stats: one transaction; fragments whose id exists are skipped. *inserted
 * (may be NULL) counts the new ones. */
cc_store_status cc_store_stats_insert(cc_store *st, const cc_stats_fragment *v, size_t n, size_t *inserted);

/* The whole cache in one go. Release with cc_snapshot_free. */
cc_store_status cc_store_load_all(cc_store *st, cc_snapshot *out);

/* What the cache needs to catch up from the generation *since (a value
 * *generation returned earlier), read in one consistent transaction so the
 * cache can patch its view instead of reloading 100,000 targets:
 * out->targets holds the targets written after it (or whose shards changed),
 * deleted the ids of the targets deleted after it, and managers, keys and
 * SCVs come in full (small tables). since NULL loads everything (deleted is
 * then empty). *generation receives the change counter as of the read.
 * Release with cc_snapshot_free and cc_strlist_free; both are empty on
 * error. */
cc_store_status cc_store_load_changes(cc_store *st, const uint64_t *since, cc_snapshot *out,
                                      cc_strlist *deleted, uint64_t *generation);

/* Change notification for the cache, across every process and CC sharing
 * the database. *out receives a counter that increases in the same
 * transaction as any write to what cc_store_load_all returns: targets,
 * shards, admins and managers (creation, role, weight), engine keys, SCVs.
 * Stats, donors and token changes leave it alone. Every target row carries
 * the generation of its last change (its shards' included) and a deleted
 * target leaves its id and generation behind, in the same transaction, so
 * cc_store_load_changes can return only what moved. It is one small query:
 * poll it (every ~500 ms), and when it differs from the generation of the
 * last load, load the changes since that one. */
cc_store_status cc_store_change_counter(cc_store *st, uint64_t *out);

#endif
