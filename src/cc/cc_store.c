/* cc_store: the business logic of the CC's store, shared by its backends:
 * validation, hashing, sealing, and the order of the row operations inside
 * each transaction (cc_store_backend.h); the stats and donor credit are in
 * cc_store_credit.c. See cc_store.h. */
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
#include "util/log.h"

int cc_store_text_ok(const char *s, size_t max)
{
    return s && s[0] && strnlen(s, max + 1) <= max;
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
        if (!cc_store_text_ok(engines[i], CC_ENGINE_MAX))
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

status_code cc_store_fail(cc_store *s, struct status *st, status_code rc, const char *what)
{
    if (rc == STATUS_IO || rc == STATUS_UNAVAILABLE)
        atomic_fetch_add_explicit(&s->errors, 1, memory_order_relaxed);
    const char *reason = rc == STATUS_UNAVAILABLE ? "database unavailable; try again later"
                         : rc == STATUS_IO        ? "database failure (see the CC's log)"
                                                  : status_name(rc);
    return status_fail(st, rc, "cannot %s: %s", what, reason);
}

status_code cc_store_invalid(struct status *st, const char *what)
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
        return cc_store_fail(s, st, rc, "create the user");
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
    return rc == STATUS_OK ? STATUS_OK : cc_store_fail(s, st, rc, "create the user");
}

static status_code create_user(cc_store *s, cc_user *user, const char *password,
                               char token_out[AUTH_TOKEN_HEX_LEN + 1], struct status *st)
{
    char pwhash[AUTH_PWHASH_LEN], token_hash[AUTH_TOKEN_HASH_LEN + 1];

    if (strnlen(password, AUTH_PASSWORD_MAX + 1) > AUTH_PASSWORD_MAX || !password[0])
        return cc_store_invalid(st, "create the user");
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

    if (!cc_store_text_ok(email, CC_NAME_MAX) || !password ||
        (role != CC_ROLE_ADMIN && role != CC_ROLE_MANAGER) || !weight_ok(weight))
        return cc_store_invalid(st, "create the manager");
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

    if (!cc_store_text_ok(username, CC_NAME_MAX) || !cc_store_text_ok(email, CC_NAME_MAX) || !password)
        return cc_store_invalid(st, "create the donor");
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

    if (!cc_store_text_ok(name, CC_NAME_MAX) || !password ||
        strnlen(password, AUTH_PASSWORD_MAX + 1) > AUTH_PASSWORD_MAX)
        return cc_store_invalid(st, "log in");
    status_code rc = user_get(s, donors, name, &row);
    if (rc == STATUS_NOT_FOUND) {
        pthread_once(&dummy_once, dummy_init);
        if (dummy_ready)
            auth_password_verify(dummy_hash, password);
        return status_fail(st, STATUS_NOT_FOUND, "no such user");
    }
    if (rc != STATUS_OK)
        return cc_store_fail(s, st, rc, "log in");
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
    return rc == STATUS_OK ? STATUS_OK : cc_store_fail(s, st, rc, "log in");
}

status_code cc_store_user_by_token(cc_store *s, const char *token, cc_user *out, struct status *st)
{
    char token_hash[AUTH_TOKEN_HASH_LEN + 1];
    cc_store_tx *tx;

    if (!cc_store_text_ok(token, AUTH_SECRET_MAX))
        return status_fail(st, STATUS_NOT_FOUND, "invalid or expired user token");
    auth_token_hash(token, token_hash);
    status_code rc = s->ops->begin(s->impl, CC_TX_ONE, &tx);
    if (rc == STATUS_OK)
        rc = s->ops->end(tx, s->ops->user_by_token(tx, token_hash, out));
    if (rc == STATUS_NOT_FOUND)
        return status_fail(st, rc, "invalid or expired user token");
    return rc == STATUS_OK ? STATUS_OK : cc_store_fail(s, st, rc, "check the user token");
}

status_code cc_store_admin_exists(cc_store *s, int *out, struct status *st)
{
    cc_store_tx *tx;

    *out = 0;
    status_code rc = s->ops->begin(s->impl, CC_TX_ONE, &tx);
    if (rc == STATUS_OK)
        rc = s->ops->end(tx, s->ops->exists(tx, CC_PROBE_ADMIN, "", out));
    return rc == STATUS_OK ? STATUS_OK : cc_store_fail(s, st, rc, "check for admins");
}

/* ---- engine keys ---- */

status_code cc_store_key_create(cc_store *s, const char *engine, const char *description,
                                char key_out[AUTH_TOKEN_HEX_LEN + 1], struct status *st)
{
    cc_engine_key_row row = {0};
    cc_store_tx *tx;

    if (!cc_store_text_ok(engine, CC_ENGINE_MAX) || !cc_store_text_ok(description, CC_DESCRIPTION_MAX))
        return cc_store_invalid(st, "create the engine key");
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
    return rc == STATUS_OK ? STATUS_OK : cc_store_fail(s, st, rc, "create the engine key");
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
    return rc == STATUS_OK ? STATUS_OK : cc_store_fail(s, st, rc, "list engine keys");
}

status_code cc_store_key_delete(cc_store *s, const char *key, struct status *st)
{
    char key_hash[AUTH_TOKEN_HASH_LEN + 1];
    cc_store_tx *tx;
    status_code rc = STATUS_NOT_FOUND;

    if (cc_store_text_ok(key, AUTH_SECRET_MAX)) {
        auth_token_hash(key, key_hash);
        rc = s->ops->begin(s->impl, CC_TX_WRITE, &tx);
        if (rc == STATUS_OK)
            rc = s->ops->end(tx, s->ops->key_delete(tx, key_hash));
    }
    if (rc == STATUS_NOT_FOUND)
        return status_fail(st, rc, "unknown engine key");
    return rc == STATUS_OK ? STATUS_OK : cc_store_fail(s, st, rc, "delete the engine key");
}

/* ---- targets ---- */

status_code cc_store_target_create(cc_store *s, const cc_target_new *t, char id_out[CC_TARGET_ID_LEN + 1],
                                   struct status *st)
{
    cc_target row = {0};
    cc_store_tx *tx;

    if (!cc_store_text_ok(t->owner, CC_NAME_MAX) || !engines_ok(t->engines, t->n_engines) ||
        !options_ok(t->options) || !weight_ok(t->weight) || !points_per_frame_ok(t->points_per_frame) ||
        (unsigned)t->stage > CC_STAGE_PUBLIC)
        return cc_store_invalid(st, "create the target (options too large?)");
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
        return cc_store_fail(s, st, rc, "create the target");
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
    if (!cc_store_text_ok(id, CC_TARGET_ID_LEN))
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
    return rc == STATUS_NOT_FOUND ? unknown_target(st, id) : cc_store_fail(s, st, rc, "read the target");
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

    if (!cc_store_text_ok(id, CC_TARGET_ID_LEN))
        return unknown_target(st, id ? id : "");
    if (!u->set_stage && !u->set_engines && !u->set_weight && !u->set_points_per_frame && !u->options)
        return status_fail(st, STATUS_INVALID, "Nothing to update");
    if ((u->set_stage && (unsigned)u->stage > CC_STAGE_PUBLIC) ||
        (u->set_points_per_frame && !points_per_frame_ok(u->points_per_frame)) ||
        (u->set_engines && !engines_ok(u->engines, u->n_engines)) ||
        (u->set_weight && !weight_ok(u->weight)) || !options_ok(u->options))
        return cc_store_invalid(st, "update the target");
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
        return cc_store_invalid(st, "update the target (options too large?)");
    return rc == STATUS_OK ? STATUS_OK : cc_store_fail(s, st, rc, "update the target");
}

status_code cc_store_target_delete(cc_store *s, const char *id, struct status *st)
{
    int found = 0, shards = 0;
    cc_store_tx *tx;

    if (!cc_store_text_ok(id, CC_TARGET_ID_LEN))
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
    return rc == STATUS_OK ? STATUS_OK : cc_store_fail(s, st, rc, "delete the target");
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
    return cc_store_fail(s, st, rc, "list targets");
}

status_code cc_store_target_list_owner(cc_store *s, const char *owner, cc_strlist *out, struct status *st)
{
    out->v = NULL;
    out->n = 0;
    if (!cc_store_text_ok(owner, CC_NAME_MAX))
        return cc_store_invalid(st, "list targets");
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

    if (!cc_store_text_ok(target_id, CC_TARGET_ID_LEN))
        return unknown_target(st, target_id ? target_id : "");
    if (!cc_store_text_ok(scv, CC_SCV_NAME_MAX))
        return cc_store_invalid(st, "change the shards");
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
    return rc == STATUS_OK ? STATUS_OK : cc_store_fail(s, st, rc, "change the shards");
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

    if (!cc_store_text_ok(name, CC_SCV_NAME_MAX) || !cc_store_text_ok(host, CC_HOST_MAX) ||
        !cc_store_text_ok(password, AUTH_SECRET_MAX))
        return cc_store_invalid(st, "register the SCV");
    copy_text(row.name, sizeof row.name, name);
    copy_text(row.host, sizeof row.host, host);
    row.password_sealed = cc_seal_seal(s->seal, password);
    if (!row.password_sealed)
        return status_fail(st, STATUS_IO, "cannot register the SCV: out of memory");
    status_code rc = s->ops->begin(s->impl, CC_TX_WRITE, &tx);
    if (rc == STATUS_OK)
        rc = s->ops->end(tx, s->ops->scv_upsert(tx, &row));
    free(row.password_sealed);
    return rc == STATUS_OK ? STATUS_OK : cc_store_fail(s, st, rc, "register the SCV");
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

/* ---- cache ---- */

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
    return cc_store_fail(s, st, rc, "load the cache");
}

status_code cc_store_change_counter(cc_store *s, uint64_t *out, struct status *st)
{
    cc_store_tx *tx;

    *out = 0;
    status_code rc = s->ops->begin(s->impl, CC_TX_ONE, &tx);
    if (rc == STATUS_OK)
        rc = s->ops->end(tx, s->ops->generation(tx, out));
    return rc == STATUS_OK ? STATUS_OK : cc_store_fail(s, st, rc, "read the change counter");
}

unsigned long cc_store_errors(cc_store *s)
{
    return atomic_load_explicit(&s->errors, memory_order_relaxed);
}
