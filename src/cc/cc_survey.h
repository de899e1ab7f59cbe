/* cc_survey: what the SCVs hold, asked by the CC every CC_SURVEY_MS for the
 * dashboard (cc_dashboard.h) and its history (cc_history.h).
 *
 * A round makes one request per online SCV: GET /survey (PROTOCOL.md,
 * "Operations (ext)"), with the SCV's secret as for POST /streams/activate
 * since the figures include private targets. The SCV answers from counters
 * it keeps as streams change, so a round costs the same whatever the
 * number of streams. Rounds run on a ticker thread of their own, never on
 * an event loop, and take at most 1/CC_SURVEY_DUTY of the time: after a
 * round of t seconds, the next starts no sooner than CC_SURVEY_DUTY * t
 * after it began. An SCV that is offline or does not answer keeps the
 * streams and frames the last round saw of it, with no active cores, marked
 * not reachable.
 *
 * The round's result is a JSON snapshot, frozen once published (readers
 * share it by reference and never change it):
 *   {"time": t,
 *    "scvs": {name: {"online", "reachable", "streams", "active_cores",
 *                    "started", "frames_committed",
 *                    "targets": {id: {"streams", "frames", "frames_committed",
 *                                     "active_cores", "engines"}}}},
 *    "targets": {id: {"streams", "frames", "active_cores",
 *                     "engines": {engine: active cores}}}}
 * ("targets" holds the targets of the CC's view only, summed over SCVs).
 * The frames committed between two rounds are the growth of the SCVs'
 * "frames_committed" counters (the whole of them after an SCV restarted,
 * nothing where the last round did not reach the SCV); the round adds them
 * to the history with the active cores, per target, per SCV and for the
 * whole system.
 *
 * A target's streams (one row each) are not part of a round: the target's
 * page asks its shards for them (GET /survey/:target_id) when it is viewed,
 * and keeps the answer for CC_SURVEY_ROWS_MS, so any number of viewers
 * costs the SCVs one request per shard per interval. */
#ifndef ST_CC_SURVEY_H
#define ST_CC_SURVEY_H

#include <jansson.h>

#include "cc/cc_cache.h"
#include "cc/cc_history.h"

#define CC_SURVEY_MS 5000
#define CC_SURVEY_DUTY 10
#define CC_SURVEY_ROWS_MS 5000

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

/* Target t's streams on its online shards, {"time": wall time they were
 * asked, "streams": [{"id", "scv", "frames", "status", "error_count",
 * "active"}]} (a new reference), asked at most once per CC_SURVEY_ROWS_MS
 * and target however many callers want them at once (they wait for the
 * one asking). NULL when out of memory. Blocks: worker threads only. */
json_t *cc_survey_streams(cc_survey *s, const cc_view *view, struct client_pool *peers, const cc_target *t);

#endif
