/* cc_survey: what the SCVs hold, asked by the CC every CC_SURVEY_MS for the
 * dashboard (cc_dashboard.h) and its history (cc_history.h).
 *
 * A round asks each online SCV through its public routes (PROTOCOL.md):
 * GET /active_streams once, then GET /streams/info/:id for the streams
 * that can have changed: in a full round (the first, then one every
 * CC_SURVEY_FULL_MS) every stream of every target the CC's view shards
 * there, listed with GET /targets/streams/:id; in the quick rounds between,
 * only the streams a core holds now or held at the last round (only they
 * gain frames), the others kept as the last round saw them (so a new,
 * stopped or errored stream that no core holds shows within a full
 * round's interval). The cost of a full round grows with the streams, of a
 * quick one with the active cores. Rounds run on a ticker thread of their
 * own, never on an event loop, and take at most 1/CC_SURVEY_DUTY of the
 * time: after a round of t seconds, the next starts no sooner than
 * CC_SURVEY_DUTY * t after it began. An SCV that is offline or does not
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
#define CC_SURVEY_FULL_MS 60000
#define CC_SURVEY_DUTY 10

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
