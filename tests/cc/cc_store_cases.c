#include "cc_store_cases.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

cc_store *store_cases_open(store_fixture *f)
{
    struct status err = {0};
    cc_store *st = cc_store_open(f->database, f->dir, f->pass ? f->pass : STORE_TEST_PASS, f->previous, &err);
    if (!st)
        fprintf(stderr, "open failed: %s\n", err.msg);
    return st;
}

status_code store_load_all(cc_store *st, cc_snapshot *out)
{
    cc_strlist deleted;
    uint64_t generation;
    return cc_store_load_changes(st, NULL, out, &deleted, &generation, NULL);
}

status_code store_key_lookup(cc_store *st, const char *key, char engine[CC_ENGINE_MAX + 1])
{
    char hash[AUTH_TOKEN_HASH_LEN + 1];
    cc_snapshot s;
    status_code rc = store_load_all(st, &s);
    if (rc != STATUS_OK)
        return rc;
    auth_token_hash(key, hash);
    rc = STATUS_NOT_FOUND;
    for (size_t i = 0; i < s.n_keys; i++) {
        if (strcmp(s.keys[i].key_hash, hash) == 0) {
            snprintf(engine, CC_ENGINE_MAX + 1, "%s", s.keys[i].engine);
            rc = STATUS_OK;
        }
    }
    cc_snapshot_free(&s);
    return rc;
}

status_code store_scv_list(cc_store *st, cc_scv **out, size_t *n)
{
    cc_snapshot s;
    status_code rc = store_load_all(st, &s);
    *out = rc == STATUS_OK ? s.scvs : NULL;
    *n = rc == STATUS_OK ? s.n_scvs : 0;
    s.scvs = NULL;
    cc_snapshot_free(&s);
    return rc;
}

void store_cases_reopen(store_fixture *f)
{
    cc_store_close(f->st);
    f->st = store_cases_open(f);
    assert_non_null(f->st);
}

static void test_managers(void **state)
{
    store_fixture *f = *state;
    char tok[AUTH_TOKEN_HEX_LEN + 1], tok2[AUTH_TOKEN_HEX_LEN + 1], tok3[AUTH_TOKEN_HEX_LEN + 1];
    cc_user u;
    int admin = -1;

    assert_int_equal(cc_store_admin_exists(f->st, &admin, NULL), STATUS_OK);
    assert_int_equal(admin, 0);
    assert_int_equal(cc_store_create_manager(f->st, "root@x.org", "rootpw", CC_ROLE_ADMIN, 1, tok, NULL),
                     STATUS_OK);
    assert_int_equal(cc_store_admin_exists(f->st, &admin, NULL), STATUS_OK);
    assert_int_equal(admin, 1);
    assert_int_equal(cc_store_create_manager(f->st, "root@x.org", "other", CC_ROLE_MANAGER, 1, tok2, NULL),
                     STATUS_EXISTS);
    assert_int_equal(cc_store_create_manager(f->st, "", "pw", CC_ROLE_MANAGER, 1, tok2, NULL),
                     STATUS_INVALID);
    assert_int_equal(cc_store_create_manager(f->st, "a@x.org", "", CC_ROLE_MANAGER, 1, tok2, NULL),
                     STATUS_INVALID);
    assert_int_equal(cc_store_create_manager(f->st, "a@x.org", "pw", CC_ROLE_DONOR, 1, tok2, NULL),
                     STATUS_INVALID);
    assert_int_equal(cc_store_create_manager(f->st, "a@x.org", "pw", (cc_role)7, 1, tok2, NULL),
                     STATUS_INVALID);
    assert_int_equal(cc_store_create_manager(f->st, "a@x.org", "pw", CC_ROLE_MANAGER, NAN, tok2, NULL),
                     STATUS_INVALID);

    assert_int_equal(cc_store_user_by_token(f->st, tok, &u, NULL), STATUS_OK);
    assert_string_equal(u.name, "root@x.org");
    assert_int_equal(u.role, CC_ROLE_ADMIN);
    assert_true(u.creation_date > 1e9);
    assert_int_equal(cc_store_user_by_token(f->st, "0123456789abcdef0123456789abcdef", &u, NULL),
                     STATUS_NOT_FOUND);
    assert_int_equal(cc_store_user_by_token(f->st, "", &u, NULL), STATUS_NOT_FOUND);

    /* Authenticate replaces the token. */
    assert_int_equal(cc_store_authenticate(f->st, 0, "root@x.org", "rootpw", tok2, NULL), STATUS_OK);
    assert_string_not_equal(tok, tok2);
    assert_int_equal(cc_store_user_by_token(f->st, tok, &u, NULL), STATUS_NOT_FOUND);
    assert_int_equal(cc_store_user_by_token(f->st, tok2, &u, NULL), STATUS_OK);
    assert_int_equal(cc_store_authenticate(f->st, 0, "root@x.org", "rootpW", tok3, NULL), STATUS_DENIED);
    assert_int_equal(cc_store_user_by_token(f->st, tok2, &u, NULL), STATUS_OK); /* unchanged by a failure */
    assert_int_equal(cc_store_authenticate(f->st, 0, "nobody@x.org", "rootpw", tok3, NULL), STATUS_NOT_FOUND);
    assert_int_equal(cc_store_authenticate(f->st, 1, "root@x.org", "rootpw", tok3, NULL), STATUS_NOT_FOUND);
    assert_int_equal(cc_store_authenticate(f->st, 0, "", "rootpw", tok3, NULL), STATUS_INVALID);

    /* Neither the password nor the token is stored in plain text. */
    assert_false(f->backend->contains(f, "rootpw"));
    assert_false(f->backend->contains(f, tok2));
    assert_true(f->backend->contains(f, "root@x.org")); /* the scan itself works */
}

static void test_donors(void **state)
{
    store_fixture *f = *state;
    char tok[AUTH_TOKEN_HEX_LEN + 1], tok2[AUTH_TOKEN_HEX_LEN + 1];
    cc_user u;

    assert_int_equal(cc_store_create_manager(f->st, "m@x.org", "mpw", CC_ROLE_MANAGER, 1, tok, NULL),
                     STATUS_OK);
    assert_int_equal(cc_store_create_donor(f->st, "dan", "dan@x.org", "dpw", tok, NULL), STATUS_OK);
    assert_int_equal(cc_store_create_donor(f->st, "dan", "other@x.org", "dpw", tok2, NULL), STATUS_EXISTS);
    assert_int_equal(cc_store_create_donor(f->st, "dan2", "dan@x.org", "dpw", tok2, NULL), STATUS_EXISTS);
    assert_int_equal(cc_store_create_donor(f->st, "m@x.org", "z@x.org", "dpw", tok2, NULL), STATUS_EXISTS);
    assert_int_equal(cc_store_create_donor(f->st, "eve", "", "dpw", tok2, NULL), STATUS_INVALID);
    /* A manager's email may also be a donor's email. */
    assert_int_equal(cc_store_create_donor(f->st, "em", "m@x.org", "dpw", tok2, NULL), STATUS_OK);

    assert_int_equal(cc_store_user_by_token(f->st, tok, &u, NULL), STATUS_OK);
    assert_string_equal(u.name, "dan");
    assert_string_equal(u.email, "dan@x.org");
    assert_int_equal(u.role, CC_ROLE_DONOR);
    assert_int_equal(cc_store_authenticate(f->st, 1, "dan", "dpw", tok2, NULL), STATUS_OK);
    assert_int_equal(cc_store_user_by_token(f->st, tok2, &u, NULL), STATUS_OK);
    assert_int_equal(cc_store_authenticate(f->st, 1, "dan", "bad", tok2, NULL), STATUS_DENIED);
    assert_int_equal(cc_store_authenticate(f->st, 0, "dan", "dpw", tok2, NULL), STATUS_NOT_FOUND);
}

static void test_engine_keys(void **state)
{
    store_fixture *f = *state;
    char k1[AUTH_TOKEN_HEX_LEN + 1], k2[AUTH_TOKEN_HEX_LEN + 1], engine[CC_ENGINE_MAX + 1];
    cc_engine_key *keys = NULL;
    size_t n = 0;

    assert_int_equal(cc_store_key_create(f->st, "openmm", "first", k1, NULL), STATUS_OK);
    assert_int_equal(cc_store_key_create(f->st, "gromacs", "second", k2, NULL), STATUS_OK);
    assert_int_equal(cc_store_key_create(f->st, "", "x", k2, NULL), STATUS_INVALID);
    assert_int_equal(cc_store_key_create(f->st, "openmm", "", k2, NULL), STATUS_INVALID);
    char long_engine[CC_ENGINE_MAX + 2];
    memset(long_engine, 'e', sizeof long_engine - 1);
    long_engine[CC_ENGINE_MAX + 1] = '\0';
    assert_int_equal(cc_store_key_create(f->st, long_engine, "x", k2, NULL), STATUS_INVALID);

    assert_int_equal(store_key_lookup(f->st, k1, engine), STATUS_OK);
    assert_string_equal(engine, "openmm");
    assert_int_equal(store_key_lookup(f->st, "nope", engine), STATUS_NOT_FOUND);
    assert_int_equal(cc_store_key_list(f->st, &keys, &n, NULL), STATUS_OK);
    assert_int_equal(n, 2);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(keys[i].key, k1) == 0) {
            assert_string_equal(keys[i].engine, "openmm");
            assert_string_equal(keys[i].description, "first");
            assert_true(keys[i].creation_date > 1e9);
            seen++;
        }
        if (strcmp(keys[i].key, k2) == 0)
            seen++;
    }
    assert_int_equal(seen, 2);
    free(keys);
    assert_false(f->backend->contains(f, k1));

    assert_int_equal(cc_store_key_delete(f->st, k1, NULL), STATUS_OK);
    assert_int_equal(cc_store_key_delete(f->st, k1, NULL), STATUS_NOT_FOUND);
    assert_int_equal(store_key_lookup(f->st, k1, engine), STATUS_NOT_FOUND);
    assert_int_equal(cc_store_key_list(f->st, &keys, &n, NULL), STATUS_OK);
    assert_int_equal(n, 1);
    assert_string_equal(keys[0].key, k2);
    free(keys);

    /* Another cc_pass opens nothing: the key is left out of the list, never
     * garbage, and lookup (by hash) still works. */
    f->pass = "another-pass";
    log_set_quiet(1);
    store_cases_reopen(f);
    log_set_quiet(0);
    assert_int_equal(cc_store_key_list(f->st, &keys, &n, NULL), STATUS_OK);
    assert_int_equal(n, 0);
    free(keys);
    assert_int_equal(store_key_lookup(f->st, k2, engine), STATUS_OK);

    /* Rotation: with the old one as cc_pass_previous, the key is sealed
     * again under the new one at open, and then opens without it. */
    f->previous = "unrelated " STORE_TEST_PASS;
    store_cases_reopen(f);
    f->previous = NULL;
    store_cases_reopen(f);
    assert_int_equal(cc_store_key_list(f->st, &keys, &n, NULL), STATUS_OK);
    assert_int_equal(n, 1);
    assert_string_equal(keys[0].key, k2);
    free(keys);
}

static status_code make_target(store_fixture *f, const char *owner, cc_stage stage, double weight, char *id)
{
    const char *engines[] = {"openmm", "gromacs"};
    json_t *opts = json_pack("{s:i,s:s}", "steps_per_frame", 50000, "title", "t");
    cc_target_new t = {.owner = owner,
                       .stage = stage,
                       .engines = engines,
                       .n_engines = 2,
                       .options = opts,
                       .weight = weight};
    status_code rc = cc_store_target_create(f->st, &t, id, NULL);
    json_decref(opts);
    return rc;
}

static void test_targets(void **state)
{
    store_fixture *f = *state;
    char a[CC_TARGET_ID_LEN + 1], b[CC_TARGET_ID_LEN + 1], c[CC_TARGET_ID_LEN + 1];
    cc_target t;
    cc_strlist l;

    assert_int_equal(make_target(f, "m@x.org", CC_STAGE_PRIVATE, 2, a), STATUS_OK);
    assert_int_equal(make_target(f, "m@x.org", CC_STAGE_PUBLIC, -4, b), STATUS_OK);
    assert_int_equal(make_target(f, "n@x.org", CC_STAGE_PUBLIC, 1, c), STATUS_OK);
    assert_int_equal(strlen(a), 36);
    assert_string_not_equal(a, b);

    assert_int_equal(cc_store_target_get(f->st, a, &t, NULL), STATUS_OK);
    assert_string_equal(t.id, a);
    assert_string_equal(t.owner, "m@x.org");
    assert_int_equal(t.stage, CC_STAGE_PRIVATE);
    assert_int_equal(t.n_engines, 2);
    assert_string_equal(t.engines[1], "gromacs");
    assert_int_equal(json_integer_value(json_object_get(t.options, "steps_per_frame")), 50000);
    assert_true(t.weight == 2);
    assert_int_equal(t.n_shards, 0);
    cc_target_free(&t);
    assert_int_equal(cc_store_target_get(f->st, b, &t, NULL), STATUS_OK);
    assert_true(t.weight == 0); /* clamped */
    cc_target_free(&t);
    assert_int_equal(cc_store_target_get(f->st, "00000000-0000-4000-8000-000000000000", &t, NULL),
                     STATUS_NOT_FOUND);
    assert_int_equal(cc_store_target_get(f->st, "../../etc", &t, NULL), STATUS_NOT_FOUND);

    assert_int_equal(cc_store_target_list_owner(f->st, "m@x.org", &l, NULL), STATUS_OK);
    assert_int_equal(l.n, 2);
    assert_true(strcmp(l.v[0], a) == 0 || strcmp(l.v[1], a) == 0);
    cc_strlist_free(&l);
    assert_int_equal(cc_store_target_list_owner(f->st, "nobody", &l, NULL), STATUS_OK);
    assert_int_equal(l.n, 0);
    cc_strlist_free(&l);
    assert_int_equal(cc_store_target_list_public(f->st, &l, NULL), STATUS_OK);
    assert_int_equal(l.n, 2);
    for (size_t i = 0; i < l.n; i++)
        assert_string_not_equal(l.v[i], a);
    cc_strlist_free(&l);

    /* Bad creations. */
    const char *none[] = {NULL};
    const char *empty[] = {""};
    json_t *arr = json_array();
    cc_target_new bad = {
        .owner = "m@x.org", .stage = CC_STAGE_PUBLIC, .engines = none, .n_engines = 0, .weight = 1};
    assert_int_equal(cc_store_target_create(f->st, &bad, c, NULL), STATUS_INVALID);
    bad.engines = empty;
    bad.n_engines = 1;
    assert_int_equal(cc_store_target_create(f->st, &bad, c, NULL), STATUS_INVALID);
    const char *ok[] = {"openmm"};
    bad.engines = ok;
    bad.options = arr;
    assert_int_equal(cc_store_target_create(f->st, &bad, c, NULL), STATUS_INVALID);
    bad.options = NULL;
    bad.weight = INFINITY;
    assert_int_equal(cc_store_target_create(f->st, &bad, c, NULL), STATUS_INVALID);
    bad.weight = 1;
    bad.stage = (cc_stage)9;
    assert_int_equal(cc_store_target_create(f->st, &bad, c, NULL), STATUS_INVALID);
    bad.stage = CC_STAGE_BETA;
    bad.owner = "";
    assert_int_equal(cc_store_target_create(f->st, &bad, c, NULL), STATUS_INVALID);
    json_decref(arr);
}

static void test_target_update(void **state)
{
    store_fixture *f = *state;
    char a[CC_TARGET_ID_LEN + 1];
    cc_target t;
    cc_target_update u = {0};

    assert_int_equal(make_target(f, "m@x.org", CC_STAGE_PRIVATE, 2, a), STATUS_OK);
    assert_int_equal(cc_store_target_update(f->st, a, &u, NULL), STATUS_INVALID); /* nothing to update */
    u.set_stage = 1;
    u.stage = (cc_stage)-1;
    assert_int_equal(cc_store_target_update(f->st, a, &u, NULL), STATUS_INVALID);
    u.stage = CC_STAGE_BETA;
    assert_int_equal(cc_store_target_update(f->st, "no-such", &u, NULL), STATUS_NOT_FOUND);
    assert_int_equal(cc_store_target_update(f->st, a, &u, NULL), STATUS_OK);

    json_t *merge = json_pack("{s:i,s:s}", "steps_per_frame", 10, "extra", "yes");
    const char *eng[] = {"cuda"};
    cc_target_update u2 = {
        .set_engines = 1, .engines = eng, .n_engines = 1, .set_weight = 1, .weight = -1, .options = merge};
    assert_int_equal(cc_store_target_update(f->st, a, &u2, NULL), STATUS_OK);
    json_decref(merge);
    assert_int_equal(cc_store_target_get(f->st, a, &t, NULL), STATUS_OK);
    assert_int_equal(t.stage, CC_STAGE_BETA);
    assert_int_equal(t.n_engines, 1);
    assert_string_equal(t.engines[0], "cuda");
    assert_true(t.weight == 0);
    assert_int_equal(json_integer_value(json_object_get(t.options, "steps_per_frame")), 10);
    assert_string_equal(json_string_value(json_object_get(t.options, "extra")), "yes");
    assert_string_equal(json_string_value(json_object_get(t.options, "title")), "t"); /* kept */
    cc_target_free(&t);

    /* Options that would grow past the limit are refused whole. */
    char *big = malloc(CC_OPTIONS_MAX);
    memset(big, 'o', CC_OPTIONS_MAX - 100);
    big[CC_OPTIONS_MAX - 100] = '\0';
    json_t *m1 = json_pack("{s:s}", "k1", big), *m2 = json_pack("{s:s}", "k2", big);
    cc_target_update u3 = {.options = m1};
    assert_int_equal(cc_store_target_update(f->st, a, &u3, NULL), STATUS_OK);
    u3.options = m2;
    u3.set_stage = 1;
    u3.stage = CC_STAGE_PUBLIC;
    assert_int_equal(cc_store_target_update(f->st, a, &u3, NULL), STATUS_INVALID);
    assert_int_equal(cc_store_target_get(f->st, a, &t, NULL), STATUS_OK);
    assert_int_equal(t.stage, CC_STAGE_BETA);
    assert_null(json_object_get(t.options, "k2"));
    cc_target_free(&t);
    json_t *arr = json_array();
    cc_target_update u4 = {.options = arr};
    assert_int_equal(cc_store_target_update(f->st, a, &u4, NULL), STATUS_INVALID);
    json_decref(arr);
    json_decref(m1);
    json_decref(m2);
    free(big);
}

static void test_shards_and_delete(void **state)
{
    store_fixture *f = *state;
    char a[CC_TARGET_ID_LEN + 1];
    cc_target t;

    assert_int_equal(make_target(f, "m@x.org", CC_STAGE_PUBLIC, 1, a), STATUS_OK);
    assert_int_equal(cc_store_shard_add(f->st, a, "scv2", NULL), STATUS_OK);
    assert_int_equal(cc_store_shard_add(f->st, a, "scv1", NULL), STATUS_OK);
    assert_int_equal(cc_store_shard_add(f->st, a, "scv1", NULL), STATUS_OK);
    assert_int_equal(cc_store_shard_add(f->st, "no-such", "scv1", NULL), STATUS_NOT_FOUND);
    assert_int_equal(cc_store_shard_add(f->st, a, "", NULL), STATUS_INVALID);
    assert_int_equal(cc_store_target_get(f->st, a, &t, NULL), STATUS_OK);
    assert_int_equal(t.n_shards, 2);
    assert_string_equal(t.shards[0], "scv1");
    assert_string_equal(t.shards[1], "scv2");
    cc_target_free(&t);

    assert_int_equal(cc_store_target_delete(f->st, a, NULL), STATUS_CONFLICT);
    assert_int_equal(cc_store_shard_remove(f->st, a, "scv1", NULL), STATUS_OK);
    assert_int_equal(cc_store_shard_remove(f->st, a, "scv1", NULL), STATUS_OK);
    assert_int_equal(cc_store_target_delete(f->st, a, NULL), STATUS_CONFLICT);
    assert_int_equal(cc_store_shard_remove(f->st, a, "scv2", NULL), STATUS_OK);
    assert_int_equal(cc_store_shard_remove(f->st, "no-such", "scv2", NULL), STATUS_NOT_FOUND);
    assert_int_equal(cc_store_target_delete(f->st, a, NULL), STATUS_OK);
    assert_int_equal(cc_store_target_delete(f->st, a, NULL), STATUS_NOT_FOUND);
    assert_int_equal(cc_store_target_get(f->st, a, &t, NULL), STATUS_NOT_FOUND);
    assert_int_equal(cc_store_shard_add(f->st, a, "scv1", NULL), STATUS_NOT_FOUND);
}

static void test_scvs(void **state)
{
    store_fixture *f = *state;
    cc_scv *v = NULL;
    size_t n = 0;

    assert_int_equal(cc_store_scv_upsert(f->st, "scv1", "a.org:8960", "sekrit-one", NULL), STATUS_OK);
    assert_int_equal(cc_store_scv_upsert(f->st, "scv0", "b.org:8960", "sekrit-zero", NULL), STATUS_OK);
    assert_int_equal(cc_store_scv_upsert(f->st, "scv1", "c.org:1", "sekrit-new", NULL), STATUS_OK);
    assert_int_equal(cc_store_scv_upsert(f->st, "", "c.org:1", "pw", NULL), STATUS_INVALID);
    assert_int_equal(cc_store_scv_upsert(f->st, "scv2", "", "pw", NULL), STATUS_INVALID);
    assert_int_equal(cc_store_scv_upsert(f->st, "scv2", "h", "", NULL), STATUS_INVALID);
    assert_int_equal(store_scv_list(f->st, &v, &n), STATUS_OK);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].name, "scv0");
    assert_string_equal(v[1].name, "scv1");
    assert_string_equal(v[1].host, "c.org:1");
    assert_string_equal(v[1].password, "sekrit-new");
    free(v);
    assert_false(f->backend->contains(f, "sekrit"));
}

static void fragment(cc_stats_fragment *fr, const char *id, long long frames)
{
    memset(fr, 0, sizeof *fr);
    snprintf(fr->id, sizeof fr->id, "%s", id);
    snprintf(fr->target_id, sizeof fr->target_id, "t");
    snprintf(fr->stream_id, sizeof fr->stream_id, "s:scv1");
    snprintf(fr->engine, sizeof fr->engine, "openmm");
    fr->start_time = 1;
    fr->end_time = 2;
    fr->frames = frames;
}

static void test_stats(void **state)
{
    store_fixture *f = *state;
    cc_stats_fragment v[3];
    size_t ins = 99;

    fragment(&v[0], "f1", 10);
    fragment(&v[1], "f2", 20);
    fragment(&v[2], "f1", 999); /* duplicate inside one batch */
    assert_int_equal(cc_store_stats_insert(f->st, v, 3, &ins, NULL), STATUS_OK);
    assert_int_equal(ins, 2);
    assert_int_equal(f->backend->stats_rows(f), 2 * 1000000 + 30);
    fragment(&v[2], "f3", 5);
    assert_int_equal(cc_store_stats_insert(f->st, v, 3, &ins, NULL), STATUS_OK);
    assert_int_equal(ins, 1);
    assert_int_equal(f->backend->stats_rows(f), 3 * 1000000 + 35);

    fragment(&v[0], "f4", 1);
    fragment(&v[1], "f5", -1);
    assert_int_equal(cc_store_stats_insert(f->st, v, 2, &ins, NULL), STATUS_INVALID);
    assert_int_equal(ins, 0);
    fragment(&v[1], "", 1);
    assert_int_equal(cc_store_stats_insert(f->st, v, 2, &ins, NULL), STATUS_INVALID);
    fragment(&v[1], "f5", 1);
    memset(v[1].engine, 'x', sizeof v[1].engine); /* not terminated */
    assert_int_equal(cc_store_stats_insert(f->st, v, 2, &ins, NULL), STATUS_INVALID);
    assert_int_equal(cc_store_stats_insert(f->st, v, CC_STATS_BATCH_MAX + 1, &ins, NULL), STATUS_INVALID);
    assert_int_equal(f->backend->stats_rows(f), 3 * 1000000 + 35);
    assert_int_equal(cc_store_stats_insert(f->st, NULL, 0, NULL, NULL), STATUS_OK);
}

static void test_reopen_persists(void **state)
{
    store_fixture *f = *state;
    char tok[AUTH_TOKEN_HEX_LEN + 1], key[AUTH_TOKEN_HEX_LEN + 1], a[CC_TARGET_ID_LEN + 1];
    char engine[CC_ENGINE_MAX + 1];
    cc_user u;
    cc_target t;
    cc_scv *v;
    size_t n;

    assert_int_equal(cc_store_create_manager(f->st, "m@x.org", "pw", CC_ROLE_MANAGER, 3, tok, NULL),
                     STATUS_OK);
    assert_int_equal(cc_store_key_create(f->st, "openmm", "d", key, NULL), STATUS_OK);
    assert_int_equal(make_target(f, "m@x.org", CC_STAGE_PUBLIC, 1, a), STATUS_OK);
    assert_int_equal(cc_store_shard_add(f->st, a, "scv1", NULL), STATUS_OK);
    assert_int_equal(cc_store_scv_upsert(f->st, "scv1", "h:1", "pw1", NULL), STATUS_OK);
    store_cases_reopen(f);
    assert_int_equal(cc_store_user_by_token(f->st, tok, &u, NULL), STATUS_OK);
    assert_true(u.weight == 3);
    assert_int_equal(store_key_lookup(f->st, key, engine), STATUS_OK);
    assert_int_equal(cc_store_target_get(f->st, a, &t, NULL), STATUS_OK);
    assert_int_equal(t.n_shards, 1);
    cc_target_free(&t);
    assert_int_equal(store_scv_list(f->st, &v, &n), STATUS_OK);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].password, "pw1");
    free(v);
    assert_int_equal(cc_store_authenticate(f->st, 0, "m@x.org", "pw", tok, NULL), STATUS_OK);
}

static void test_load_all(void **state)
{
    store_fixture *f = *state;
    enum { N = 3000 };
    char tok[AUTH_TOKEN_HEX_LEN + 1], key[AUTH_TOKEN_HEX_LEN + 1], id[CC_TARGET_ID_LEN + 1];
    char key_hash[AUTH_TOKEN_HASH_LEN + 1];
    cc_snapshot s;

    assert_int_equal(cc_store_create_manager(f->st, "m@x.org", "pw", CC_ROLE_MANAGER, 2.5, tok, NULL),
                     STATUS_OK);
    assert_int_equal(cc_store_create_manager(f->st, "z@x.org", "pw", CC_ROLE_ADMIN, -1, tok, NULL),
                     STATUS_OK);
    assert_int_equal(cc_store_create_donor(f->st, "dan", "d@x.org", "pw", tok, NULL), STATUS_OK);
    assert_int_equal(cc_store_key_create(f->st, "openmm", "d", key, NULL), STATUS_OK);
    assert_int_equal(cc_store_scv_upsert(f->st, "scv1", "h:1", "pw1", NULL), STATUS_OK);
    /* Shard i%3 == 0 targets on scv1, i%5 == 0 also on scv2. */
    for (int i = 0; i < N; i++) {
        assert_int_equal(make_target(f, i % 2 ? "m@x.org" : "z@x.org", CC_STAGE_PUBLIC, i, id), STATUS_OK);
        if (i % 3 == 0)
            assert_int_equal(cc_store_shard_add(f->st, id, "scv1", NULL), STATUS_OK);
        if (i % 5 == 0)
            assert_int_equal(cc_store_shard_add(f->st, id, "scv2", NULL), STATUS_OK);
    }
    assert_int_equal(store_load_all(f->st, &s), STATUS_OK);
    assert_int_equal(s.n_managers, 2);
    assert_string_equal(s.managers[0].name, "m@x.org");
    assert_true(s.managers[0].weight == 2.5);
    assert_int_equal(s.managers[0].role, CC_ROLE_MANAGER);
    assert_string_equal(s.managers[1].name, "z@x.org");
    assert_true(s.managers[1].weight == 0);
    assert_int_equal(s.managers[1].role, CC_ROLE_ADMIN);
    assert_int_equal(s.n_keys, 1);
    auth_token_hash(key, key_hash);
    assert_string_equal(s.keys[0].key_hash, key_hash);
    assert_string_equal(s.keys[0].engine, "openmm");
    assert_int_equal(s.n_scvs, 1);
    assert_string_equal(s.scvs[0].password, "pw1");
    assert_int_equal(s.n_targets, N);
    size_t with1 = 0, with2 = 0;
    for (size_t i = 0; i < s.n_targets; i++) {
        const cc_target *t = &s.targets[i];
        int w = (int)t->weight; /* the weight encodes the creation index */
        if (i > 0)
            assert_true(strcmp(s.targets[i - 1].id, t->id) < 0);
        assert_string_equal(t->owner, w % 2 ? "m@x.org" : "z@x.org");
        assert_int_equal(t->n_shards, (w % 3 == 0) + (w % 5 == 0));
        if (w % 3 == 0) {
            assert_string_equal(t->shards[0], "scv1");
            with1++;
        }
        if (w % 5 == 0) {
            assert_string_equal(t->shards[t->n_shards - 1], "scv2");
            with2++;
        }
        assert_int_equal(t->n_engines, 2);
        assert_non_null(json_object_get(t->options, "steps_per_frame"));
    }
    assert_int_equal(with1, (N + 2) / 3);
    assert_int_equal(with2, (N + 4) / 5);
    cc_snapshot_free(&s);
}

typedef struct worker_arg {
    cc_store *st;
    int base;
    int failures;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *w = p;
    for (int i = 0; i < 100; i++) {
        cc_stats_fragment fr;
        char id[32];
        snprintf(id, sizeof id, "w%d-%d", w->base, i % 50); /* each id twice */
        fragment(&fr, id, 1);
        if (cc_store_stats_insert(w->st, &fr, 1, NULL, NULL) != STATUS_OK)
            w->failures++;
    }
    return NULL;
}

static void test_threads(void **state)
{
    store_fixture *f = *state;
    pthread_t th[4];
    worker_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (worker_arg){f->st, i, 0};
        pthread_create(&th[i], NULL, worker, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
    assert_int_equal(f->backend->stats_rows(f), 200 * 1000000 + 200);
}

static void test_names(void **state)
{
    (void)state;
    cc_stage s;
    cc_role r;
    assert_int_equal(cc_stage_parse("beta", &s), 0);
    assert_int_equal(s, CC_STAGE_BETA);
    assert_int_equal(cc_stage_parse("Beta", &s), -1);
    assert_int_equal(cc_stage_parse(NULL, &s), -1);
    assert_string_equal(cc_stage_name(CC_STAGE_PUBLIC), "public");
    assert_int_equal(cc_role_parse("donor", &r), 0);
    assert_int_equal(r, CC_ROLE_DONOR);
    assert_int_equal(cc_role_parse("root", &r), -1);
    assert_string_equal(cc_role_name(CC_ROLE_ADMIN), "admin");
}

static uint64_t counter(store_fixture *f)
{
    uint64_t v = 0;
    assert_int_equal(cc_store_change_counter(f->st, &v, NULL), STATUS_OK);
    return v;
}

/* Every write to cached state moves the counter; stats, donors and token
 * refreshes do not, nor do reads and refused writes. */
static void test_change_counter(void **state)
{
    store_fixture *f = *state;
    char tok[AUTH_TOKEN_HEX_LEN + 1], key[AUTH_TOKEN_HEX_LEN + 1], a[CC_TARGET_ID_LEN + 1];
    cc_stats_fragment fr;
    cc_target t;
    uint64_t v = counter(f), w;

#define MOVES(call)                                                                                          \
    do {                                                                                                     \
        assert_int_equal(call, STATUS_OK);                                                                   \
        w = counter(f);                                                                                      \
        assert_true(w > v);                                                                                  \
        v = w;                                                                                               \
    } while (0)
#define STAYS(call, status)                                                                                  \
    do {                                                                                                     \
        assert_int_equal(call, status);                                                                      \
        assert_true(counter(f) == v);                                                                        \
    } while (0)

    MOVES(cc_store_create_manager(f->st, "m@x.org", "pw", CC_ROLE_MANAGER, 1, tok, NULL));
    STAYS(cc_store_authenticate(f->st, 0, "m@x.org", "pw", tok, NULL), STATUS_OK);
    STAYS(cc_store_create_manager(f->st, "m@x.org", "pw", CC_ROLE_MANAGER, 1, tok, NULL), STATUS_EXISTS);
    STAYS(cc_store_create_donor(f->st, "dan", "d@x.org", "pw", tok, NULL), STATUS_OK);
    MOVES(cc_store_key_create(f->st, "openmm", "d", key, NULL));
    MOVES(cc_store_key_delete(f->st, key, NULL));
    STAYS(cc_store_key_delete(f->st, key, NULL), STATUS_NOT_FOUND);
    MOVES(make_target(f, "m@x.org", CC_STAGE_PRIVATE, 1, a));
    cc_target_update u = {.set_stage = 1, .stage = CC_STAGE_PUBLIC};
    MOVES(cc_store_target_update(f->st, a, &u, NULL));
    STAYS(cc_store_target_update(f->st, "no-such", &u, NULL), STATUS_NOT_FOUND);
    MOVES(cc_store_shard_add(f->st, a, "scv1", NULL));
    STAYS(cc_store_target_get(f->st, a, &t, NULL), STATUS_OK);
    cc_target_free(&t);
    STAYS(cc_store_target_delete(f->st, a, NULL), STATUS_CONFLICT);
    MOVES(cc_store_shard_remove(f->st, a, "scv1", NULL));
    MOVES(cc_store_scv_upsert(f->st, "scv1", "h:1", "pw", NULL));
    MOVES(cc_store_scv_upsert(f->st, "scv1", "h:2", "pw", NULL));
    fragment(&fr, "c1", 3);
    STAYS(cc_store_stats_insert(f->st, &fr, 1, NULL, NULL), STATUS_OK);
    MOVES(cc_store_target_delete(f->st, a, NULL));
    cc_snapshot s;
    STAYS(store_load_all(f->st, &s), STATUS_OK);
    cc_snapshot_free(&s);

    /* It is stored, not counted in memory: a reopened store sees it. */
    store_cases_reopen(f);
    assert_true(counter(f) == v);
#undef MOVES
#undef STAYS
}

const store_case store_cases[] = {
    {"managers", test_managers},
    {"donors", test_donors},
    {"engine_keys", test_engine_keys},
    {"targets", test_targets},
    {"target_update", test_target_update},
    {"shards_and_delete", test_shards_and_delete},
    {"scvs", test_scvs},
    {"stats", test_stats},
    {"reopen_persists", test_reopen_persists},
    {"load_all", test_load_all},
    {"threads", test_threads},
    {"change_counter", test_change_counter},
    {"names", test_names},
};
const size_t store_cases_n = sizeof store_cases / sizeof store_cases[0];

int store_cases_run(const char *group, CMFixtureFunction setup, CMFixtureFunction teardown,
                    const struct CMUnitTest *extra, size_t n_extra)
{
    size_t n = store_cases_n + n_extra;
    struct CMUnitTest *tests = calloc(n, sizeof *tests);
    if (!tests)
        return 1;
    for (size_t i = 0; i < store_cases_n; i++)
        tests[i] = (struct CMUnitTest){store_cases[i].name, store_cases[i].fn, setup, teardown, NULL};
    for (size_t i = 0; i < n_extra; i++)
        tests[store_cases_n + i] = extra[i];
    int rc = _cmocka_run_group_tests(group, tests, n, NULL, NULL);
    free(tests);
    return rc;
}
