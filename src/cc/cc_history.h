/* cc_history: the CC's per-minute record of work, for the dashboard's charts.
 *
 * One series per key: "" for the whole system, a target id for one target,
 * CC_HISTORY_SCV_PREFIX + name for one SCV. Each holds, per minute of the
 * last CC_HISTORY_MINUTES, the assignments this CC made, the frames
 * committed (what the survey saw the SCVs' counters gain) and the active
 * cores at the minute's last survey. A target's or SCV's series exists only once it
 * has seen work, and goes when it has seen none for CC_HISTORY_MINUTES.
 * Minutes in which the CC made no survey (it was down) are gaps, not zeros.
 *
 * Memory only, behind one mutex held for a few memory operations (an
 * assignment is one lookup and one increment). cc_history_save writes every
 * series to a gzipped JSON file and cc_history_load reads it back, so a
 * restarted CC keeps its last day: the minutes it was down stay gaps. */
#ifndef ST_CC_HISTORY_H
#define ST_CC_HISTORY_H

#include <jansson.h>
#include <stdint.h>

#define CC_HISTORY_MINUTES 1500 /* 25 h, so a full 24 h window always fits */
#define CC_HISTORY_WINDOW 1440  /* what cc_history_series returns: 24 h */
#define CC_HISTORY_SCV_PREFIX "scv:"

typedef struct cc_history cc_history;

cc_history *cc_history_new(void); /* NULL when out of memory */
void cc_history_free(cc_history *h);

/* One assignment to target_id at now (seconds since the epoch). */
void cc_history_assigned(cc_history *h, const char *target_id, double now);

/* What one survey saw at now: per key (the system "", targets, SCVs) the
 * frames committed since the last survey and the active cores. Keys not
 * listed had no active cores. */
struct cc_history_point {
    const char *key;
    int64_t frames;
    int64_t cores;
};
void cc_history_sample(cc_history *h, double now, const struct cc_history_point *points, size_t n);

/* Frames committed under key in the hour up to now (0 for an unknown key). */
int64_t cc_history_frames_last_hour(cc_history *h, const char *key, double now);

/* {"start": first minute (epoch s), "step": 60, "assignments": [..],
 * "frames": [..], "active_cores": [..]} for the CC_HISTORY_WINDOW minutes
 * up to now, null where no survey ran. NULL when out of memory. */
json_t *cc_history_series(cc_history *h, const char *key, double now);

/* 0, or -1 when path cannot be written (atomically) or read. A missing file
 * loads as an empty history; a malformed one is refused. */
int cc_history_save(cc_history *h, const char *path);
int cc_history_load(cc_history *h, const char *path);

#endif
