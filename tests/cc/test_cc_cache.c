/* cc_cache views (built from hand-made snapshots), cc_health and cc_fields:
 * the pure parts of the CC service; and a cache kept current from a SQLite
 * file that another store handle (another CC) writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc/cc_cache.h"
#include "cc/cc_fields.h"
#include "cc/cc_health.h"
#include "util/fs.h"

static char **strs(const char *a, const char *b)
{
    char **v = calloc(2, sizeof *v);
    v[0] = strdup(a);
    v[1] = b ? strdup(b) : NULL;
    return v;
}

static void set_target(cc_target *t, const char *id, const char *owner, cc_stage stage, const char *engine,
                       const char *shard, double weight)
{
    snprintf(t->id, sizeof t->id, "%s", id);
    snprintf(t->owner, sizeof t->owner, "%s", owner);
    t->stage = stage;
    t->engines = strs(engine, NULL);
    t->n_engines = 1;
    t->shards = shard ? strs(shard, NULL) : NULL;
    t->n_shards = shard ? 1 : 0;
    t->options = json_object();
    t->weight = weight;
}

/* Targets (given out of order on purpose): t-pub1 and t-pub2 public with
 * shards (m1 weight 1, m2 weight 3), t-priv private, t-noshard public
 * without shards, t-zero public of weight 0. */
static cc_view *sample_view(cc_health *health)
{
    cc_snapshot s = {0};
    s.n_targets = 5;
    s.targets = calloc(s.n_targets, sizeof *s.targets);
    set_target(&s.targets[0], "t-pub2", "m2", CC_STAGE_PUBLIC, "openmm", "scv-b", 1);
    set_target(&s.targets[1], "t-pub1", "m1", CC_STAGE_PUBLIC, "openmm", "scv-a", 1);
    set_target(&s.targets[2], "t-priv", "m1", CC_STAGE_PRIVATE, "openmm", "scv-a", 1);
    set_target(&s.targets[3], "t-noshard", "m1", CC_STAGE_PUBLIC, "openmm", NULL, 1);
    set_target(&s.targets[4], "t-zero", "m1", CC_STAGE_PUBLIC, "gromacs", "scv-a", 0);
    s.n_managers = 2;
    s.managers = calloc(2, sizeof *s.managers);
    snprintf(s.managers[0].name, sizeof s.managers[0].name, "m2");
    s.managers[0].weight = 3;
    snprintf(s.managers[1].name, sizeof s.managers[1].name, "m1");
    s.managers[1].weight = 1;
    s.n_keys = 1;
    s.keys = calloc(1, sizeof *s.keys);
    auth_token_hash("secret-key", s.keys[0].key_hash);
    snprintf(s.keys[0].engine, sizeof s.keys[0].engine, "openmm");
    s.n_scvs = 2;
    s.scvs = calloc(2, sizeof *s.scvs);
    snprintf(s.scvs[0].name, sizeof s.scvs[0].name, "scv-b");
    snprintf(s.scvs[0].host, sizeof s.scvs[0].host, "b:1");
    snprintf(s.scvs[1].name, sizeof s.scvs[1].name, "scv-a");
    snprintf(s.scvs[1].host, sizeof s.scvs[1].host, "a:1");
    cc_view *v = cc_view_build(&s, health);
    assert_non_null(v);
    assert_null(s.targets); /* ownership moved */
    return v;
}

static void test_lookups(void **state)
{
    (void)state;
    cc_health *health = cc_health_new();
    cc_view *v = sample_view(health);
    assert_string_equal(cc_view_key_engine(v, "secret-key"), "openmm");
    assert_null(cc_view_key_engine(v, "other-key"));
    assert_null(cc_view_key_engine(v, ""));
    assert_null(cc_view_key_engine(v, NULL));
    const cc_target *t = cc_view_target(v, "t-priv");
    assert_non_null(t);
    assert_string_equal(t->owner, "m1");
    assert_true(cc_target_has_engine(t, "openmm"));
    assert_false(cc_target_has_engine(t, "gromacs"));
    assert_null(cc_view_target(v, "t-nope"));
    assert_null(cc_view_target(v, "a-very-long-id-that-is-longer-than-any-uuid4-text"));

    cc_health_rec *rec = NULL;
    const cc_scv *scv = cc_view_scv(v, "scv-a", &rec);
    assert_non_null(scv);
    assert_string_equal(scv->host, "a:1");
    assert_ptr_equal(rec, cc_health_get(health, "scv-a"));
    assert_null(cc_view_scv(v, "scv-c", NULL));
    assert_int_equal(cc_view_scv_count(v), 2);
    assert_string_equal(cc_view_scv_at(v, 0, NULL)->name, "scv-a"); /* sorted */
    assert_null(cc_view_scv_at(v, 2, NULL));
    cc_view_unref(v);
    cc_health_free(health);
}

static void test_draw_only_public_with_shards(void **state)
{
    (void)state;
    enum { DRAWS = 40000 };
    cc_health *health = cc_health_new();
    cc_view *v = sample_view(health);
    draw_rng rng;
    draw_rng_seed(&rng, 42);
    long pub1 = 0, pub2 = 0;
    for (int i = 0; i < DRAWS; i++) {
        const cc_target *t = cc_view_draw(v, "openmm", &rng);
        assert_non_null(t);
        assert_true(strcmp(t->id, "t-pub1") == 0 || strcmp(t->id, "t-pub2") == 0);
        if (strcmp(t->id, "t-pub1") == 0)
            pub1++;
        else
            pub2++;
    }
    /* Manager weights 1:3 -> shares 1/4 and 3/4, within 5 standard deviations. */
    double sd = sqrt(DRAWS * 0.25 * 0.75);
    assert_true(labs(pub1 - DRAWS / 4) <= 5 * sd);
    assert_true(labs(pub2 - 3 * DRAWS / 4) <= 5 * sd);
    /* The only gromacs target weighs 0; unknown engines have no pool. */
    assert_null(cc_view_draw(v, "gromacs", &rng));
    assert_null(cc_view_draw(v, "namd", &rng));
    cc_view_unref(v);
    cc_health_free(health);
}

static void test_health(void **state)
{
    (void)state;
    cc_health *h = cc_health_new();
    cc_health_rec *a = cc_health_get(h, "a");
    for (int i = 0; i < 100; i++)
        cc_health_get(h, i % 2 ? "zz" : "b"); /* growth must not move records */
    assert_ptr_equal(cc_health_get(h, "a"), a);
    assert_true(cc_health_online(a));
    for (int i = 0; i < CC_HEALTH_MAX_FAILS - 1; i++)
        cc_health_record(a, 0);
    assert_true(cc_health_online(a));
    cc_health_record(a, 0);
    assert_false(cc_health_online(a));
    for (int i = 0; i < 1000; i++)
        cc_health_record(a, 0);
    assert_int_equal(atomic_load(&a->fails), CC_HEALTH_MAX_FAILS);
    cc_health_record(a, 1);
    assert_true(cc_health_online(a));
    cc_health_free(h);
}

static void test_fields(void **state)
{
    (void)state;
    struct status st;
    const char *s = "untouched";
    double d = 7;
    long long n = 0;
    const char **list = NULL;
    size_t count = 0;
    json_t *o = json_loads("{\"s\":\"abc\",\"e\":\"\",\"n\":1.5,\"i\":3,\"neg\":-1,\"x\":null,"
                           "\"l\":[\"a\",\"b\"],\"bad\":[\"a\",2],\"obj\":{}}",
                           0, NULL);
    assert_int_equal(cc_field_string(o, "s", CC_FIELD_REQUIRED, 3, &s, &st), STATUS_OK);
    assert_string_equal(s, "abc");
    assert_int_equal(cc_field_string(o, "s", CC_FIELD_REQUIRED, 2, &s, &st), STATUS_INVALID);
    assert_non_null(strstr(st.msg, "'s'"));
    assert_int_equal(cc_field_string(o, "e", CC_FIELD_REQUIRED, 9, &s, &st), STATUS_INVALID);
    assert_int_equal(cc_field_string(o, "e", CC_FIELD_REQUIRED | CC_FIELD_ALLOW_EMPTY, 9, &s, &st),
                     STATUS_OK);
    assert_int_equal(cc_field_string(o, "n", CC_FIELD_OPTIONAL, 9, &s, &st), STATUS_INVALID);
    assert_int_equal(cc_field_string(o, "missing", CC_FIELD_REQUIRED, 9, &s, &st), STATUS_INVALID);
    s = "untouched";
    assert_int_equal(cc_field_string(o, "x", CC_FIELD_OPTIONAL, 9, &s, &st), STATUS_OK);
    assert_string_equal(s, "untouched");
    assert_int_equal(cc_field_number(o, "n", CC_FIELD_REQUIRED, &d, &st), STATUS_OK);
    assert_true(d == 1.5);
    assert_int_equal(cc_field_number(o, "s", CC_FIELD_REQUIRED, &d, &st), STATUS_INVALID);
    assert_int_equal(cc_field_int(o, "i", CC_FIELD_REQUIRED, 0, &n, &st), STATUS_OK);
    assert_int_equal(n, 3);
    assert_int_equal(cc_field_int(o, "neg", CC_FIELD_REQUIRED, 0, &n, &st), STATUS_INVALID);
    assert_int_equal(cc_field_int(o, "n", CC_FIELD_REQUIRED, 0, &n, &st), STATUS_INVALID);
    assert_int_equal(cc_field_strings(o, "l", CC_FIELD_REQUIRED, 5, 5, &list, &count, &st), STATUS_OK);
    assert_int_equal(count, 2);
    assert_string_equal(list[1], "b");
    free(list);
    list = NULL;
    assert_int_equal(cc_field_strings(o, "l", CC_FIELD_REQUIRED, 1, 5, &list, &count, &st), STATUS_INVALID);
    assert_int_equal(cc_field_strings(o, "bad", CC_FIELD_REQUIRED, 5, 5, &list, &count, &st), STATUS_INVALID);
    assert_int_equal(cc_field_strings(o, "obj", CC_FIELD_REQUIRED, 5, 5, &list, &count, &st), STATUS_INVALID);
    assert_null(list);
    const json_t *obj = NULL;
    assert_int_equal(cc_field_object(o, "obj", CC_FIELD_REQUIRED, &obj, &st), STATUS_OK);
    assert_non_null(obj);
    assert_int_equal(cc_field_object(o, "l", CC_FIELD_REQUIRED, &obj, &st), STATUS_INVALID);
    json_decref(o);
}

/* Two store handles on one SQLite file: writes go through `other`, the
 * cache reads through `mine`, as two CCs sharing a database. */
struct shared_db {
    char dir[64];
    cc_store *mine, *other;
    cc_health *health;
    cc_cache *cache;
    char token[AUTH_TOKEN_HEX_LEN + 1];
};

static void shared_open(struct shared_db *db)
{
    char err[256];
    snprintf(db->dir, sizeof db->dir, "/tmp/st-cc-cache.XXXXXX");
    assert_non_null(mkdtemp(db->dir));
    db->mine = cc_store_open(NULL, db->dir, "cache-test-pass", NULL, NULL);
    assert_non_null(db->mine);
    db->other = cc_store_open(NULL, db->dir, "cache-test-pass", NULL, NULL);
    assert_non_null(db->other);
    db->health = cc_health_new();
    db->cache = cc_cache_new(db->mine, db->health, err, sizeof err);
    assert_non_null(db->cache);
}

static void shared_close(struct shared_db *db)
{
    cc_cache_free(db->cache);
    cc_health_free(db->health);
    cc_store_close(db->mine);
    cc_store_close(db->other);
    assert_int_equal(fs_rm_rf(db->dir), 0);
}

static const cc_target *drawn(const cc_view *v, const char *engine)
{
    draw_rng rng;
    draw_rng_seed(&rng, 1);
    return cc_view_draw(v, engine, &rng);
}

/* A target of m@x.org for openmm, public or private. */
static void make_target(struct shared_db *db, cc_stage stage, char id[CC_TARGET_ID_LEN + 1])
{
    const char *engines[] = {"openmm"};
    cc_target_new t = {.owner = "m@x.org", .stage = stage, .engines = engines, .n_engines = 1, .weight = 1};
    assert_int_equal(cc_store_target_create(db->other, &t, id, NULL), STATUS_OK);
}

/* Polls the cache (as its ticker does) and returns the view it then holds. */
static cc_view *polled(struct shared_db *db)
{
    assert_int_equal(cc_cache_poll(db->cache), 0);
    return cc_cache_get(db->cache);
}

/* Every kind of change made through the other handle reaches the cache at
 * the next poll, deletions included, while a view taken before a change
 * keeps showing the state it was built from. */
static void test_changes_reach_the_cache(void **state)
{
    (void)state;
    struct shared_db db;
    char key[AUTH_TOKEN_HEX_LEN + 1], id[CC_TARGET_ID_LEN + 1], other_id[CC_TARGET_ID_LEN + 1];
    cc_target_update to_private = {.set_stage = 1, .stage = CC_STAGE_PRIVATE};
    cc_target_update to_public = {.set_stage = 1, .stage = CC_STAGE_PUBLIC};
    shared_open(&db);

    cc_view *v = polled(&db);
    assert_null(cc_view_key_engine(v, "no-such-key"));
    cc_view_unref(v);
    /* A new engine key, manager, target, SCV and shard. */
    assert_int_equal(cc_store_key_create(db.other, "openmm", "k", key, NULL), STATUS_OK);
    assert_int_equal(
        cc_store_create_manager(db.other, "m@x.org", "password-1", CC_ROLE_MANAGER, 2, db.token, NULL),
        STATUS_OK);
    make_target(&db, CC_STAGE_PUBLIC, id);
    make_target(&db, CC_STAGE_PUBLIC, other_id);
    assert_int_equal(cc_store_scv_upsert(db.other, "s1", "127.0.0.1:1", "pw", NULL), STATUS_OK);
    v = polled(&db);
    assert_string_equal(cc_view_key_engine(v, key), "openmm");
    assert_non_null(cc_view_target(v, id));
    assert_int_equal(cc_view_target(v, id)->n_shards, 0);
    assert_non_null(cc_view_scv(v, "s1", NULL));
    assert_null(drawn(v, "openmm")); /* no shards yet */
    cc_view_unref(v);
    assert_int_equal(cc_store_shard_add(db.other, id, "s1", NULL), STATUS_OK);
    v = polled(&db);
    assert_int_equal(cc_view_target(v, id)->n_shards, 1);
    assert_string_equal(cc_view_target(v, id)->shards[0], "s1");
    assert_string_equal(drawn(v, "openmm")->id, id);
    cc_view *before = v;

    /* A stage change takes it off the draw; the earlier view still draws. */
    assert_int_equal(cc_store_target_update(db.other, id, &to_private, NULL), STATUS_OK);
    v = polled(&db);
    assert_int_equal(cc_view_target(v, id)->stage, CC_STAGE_PRIVATE);
    assert_null(drawn(v, "openmm"));
    assert_string_equal(drawn(before, "openmm")->id, id);
    cc_view_unref(before);
    assert_int_equal(cc_store_target_update(db.other, id, &to_public, NULL), STATUS_OK);
    cc_view_unref(v);

    /* The shard removed, the target deleted, the key deleted. */
    assert_int_equal(cc_store_shard_remove(db.other, id, "s1", NULL), STATUS_OK);
    v = polled(&db);
    assert_int_equal(cc_view_target(v, id)->n_shards, 0);
    assert_null(drawn(v, "openmm"));
    before = v;
    assert_int_equal(cc_store_target_delete(db.other, id, NULL), STATUS_OK);
    assert_int_equal(cc_store_key_delete(db.other, key, NULL), STATUS_OK);
    v = polled(&db);
    assert_null(cc_view_target(v, id));
    assert_non_null(cc_view_target(v, other_id)); /* unchanged, kept */
    assert_null(cc_view_key_engine(v, key));
    assert_non_null(cc_view_target(before, id));
    assert_string_equal(cc_view_key_engine(before, key), "openmm");
    cc_view_unref(before);
    cc_view_unref(v);
    shared_close(&db);
}

/* After many patches the view equals a full load: the same targets, each
 * with the same stage and shards, and a rebuild leaves it as it was. */
static void test_patched_view_matches_full_load(void **state)
{
    (void)state;
    enum { N = 40 };
    struct shared_db db;
    char ids[N][CC_TARGET_ID_LEN + 1];
    cc_target_update to_private = {.set_stage = 1, .stage = CC_STAGE_PRIVATE};
    cc_snapshot full;
    shared_open(&db);
    for (int i = 0; i < N; i++) {
        make_target(&db, CC_STAGE_PUBLIC, ids[i]);
        if (i % 3 == 0)
            assert_int_equal(cc_store_shard_add(db.other, ids[i], i % 2 ? "s1" : "s2", NULL), STATUS_OK);
        if (i % 4 == 1)
            assert_int_equal(cc_store_target_update(db.other, ids[i], &to_private, NULL), STATUS_OK);
        if (i % 5 == 2 && i % 3 == 0) /* a target with shards cannot go */
            assert_int_equal(cc_store_shard_remove(db.other, ids[i], i % 2 ? "s1" : "s2", NULL), STATUS_OK);
        if (i % 5 == 2)
            assert_int_equal(cc_store_target_delete(db.other, ids[i], NULL), STATUS_OK);
        if (i % 7 == 0) /* several changes per poll as well as one */
            cc_view_unref(polled(&db));
    }
    cc_view *v = polled(&db);
    cc_strlist deleted;
    uint64_t generation;
    assert_int_equal(cc_store_load_changes(db.mine, NULL, &full, &deleted, &generation, NULL), STATUS_OK);
    assert_int_equal(full.n_targets, N - N / 5);
    for (int i = 0; i < N; i++) {
        const cc_target *t = cc_view_target(v, ids[i]);
        assert_int_equal(t == NULL, i % 5 == 2);
    }
    for (size_t i = 0; i < full.n_targets; i++) {
        const cc_target *t = cc_view_target(v, full.targets[i].id);
        assert_non_null(t);
        assert_int_equal(t->stage, full.targets[i].stage);
        assert_int_equal(t->n_shards, full.targets[i].n_shards);
        for (size_t s = 0; s < t->n_shards; s++)
            assert_string_equal(t->shards[s], full.targets[i].shards[s]);
    }
    assert_int_equal(cc_cache_rebuild(db.cache), 0);
    cc_view *rebuilt = cc_cache_get(db.cache);
    for (size_t i = 0; i < full.n_targets; i++)
        assert_int_equal(cc_view_target(rebuilt, full.targets[i].id)->n_shards, full.targets[i].n_shards);
    cc_snapshot_free(&full);
    cc_view_unref(rebuilt);
    cc_view_unref(v);
    shared_close(&db);
}

/* A write through the cache's own store followed by a refresh is visible
 * to the next reader, with no poll. */
static void test_refresh_after_own_write(void **state)
{
    (void)state;
    struct shared_db db;
    char id[CC_TARGET_ID_LEN + 1];
    const char *engines[] = {"openmm"};
    cc_target_new t = {.owner = "m@x.org", .stage = CC_STAGE_PUBLIC, .engines = engines, .n_engines = 1};
    shared_open(&db);
    assert_int_equal(cc_store_target_create(db.mine, &t, id, NULL), STATUS_OK);
    assert_int_equal(cc_cache_refresh(db.cache), 0);
    cc_view *v = cc_cache_get(db.cache);
    assert_non_null(cc_view_target(v, id));
    cc_view_unref(v);
    assert_int_equal(cc_store_target_delete(db.mine, id, NULL), STATUS_OK);
    assert_int_equal(cc_cache_refresh(db.cache), 0);
    v = cc_cache_get(db.cache);
    assert_null(cc_view_target(v, id));
    cc_view_unref(v);
    shared_close(&db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_draw_only_public_with_shards),
        cmocka_unit_test(test_health),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_changes_reach_the_cache),
        cmocka_unit_test(test_patched_view_matches_full_load),
        cmocka_unit_test(test_refresh_after_own_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
