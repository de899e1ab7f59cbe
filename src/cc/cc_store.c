/* cc_store: the business logic of the CC's store, shared by its backends:
 * validation, hashing, sealing, and the order of the row operations inside
 * each transaction (cc_store_backend.h). See cc_store.h. */
#include "cc/cc_store.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/cc_seal.h"
#include "cc/cc_store_backend.h"
#include "cc/cc_pg.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/gz.h"
#include "util/log.h"

/* A caller of cc_store_stats_insert waiting to share a transaction. */
struct stats_call {
    const cc_stats_fragment *v;
    size_t n;
    size_t inserted;
    status_code rc;
    int done;
    struct stats_call *next;
};

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

/* Non-empty and at most max bytes. */
static int text_ok(const char *s, size_t max)
{
    return s && s[0] && strnlen(s, max + 1) <= max;
}

/* A NUL-terminated string inside a fixed buffer (possibly empty). */
static int field_ok(const char *buf, size_t size)
{
    return memchr(buf, '\0', size) != NULL;
}

static int weight_ok(double w)
{
    return isfinite(w);
}

static int points_per_frame_ok(double p)
{
    return isfinite(p) && p >= 0;
}

static int engines_ok(const char *const *engines, size_t n)
{
    if (!engines || n == 0 || n > CC_ENGINES_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!text_ok(engines[i], CC_ENGINE_MAX))
            return 0;
    }
    return 1;
}

static int options_ok(const json_t *options)
{
    if (!options)
        return 1;
    if (!json_is_object(options))
        return 0;
    size_t len = json_dumpb(options, NULL, 0, JSON_COMPACT);
    return len > 0 && len <= CC_OPTIONS_MAX;
}

static void copy_text(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src);
}

/* Records a failed call in st: "cannot <what>: <reason>" (the backend
 * logged the database's own reason), and counts the database's failures. */
static status_code fail(cc_store *s, struct status *st, status_code rc, const char *what)
{
    if (rc == STATUS_IO || rc == STATUS_UNAVAILABLE)
        atomic_fetch_add_explicit(&s->errors, 1, memory_order_relaxed);
    const char *reason = rc == STATUS_UNAVAILABLE ? "database unavailable; try again later"
                         : rc == STATUS_IO        ? "database failure (see the CC's log)"
                                                  : status_name(rc);
    return status_fail(st, rc, "cannot %s: %s", what, reason);
}

static status_code invalid(struct status *st, const char *what)
{
    return status_fail(st, STATUS_INVALID, "cannot %s: invalid or oversized input", what);
}

/* ---- open ---- */

/* Seals one secret again when it is under an older key (a compare-and-set
 * on the old text, so concurrent writes and other CCs doing the same are
 * safe), counting in m. */
struct reseal_count {
    size_t resealed, unopened;
};

static void reseal_one(cc_store *s, int scv, const char *id, const char *what, const char *sealed,
                       struct reseal_count *m)
{
    cc_store_tx *tx;
    int opened = 0;
    char *again = cc_seal_again(s->seal, what, sealed, &opened);

    m->unopened += !opened;
    if (again && s->ops->begin(s->impl, CC_TX_WRITE, &tx) == STATUS_OK &&
        s->ops->end(tx, s->ops->reseal(tx, scv, id, sealed, again)) == STATUS_OK)
        m->resealed++;
    free(again);
}

/* Seals every secret found under an older key again under the current one. */
static void reseal_all(cc_store *s)
{
    cc_engine_key_row *keys = NULL;
    cc_scv_row *scvs = NULL;
    size_t n_keys = 0, n_scvs = 0;
    struct reseal_count m = {0, 0};
    char what[CC_SEAL_WHAT_MAX];
    cc_store_tx *tx;
    status_code rc = s->ops->begin(s->impl, CC_TX_SNAPSHOT, &tx);

    if (rc == STATUS_OK) {
        rc = s->ops->key_list(tx, &keys, &n_keys);
        if (rc == STATUS_OK)
            rc = s->ops->scv_list(tx, &scvs, &n_scvs);
        rc = s->ops->end(tx, rc);
    }
    if (rc != STATUS_OK) {
        log_warn("cc store: cannot list the sealed secrets to seal them again under the current cc_pass");
        goto out;
    }
    for (size_t i = 0; i < n_keys; i++) {
        cc_seal_what_key(keys[i].key_hash, keys[i].engine, what);
        reseal_one(s, 0, keys[i].key_hash, what, keys[i].key_sealed, &m);
    }
    for (size_t i = 0; i < n_scvs; i++) {
        cc_seal_what_scv(scvs[i].name, what);
        reseal_one(s, 1, scvs[i].name, what, scvs[i].password_sealed, &m);
    }
    cc_seal_migrated(s->seal, m.resealed, m.unopened);
out:
    cc_engine_key_rows_free(keys, n_keys);
    cc_scv_rows_free(scvs, n_scvs);
}

/* The database's sealing salt: a fresh candidate is stored unless a salt
 * is there already (the first CC to open the database wins, also when
 * several start at once). */
static status_code read_salt(cc_store *s, char salt[AUTH_SALT_HEX_LEN + 1], struct status *st)
{
    char candidate[AUTH_SALT_HEX_LEN + 1];
    cc_store_tx *tx;

    if (auth_salt_new(candidate) != 0)
        return status_fail(st, STATUS_IO, "cannot make a sealing salt");
    status_code rc = s->ops->begin(s->impl, CC_TX_WRITE, &tx);
    if (rc == STATUS_OK) {
        rc = s->ops->salt_offer(tx, candidate);
        if (rc == STATUS_OK)
            rc = s->ops->salt_get(tx, salt);
        rc = s->ops->end(tx, rc);
    }
    if (rc != STATUS_OK)
        return status_fail(st, rc, "cannot read or create the sealing salt in the database (see the log)");
    return STATUS_OK;
}

cc_store *cc_store_open(const char *database, const char *data_dir, const char *cc_pass,
                        const char *cc_pass_previous, struct status *st)
{
    char path[4096], salt[AUTH_SALT_HEX_LEN + 1];
    cc_store *s = NULL;
    int pg = cc_pg_is_url(database);

    if (database && *database && strcmp(database, "sqlite") != 0 && !pg) {
        /* Only the scheme: the rest may hold a password. */
        status_fail(st, STATUS_INVALID,
                    "database type '%.*s' is not supported; use 'sqlite' or a postgresql:// URL",
                    (int)strcspn(database, ":/@ "), database);
        return NULL;
    }
    if (auth_init() != 0) {
        status_fail(st, STATUS_IO, "libsodium failed to initialise");
        return NULL;
    }
    if (snprintf(path, sizeof path, "%s/cc.db", data_dir) >= (int)sizeof path) {
        status_fail(st, STATUS_INVALID, "data folder path too long: %s", data_dir);
        return NULL;
    }
    s = calloc(1, sizeof *s);
    if (!s) {
        status_fail(st, STATUS_IO, "out of memory");
        return NULL;
    }
    s->ops = pg ? &cc_store_pg_ops : &cc_store_sqlite_ops;
    pthread_mutex_init(&s->stats_lock, NULL);
    pthread_cond_init(&s->stats_cond, NULL);
    if (fs_mkdir_p(data_dir, 0700) != 0) {
        status_fail(st, STATUS_IO, "cannot create data folder %s: %s", data_dir, strerror(errno));
        goto fail;
    }
    s->impl = s->ops->open(pg ? database : path, st);
    if (!s->impl || read_salt(s, salt, st) != STATUS_OK)
        goto fail;
    s->seal = cc_seal_open(salt, data_dir, cc_pass, cc_pass_previous, st);
    if (!s->seal)
        goto fail;
    reseal_all(s);
    return s;
fail:
    cc_store_close(s);
    return NULL;
}

void cc_store_close(cc_store *s)
{
    if (!s)
        return;
    if (s->impl)
        s->ops->close(s->impl);
    cc_seal_close(s->seal);
    pthread_mutex_destroy(&s->stats_lock);
    pthread_cond_destroy(&s->stats_cond);
    free(s);
}

/* ---- users ---- */

/* The name, then among donors the email, must be free; the probes come
 * first so the answer names what is taken. */
static status_code insert_user(cc_store *s, const cc_user *user, const char *pwhash, const char *token_hash,
                               struct status *st)
{
    int name_taken = 0, email_taken = 0;
    cc_store_tx *tx;
    status_code rc = s->ops->begin(s->impl, CC_TX_WRITE, &tx);

    if (rc != STATUS_OK)
        return fail(s, st, rc, "create the user");
    rc = s->ops->exists(tx, CC_PROBE_USER, user->name, &name_taken);
    if (rc == STATUS_OK && !name_taken && user->role == CC_ROLE_DONOR)
        rc = s->ops->exists(tx, CC_PROBE_DONOR_EMAIL, user->email, &email_taken);
    if (rc == STATUS_OK && !name_taken && !email_taken) {
        rc = s->ops->user_insert(tx, user, pwhash, token_hash);
        name_taken = rc == STATUS_EXISTS;
        email_taken = rc == STATUS_CONFLICT;
    }
    if (rc == STATUS_OK && (name_taken || email_taken))
        rc = STATUS_EXISTS;
    rc = s->ops->end(tx, rc);
    if (name_taken && user->role == CC_ROLE_DONOR)
        return status_fail(st, STATUS_EXISTS, "username '%s' is taken", user->name);
    if (name_taken)
        return status_fail(st, STATUS_EXISTS, "a manager with email '%s' already exists", user->name);
    if (email_taken)
        return status_fail(st, STATUS_EXISTS, "email '%s' is already registered", user->email);
    return rc == STATUS_OK ? STATUS_OK : fail(s, st, rc, "create the user");
}

static status_code create_user(cc_store *s, cc_user *user, const char *password,
                               char token_out[AUTH_TOKEN_HEX_LEN + 1], struct status *st)
{
    char pwhash[AUTH_PWHASH_LEN], token_hash[AUTH_TOKEN_HASH_LEN + 1];

    if (strnlen(password, AUTH_PASSWORD_MAX + 1) > AUTH_PASSWORD_MAX || !password[0])
        return invalid(st, "create the user");
    if (auth_password_hash(password, pwhash) != 0 || auth_token_new(token_out) != 0)
        return status_fail(st, STATUS_IO, "cannot create the user: out of memory");
    auth_token_hash(token_out, token_hash);
    user->creation_date = clock_wall_s();
    return insert_user(s, user, pwhash, token_hash, st);
}

status_code cc_store_create_manager(cc_store *s, const char *email, const char *password, cc_role role,
                                    double weight, char token_out[AUTH_TOKEN_HEX_LEN + 1], struct status *st)
{
    cc_user user = {0};

    if (!text_ok(email, CC_NAME_MAX) || !password || (role != CC_ROLE_ADMIN && role != CC_ROLE_MANAGER) ||
        !weight_ok(weight))
        return invalid(st, "create the manager");
    copy_text(user.name, sizeof user.name, email);
    copy_text(user.email, sizeof user.email, email);
    user.role = role;
    user.weight = weight < 0 ? 0 : weight;
    return create_user(s, &user, password, token_out, st);
}

status_code cc_store_create_donor(cc_store *s, const char *username, const char *email, const char *password,
                                  char token_out[AUTH_TOKEN_HEX_LEN + 1], struct status *st)
{
    cc_user user = {0};

    if (!text_ok(username, CC_NAME_MAX) || !text_ok(email, CC_NAME_MAX) || !password)
        return invalid(st, "create the donor");
    copy_text(user.name, sizeof user.name, username);
    copy_text(user.email, sizeof user.email, email);
    user.role = CC_ROLE_DONOR;
    user.weight = 1;
    return create_user(s, &user, password, token_out, st);
}

/* A real Argon2id string to verify against when the name is unknown, so a
 * miss costs as much as a wrong password. */
static char dummy_hash[AUTH_PWHASH_LEN];
static int dummy_ready;
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void dummy_init(void)
{
    dummy_ready = auth_password_hash("siegetank-dummy-password", dummy_hash) == 0;
}

static status_code user_get(cc_store *s, int donors, const char *name, cc_user_row *row)
{
    cc_store_tx *tx;
    status_code rc = s->ops->begin(s->impl, CC_TX_ONE, &tx);
    return rc == STATUS_OK ? s->ops->end(tx, s->ops->user_get(tx, donors, name, row)) : rc;
}

status_code cc_store_authenticate(cc_store *s, int donors, const char *name, const char *password,
                                  char token_out[AUTH_TOKEN_HEX_LEN + 1], struct status *st)
{
    cc_user_row row;
    char token_hash[AUTH_TOKEN_HASH_LEN + 1];
    cc_store_tx *tx;

    if (!text_ok(name, CC_NAME_MAX) || !password ||
        strnlen(password, AUTH_PASSWORD_MAX + 1) > AUTH_PASSWORD_MAX)
        return invalid(st, "log in");
    status_code rc = user_get(s, donors, name, &row);
    if (rc == STATUS_NOT_FOUND) {
        pthread_once(&dummy_once, dummy_init);
        if (dummy_ready)
            auth_password_verify(dummy_hash, password);
        return status_fail(st, STATUS_NOT_FOUND, "no such user");
    }
    if (rc != STATUS_OK)
        return fail(s, st, rc, "log in");
    /* The slow hash runs outside any transaction. */
    if (!auth_password_verify(row.password_hash, password))
        return status_fail(st, STATUS_DENIED, "wrong password");
    if (auth_token_new(token_out) != 0)
        return status_fail(st, STATUS_IO, "cannot log in: out of memory");
    auth_token_hash(token_out, token_hash);
    rc = s->ops->begin(s->impl, CC_TX_WRITE, &tx);
    if (rc == STATUS_OK)
        rc = s->ops->end(tx, s->ops->user_set_token(tx, row.user.name, row.password_hash, token_hash));
    if (rc == STATUS_NOT_FOUND) /* the password changed meanwhile */
        return status_fail(st, STATUS_DENIED, "wrong password");
    return rc == STATUS_OK ? STATUS_OK : fail(s, st, rc, "log in");
}

status_code cc_store_user_by_token(cc_store *s, const char *token, cc_user *out, struct status *st)
{
    char token_hash[AUTH_TOKEN_HASH_LEN + 1];
    cc_store_tx *tx;

    if (!text_ok(token, AUTH_SECRET_MAX))
        return status_fail(st, STATUS_NOT_FOUND, "invalid or expired user token");
    auth_token_hash(token, token_hash);
    status_code rc = s->ops->begin(s->impl, CC_TX_ONE, &tx);
    if (rc == STATUS_OK)
        rc = s->ops->end(tx, s->ops->user_by_token(tx, token_hash, out));
    if (rc == STATUS_NOT_FOUND)
        return status_fail(st, rc, "invalid or expired user token");
    return rc == STATUS_OK ? STATUS_OK : fail(s, st, rc, "check the user token");
}

status_code cc_store_admin_exists(cc_store *s, int *out, struct status *st)
{
    cc_store_tx *tx;

    *out = 0;
    status_code rc = s->ops->begin(s->impl, CC_TX_ONE, &tx);
    if (rc == STATUS_OK)
        rc = s->ops->end(tx, s->ops->exists(tx, CC_PROBE_ADMIN, "", out));
    return rc == STATUS_OK ? STATUS_OK : fail(s, st, rc, "check for admins");
}

/* ---- engine keys ---- */

status_code cc_store_key_create(cc_store *s, const char *engine, const char *description,
                                char key_out[AUTH_TOKEN_HEX_LEN + 1], struct status *st)
{
    cc_engine_key_row row = {0};
    cc_store_tx *tx;

    if (!text_ok(engine, CC_ENGINE_MAX) || !text_ok(description, CC_DESCRIPTION_MAX))
        return invalid(st, "create the engine key");
    if (auth_token_new(key_out) != 0)
        return status_fail(st, STATUS_IO, "cannot create the engine key: no randomness");
    auth_token_hash(key_out, row.key_hash);
    row.key_sealed = cc_seal_seal(s->seal, key_out);
    if (!row.key_sealed)
        return status_fail(st, STATUS_IO, "cannot create the engine key: out of memory");
    copy_text(row.engine, sizeof row.engine, engine);
    copy_text(row.description, sizeof row.description, description);
    row.creation_date = clock_wall_s();
    status_code rc = s->ops->begin(s->impl, CC_TX_WRITE, &tx);
    if (rc == STATUS_OK)
        rc = s->ops->end(tx, s->ops->key_insert(tx, &row));
    free(row.key_sealed);
    return rc == STATUS_OK ? STATUS_OK : fail(s, st, rc, "create the engine key");
}

status_code cc_store_key_list(cc_store *s, cc_engine_key **out, size_t *n, struct status *st)
{
    cc_engine_key_row *rows = NULL;
    size_t n_rows = 0;
    cc_store_tx *tx;

    *out = NULL;
    *n = 0;
    status_code rc = s->ops->begin(s->impl, CC_TX_ONE, &tx);
    if (rc == STATUS_OK)
        rc = s->ops->end(tx, s->ops->key_list(tx, &rows, &n_rows));
    if (rc == STATUS_OK && !(*out = calloc(n_rows ? n_rows : 1, sizeof **out)))
        rc = STATUS_IO;
    for (size_t i = 0; rc == STATUS_OK && i < n_rows; i++) {
        char what[CC_SEAL_WHAT_MAX];
        cc_seal_what_key(rows[i].key_hash, rows[i].engine, what);
        char *plain = cc_seal_unseal(s->seal, what, rows[i].key_sealed);
        if (!plain)
            continue; /* one bad row costs only itself */
        cc_engine_key *k = &(*out)[(*n)++];
        copy_text(k->key, sizeof k->key, plain);
        free(plain);
        copy_text(k->engine, sizeof k->engine, rows[i].engine);
        copy_text(k->description, sizeof k->description, rows[i].description);
        k->creation_date = rows[i].creation_date;
    }
    cc_engine_key_rows_free(rows, n_rows);
    return rc == STATUS_OK ? STATUS_OK : fail(s, st, rc, "list engine keys");
}

status_code cc_store_key_delete(cc_store *s, const char *key, struct status *st)
{
    char key_hash[AUTH_TOKEN_HASH_LEN + 1];
    cc_store_tx *tx;
    status_code rc = STATUS_NOT_FOUND;

    if (text_ok(key, AUTH_SECRET_MAX)) {
        auth_token_hash(key, key_hash);
        rc = s->ops->begin(s->impl, CC_TX_WRITE, &tx);
        if (rc == STATUS_OK)
            rc = s->ops->end(tx, s->ops->key_delete(tx, key_hash));
    }
    if (rc == STATUS_NOT_FOUND)
        return status_fail(st, rc, "unknown engine key");
    return rc == STATUS_OK ? STATUS_OK : fail(s, st, rc, "delete the engine key");
}

/* ---- targets ---- */

status_code cc_store_target_create(cc_store *s, const cc_target_new *t, char id_out[CC_TARGET_ID_LEN + 1],
                                   struct status *st)
{
    cc_target row = {0};
    cc_store_tx *tx;

    if (!text_ok(t->owner, CC_NAME_MAX) || !engines_ok(t->engines, t->n_engines) || !options_ok(t->options) ||
        !weight_ok(t->weight) || !points_per_frame_ok(t->points_per_frame) ||
        (unsigned)t->stage > CC_STAGE_PUBLIC)
        return invalid(st, "create the target (options too large?)");
    if (crypto_uuid4(row.id) != 0)
        return status_fail(st, STATUS_IO, "cannot create the target: no randomness");
    copy_text(row.owner, sizeof row.owner, t->owner);
    row.stage = t->stage;
    row.engines = (char **)t->engines;
    row.n_engines = t->n_engines;
    row.options = (json_t *)t->options;
    row.weight = t->weight < 0 ? 0 : t->weight;
    row.points_per_frame = t->points_per_frame;
    row.creation_date = clock_wall_s();
    status_code rc = s->ops->begin(s->impl, CC_TX_WRITE, &tx);
    if (rc == STATUS_OK)
        rc = s->ops->end(tx, s->ops->target_insert(tx, &row));
    if (rc != STATUS_OK)
        return fail(s, st, rc, "create the target");
    memcpy(id_out, row.id, sizeof row.id);
    return STATUS_OK;
}

/* Merges shard rows (ordered by target id) into targets (ordered by id). */
struct shard_merge {
    cc_target *targets;
    size_t n, at;
};

static int merge_shard(const char *target_id, const char *scv, void *arg)
{
    struct shard_merge *m = arg;
    while (m->at < m->n && strcmp(m->targets[m->at].id, target_id) < 0)
        m->at++;
    if (m->at == m->n || strcmp(m->targets[m->at].id, target_id) != 0)
        return 0;
    cc_target *t = &m->targets[m->at];
    char **v = realloc(t->shards, (t->n_shards + 1) * sizeof *v);
    if (!v)
        return -1;
    t->shards = v;
    v[t->n_shards] = strdup(scv);
    if (!v[t->n_shards])
        return -1;
    t->n_shards++;
    return 0;
}

static status_code unknown_target(struct status *st, const char *id)
{
    return status_fail(st, STATUS_NOT_FOUND, "unknown target '%s'", id);
}

status_code cc_store_target_get(cc_store *s, const char *id, cc_target *out, struct status *st)
{
    cc_store_tx *tx;
    struct shard_merge m = {out, 1, 0};

    memset(out, 0, sizeof *out);
    if (!text_ok(id, CC_TARGET_ID_LEN))
        return unknown_target(st, id ? id : "");
    status_code rc = s->ops->begin(s->impl, CC_TX_SNAPSHOT, &tx);
    if (rc == STATUS_OK) {
        rc = s->ops->target_read(tx, id, out);
        if (rc == STATUS_OK)
            rc = s->ops->shard_rows(tx, id, NULL, merge_shard, &m);
        rc = s->ops->end(tx, rc);
    }
    if (rc == STATUS_OK)
        return STATUS_OK;
    cc_target_free(out);
    return rc == STATUS_NOT_FOUND ? unknown_target(st, id) : fail(s, st, rc, "read the target");
}

/* row: the stored t with u applied; it shares t's memory. Options keys
 * are merged in, never removed, and the merged options must still fit. */
static status_code apply_update(cc_target *t, const cc_target_update *u, cc_target *row)
{
    if (u->options && json_object_update(t->options, (json_t *)u->options) != 0)
        return STATUS_IO;
    if (!options_ok(t->options))
        return STATUS_INVALID;
    *row = *t;
    if (u->set_stage)
        row->stage = u->stage;
    if (u->set_weight)
        row->weight = u->weight < 0 ? 0 : u->weight;
    if (u->set_points_per_frame)
        row->points_per_frame = u->points_per_frame;
    if (u->set_engines) {
        row->engines = (char **)u->engines;
        row->n_engines = u->n_engines;
    }
    return STATUS_OK;
}

status_code cc_store_target_update(cc_store *s, const char *id, const cc_target_update *u, struct status *st)
{
    cc_target t = {0}, row;
    cc_store_tx *tx;

    if (!text_ok(id, CC_TARGET_ID_LEN))
        return unknown_target(st, id ? id : "");
    if (!u->set_stage && !u->set_engines && !u->set_weight && !u->set_points_per_frame && !u->options)
        return status_fail(st, STATUS_INVALID, "Nothing to update");
    if ((u->set_stage && (unsigned)u->stage > CC_STAGE_PUBLIC) ||
        (u->set_points_per_frame && !points_per_frame_ok(u->points_per_frame)) ||
        (u->set_engines && !engines_ok(u->engines, u->n_engines)) ||
        (u->set_weight && !weight_ok(u->weight)) || !options_ok(u->options))
        return invalid(st, "update the target");
    status_code rc = s->ops->begin(s->impl, CC_TX_WRITE, &tx);
    if (rc == STATUS_OK) {
        rc = s->ops->target_read(tx, id, &t);
        if (rc == STATUS_OK)
            rc = apply_update(&t, u, &row);
        if (rc == STATUS_OK)
            rc = s->ops->target_write(tx, &row);
        rc = s->ops->end(tx, rc);
    }
    cc_target_free(&t);
    if (rc == STATUS_NOT_FOUND)
        return unknown_target(st, id);
    if (rc == STATUS_INVALID)
        return invalid(st, "update the target (options too large?)");
    return rc == STATUS_OK ? STATUS_OK : fail(s, st, rc, "update the target");
}

status_code cc_store_target_delete(cc_store *s, const char *id, struct status *st)
{
    int found = 0, shards = 0;
    cc_store_tx *tx;

    if (!text_ok(id, CC_TARGET_ID_LEN))
        return unknown_target(st, id ? id : "");
    status_code rc = s->ops->begin(s->impl, CC_TX_WRITE, &tx);
    if (rc == STATUS_OK) {
        /* The target's row stays locked, so no shard is added between the
         * check and the delete. */
        rc = s->ops->exists(tx, CC_PROBE_TARGET, id, &found);
        if (rc == STATUS_OK && !found)
            rc = STATUS_NOT_FOUND;
        if (rc == STATUS_OK)
            rc = s->ops->exists(tx, CC_PROBE_TARGET_SHARDS, id, &shards);
        if (rc == STATUS_OK && shards)
            rc = STATUS_CONFLICT;
        if (rc == STATUS_OK)
            rc = s->ops->target_delete(tx, id);
        rc = s->ops->end(tx, rc);
    }
    if (rc == STATUS_NOT_FOUND)
        return unknown_target(st, id);
    if (rc == STATUS_CONFLICT)
        return status_fail(st, rc, "target '%s' still has shards: delete its streams first", id);
    return rc == STATUS_OK ? STATUS_OK : fail(s, st, rc, "delete the target");
}

static status_code target_list(cc_store *s, const char *owner, cc_strlist *out, struct status *st)
{
    cc_store_tx *tx;
    status_code rc = s->ops->begin(s->impl, CC_TX_ONE, &tx);

    if (rc == STATUS_OK)
        rc = s->ops->end(tx, s->ops->target_list(tx, owner, out));
    if (rc == STATUS_OK)
        return STATUS_OK;
    cc_strlist_free(out);
    return fail(s, st, rc, "list targets");
}

status_code cc_store_target_list_owner(cc_store *s, const char *owner, cc_strlist *out, struct status *st)
{
    out->v = NULL;
    out->n = 0;
    if (!text_ok(owner, CC_NAME_MAX))
        return invalid(st, "list targets");
    return target_list(s, owner, out, st);
}

status_code cc_store_target_list_public(cc_store *s, cc_strlist *out, struct status *st)
{
    out->v = NULL;
    out->n = 0;
    return target_list(s, NULL, out, st);
}

/* Adds or removes a shard inside one transaction that first checks the
 * target exists, so an unknown target is NOT_FOUND either way. */
static status_code shard_change(cc_store *s, int add, const char *target_id, const char *scv,
                                struct status *st)
{
    int found = 0;
    cc_store_tx *tx;

    if (!text_ok(target_id, CC_TARGET_ID_LEN))
        return unknown_target(st, target_id ? target_id : "");
    if (!text_ok(scv, CC_SCV_NAME_MAX))
        return invalid(st, "change the shards");
    status_code rc = s->ops->begin(s->impl, CC_TX_WRITE, &tx);
    if (rc == STATUS_OK) {
        rc = s->ops->exists(tx, CC_PROBE_TARGET, target_id, &found);
        if (rc == STATUS_OK && !found)
            rc = STATUS_NOT_FOUND;
        if (rc == STATUS_OK)
            rc = s->ops->shard_change(tx, add, target_id, scv);
        rc = s->ops->end(tx, rc);
    }
    if (rc == STATUS_NOT_FOUND)
        return unknown_target(st, target_id);
    return rc == STATUS_OK ? STATUS_OK : fail(s, st, rc, "change the shards");
}

status_code cc_store_shard_add(cc_store *s, const char *target_id, const char *scv, struct status *st)
{
    return shard_change(s, 1, target_id, scv, st);
}

status_code cc_store_shard_remove(cc_store *s, const char *target_id, const char *scv, struct status *st)
{
    return shard_change(s, 0, target_id, scv, st);
}

/* ---- SCVs ---- */

status_code cc_store_scv_upsert(cc_store *s, const char *name, const char *host, const char *password,
                                struct status *st)
{
    cc_scv_row row = {0};
    cc_store_tx *tx;

    if (!text_ok(name, CC_SCV_NAME_MAX) || !text_ok(host, CC_HOST_MAX) || !text_ok(password, AUTH_SECRET_MAX))
        return invalid(st, "register the SCV");
    copy_text(row.name, sizeof row.name, name);
    copy_text(row.host, sizeof row.host, host);
    row.password_sealed = cc_seal_seal(s->seal, password);
    if (!row.password_sealed)
        return status_fail(st, STATUS_IO, "cannot register the SCV: out of memory");
    status_code rc = s->ops->begin(s->impl, CC_TX_WRITE, &tx);
    if (rc == STATUS_OK)
        rc = s->ops->end(tx, s->ops->scv_upsert(tx, &row));
    free(row.password_sealed);
    return rc == STATUS_OK ? STATUS_OK : fail(s, st, rc, "register the SCV");
}

/* The SCVs whose password unseals, in *out (*n_out of them); one that does
 * not is left out, so it cannot stop the others from being served. */
static status_code unseal_scvs(cc_store *s, const cc_scv_row *rows, size_t n, cc_scv **out, size_t *n_out)
{
    *n_out = 0;
    *out = calloc(n ? n : 1, sizeof **out);
    if (!*out)
        return STATUS_IO;
    for (size_t i = 0; i < n; i++) {
        char what[CC_SEAL_WHAT_MAX];
        cc_seal_what_scv(rows[i].name, what);
        char *plain = cc_seal_unseal(s->seal, what, rows[i].password_sealed);
        if (!plain)
            continue;
        cc_scv *scv = &(*out)[(*n_out)++];
        copy_text(scv->name, sizeof scv->name, rows[i].name);
        copy_text(scv->host, sizeof scv->host, rows[i].host);
        copy_text(scv->password, sizeof scv->password, plain);
        free(plain);
    }
    return STATUS_OK;
}

/* ---- stats and cache ---- */

/* The points_per_frame of each distinct target of a batch. */
struct rates {
    const char **ids; /* sorted, borrowed */
    double *rate;
    size_t n;
};

static int by_string(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static status_code read_rates(cc_store *s, cc_store_tx *tx, struct stats_call *calls, size_t total,
                              struct rates *r)
{
    r->ids = calloc(total + 1, sizeof *r->ids);
    r->rate = calloc(total + 1, sizeof *r->rate);
    r->n = 0;
    if (!r->ids || !r->rate)
        return STATUS_IO;
    for (struct stats_call *c = calls; c; c = c->next)
        for (size_t i = 0; i < c->n; i++)
            r->ids[r->n++] = c->v[i].target_id;
    qsort(r->ids, r->n, sizeof *r->ids, by_string);
    size_t unique = 0;
    for (size_t i = 0; i < r->n; i++)
        if (unique == 0 || strcmp(r->ids[unique - 1], r->ids[i]) != 0)
            r->ids[unique++] = r->ids[i];
    r->n = unique;
    status_code rc = STATUS_OK;
    for (size_t i = 0; rc == STATUS_OK && i < r->n; i++) {
        rc = s->ops->points_per_frame(tx, r->ids[i], &r->rate[i]);
        if (rc == STATUS_NOT_FOUND) { /* a target deleted since: the default rate */
            r->rate[i] = 1;
            rc = STATUS_OK;
        }
    }
    return rc;
}

static double rate_of(const struct rates *r, const char *target_id)
{
    const char **at = bsearch(&target_id, r->ids, r->n, sizeof *r->ids, by_string);
    return at ? r->rate[at - r->ids] : 1;
}

/* Adds a batch's board entries (cc_credit.h) in board order. */
static status_code count_boards(cc_store *s, cc_store_tx *tx, const cc_board_counts *c)
{
    status_code rc = STATUS_OK;
    for (int i = 0; rc == STATUS_OK && i < CC_BOARDS; i++)
        if (c->n[i] != 0)
            rc = s->ops->board_add(tx, (cc_board_id)i, c->period[i], c->n[i]);
    return rc;
}

static void free_names(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

/* Credits the new fragments items: donors, their targets, their teams,
 * then the board sizes (cc_credit.h). */
static status_code credit(cc_store *s, cc_store_tx *tx, const cc_credit_item *items, size_t n, double now)
{
    cc_credit_batch b;
    cc_board_counts counts = {0};
    cc_credit_delta *teams = NULL;
    size_t n_teams = 0;
    if (cc_credit_group(items, n, now, &b, NULL) != STATUS_OK)
        return STATUS_IO;
    cc_credit_row *rows = calloc(b.n_donors + 1, sizeof *rows);
    char **team_of = calloc(b.n_donors + 1, sizeof *team_of);
    status_code rc = rows && team_of ? s->ops->credit_donors(tx, &b, rows, team_of) : STATUS_IO;
    for (size_t i = 0; rc == STATUS_OK && i < b.n_donors; i++)
        cc_board_entered(&b, &b.donors[i], &rows[i], 0, &counts);
    if (rc == STATUS_OK)
        rc = s->ops->credit_targets(tx, &b);
    if (rc == STATUS_OK)
        rc = cc_credit_team_deltas(&b, (const char *const *)team_of, &teams, &n_teams, NULL);
    cc_credit_row *team_rows = rc == STATUS_OK ? calloc(n_teams + 1, sizeof *team_rows) : NULL;
    if (rc == STATUS_OK && !team_rows)
        rc = STATUS_IO;
    if (rc == STATUS_OK && n_teams > 0)
        rc = s->ops->credit_teams(tx, &b, teams, n_teams, team_rows);
    for (size_t i = 0; rc == STATUS_OK && i < n_teams; i++)
        cc_board_entered(&b, &teams[i], &team_rows[i], 1, &counts);
    if (rc == STATUS_OK)
        rc = count_boards(s, tx, &counts);
    free(team_rows);
    free(teams);
    free(rows);
    free_names(team_of, b.n_donors);
    cc_credit_batch_free(&b);
    return rc;
}

/* Records the batches of calls in one transaction: each new fragment with
 * its points, then their credit. */
static status_code record(cc_store *s, struct stats_call *calls)
{
    size_t total = 0, fresh_n = 0;
    struct rates r = {0};
    cc_store_tx *tx;
    for (struct stats_call *c = calls; c; c = c->next)
        total += c->n;
    double *points = calloc(total + 1, sizeof *points);
    unsigned char *fresh = calloc(total + 1, 1);
    cc_credit_item *items = calloc(total + 1, sizeof *items);
    status_code rc = points && fresh && items ? s->ops->begin(s->impl, CC_TX_WRITE, &tx) : STATUS_IO;
    if (rc != STATUS_OK)
        goto out;
    rc = read_rates(s, tx, calls, total, &r);
    size_t at = 0;
    for (struct stats_call *c = calls; rc == STATUS_OK && c; at += c->n, c = c->next) {
        for (size_t i = 0; i < c->n; i++)
            points[at + i] = (double)c->v[i].frames * rate_of(&r, c->v[i].target_id);
        rc = s->ops->stats_insert(tx, c->v, points + at, c->n, fresh + at, &c->inserted);
        for (size_t i = 0; rc == STATUS_OK && i < c->n; i++)
            if (fresh[at + i])
                items[fresh_n++] =
                    (cc_credit_item){c->v[i].user, c->v[i].target_id, c->v[i].frames, points[at + i]};
    }
    if (rc == STATUS_OK)
        rc = credit(s, tx, items, fresh_n, clock_wall_s());
    rc = s->ops->end(tx, rc);
out:
    free(r.ids);
    free(r.rate);
    free(items);
    free(fresh);
    free(points);
    return rc;
}

/* Records a group of queued calls together; when that fails and there is
 * more than one, each again on its own, so a bad batch fails alone. */
static void record_group(cc_store *s, struct stats_call *group)
{
    status_code rc = record(s, group);
    for (struct stats_call *c = group; c; c = c->next)
        c->rc = rc;
    if (rc == STATUS_OK || !group->next)
        return;
    for (struct stats_call *c = group; c; c = c->next) {
        struct stats_call *next = c->next;
        c->next = NULL;
        c->rc = record(s, c);
        c->next = next;
    }
}

/* Queues me; the first caller to find no leader records everything
 * queued (itself included) in one transaction, while later callers wait
 * for their turn or their result. */
static void record_shared(cc_store *s, struct stats_call *me)
{
    pthread_mutex_lock(&s->stats_lock);
    struct stats_call **tail = &s->stats_queue;
    while (*tail)
        tail = &(*tail)->next;
    *tail = me;
    while (!me->done && s->stats_leader)
        pthread_cond_wait(&s->stats_cond, &s->stats_lock);
    if (!me->done) {
        struct stats_call *group = s->stats_queue;
        s->stats_queue = NULL;
        s->stats_leader = 1;
        pthread_mutex_unlock(&s->stats_lock);
        record_group(s, group);
        pthread_mutex_lock(&s->stats_lock);
        for (struct stats_call *c = group; c; c = c->next)
            c->done = 1;
        s->stats_leader = 0;
        pthread_cond_broadcast(&s->stats_cond);
    }
    pthread_mutex_unlock(&s->stats_lock);
}

status_code cc_store_stats_insert(cc_store *s, const cc_stats_fragment *v, size_t n, size_t *inserted,
                                  struct status *st)
{
    size_t dummy;
    struct stats_call me = {.v = v, .n = n};

    if (!inserted)
        inserted = &dummy;
    *inserted = 0;
    if (n > CC_STATS_BATCH_MAX || (n && !v))
        return invalid(st, "record the stats");
    for (size_t i = 0; i < n; i++) {
        const cc_stats_fragment *f = &v[i];
        if (!field_ok(f->id, sizeof f->id) || !f->id[0] || !field_ok(f->target_id, sizeof f->target_id) ||
            !field_ok(f->stream_id, sizeof f->stream_id) || !field_ok(f->engine, sizeof f->engine) ||
            !field_ok(f->user, sizeof f->user) || f->frames < 0 || !isfinite(f->start_time) ||
            !isfinite(f->end_time))
            return invalid(st, "record the stats");
    }
    if (n == 0)
        return STATUS_OK;
    if (!s->ops->serial_writes) /* concurrent transactions: each batch its own */
        me.rc = record(s, &me);
    else
        record_shared(s, &me);
    if (me.rc == STATUS_OK) {
        *inserted = me.inserted;
        return STATUS_OK;
    }
    return me.rc == STATUS_INVALID ? invalid(st, "record the stats") : fail(s, st, me.rc, "record the stats");
}

/* ---- donors and credit ---- */

static status_code unknown_donor(struct status *st, const char *name)
{
    return status_fail(st, STATUS_NOT_FOUND, "unknown donor '%s' (or the donor is not public)", name);
}

status_code cc_store_donor_info(cc_store *s, const char *name, cc_donor_info *out, struct status *st)
{
    cc_store_tx *tx;
    int public_ = 0;
    memset(out, 0, sizeof *out);
    if (!text_ok(name, CC_NAME_MAX))
        return unknown_donor(st, name ? name : "");
    status_code rc = s->ops->begin(s->impl, CC_TX_SNAPSHOT, &tx);
    if (rc == STATUS_OK)
        rc = s->ops->end(tx, s->ops->donor_info(tx, name, out, &public_));
    if (rc == STATUS_OK && public_)
        return STATUS_OK;
    free(out->targets);
    memset(out, 0, sizeof *out);
    return rc == STATUS_OK || rc == STATUS_NOT_FOUND ? unknown_donor(st, name)
                                                     : fail(s, st, rc, "read the donor");
}

/* Moves a donor from team old to team (either NULL: none), joining and
 * leaving in name order, as credit locks teams. */
static status_code move_team(cc_store *s, cc_store_tx *tx, const char *name, const char *old,
                             const char *team, cc_board_counts *c)
{
    if ((!old && !team) || (old && team && strcmp(old, team) == 0))
        return STATUS_OK;
    status_code rc = s->ops->donor_set_team(tx, name, team);
    int join_first = !old || (team && strcmp(team, old) < 0);
    for (int i = 0; rc == STATUS_OK && i < 2; i++) {
        int join = (i == 0) == join_first, changed = 0;
        if (join && team)
            rc = s->ops->team_join(tx, team, &changed);
        else if (!join && old)
            rc = s->ops->team_leave(tx, old, &changed);
        if (changed)
            c->n[CC_BOARD_TEAMS_ALL] += join ? 1 : -1;
    }
    return rc;
}

/* Shows or hides a donor whose row is row, counting the boards it joins or
 * leaves. */
static status_code set_public(cc_store *s, cc_store_tx *tx, const char *name, const cc_credit_row *row,
                              int public_, cc_board_counts *c)
{
    if (!row->public_ == !public_)
        return STATUS_OK;
    cc_board_visibility(row, public_ ? 1 : -1, c);
    return s->ops->donor_set_public(tx, name, public_);
}

/* Begins a write transaction holding the donor's credit row; NOT_FOUND
 * unless name is a donor. */
static status_code begin_donor(cc_store *s, const char *name, cc_store_tx **tx, cc_credit_row *row,
                               char **team)
{
    int found = 0;
    *team = NULL;
    status_code rc = s->ops->begin(s->impl, CC_TX_WRITE, tx);
    if (rc != STATUS_OK)
        return rc;
    rc = s->ops->exists(*tx, CC_PROBE_DONOR, name, &found);
    if (rc == STATUS_OK && !found)
        rc = STATUS_NOT_FOUND;
    if (rc == STATUS_OK)
        rc = s->ops->donor_row(*tx, name, row, team);
    return rc;
}

/* Counts the boards, ends the transaction begin_donor began (if it did)
 * and frees team; the outcome with its message. */
static status_code end_donor(cc_store *s, cc_store_tx *tx, status_code rc, const cc_board_counts *counts,
                             char *team, const char *name, const char *what, struct status *st)
{
    if (rc == STATUS_OK)
        rc = count_boards(s, tx, counts);
    if (tx)
        rc = s->ops->end(tx, rc);
    free(team);
    if (rc == STATUS_NOT_FOUND)
        return status_fail(st, rc, "unknown donor '%s'", name);
    return rc == STATUS_OK ? STATUS_OK : fail(s, st, rc, what);
}

status_code cc_store_donor_settings(cc_store *s, const char *name, const cc_donor_settings *set,
                                    struct status *st)
{
    cc_store_tx *tx = NULL;
    cc_credit_row row;
    cc_board_counts counts = {0};
    char *team = NULL;
    if (!text_ok(name, CC_NAME_MAX))
        return unknown_donor(st, name ? name : "");
    if (!set->set_team && !set->set_public)
        return status_fail(st, STATUS_INVALID, "Nothing to update");
    if (set->set_team && set->team && !cc_team_ok(set->team))
        return status_fail(st, STATUS_INVALID, "a team is 1 to %d printable characters", CC_TEAM_CHARS);
    status_code rc = begin_donor(s, name, &tx, &row, &team);
    if (rc == STATUS_OK && set->set_public)
        rc = set_public(s, tx, name, &row, set->public_, &counts);
    if (rc == STATUS_OK && set->set_team)
        rc = move_team(s, tx, name, team, set->team, &counts);
    return end_donor(s, tx, rc, &counts, team, name, "change the donor's settings", st);
}

status_code cc_store_donor_delete(cc_store *s, const char *name, struct status *st)
{
    cc_store_tx *tx = NULL;
    cc_credit_row row;
    cc_board_counts counts = {0};
    char *team = NULL, anon[sizeof CC_ANON_PREFIX + 32];
    if (!text_ok(name, CC_NAME_MAX))
        return status_fail(st, STATUS_NOT_FOUND, "unknown donor");
    memcpy(anon, CC_ANON_PREFIX, sizeof CC_ANON_PREFIX);
    if (crypto_random_hex(anon + sizeof CC_ANON_PREFIX - 1, 16) != 0)
        return status_fail(st, STATUS_IO, "cannot delete the donor: no randomness");
    status_code rc = begin_donor(s, name, &tx, &row, &team);
    if (rc == STATUS_OK)
        rc = move_team(s, tx, name, team, NULL, &counts);
    if (rc == STATUS_OK)
        rc = set_public(s, tx, name, &row, 0, &counts);
    if (rc == STATUS_OK)
        rc = s->ops->donor_erase(tx, name, anon);
    return end_donor(s, tx, rc, &counts, team, name, "delete the donor", st);
}

status_code cc_store_leaderboard(cc_store *s, const cc_board_query *q, cc_board *out, struct status *st)
{
    cc_store_tx *tx;
    memset(out, 0, sizeof *out);
    if (q->limit < 1 || q->limit > CC_BOARD_LIMIT_MAX || q->offset < 0 ||
        (unsigned)q->period > CC_PERIOD_WEEK)
        return invalid(st, "read the leaderboard");
    /* One statement reads a page with the board's size (cc_board_sql). */
    status_code rc = s->ops->begin(s->impl, CC_TX_ONE, &tx);
    if (rc == STATUS_OK)
        rc = s->ops->end(tx, s->ops->board_read(tx, q, out));
    if (rc == STATUS_OK)
        return STATUS_OK;
    free(out->v);
    memset(out, 0, sizeof *out);
    return fail(s, st, rc, "read the leaderboard");
}

/* The export's JSON lines, collected in memory before one gzip. */
struct export_buf {
    char *data;
    size_t len, cap;
};

static int export_line(void *arg, const cc_board_entry *e, int team, long long fragments, double last_credit)
{
    struct export_buf *b = arg;
    json_t *o =
        team ? json_pack("{s:s, s:s, s:I, s:f, s:I, s:I}", "type", "team", "team", e->name, "members",
                         (json_int_t)e->members, "points", e->points, "frames", (json_int_t)e->frames,
                         "fragments", (json_int_t)fragments)
             : json_pack("{s:s, s:s, s:s?, s:f, s:I, s:I, s:f}", "type", "donor", "username", e->name, "team",
                         e->team[0] ? e->team : NULL, "points", e->points, "frames", (json_int_t)e->frames,
                         "fragments", (json_int_t)fragments, "last_credit", last_credit);
    char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!line)
        return -1;
    size_t n = strlen(line);
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 65536) + n + 1;
        char *grown = realloc(b->data, cap);
        if (!grown) {
            free(line);
            return -1;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, line, n);
    b->data[b->len + n] = '\n';
    b->len += n + 1;
    free(line);
    return 0;
}

/* Makes and stores a fresh export (this CC holds the claim). */
static status_code export_remake(cc_store *s, double created)
{
    struct export_buf b = {0};
    size_t zlen = 0;
    unsigned char *z = NULL;
    cc_store_tx *tx;
    status_code rc = s->ops->begin(s->impl, CC_TX_SNAPSHOT, &tx);
    if (rc == STATUS_OK)
        rc = s->ops->end(tx, s->ops->export_scan(tx, export_line, &b));
    if (rc == STATUS_OK) {
        z = gz_compress(b.data ? b.data : "", b.len, &zlen);
        rc = z ? s->ops->begin(s->impl, CC_TX_WRITE, &tx) : STATUS_IO;
    }
    if (rc == STATUS_OK)
        rc = s->ops->end(tx, s->ops->export_save(tx, created, z, zlen));
    free(b.data);
    free(z);
    return rc;
}

/* A CC that claimed the remake and died leaves the claim; after this long
 * another CC may claim it. */
#define EXPORT_LEASE_S 600.0

status_code cc_store_export(cc_store *s, double max_age, unsigned char **data, size_t *len, struct status *st)
{
    int claimed = 0;
    double now = clock_wall_s(), created = 0;
    cc_store_tx *tx;
    status_code rc = s->ops->begin(s->impl, CC_TX_WRITE, &tx);
    if (rc == STATUS_OK)
        rc = s->ops->end(tx, s->ops->export_claim(tx, now, max_age, EXPORT_LEASE_S, &claimed));
    if (rc == STATUS_OK && claimed)
        rc = export_remake(s, now);
    if (rc == STATUS_OK && data) {
        *data = NULL;
        *len = 0;
        rc = s->ops->begin(s->impl, CC_TX_ONE, &tx);
        if (rc == STATUS_OK)
            rc = s->ops->end(tx, s->ops->export_load(tx, &created, data, len));
        if (rc == STATUS_OK && !*data)
            return status_fail(st, STATUS_NOT_FOUND,
                               "the first stats export is being made; try again in a minute");
    }
    return rc == STATUS_OK ? STATUS_OK : fail(s, st, rc, "make the stats export");
}

/* Every read of a load, in the caller's snapshot transaction. */
static status_code load_rows(cc_store *s, cc_store_tx *tx, const uint64_t *since, cc_snapshot *out,
                             cc_strlist *deleted, uint64_t *generation, cc_scv_row **scvs, size_t *n_scvs)
{
    status_code rc = s->ops->generation(tx, generation);
    if (rc == STATUS_OK)
        rc = s->ops->targets_since(tx, since, &out->targets, &out->n_targets);
    if (rc == STATUS_OK) {
        struct shard_merge m = {out->targets, out->n_targets, 0};
        rc = s->ops->shard_rows(tx, NULL, since, merge_shard, &m);
    }
    if (rc == STATUS_OK && since)
        rc = s->ops->deleted_since(tx, *since, deleted);
    if (rc == STATUS_OK)
        rc = s->ops->managers(tx, &out->managers, &out->n_managers);
    if (rc == STATUS_OK)
        rc = s->ops->key_refs(tx, &out->keys, &out->n_keys);
    if (rc == STATUS_OK)
        rc = s->ops->scv_list(tx, scvs, n_scvs);
    return rc;
}

status_code cc_store_load_changes(cc_store *s, const uint64_t *since, cc_snapshot *out, cc_strlist *deleted,
                                  uint64_t *generation, struct status *st)
{
    cc_scv_row *rows = NULL;
    size_t n_rows = 0;
    cc_store_tx *tx;

    memset(out, 0, sizeof *out);
    memset(deleted, 0, sizeof *deleted);
    *generation = 0;
    /* One snapshot for every table and the generation: a shard never points
     * at a target the same load missed, and no change is read twice or
     * skipped by the next load. */
    status_code rc = s->ops->begin(s->impl, CC_TX_SNAPSHOT, &tx);
    if (rc == STATUS_OK)
        rc = s->ops->end(tx, load_rows(s, tx, since, out, deleted, generation, &rows, &n_rows));
    if (rc == STATUS_OK)
        rc = unseal_scvs(s, rows, n_rows, &out->scvs, &out->n_scvs);
    cc_scv_rows_free(rows, n_rows);
    if (rc == STATUS_OK)
        return STATUS_OK;
    cc_snapshot_free(out);
    cc_strlist_free(deleted);
    return fail(s, st, rc, "load the cache");
}

status_code cc_store_change_counter(cc_store *s, uint64_t *out, struct status *st)
{
    cc_store_tx *tx;

    *out = 0;
    status_code rc = s->ops->begin(s->impl, CC_TX_ONE, &tx);
    if (rc == STATUS_OK)
        rc = s->ops->end(tx, s->ops->generation(tx, out));
    return rc == STATUS_OK ? STATUS_OK : fail(s, st, rc, "read the change counter");
}

unsigned long cc_store_errors(cc_store *s)
{
    return atomic_load_explicit(&s->errors, memory_order_relaxed);
}
