/* cc_cache: the in-memory copy of the CC's database that /core/assign and
 * GET /scvs/status read.
 *
 * A cc_view is an immutable, reference-counted snapshot plus its indexes:
 * engine-key hash -> engine, target id -> target, SCV name -> SCV and its
 * liveness record, and one weighted draw pool per engine over the public
 * targets that have shards. Readers take a reference (cc_cache_get), use it
 * without locks, and drop it (cc_view_unref).
 *
 * A cc_cache holds the current view, tagged with the store's change counter
 * (generation) read in the same transaction as its rows. cc_cache_refresh
 * brings it up to date on the calling (worker or ticker) thread: it reads
 * only what changed since that generation (cc_store_load_changes: the
 * targets written since, the ids of those deleted, and the small tables in
 * full) and builds a new view that shares every unchanged target with the
 * old one, off the event loops, then swaps it in. Concurrent callers
 * coalesce, and a caller returns only once a reload that started after its
 * call has been swapped in, so a write followed by a refresh is visible to
 * the next request. The cost of a refresh grows with what changed, plus a
 * rebuild of the draw pools (tens of ms at 100,000 targets), not with a
 * reload of every target.
 *
 * Other processes (other CCs on one PostgreSQL database, the add-manager
 * command) write behind the cache's back. cc_cache_poll reads the store's
 * change counter (one small query) and refreshes when it differs from the
 * view's: polled every CC_CACHE_POLL_MS, a change anywhere reaches every
 * CC's assignment path within about a second, with no query per
 * assignment. The store's triggers track changes row by row, manual SQL
 * included; cc_cache_rebuild, a full load every CC_CACHE_SAFETY_MS, is the
 * backstop for writes that bypass triggers. It loads beside the refreshes
 * (which go on patching the current view) and then catches up like one. */
#ifndef ST_CC_CACHE_H
#define ST_CC_CACHE_H

#include "cc/cc_health.h"
#include "cc/cc_store.h"
#include "cc/draw.h"

typedef struct cc_view cc_view;

/* Takes ownership of snap's contents (snap is zeroed). NULL when out of
 * memory (snap is then released). */
cc_view *cc_view_build(cc_snapshot *snap, cc_health *health);
cc_view *cc_view_ref(cc_view *v);
void cc_view_unref(cc_view *v); /* NULL is fine */

/* The engine an engine key names, or NULL. */
const char *cc_view_key_engine(const cc_view *v, const char *key);
const cc_target *cc_view_target(const cc_view *v, const char *id);
/* The view's targets in id order (the dashboard's survey walks them). */
size_t cc_view_target_count(const cc_view *v);
const cc_target *cc_view_target_at(const cc_view *v, size_t i); /* NULL past the end */
int cc_target_has_engine(const cc_target *t, const char *engine);
/* A target for engine by the two-level weighted draw, or NULL when no
 * public target with shards lists the engine. */
const cc_target *cc_view_draw(const cc_view *v, const char *engine, draw_rng *rng);
/* The SCV named name (and its liveness record in *health), or NULL. */
const cc_scv *cc_view_scv(const cc_view *v, const char *name, cc_health_rec **health);
size_t cc_view_scv_count(const cc_view *v);
const cc_scv *cc_view_scv_at(const cc_view *v, size_t i, cc_health_rec **health);

#define CC_CACHE_POLL_MS 500
#define CC_CACHE_SAFETY_MS 60000

typedef struct cc_cache cc_cache;

/* Loads the first view; NULL with a reason in err. */
cc_cache *cc_cache_new(cc_store *store, cc_health *health, char *err, size_t errlen);
void cc_cache_free(cc_cache *c);
cc_view *cc_cache_get(cc_cache *c); /* a reference; never NULL */
/* 0, or -1 (logged) when the store could not be read; the old view stays. */
int cc_cache_refresh(cc_cache *c);
/* A full load, then a refresh on top of it; 0 or -1 (logged, the old view
 * stays). */
int cc_cache_rebuild(cc_cache *c);
/* Refreshes when the change counter differs from the current view's. 0
 * when the view is current, -1 when the store could not be read (the old
 * view stays). */
int cc_cache_poll(cc_cache *c);
/* For /metrics, without the lock: seconds since the cache was last known to
 * match the store (a poll found no change, or a reload was swapped in), and
 * how long the last load from the store took. */
void cc_cache_freshness(cc_cache *c, double *age, double *last_load);

#endif
