/* The records of cc_store.h and cc_store_backend.h: role and stage
 * names, the text forms both backends store, and freeing. */
#include <stdlib.h>
#include <string.h>

#include "cc/cc_store_backend.h"

static const char *const role_names[] = {"admin", "manager", "donor"};
static const char *const stage_names[] = {"disabled", "private", "beta", "public"};

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

int cc_target_from_row(cc_target *t, const char *stage, const char *engines, const char *options)
{
    cc_stage parsed = CC_STAGE_DISABLED;

    cc_stage_parse(stage, &parsed);
    t->stage = parsed;
    if (cc_engines_parse(engines, t) != 0)
        return -1;
    t->options = json_loads(options ? options : "", 0, NULL);
    if (!json_is_object(t->options)) {
        json_decref(t->options);
        t->options = json_object();
    }
    return t->options ? 0 : -1;
}
