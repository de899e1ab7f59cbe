/* cc_cache: immutable indexed snapshots of the CC's database. */
#include "cc/cc_cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"

/* A reload slower than this is logged: it delays writes' replies. */
#define SLOW_RELOAD_MS 1000

struct engine_pool {
    const char *engine; /* points into a target of the view */
    draw_pool *pool;
    const cc_target **targets; /* candidate index -> target */
};

struct cc_view {
    atomic_long refs;
    cc_snapshot snap;
    cc_health_rec **scv_health; /* parallel to snap.scvs (sorted by name) */
    struct engine_pool *pools;  /* sorted by engine */
    size_t n_pools;
};

/* ---- building ---------------------------------------------------------- */

/* qsort and bsearch must not see a NULL base, even for zero elements. */
static void sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    if (n > 1)
        qsort(base, n, size, cmp);
}

static void *search(const void *key, const void *base, size_t n, size_t size,
                    int (*cmp)(const void *, const void *))
{
    return n == 0 ? NULL : bsearch(key, base, n, size, cmp);
}

static int cmp_target(const void *a, const void *b)
{
    return strcmp(((const cc_target *)a)->id, ((const cc_target *)b)->id);
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp(((const cc_engine_key_ref *)a)->key_hash, ((const cc_engine_key_ref *)b)->key_hash);
}

static int cmp_scv(const void *a, const void *b)
{
    return strcmp(((const cc_scv *)a)->name, ((const cc_scv *)b)->name);
}

static int cmp_manager(const void *a, const void *b)
{
    return strcmp(((const cc_manager_weight *)a)->name, ((const cc_manager_weight *)b)->name);
}

struct pair {
    const char *engine;
    const cc_target *target;
};

static int cmp_pair(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    int c = strcmp(x->engine, y->engine);
    if (c != 0)
        return c;
    return (x->target > y->target) - (x->target < y->target);
}

static double owner_weight(const cc_snapshot *s, const char *owner)
{
    cc_manager_weight probe;
    snprintf(probe.name, sizeof probe.name, "%s", owner);
    const cc_manager_weight *m = search(&probe, s->managers, s->n_managers, sizeof *m, cmp_manager);
    return m ? m->weight : 0;
}

/* The drawable (engine, target) pairs: public targets with shards. */
static struct pair *collect_pairs(const cc_snapshot *s, size_t *n_out)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_targets; i++)
        if (s->targets[i].stage == CC_STAGE_PUBLIC && s->targets[i].n_shards > 0)
            n += s->targets[i].n_engines;
    struct pair *pairs = calloc(n ? n : 1, sizeof *pairs);
    if (pairs == NULL)
        return NULL;
    n = 0;
    for (size_t i = 0; i < s->n_targets; i++) {
        const cc_target *t = &s->targets[i];
        if (t->stage != CC_STAGE_PUBLIC || t->n_shards == 0)
            continue;
        for (size_t e = 0; e < t->n_engines; e++)
            pairs[n++] = (struct pair){t->engines[e], t};
    }
    sort(pairs, n, sizeof *pairs, cmp_pair);
    *n_out = n;
    return pairs;
}

static int build_pool(struct engine_pool *p, const cc_snapshot *s, const struct pair *group, size_t n)
{
    int rc = -1;
    draw_candidate *cands = calloc(n, sizeof *cands);
    p->engine = group[0].engine;
    p->targets = calloc(n, sizeof *p->targets);
    if (cands == NULL || p->targets == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const cc_target *t = group[i].target;
        cands[i] = (draw_candidate){t->owner, owner_weight(s, t->owner), t->weight};
        p->targets[i] = t;
    }
    p->pool = draw_pool_build(cands, n);
    rc = p->pool ? 0 : -1;
out:
    free(cands);
    return rc;
}

static int build_pools(cc_view *v)
{
    size_t n = 0;
    int rc = -1;
    struct pair *pairs = collect_pairs(&v->snap, &n);
    if (pairs == NULL)
        return -1;
    v->pools = calloc(n ? n : 1, sizeof *v->pools);
    if (v->pools == NULL)
        goto out;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && strcmp(pairs[j].engine, pairs[i].engine) == 0)
            j++;
        if (build_pool(&v->pools[v->n_pools++], &v->snap, &pairs[i], j - i) != 0)
            goto out;
        i = j;
    }
    rc = 0;
out:
    free(pairs);
    return rc;
}

static void view_free(cc_view *v)
{
    for (size_t i = 0; i < v->n_pools; i++) {
        draw_pool_free(v->pools[i].pool);
        free(v->pools[i].targets);
    }
    free(v->pools);
    free(v->scv_health);
    cc_snapshot_free(&v->snap);
    free(v);
}

cc_view *cc_view_build(cc_snapshot *snap, cc_health *health)
{
    cc_view *v = calloc(1, sizeof *v);
    if (v == NULL) {
        cc_snapshot_free(snap);
        return NULL;
    }
    atomic_init(&v->refs, 1);
    v->snap = *snap;
    memset(snap, 0, sizeof *snap);
    cc_snapshot *s = &v->snap;
    sort(s->targets, s->n_targets, sizeof *s->targets, cmp_target);
    sort(s->keys, s->n_keys, sizeof *s->keys, cmp_key);
    sort(s->scvs, s->n_scvs, sizeof *s->scvs, cmp_scv);
    sort(s->managers, s->n_managers, sizeof *s->managers, cmp_manager);
    v->scv_health = calloc(s->n_scvs ? s->n_scvs : 1, sizeof *v->scv_health);
    if (v->scv_health == NULL)
        goto fail;
    for (size_t i = 0; i < s->n_scvs; i++)
        if ((v->scv_health[i] = cc_health_get(health, s->scvs[i].name)) == NULL)
            goto fail;
    if (build_pools(v) != 0)
        goto fail;
    return v;
fail:
    view_free(v);
    return NULL;
}

cc_view *cc_view_ref(cc_view *v)
{
    atomic_fetch_add(&v->refs, 1);
    return v;
}

void cc_view_unref(cc_view *v)
{
    if (v != NULL && atomic_fetch_sub(&v->refs, 1) == 1)
        view_free(v);
}

/* ---- lookups ----------------------------------------------------------- */

const char *cc_view_key_engine(const cc_view *v, const char *key)
{
    cc_engine_key_ref probe;
    if (key == NULL || key[0] == '\0' || strnlen(key, AUTH_SECRET_MAX + 1) > AUTH_SECRET_MAX)
        return NULL;
    auth_token_hash(key, probe.key_hash);
    const cc_engine_key_ref *k = search(&probe, v->snap.keys, v->snap.n_keys, sizeof *k, cmp_key);
    return k ? k->engine : NULL;
}

const cc_target *cc_view_target(const cc_view *v, const char *id)
{
    cc_target probe;
    if (id == NULL || strlen(id) > CC_TARGET_ID_LEN)
        return NULL;
    memcpy(probe.id, id, strlen(id) + 1);
    return search(&probe, v->snap.targets, v->snap.n_targets, sizeof probe, cmp_target);
}

int cc_target_has_engine(const cc_target *t, const char *engine)
{
    for (size_t i = 0; i < t->n_engines; i++)
        if (strcmp(t->engines[i], engine) == 0)
            return 1;
    return 0;
}

static int cmp_pool(const void *key, const void *elem)
{
    return strcmp(key, ((const struct engine_pool *)elem)->engine);
}

const cc_target *cc_view_draw(const cc_view *v, const char *engine, draw_rng *rng)
{
    const struct engine_pool *p = search(engine, v->pools, v->n_pools, sizeof *p, cmp_pool);
    if (p == NULL)
        return NULL;
    long i = draw_pool_pick(p->pool, rng);
    return i < 0 ? NULL : p->targets[i];
}

const cc_scv *cc_view_scv(const cc_view *v, const char *name, cc_health_rec **health)
{
    cc_scv probe;
    if (name == NULL || strlen(name) > CC_SCV_NAME_MAX)
        return NULL;
    snprintf(probe.name, sizeof probe.name, "%s", name);
    const cc_scv *s = search(&probe, v->snap.scvs, v->snap.n_scvs, sizeof *s, cmp_scv);
    if (s != NULL && health != NULL)
        *health = v->scv_health[s - v->snap.scvs];
    return s;
}

size_t cc_view_scv_count(const cc_view *v)
{
    return v->snap.n_scvs;
}

const cc_scv *cc_view_scv_at(const cc_view *v, size_t i, cc_health_rec **health)
{
    if (i >= v->snap.n_scvs)
        return NULL;
    if (health != NULL)
        *health = v->scv_health[i];
    return &v->snap.scvs[i];
}

/* ---- the holder -------------------------------------------------------- */

struct cc_cache {
    cc_store *store;
    cc_health *health;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    cc_view *current;
    /* Views replaced while a reader may still hold them; freed here (by a
     * refresher) once nobody else does, so a large view is never freed on
     * an event loop. */
    cc_view **retired;
    size_t n_retired;
    unsigned long requested, completed;
    int running, last_rc;
    /* The change counter read just before the current view was loaded. */
    uint64_t generation;
    int generation_known;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The counter is read first: a write that lands during the load moves it
 * past *generation, so the next poll reloads again rather than missing it. */
static cc_view *load_view(cc_cache *c, uint64_t *generation, int *generation_known)
{
    cc_snapshot snap;
    double start = now_ms();
    *generation_known = cc_store_change_counter(c->store, generation) == CC_STORE_OK;
    cc_store_status st = cc_store_load_all(c->store, &snap);
    if (st != CC_STORE_OK) {
        log_error("cache reload failed: %s", cc_store_status_str(st));
        return NULL;
    }
    size_t n_targets = snap.n_targets;
    cc_view *v = cc_view_build(&snap, c->health);
    if (v == NULL) {
        log_error("cache reload failed: out of memory");
        return NULL;
    }
    double took = now_ms() - start;
    if (took > SLOW_RELOAD_MS)
        log_warn("cache reload of %zu targets took %.0f ms", n_targets, took);
    return v;
}

cc_cache *cc_cache_new(cc_store *store, cc_health *health, char *err, size_t errlen)
{
    cc_cache *c = calloc(1, sizeof *c);
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->store = store;
    c->health = health;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    c->current = load_view(c, &c->generation, &c->generation_known);
    if (c->current == NULL) {
        snprintf(err, errlen, "cannot load the cache from the database (see the error log)");
        cc_cache_free(c);
        return NULL;
    }
    return c;
}

void cc_cache_free(cc_cache *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n_retired; i++)
        cc_view_unref(c->retired[i]);
    free(c->retired);
    cc_view_unref(c->current);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

cc_view *cc_cache_get(cc_cache *c)
{
    pthread_mutex_lock(&c->lock);
    cc_view *v = cc_view_ref(c->current);
    pthread_mutex_unlock(&c->lock);
    return v;
}

/* Under the lock: splits off the retired views nobody else holds. */
static size_t take_unused(cc_cache *c, cc_view **out, size_t max)
{
    size_t kept = 0, n = 0;
    for (size_t i = 0; i < c->n_retired; i++) {
        if (n < max && atomic_load(&c->retired[i]->refs) == 1)
            out[n++] = c->retired[i];
        else
            c->retired[kept++] = c->retired[i];
    }
    c->n_retired = kept;
    return n;
}

/* Under the lock: makes v current. -1 when the old view cannot be parked. */
static int swap_in(cc_cache *c, cc_view *v)
{
    cc_view **grown = realloc(c->retired, (c->n_retired + 1) * sizeof *grown);
    if (grown == NULL)
        return -1;
    c->retired = grown;
    c->retired[c->n_retired++] = c->current;
    c->current = v;
    return 0;
}

static int run_reload(cc_cache *c)
{
    cc_view *unused[16];
    unsigned long target = c->requested;
    uint64_t generation = 0;
    int known = 0;
    c->running = 1;
    pthread_mutex_unlock(&c->lock);
    cc_view *v = load_view(c, &generation, &known);
    pthread_mutex_lock(&c->lock);
    int rc = v != NULL && swap_in(c, v) == 0 ? 0 : -1;
    if (rc == 0) {
        c->generation = generation;
        c->generation_known = known;
    } else {
        cc_view_unref(v);
    }
    size_t n = take_unused(c, unused, sizeof unused / sizeof unused[0]);
    c->completed = target;
    c->last_rc = rc;
    c->running = 0;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    for (size_t i = 0; i < n; i++)
        cc_view_unref(unused[i]);
    pthread_mutex_lock(&c->lock);
    return rc;
}

int cc_cache_refresh(cc_cache *c)
{
    pthread_mutex_lock(&c->lock);
    unsigned long mine = ++c->requested;
    while (c->completed < mine) {
        if (c->running)
            pthread_cond_wait(&c->cond, &c->lock);
        else
            run_reload(c);
    }
    int rc = c->last_rc;
    pthread_mutex_unlock(&c->lock);
    return rc;
}

int cc_cache_poll(cc_cache *c)
{
    uint64_t now;
    /* A failure here is the store's to log (once per outage), not ours at
     * every poll. */
    if (cc_store_change_counter(c->store, &now) != CC_STORE_OK)
        return -1;
    pthread_mutex_lock(&c->lock);
    int stale = !c->generation_known || c->generation != now;
    pthread_mutex_unlock(&c->lock);
    return stale ? cc_cache_refresh(c) : 0;
}
