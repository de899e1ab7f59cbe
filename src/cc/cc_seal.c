#include "cc/cc_seal.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/fs.h"
#include "util/log.h"

#define LEGACY_KEY_FILE "secret.key"

struct cc_seal {
    auth_box *box;
    int has_previous; /* a previous cc_pass or secret.key was given */
    pthread_mutex_t lock;
    json_t *reported; /* what -> the sealed text already reported */
};

/* passes[0] = cc_pass, then the words of previous; returns how many, or 0
 * when there are too many. copy keeps the words (NUL-separated). */
static size_t split_passes(const char *cc_pass, const char *previous, char *copy, size_t size,
                           const char *passes[AUTH_PASSES_MAX])
{
    size_t n = 0;
    passes[n++] = cc_pass;
    snprintf(copy, size, "%s", previous ? previous : "");
    for (char *save = NULL, *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        if (n == AUTH_PASSES_MAX)
            return 0;
        passes[n++] = w;
    }
    return n;
}

static auth_box *open_box(const cc_store_ops *ops, void *impl, const char *data_dir, const char *cc_pass,
                          const char *previous, int *has_previous, char *err, size_t errlen)
{
    char candidate[AUTH_SALT_HEX_LEN + 1], salt[AUTH_SALT_HEX_LEN + 1] = "", legacy[4096], copy[1024];
    const char *passes[AUTH_PASSES_MAX];
    size_t n = split_passes(cc_pass ? cc_pass : "", previous, copy, sizeof copy, passes);
    if (n == 0) {
        snprintf(err, errlen, "cc_pass_previous lists more than %d values", AUTH_PASSES_MAX - 1);
        return NULL;
    }
    if (passes[0][0] == '\0') {
        snprintf(err, errlen,
                 "cc_pass is empty: set it in the config (it authenticates SCVs and seals the "
                 "secrets kept in the database)");
        return NULL;
    }
    if (auth_salt_new(candidate) != 0 || ops->seal_salt(impl, candidate, salt) != CC_STORE_OK) {
        snprintf(err, errlen, "cannot read or create the sealing salt in the database (see the log)");
        return NULL;
    }
    if (snprintf(legacy, sizeof legacy, "%s/%s", data_dir, LEGACY_KEY_FILE) >= (int)sizeof legacy) {
        snprintf(err, errlen, "data folder path too long: %s", data_dir);
        return NULL;
    }
    int has_legacy = fs_exists(legacy);
    *has_previous = n > 1 || has_legacy;
    return auth_box_open(passes, n, salt, has_legacy ? legacy : NULL, err, errlen);
}

cc_seal *cc_seal_open(const cc_store_ops *ops, void *impl, const char *data_dir, const char *cc_pass,
                      const char *cc_pass_previous, char *err, size_t errlen)
{
    cc_seal *s = calloc(1, sizeof *s);
    if (!s || !(s->reported = json_object())) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    s->box = open_box(ops, impl, data_dir, cc_pass, cc_pass_previous, &s->has_previous, err, errlen);
    if (!s->box) {
        cc_seal_close(s);
        return NULL;
    }
    return s;
}

void cc_seal_close(cc_seal *s)
{
    if (!s)
        return;
    auth_box_close(s->box);
    json_decref(s->reported);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

char *cc_seal_seal(cc_seal *s, const char *plain)
{
    return auth_box_seal(s->box, plain);
}

/* Logs unless this what was reported with the same sealed text. */
static void report_once(cc_seal *s, const char *what, const char *sealed)
{
    pthread_mutex_lock(&s->lock);
    const char *seen = json_string_value(json_object_get(s->reported, what));
    int fresh = seen == NULL || strcmp(seen, sealed) != 0;
    if (fresh)
        json_object_set_new(s->reported, what, json_string(sealed));
    pthread_mutex_unlock(&s->lock);
    if (fresh)
        log_error("%s: its sealed secret opens with none of this CC's keys (cc_pass, cc_pass_previous, "
                  "secret.key); it is left out until it is written again",
                  what);
}

static char *unseal(cc_seal *s, const char *what, const char *sealed, int *current)
{
    char *plain = auth_box_unseal(s->box, sealed, current);
    if (!plain)
        report_once(s, what, sealed);
    return plain;
}

char *cc_seal_unseal(cc_seal *s, const char *what, const char *sealed)
{
    return unseal(s, what, sealed, NULL);
}

void cc_seal_what_key(const cc_engine_key_row *row, char out[CC_SEAL_WHAT_MAX])
{
    snprintf(out, CC_SEAL_WHAT_MAX, "engine key %.8s… for '%s'", row->key_hash, row->engine);
}

void cc_seal_what_scv(const cc_scv_row *row, char out[CC_SEAL_WHAT_MAX])
{
    snprintf(out, CC_SEAL_WHAT_MAX, "SCV '%s'", row->name);
}

struct migration {
    size_t resealed, unopened;
};

/* Seals one secret again when it is not under the current key. */
static void migrate_one(cc_seal *s, const cc_store_ops *ops, void *impl, int scv, const char *id,
                        const char *what, const char *sealed, struct migration *m)
{
    int current = 0;
    char *plain = unseal(s, what, sealed, &current);
    char *again = plain && !current ? auth_box_seal(s->box, plain) : NULL;
    if (!plain)
        m->unopened++;
    else if (again && ops->reseal(impl, scv, id, sealed, again) == CC_STORE_OK)
        m->resealed++;
    free(again);
    free(plain);
}

void cc_seal_migrate(cc_seal *s, const cc_store_ops *ops, void *impl)
{
    cc_engine_key_row *keys = NULL;
    cc_scv_row *scvs = NULL;
    size_t n_keys = 0, n_scvs = 0;
    struct migration m = {0, 0};
    char what[CC_SEAL_WHAT_MAX];
    if (ops->key_list(impl, &keys, &n_keys) != CC_STORE_OK ||
        ops->scv_list(impl, &scvs, &n_scvs) != CC_STORE_OK) {
        log_warn("cc store: cannot list the sealed secrets to seal them again under the current cc_pass");
        goto out;
    }
    for (size_t i = 0; i < n_keys; i++) {
        cc_seal_what_key(&keys[i], what);
        migrate_one(s, ops, impl, 0, keys[i].key_hash, what, keys[i].key_sealed, &m);
    }
    for (size_t i = 0; i < n_scvs; i++) {
        cc_seal_what_scv(&scvs[i], what);
        migrate_one(s, ops, impl, 1, scvs[i].name, what, scvs[i].password_sealed, &m);
    }
    if (m.resealed > 0)
        log_info("cc store: %zu secrets sealed again under the current cc_pass", m.resealed);
    if (s->has_previous && m.unopened == 0)
        log_info("cc store: every secret is sealed under the current cc_pass; once every CC has logged "
                 "this, cc_pass_previous and secret.key can go");
out:
    cc_engine_key_rows_free(keys, n_keys);
    cc_scv_rows_free(scvs, n_scvs);
}
