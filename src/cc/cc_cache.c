/* cc_cache: immutable indexed snapshots of the CC's database. */
#include "cc/cc_cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/log.h"

/* A reload slower than this is logged: it delays writes' replies. */
#define SLOW_RELOAD_MS 1000

struct engine_pool {
    const char *engine; /* points into a target of the view */
    draw_pool *pool;
    const cc_target **targets; /* candidate index -> target */
};

/* One target, shared by every view that holds it unchanged: a view patched
 * from a delta takes a reference on each target it keeps. */
struct target_rec {
    atomic_long refs;
    cc_target t;
};

struct cc_view {
    atomic_long refs;
    uint64_t generation;         /* the change counter this view reflects */
    struct target_rec **targets; /* sorted by id */
    size_t n_targets;
    cc_snapshot snap;           /* managers, keys and SCVs; its targets are moved out */
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

static int cmp_rec(const void *a, const void *b)
{
    return strcmp((*(struct target_rec *const *)a)->t.id, (*(struct target_rec *const *)b)->t.id);
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
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

static int drawable(const cc_target *t)
{
    return t->stage == CC_STAGE_PUBLIC && t->n_shards > 0;
}

/* The drawable (engine, target) pairs: public targets with shards. */
static struct pair *collect_pairs(const cc_view *v, size_t *n_out)
{
    size_t n = 0;
    for (size_t i = 0; i < v->n_targets; i++)
        if (drawable(&v->targets[i]->t))
            n += v->targets[i]->t.n_engines;
    struct pair *pairs = calloc(n ? n : 1, sizeof *pairs);
    if (pairs == NULL)
        return NULL;
    n = 0;
    for (size_t i = 0; i < v->n_targets; i++) {
        const cc_target *t = &v->targets[i]->t;
        if (!drawable(t))
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
    struct pair *pairs = collect_pairs(v, &n);
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

static void rec_unref(struct target_rec *r)
{
    if (r != NULL && atomic_fetch_sub(&r->refs, 1) == 1) {
        cc_target_free(&r->t);
        free(r);
    }
}

static void view_free(cc_view *v)
{
    for (size_t i = 0; i < v->n_pools; i++) {
        draw_pool_free(v->pools[i].pool);
        free(v->pools[i].targets);
    }
    free(v->pools);
    free(v->scv_health);
    for (size_t i = 0; i < v->n_targets; i++)
        rec_unref(v->targets[i]);
    free(v->targets);
    cc_snapshot_free(&v->snap);
    free(v);
}

/* Moves snap's targets into records of their own (snap keeps none). The
 * records go to out in snap's order; -1 when out of memory. */
static int adopt_targets(cc_snapshot *snap, struct target_rec **out)
{
    int rc = 0;
    for (size_t i = 0; i < snap->n_targets; i++) {
        out[i] = rc == 0 ? malloc(sizeof *out[i]) : NULL;
        if (out[i] == NULL) {
            rc = -1;
            cc_target_free(&snap->targets[i]);
            continue;
        }
        atomic_init(&out[i]->refs, 1);
        out[i]->t = snap->targets[i];
    }
    free(snap->targets);
    snap->targets = NULL;
    snap->n_targets = 0;
    return rc;
}

/* A view holding snap's managers, keys and SCVs (sorted) and no targets. */
static cc_view *view_new(cc_snapshot *snap)
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
    sort(s->keys, s->n_keys, sizeof *s->keys, cmp_key);
    sort(s->scvs, s->n_scvs, sizeof *s->scvs, cmp_scv);
    sort(s->managers, s->n_managers, sizeof *s->managers, cmp_manager);
    return v;
}

/* The indexes over v's targets and SCVs; frees v and returns NULL when out
 * of memory. */
static cc_view *view_index(cc_view *v, cc_health *health)
{
    cc_snapshot *s = &v->snap;
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

cc_view *cc_view_build(cc_snapshot *snap, cc_health *health)
{
    struct target_rec **recs = calloc(snap->n_targets ? snap->n_targets : 1, sizeof *recs);
    size_t n = snap->n_targets;
    if (recs == NULL || adopt_targets(snap, recs) != 0) {
        for (size_t i = 0; recs != NULL && i < n; i++)
            rec_unref(recs[i]);
        free(recs);
        cc_snapshot_free(snap);
        return NULL;
    }
    cc_view *v = view_new(snap);
    if (v == NULL) {
        for (size_t i = 0; i < n; i++)
            rec_unref(recs[i]);
        free(recs);
        return NULL;
    }
    v->targets = recs;
    v->n_targets = n;
    sort(v->targets, n, sizeof *v->targets, cmp_rec);
    return view_index(v, health);
}

/* Merges base's targets with a delta (changed sorted by id, deleted ids
 * sorted): a changed target replaces or joins base's, a deleted one is
 * dropped, every other one is shared with base. -1 when out of memory, with
 * nothing placed in v. */
static int merge_targets(cc_view *v, const cc_view *base, struct target_rec **changed, size_t n_changed,
                         const cc_strlist *deleted)
{
    size_t i = 0, j = 0, d = 0;
    v->targets = calloc(base->n_targets + n_changed + 1, sizeof *v->targets);
    if (v->targets == NULL)
        return -1;
    while (i < base->n_targets || j < n_changed) {
        int c = i == base->n_targets ? 1 : j == n_changed ? -1 : cmp_rec(&base->targets[i], &changed[j]);
        if (c >= 0) {
            v->targets[v->n_targets++] = changed[j++];
            i += c == 0;
            continue;
        }
        struct target_rec *r = base->targets[i++];
        while (d < deleted->n && strcmp(deleted->v[d], r->t.id) < 0)
            d++;
        if (d < deleted->n && strcmp(deleted->v[d], r->t.id) == 0)
            continue;
        atomic_fetch_add(&r->refs, 1);
        v->targets[v->n_targets++] = r;
    }
    return 0;
}

/* A new view: base patched with a delta from cc_store_load_changes. Takes
 * ownership of delta's contents and deleted (both emptied). NULL when out of
 * memory. */
static cc_view *view_patch(const cc_view *base, cc_snapshot *delta, cc_strlist *deleted, cc_health *health)
{
    size_t n = delta->n_targets;
    struct target_rec **changed = calloc(n ? n : 1, sizeof *changed);
    cc_view *v = NULL;
    if (changed == NULL || adopt_targets(delta, changed) != 0)
        goto out;
    sort(changed, n, sizeof *changed, cmp_rec);
    sort(deleted->v, deleted->n, sizeof *deleted->v, cmp_id);
    v = view_new(delta);
    if (v == NULL)
        goto out;
    if (merge_targets(v, base, changed, n, deleted) != 0) {
        view_free(v);
        v = NULL;
        goto out;
    }
    n = 0; /* every changed record now belongs to v */
    v = view_index(v, health);
out:
    for (size_t i = 0; changed != NULL && i < n; i++)
        rec_unref(changed[i]);
    free(changed);
    cc_snapshot_free(delta);
    cc_strlist_free(deleted);
    return v;
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
    struct target_rec probe, *key = &probe;
    if (id == NULL || strlen(id) > CC_TARGET_ID_LEN)
        return NULL;
    memcpy(probe.t.id, id, strlen(id) + 1);
    struct target_rec **r = search(&key, v->targets, v->n_targets, sizeof key, cmp_rec);
    return r ? &(*r)->t : NULL;
}

size_t cc_view_target_count(const cc_view *v)
{
    return v->n_targets;
}

const cc_target *cc_view_target_at(const cc_view *v, size_t i)
{
    return i < v->n_targets ? &v->targets[i]->t : NULL;
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
    /* For cc_cache_freshness, read without the lock (clock_mono_s, seconds). */
    _Atomic double fresh_at, last_load;
};

/* A view of the store as of now: everything when base is NULL, else base
 * patched with what changed since its generation. The generation comes from
 * the same read as the rows, so a write that lands during the load is
 * either in this view or in the next delta, never lost. */
static cc_view *load_view(cc_cache *c, const cc_view *base)
{
    cc_snapshot snap;
    cc_strlist deleted;
    uint64_t generation;
    double start = clock_mono_s();
    struct status st;
    if (cc_store_load_changes(c->store, base ? &base->generation : NULL, &snap, &deleted, &generation, &st) !=
        STATUS_OK) {
        log_error("cache reload failed: %s", st.msg);
        return NULL;
    }
    size_t n_changed = snap.n_targets, n_deleted = deleted.n;
    cc_view *v = base ? view_patch(base, &snap, &deleted, c->health) : cc_view_build(&snap, c->health);
    if (v == NULL) {
        log_error("cache reload failed: out of memory");
        return NULL;
    }
    v->generation = generation;
    double took = (clock_mono_s() - start) * 1e3;
    atomic_store_explicit(&c->last_load, took / 1e3, memory_order_relaxed);
    if (took > SLOW_RELOAD_MS)
        log_warn("cache reload (%zu targets, %zu changed, %zu deleted) took %.0f ms", v->n_targets, n_changed,
                 n_deleted, took);
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
    c->current = load_view(c, NULL);
    atomic_store(&c->fresh_at, clock_mono_s());
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

/* Under the lock, with c->running clear: brings the view up to date from
 * the store, patching base (the current view when NULL), and wakes the
 * waiters whose request it covers. */
static int run_reload(cc_cache *c, cc_view *base)
{
    cc_view *unused[16];
    unsigned long target = c->requested;
    c->running = 1;
    base = cc_view_ref(base ? base : c->current);
    pthread_mutex_unlock(&c->lock);
    cc_view *v = load_view(c, base);
    cc_view_unref(base); /* never the last reference: current or the caller's */
    pthread_mutex_lock(&c->lock);
    int rc = v != NULL && swap_in(c, v) == 0 ? 0 : -1;
    if (rc != 0)
        cc_view_unref(v);
    else
        atomic_store_explicit(&c->fresh_at, clock_mono_s(), memory_order_relaxed);
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
            run_reload(c, NULL);
    }
    int rc = c->last_rc;
    pthread_mutex_unlock(&c->lock);
    return rc;
}

int cc_cache_rebuild(cc_cache *c)
{
    /* The full load runs beside the refreshes, which keep patching the
     * current view meanwhile; it then catches up like any refresh. */
    cc_view *full = load_view(c, NULL);
    if (full == NULL)
        return -1;
    pthread_mutex_lock(&c->lock);
    ++c->requested;
    while (c->running)
        pthread_cond_wait(&c->cond, &c->lock);
    int rc = run_reload(c, full);
    pthread_mutex_unlock(&c->lock);
    cc_view_unref(full);
    return rc;
}

int cc_cache_poll(cc_cache *c)
{
    uint64_t now;
    /* A failure here is the store's to log (once per outage), not ours at
     * every poll. */
    if (cc_store_change_counter(c->store, &now, NULL) != STATUS_OK)
        return -1;
    pthread_mutex_lock(&c->lock);
    int stale = c->current->generation != now;
    pthread_mutex_unlock(&c->lock);
    if (stale)
        return cc_cache_refresh(c);
    atomic_store_explicit(&c->fresh_at, clock_mono_s(), memory_order_relaxed);
    return 0;
}

void cc_cache_freshness(cc_cache *c, double *age, double *last_load)
{
    *age = clock_mono_s() - atomic_load_explicit(&c->fresh_at, memory_order_relaxed);
    *last_load = atomic_load_explicit(&c->last_load, memory_order_relaxed);
}
