/* cc_cache views (built from hand-made snapshots), cc_health and cc_fields:
 * the pure parts of the CC service. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cc/cc_cache.h"
#include "cc/cc_fields.h"
#include "cc/cc_health.h"

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
    char err[CC_FIELDS_ERR_MAX];
    const char *s = "untouched";
    double d = 7;
    long long n = 0;
    const char **list = NULL;
    size_t count = 0;
    json_t *o = json_loads("{\"s\":\"abc\",\"e\":\"\",\"n\":1.5,\"i\":3,\"neg\":-1,\"x\":null,"
                           "\"l\":[\"a\",\"b\"],\"bad\":[\"a\",2],\"obj\":{}}",
                           0, NULL);
    assert_int_equal(cc_field_string(o, "s", CC_FIELD_REQUIRED, 3, &s, err, sizeof err), 0);
    assert_string_equal(s, "abc");
    assert_int_equal(cc_field_string(o, "s", CC_FIELD_REQUIRED, 2, &s, err, sizeof err), -1);
    assert_non_null(strstr(err, "'s'"));
    assert_int_equal(cc_field_string(o, "e", CC_FIELD_REQUIRED, 9, &s, err, sizeof err), -1);
    assert_int_equal(
        cc_field_string(o, "e", CC_FIELD_REQUIRED | CC_FIELD_ALLOW_EMPTY, 9, &s, err, sizeof err), 0);
    assert_int_equal(cc_field_string(o, "n", CC_FIELD_OPTIONAL, 9, &s, err, sizeof err), -1);
    assert_int_equal(cc_field_string(o, "missing", CC_FIELD_REQUIRED, 9, &s, err, sizeof err), -1);
    s = "untouched";
    assert_int_equal(cc_field_string(o, "x", CC_FIELD_OPTIONAL, 9, &s, err, sizeof err), 0);
    assert_string_equal(s, "untouched");
    assert_int_equal(cc_field_number(o, "n", CC_FIELD_REQUIRED, &d, err, sizeof err), 0);
    assert_true(d == 1.5);
    assert_int_equal(cc_field_number(o, "s", CC_FIELD_REQUIRED, &d, err, sizeof err), -1);
    assert_int_equal(cc_field_int(o, "i", CC_FIELD_REQUIRED, 0, &n, err, sizeof err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(cc_field_int(o, "neg", CC_FIELD_REQUIRED, 0, &n, err, sizeof err), -1);
    assert_int_equal(cc_field_int(o, "n", CC_FIELD_REQUIRED, 0, &n, err, sizeof err), -1);
    assert_int_equal(cc_field_strings(o, "l", CC_FIELD_REQUIRED, 5, 5, &list, &count, err, sizeof err), 0);
    assert_int_equal(count, 2);
    assert_string_equal(list[1], "b");
    free(list);
    list = NULL;
    assert_int_equal(cc_field_strings(o, "l", CC_FIELD_REQUIRED, 1, 5, &list, &count, err, sizeof err), -1);
    assert_int_equal(cc_field_strings(o, "bad", CC_FIELD_REQUIRED, 5, 5, &list, &count, err, sizeof err), -1);
    assert_int_equal(cc_field_strings(o, "obj", CC_FIELD_REQUIRED, 5, 5, &list, &count, err, sizeof err), -1);
    assert_null(list);
    const json_t *obj = NULL;
    assert_int_equal(cc_field_object(o, "obj", CC_FIELD_REQUIRED, &obj, err, sizeof err), 0);
    assert_non_null(obj);
    assert_int_equal(cc_field_object(o, "l", CC_FIELD_REQUIRED, &obj, err, sizeof err), -1);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_draw_only_public_with_shards),
        cmocka_unit_test(test_health),
        cmocka_unit_test(test_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
