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

static auth_box *open_box(const char *salt, const char *data_dir, const char *cc_pass, const char *previous,
                          int *has_previous, struct status *st)
{
    char legacy[4096], copy[1024];
    const char *passes[AUTH_PASSES_MAX];
    size_t n = split_passes(cc_pass ? cc_pass : "", previous, copy, sizeof copy, passes);
    if (n == 0) {
        status_fail(st, STATUS_INVALID, "cc_pass_previous lists more than %d values", AUTH_PASSES_MAX - 1);
        return NULL;
    }
    if (passes[0][0] == '\0') {
        status_fail(st, STATUS_INVALID,
                    "cc_pass is empty: set it in the config (it authenticates SCVs and seals the "
                    "secrets kept in the database)");
        return NULL;
    }
    if (snprintf(legacy, sizeof legacy, "%s/%s", data_dir, LEGACY_KEY_FILE) >= (int)sizeof legacy) {
        status_fail(st, STATUS_INVALID, "data folder path too long: %s", data_dir);
        return NULL;
    }
    int has_legacy = fs_exists(legacy);
    *has_previous = n > 1 || has_legacy;
    char err[STATUS_MSG_LEN];
    auth_box *box = auth_box_open(passes, n, salt, has_legacy ? legacy : NULL, err, sizeof err);
    if (!box)
        status_fail(st, STATUS_INVALID, "%s", err);
    return box;
}

cc_seal *cc_seal_open(const char *salt, const char *data_dir, const char *cc_pass,
                      const char *cc_pass_previous, struct status *st)
{
    cc_seal *s = calloc(1, sizeof *s);
    if (!s || !(s->reported = json_object())) {
        free(s);
        status_fail(st, STATUS_IO, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    s->box = open_box(salt, data_dir, cc_pass, cc_pass_previous, &s->has_previous, st);
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

void cc_seal_what_key(const char *key_hash, const char *engine, char out[CC_SEAL_WHAT_MAX])
{
    snprintf(out, CC_SEAL_WHAT_MAX, "engine key %.8s… for '%s'", key_hash, engine);
}

void cc_seal_what_scv(const char *name, char out[CC_SEAL_WHAT_MAX])
{
    snprintf(out, CC_SEAL_WHAT_MAX, "SCV '%s'", name);
}

char *cc_seal_again(cc_seal *s, const char *what, const char *sealed, int *opened)
{
    int current = 0;
    char *plain = unseal(s, what, sealed, &current);
    char *again = plain && !current ? auth_box_seal(s->box, plain) : NULL;
    *opened = plain != NULL;
    free(plain);
    return again;
}

void cc_seal_migrated(cc_seal *s, size_t resealed, size_t unopened)
{
    if (resealed > 0)
        log_info("cc store: %zu secrets sealed again under the current cc_pass", resealed);
    if (s->has_previous && unopened == 0)
        log_info("cc store: every secret is sealed under the current cc_pass; once every CC has logged "
                 "this, cc_pass_previous and secret.key can go");
}
