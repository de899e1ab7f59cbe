/* cc_survey: what the SCVs hold, asked by the CC every CC_SURVEY_MS for the
 * dashboard (cc_dashboard.h) and its history (cc_history.h).
 *
 * A round asks each online SCV through its public routes (PROTOCOL.md):
 * GET /active_streams once, GET /targets/streams/:id for each target the
 * CC's view shards there, and GET /streams/info/:id for each of those
 * streams, so its cost grows with the streams. It runs on a ticker thread
 * of its own, never on an event loop. An SCV that is offline or does not
 * answer keeps what the last round saw of it, marked not reachable.
 *
 * The round's result is a JSON snapshot, frozen once published (readers
 * share it by reference and never change it):
 *   {"time": t,
 *    "scvs": {name: {"online", "reachable", "streams", "active_cores"}},
 *    "targets": {id: {"streams": {stream id: {"frames", "status",
 *                     "error_count", "active"}},
 *                     "active_cores", "engines": {engine: active cores}}}}
 * Comparing each stream's frames with the previous round gives the frames
 * committed in between, which the round adds to the history together with
 * the active cores (per target, per SCV, and for the whole system). */
#ifndef ST_CC_SURVEY_H
#define ST_CC_SURVEY_H

#include <jansson.h>

#include "cc/cc_cache.h"
#include "cc/cc_history.h"

#define CC_SURVEY_MS 5000

struct client_pool;

typedef struct cc_survey cc_survey;

cc_survey *cc_survey_new(void); /* NULL when out of memory */
void cc_survey_free(cc_survey *s);

/* The latest snapshot (a new reference; json_decref it), an empty one
 * before the first round. Never NULL. */
json_t *cc_survey_get(cc_survey *s);

/* One round over the SCVs and targets of view, calling them through peers
 * (cc_peer_pool_new); the snapshot and the history's sample are stamped
 * with the time the round ended. Rounds must not overlap (one ticker runs
 * them). */
void cc_survey_run(cc_survey *s, const cc_view *view, struct client_pool *peers, cc_history *history);

#endif
