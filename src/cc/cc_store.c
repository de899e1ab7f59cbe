/* The backend-independent half of cc_store: validation, hashing, sealing,
 * and record helpers. See cc_store.h. */
#include "cc/cc_store.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cc/cc_seal.h"
#include "cc/cc_store_pg.h"
#include "util/fs.h"
#include "util/log.h"

struct cc_store {
    const cc_store_ops *ops;
    void *impl;
    cc_seal *seal;
};

static const char *const role_names[] = {"admin", "manager", "donor"};
static const char *const stage_names[] = {"disabled", "private", "beta", "public"};

const char *cc_store_status_str(cc_store_status st)
{
    switch (st) {
    case CC_STORE_OK:
        return "ok";
    case CC_STORE_NOT_FOUND:
        return "not found";
    case CC_STORE_EXISTS:
        return "already exists";
    case CC_STORE_EMAIL_EXISTS:
        return "email already in use";
    case CC_STORE_CONFLICT:
        return "refused in the current state";
    case CC_STORE_INVALID:
        return "invalid or oversized input";
    case CC_STORE_DENIED:
        return "wrong credentials";
    case CC_STORE_IO:
        return "database unavailable";
    }
    return "unknown error";
}

const char *cc_role_name(cc_role role)
{
    return (unsigned)role < 3 ? role_names[role] : "unknown";
}

int cc_role_parse(const char *name, cc_role *out)
{
    for (int i = 0; name && i < 3; i++) {
        if (strcmp(name, role_names[i]) == 0) {
            *out = (cc_role)i;
            return 0;
        }
    }
    return -1;
}

const char *cc_stage_name(cc_stage stage)
{
    return (unsigned)stage < 4 ? stage_names[stage] : "unknown";
}

int cc_stage_parse(const char *name, cc_stage *out)
{
    for (int i = 0; name && i < 4; i++) {
        if (strcmp(name, stage_names[i]) == 0) {
            *out = (cc_stage)i;
            return 0;
        }
    }
    return -1;
}

void cc_target_free(cc_target *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_engines; i++)
        free(t->engines[i]);
    free(t->engines);
    for (size_t i = 0; i < t->n_shards; i++)
        free(t->shards[i]);
    free(t->shards);
    json_decref(t->options);
    memset(t, 0, sizeof *t);
}

void cc_targets_free(cc_target *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        cc_target_free(&v[i]);
    free(v);
}

void cc_strlist_free(cc_strlist *l)
{
    for (size_t i = 0; l && i < l->n; i++)
        free(l->v[i]);
    if (l) {
        free(l->v);
        l->v = NULL;
        l->n = 0;
    }
}

void cc_snapshot_free(cc_snapshot *s)
{
    if (!s)
        return;
    cc_targets_free(s->targets, s->n_targets);
    free(s->managers);
    free(s->keys);
    free(s->scvs);
    memset(s, 0, sizeof *s);
}

void cc_engine_key_rows_free(cc_engine_key_row *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i].key_sealed);
    free(v);
}

void cc_scv_rows_free(cc_scv_row *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i].password_sealed);
    free(v);
}

char *cc_engines_json(const char *const *engines, size_t n)
{
    json_t *arr = json_array();
    char *text = NULL;
    for (size_t i = 0; arr && i < n; i++) {
        if (json_array_append_new(arr, json_string(engines[i])) != 0)
            goto out;
    }
    text = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
out:
    json_decref(arr);
    return text;
}

int cc_engines_parse(const char *text, cc_target *t)
{
    json_t *arr = json_loads(text ? text : "", 0, NULL);
    size_t i;
    json_t *v;
    int rc = -1;

    if (!json_is_array(arr))
        goto out;
    t->engines = calloc(json_array_size(arr) + 1, sizeof *t->engines);
    if (!t->engines)
        goto out;
    json_array_foreach(arr, i, v)
    {
        t->engines[i] = strdup(json_is_string(v) ? json_string_value(v) : "");
        if (!t->engines[i])
            goto out;
        t->n_engines = i + 1;
    }
    rc = 0;
out:
    json_decref(arr);
    return rc;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

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

cc_store *cc_store_open(const char *database, const char *data_dir, const char *cc_pass,
                        const char *cc_pass_previous, char *err, size_t errlen)
{
    char path[4096];
    cc_store *st = NULL;
    int pg = cc_store_pg_is_url(database);

    if (database && *database && strcmp(database, "sqlite") != 0 && !pg) {
        /* Only the scheme: the rest may hold a password. */
        snprintf(err, errlen, "database type '%.*s' is not supported; use 'sqlite' or a postgresql:// URL",
                 (int)strcspn(database, ":/@ "), database);
        return NULL;
    }
    if (auth_init() != 0) {
        snprintf(err, errlen, "libsodium failed to initialise");
        return NULL;
    }
    if (snprintf(path, sizeof path, "%s/cc.db", data_dir) >= (int)sizeof path) {
        snprintf(err, errlen, "data folder path too long: %s", data_dir);
        return NULL;
    }
    st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    st->ops = pg ? &cc_store_pg_ops : &cc_store_sqlite_ops;
    if (fs_mkdir_p(data_dir, 0700) != 0) {
        snprintf(err, errlen, "cannot create data folder %s: %s", data_dir, strerror(errno));
        goto fail;
    }
    st->impl = pg ? cc_store_pg_open(database, err, errlen) : cc_store_sqlite_open(path, err, errlen);
    if (!st->impl)
        goto fail;
    st->seal = cc_seal_open(st->ops, st->impl, data_dir, cc_pass, cc_pass_previous, err, errlen);
    if (!st->seal)
        goto fail;
    cc_seal_migrate(st->seal, st->ops, st->impl);
    return st;
fail:
    cc_store_close(st);
    return NULL;
}

void cc_store_close(cc_store *st)
{
    if (!st)
        return;
    if (st->impl)
        st->ops->close(st->impl);
    cc_seal_close(st->seal);
    free(st);
}

/* ---- users ---- */

static cc_store_status create_user(cc_store *st, cc_user *user, const char *password,
                                   char token_out[AUTH_TOKEN_HEX_LEN + 1])
{
    char pwhash[AUTH_PWHASH_LEN], token_hash[AUTH_TOKEN_HASH_LEN + 1];

    if (strnlen(password, AUTH_PASSWORD_MAX + 1) > AUTH_PASSWORD_MAX || !password[0])
        return CC_STORE_INVALID;
    if (auth_password_hash(password, pwhash) != 0 || auth_token_new(token_out) != 0)
        return CC_STORE_IO;
    auth_token_hash(token_out, token_hash);
    user->creation_date = now();
    return st->ops->user_insert(st->impl, user, pwhash, token_hash);
}

cc_store_status cc_store_create_manager(cc_store *st, const char *email, const char *password, cc_role role,
                                        double weight, char token_out[AUTH_TOKEN_HEX_LEN + 1])
{
    cc_user user = {0};

    if (!text_ok(email, CC_NAME_MAX) || !password || (role != CC_ROLE_ADMIN && role != CC_ROLE_MANAGER) ||
        !weight_ok(weight))
        return CC_STORE_INVALID;
    copy_text(user.name, sizeof user.name, email);
    copy_text(user.email, sizeof user.email, email);
    user.role = role;
    user.weight = weight < 0 ? 0 : weight;
    return create_user(st, &user, password, token_out);
}

cc_store_status cc_store_create_donor(cc_store *st, const char *username, const char *email,
                                      const char *password, char token_out[AUTH_TOKEN_HEX_LEN + 1])
{
    cc_user user = {0};

    if (!text_ok(username, CC_NAME_MAX) || !text_ok(email, CC_NAME_MAX) || !password)
        return CC_STORE_INVALID;
    copy_text(user.name, sizeof user.name, username);
    copy_text(user.email, sizeof user.email, email);
    user.role = CC_ROLE_DONOR;
    user.weight = 1;
    return create_user(st, &user, password, token_out);
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

cc_store_status cc_store_authenticate(cc_store *st, int donors, const char *name, const char *password,
                                      char token_out[AUTH_TOKEN_HEX_LEN + 1])
{
    cc_user_row row;
    char token_hash[AUTH_TOKEN_HASH_LEN + 1];
    cc_store_status rc;

    if (!text_ok(name, CC_NAME_MAX) || !password ||
        strnlen(password, AUTH_PASSWORD_MAX + 1) > AUTH_PASSWORD_MAX)
        return CC_STORE_INVALID;
    rc = st->ops->user_get(st->impl, donors, name, &row);
    if (rc == CC_STORE_NOT_FOUND) {
        pthread_once(&dummy_once, dummy_init);
        if (dummy_ready)
            auth_password_verify(dummy_hash, password);
        return CC_STORE_NOT_FOUND;
    }
    if (rc != CC_STORE_OK)
        return rc;
    /* The slow hash runs outside the backend's lock. */
    if (!auth_password_verify(row.password_hash, password))
        return CC_STORE_DENIED;
    if (auth_token_new(token_out) != 0)
        return CC_STORE_IO;
    auth_token_hash(token_out, token_hash);
    return st->ops->user_set_token(st->impl, row.user.name, row.password_hash, token_hash);
}

cc_store_status cc_store_user_by_token(cc_store *st, const char *token, cc_user *out)
{
    char token_hash[AUTH_TOKEN_HASH_LEN + 1];

    if (!text_ok(token, AUTH_SECRET_MAX))
        return CC_STORE_NOT_FOUND;
    auth_token_hash(token, token_hash);
    return st->ops->user_by_token(st->impl, token_hash, out);
}

cc_store_status cc_store_admin_exists(cc_store *st, int *out)
{
    return st->ops->admin_exists(st->impl, out);
}

/* ---- engine keys ---- */

cc_store_status cc_store_key_create(cc_store *st, const char *engine, const char *description,
                                    char key_out[AUTH_TOKEN_HEX_LEN + 1])
{
    cc_engine_key_row row = {0};
    cc_store_status rc;

    if (!text_ok(engine, CC_ENGINE_MAX) || !text_ok(description, CC_DESCRIPTION_MAX))
        return CC_STORE_INVALID;
    if (auth_token_new(key_out) != 0)
        return CC_STORE_IO;
    auth_token_hash(key_out, row.key_hash);
    row.key_sealed = cc_seal_seal(st->seal, key_out);
    if (!row.key_sealed)
        return CC_STORE_IO;
    copy_text(row.engine, sizeof row.engine, engine);
    copy_text(row.description, sizeof row.description, description);
    row.creation_date = now();
    rc = st->ops->key_insert(st->impl, &row);
    free(row.key_sealed);
    return rc;
}

cc_store_status cc_store_key_list(cc_store *st, cc_engine_key **out, size_t *n)
{
    cc_engine_key_row *rows = NULL;
    size_t n_rows = 0;
    cc_store_status rc;

    *out = NULL;
    *n = 0;
    rc = st->ops->key_list(st->impl, &rows, &n_rows);
    if (rc != CC_STORE_OK)
        return rc;
    *out = calloc(n_rows ? n_rows : 1, sizeof **out);
    if (!*out) {
        rc = CC_STORE_IO;
        goto out;
    }
    for (size_t i = 0; i < n_rows; i++) {
        char what[CC_SEAL_WHAT_MAX];
        cc_seal_what_key(&rows[i], what);
        char *plain = cc_seal_unseal(st->seal, what, rows[i].key_sealed);
        if (!plain)
            continue; /* one bad row costs only itself */
        cc_engine_key *k = &(*out)[(*n)++];
        copy_text(k->key, sizeof k->key, plain);
        free(plain);
        copy_text(k->engine, sizeof k->engine, rows[i].engine);
        copy_text(k->description, sizeof k->description, rows[i].description);
        k->creation_date = rows[i].creation_date;
    }
out:
    cc_engine_key_rows_free(rows, n_rows);
    return rc;
}

cc_store_status cc_store_key_delete(cc_store *st, const char *key)
{
    char key_hash[AUTH_TOKEN_HASH_LEN + 1];

    if (!text_ok(key, AUTH_SECRET_MAX))
        return CC_STORE_NOT_FOUND;
    auth_token_hash(key, key_hash);
    return st->ops->key_delete(st->impl, key_hash);
}

cc_store_status cc_store_key_lookup(cc_store *st, const char *key, char engine_out[CC_ENGINE_MAX + 1])
{
    char key_hash[AUTH_TOKEN_HASH_LEN + 1];

    if (!text_ok(key, AUTH_SECRET_MAX))
        return CC_STORE_NOT_FOUND;
    auth_token_hash(key, key_hash);
    return st->ops->key_lookup(st->impl, key_hash, engine_out);
}

/* ---- targets ---- */

cc_store_status cc_store_target_create(cc_store *st, const cc_target_new *t,
                                       char id_out[CC_TARGET_ID_LEN + 1])
{
    cc_target row = {0};

    if (!text_ok(t->owner, CC_NAME_MAX) || !engines_ok(t->engines, t->n_engines) || !options_ok(t->options) ||
        !weight_ok(t->weight) || (unsigned)t->stage > CC_STAGE_PUBLIC)
        return CC_STORE_INVALID;
    if (crypto_uuid4(row.id) != 0)
        return CC_STORE_IO;
    copy_text(row.owner, sizeof row.owner, t->owner);
    row.stage = t->stage;
    row.engines = (char **)t->engines;
    row.n_engines = t->n_engines;
    row.options = (json_t *)t->options;
    row.weight = t->weight < 0 ? 0 : t->weight;
    row.creation_date = now();
    cc_store_status rc = st->ops->target_insert(st->impl, &row);
    if (rc == CC_STORE_OK)
        memcpy(id_out, row.id, sizeof row.id);
    return rc;
}

cc_store_status cc_store_target_get(cc_store *st, const char *id, cc_target *out)
{
    memset(out, 0, sizeof *out);
    if (!text_ok(id, CC_TARGET_ID_LEN))
        return CC_STORE_NOT_FOUND;
    return st->ops->target_get(st->impl, id, out);
}

cc_store_status cc_store_target_update(cc_store *st, const char *id, const cc_target_update *u)
{
    cc_target_update fixed = *u;

    if (!text_ok(id, CC_TARGET_ID_LEN))
        return CC_STORE_NOT_FOUND;
    if (!u->set_stage && !u->set_engines && !u->set_weight && !u->options)
        return CC_STORE_INVALID;
    if ((u->set_stage && (unsigned)u->stage > CC_STAGE_PUBLIC) ||
        (u->set_engines && !engines_ok(u->engines, u->n_engines)) ||
        (u->set_weight && !weight_ok(u->weight)) || !options_ok(u->options))
        return CC_STORE_INVALID;
    if (fixed.set_weight && fixed.weight < 0)
        fixed.weight = 0;
    return st->ops->target_update(st->impl, id, &fixed);
}

cc_store_status cc_store_target_delete(cc_store *st, const char *id)
{
    if (!text_ok(id, CC_TARGET_ID_LEN))
        return CC_STORE_NOT_FOUND;
    return st->ops->target_delete(st->impl, id);
}

cc_store_status cc_store_target_list_owner(cc_store *st, const char *owner, cc_strlist *out)
{
    out->v = NULL;
    out->n = 0;
    if (!text_ok(owner, CC_NAME_MAX))
        return CC_STORE_INVALID;
    return st->ops->target_list(st->impl, owner, out);
}

cc_store_status cc_store_target_list_public(cc_store *st, cc_strlist *out)
{
    out->v = NULL;
    out->n = 0;
    return st->ops->target_list(st->impl, NULL, out);
}

cc_store_status cc_store_shard_add(cc_store *st, const char *target_id, const char *scv)
{
    if (!text_ok(target_id, CC_TARGET_ID_LEN))
        return CC_STORE_NOT_FOUND;
    if (!text_ok(scv, CC_SCV_NAME_MAX))
        return CC_STORE_INVALID;
    return st->ops->shard_add(st->impl, target_id, scv);
}

cc_store_status cc_store_shard_remove(cc_store *st, const char *target_id, const char *scv)
{
    if (!text_ok(target_id, CC_TARGET_ID_LEN))
        return CC_STORE_NOT_FOUND;
    if (!text_ok(scv, CC_SCV_NAME_MAX))
        return CC_STORE_INVALID;
    return st->ops->shard_remove(st->impl, target_id, scv);
}

/* ---- SCVs ---- */

cc_store_status cc_store_scv_upsert(cc_store *st, const char *name, const char *host, const char *password)
{
    cc_scv_row row = {0};
    cc_store_status rc;

    if (!text_ok(name, CC_SCV_NAME_MAX) || !text_ok(host, CC_HOST_MAX) || !text_ok(password, AUTH_SECRET_MAX))
        return CC_STORE_INVALID;
    copy_text(row.name, sizeof row.name, name);
    copy_text(row.host, sizeof row.host, host);
    row.password_sealed = cc_seal_seal(st->seal, password);
    if (!row.password_sealed)
        return CC_STORE_IO;
    rc = st->ops->scv_upsert(st->impl, &row);
    free(row.password_sealed);
    return rc;
}

/* The SCVs whose password unseals, in *out (*n_out of them); one that does
 * not is left out, so it cannot stop the others from being served. */
static cc_store_status unseal_scvs(cc_store *st, const cc_scv_row *rows, size_t n, cc_scv **out,
                                   size_t *n_out)
{
    *n_out = 0;
    *out = calloc(n ? n : 1, sizeof **out);
    if (!*out)
        return CC_STORE_IO;
    for (size_t i = 0; i < n; i++) {
        char what[CC_SEAL_WHAT_MAX];
        cc_seal_what_scv(&rows[i], what);
        char *plain = cc_seal_unseal(st->seal, what, rows[i].password_sealed);
        if (!plain)
            continue;
        cc_scv *scv = &(*out)[(*n_out)++];
        copy_text(scv->name, sizeof scv->name, rows[i].name);
        copy_text(scv->host, sizeof scv->host, rows[i].host);
        copy_text(scv->password, sizeof scv->password, plain);
        free(plain);
    }
    return CC_STORE_OK;
}

cc_store_status cc_store_scv_list(cc_store *st, cc_scv **out, size_t *n)
{
    cc_scv_row *rows = NULL;
    size_t n_rows = 0;
    cc_store_status rc;

    *out = NULL;
    *n = 0;
    rc = st->ops->scv_list(st->impl, &rows, &n_rows);
    if (rc == CC_STORE_OK)
        rc = unseal_scvs(st, rows, n_rows, out, n);
    cc_scv_rows_free(rows, n_rows);
    return rc;
}

/* ---- stats and cache ---- */

cc_store_status cc_store_stats_insert(cc_store *st, const cc_stats_fragment *v, size_t n, size_t *inserted)
{
    size_t dummy;

    if (!inserted)
        inserted = &dummy;
    *inserted = 0;
    if (n > CC_STATS_BATCH_MAX || (n && !v))
        return CC_STORE_INVALID;
    for (size_t i = 0; i < n; i++) {
        const cc_stats_fragment *f = &v[i];
        if (!field_ok(f->id, sizeof f->id) || !f->id[0] || !field_ok(f->target_id, sizeof f->target_id) ||
            !field_ok(f->stream_id, sizeof f->stream_id) || !field_ok(f->engine, sizeof f->engine) ||
            !field_ok(f->user, sizeof f->user) || f->frames < 0 || !isfinite(f->start_time) ||
            !isfinite(f->end_time))
            return CC_STORE_INVALID;
    }
    if (n == 0)
        return CC_STORE_OK;
    return st->ops->stats_insert(st->impl, v, n, inserted);
}

cc_store_status cc_store_load_changes(cc_store *st, const uint64_t *since, cc_snapshot *out,
                                      cc_strlist *deleted, uint64_t *generation)
{
    cc_scv_row *rows = NULL;
    size_t n_rows = 0;
    cc_store_status rc;

    memset(out, 0, sizeof *out);
    memset(deleted, 0, sizeof *deleted);
    *generation = 0;
    rc = st->ops->load_since(st->impl, since, out, deleted, generation, &rows, &n_rows);
    if (rc == CC_STORE_OK)
        rc = unseal_scvs(st, rows, n_rows, &out->scvs, &out->n_scvs);
    if (rc != CC_STORE_OK) {
        cc_snapshot_free(out);
        cc_strlist_free(deleted);
    }
    cc_scv_rows_free(rows, n_rows);
    return rc;
}

cc_store_status cc_store_load_all(cc_store *st, cc_snapshot *out)
{
    cc_strlist deleted;
    uint64_t generation;
    return cc_store_load_changes(st, NULL, out, &deleted, &generation);
}

cc_store_status cc_store_change_counter(cc_store *st, uint64_t *out)
{
    *out = 0;
    return st->ops->change_counter(st->impl, out);
}
