/* scv_index: the SCV's in-memory stream table (PROTOCOL.md, "Stream
 * lifecycle").
 *
 * Per stream: status, committed frames, error_count, target, and while a
 * core holds it the activation (core token hash, expiry, user, engine,
 * start time, buffered frames, MD5 of the last accepted frame body). Per
 * target: every stream here, a max-heap of OK inactive streams by
 * committed frames (activation pops its top), and counters kept as its
 * streams change (streams by status, frames, frames committed, streams
 * with errors, active cores by engine) for GET /survey and /metrics. A
 * token-hash map finds the stream of a core token. One mutex guards it all
 * and is held only for a few memory operations, never during I/O, so
 * heartbeats stay fast while other threads fsync.
 *
 * File work on a stream is serialized by its own io mutex
 * (scv_stream_lock), which callers take before any index call that says
 * "io held"; the index lock is always taken after, never before, it.
 *
 * Deactivation has two steps: scv_index_unbind (memory only, any thread)
 * drops the token so nothing more is accepted; scv_index_finish (io held,
 * after the buffer is discarded) returns the activation's stats fragment and
 * puts an OK stream back in its target's heap. A stream is not assignable
 * between the two, so a new core never sees an old buffer. */
#ifndef ST_SCV_INDEX_H
#define ST_SCV_INDEX_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "scv/scv_db.h"
#include "scv/stream_store.h"

#define SCV_TOKEN_HASH_LEN 64 /* sha256 hex of a core token */
#define SCV_USER_MAX 128
#define SCV_ENGINE_MAX 64

typedef struct scv_index scv_index;
typedef struct scv_stream scv_stream;

struct scv_stream_info {
    char id[STREAM_STORE_ID_MAX + 1];
    char target_id[STREAM_STORE_TARGET_ID_MAX + 1];
    scv_stream_status status;
    int64_t frames;
    int error_count;
    int active;          /* a core token is bound */
    uint64_t activation; /* id of the current (or last) activation */
};

scv_index *scv_index_new(void);
void scv_index_free(scv_index *ix);

struct metrics;
/* Adds the index's figures to m (streams by status, active cores by target
 * and engine), kept up to date from then on under the index's own lock and
 * read by a scrape without it. Before the first activation. */
void scv_index_metrics(scv_index *ix, struct metrics *m);

/* Adds a stream (inactive; queued when OK). 0, or -1 if the id exists or
 * memory ran out. */
int scv_index_add(scv_index *ix, const char *id, const char *target_id, scv_stream_status status,
                  int64_t frames, int error_count);
/* Drops a stream from every structure (io held); later lookups miss it.
 * Returns how many streams its target still has here. */
size_t scv_index_remove(scv_index *ix, scv_stream *st);

/* A referenced stream, or NULL. Every get is paired with a put. */
scv_stream *scv_index_get(scv_index *ix, const char *id);
void scv_index_put(scv_index *ix, scv_stream *st);
void scv_stream_lock(scv_stream *st);
void scv_stream_unlock(scv_stream *st);

/* 0 and info filled, or -1 when the stream was removed. */
int scv_index_info(scv_index *ix, scv_stream *st, struct scv_stream_info *info);
size_t scv_index_target_count(scv_index *ix, const char *target_id);
/* {"streams":[ids]} of the target, or NULL when it has none here. */
json_t *scv_index_target_streams(scv_index *ix, const char *target_id);

/* Binds token_hash to the target's OK inactive stream with the most
 * committed frames; expiry = now + ttl. 0 with the stream id copied into
 * stream_id (STREAM_STORE_ID_MAX + 1 bytes), or -1 when none is free. */
int scv_index_activate(scv_index *ix, const char *target_id, const char *engine, const char *user,
                       const char *token_hash, double now, double ttl, char *stream_id);
/* The referenced stream bound to token_hash and not expired at now, with
 * its activation id; NULL otherwise. */
scv_stream *scv_index_by_token(scv_index *ix, const char *token_hash, double now, uint64_t *activation);
/* expiry = now + ttl for a bound, unexpired token. 0, or -1 when unknown. */
int scv_index_heartbeat(scv_index *ix, const char *token_hash, double now, double ttl);

/* Frame bookkeeping (io held). check: -1 when the activation is no longer
 * bound, else 0 with *duplicate = 1 when md5 equals the last accepted
 * frame's. accepted: records md5 and n more buffered frames of bytes more
 * buffered bytes. */
int scv_index_frame_check(scv_index *ix, scv_stream *st, uint64_t activation, const char *md5,
                          int *duplicate);
void scv_index_frame_accepted(scv_index *ix, scv_stream *st, uint64_t activation, const char *md5, int64_t n,
                              uint64_t bytes);
/* Buffered frames of a bound activation (io held), or -1 when unbound. */
int64_t scv_index_buffered(scv_index *ix, scv_stream *st, uint64_t activation);
/* After a commit of k frames (io held): frames = new_frames, buffer empty.
 * Returns the bytes the buffer held. */
uint64_t scv_index_committed(scv_index *ix, scv_stream *st, int64_t new_frames, int64_t k);
/* The activation's stats fragment (same id as the one finish returns) as it
 * will stand once `committing` more frames are committed at now, or NULL
 * when that is still nothing (or out of memory). New reference. */
json_t *scv_index_progress(scv_index *ix, scv_stream *st, int64_t committing, double now);

/* Unbinds the token of activation (0: whatever is bound) at now. 1 when it
 * did, and the caller must then discard the buffer and call finish; 0 when
 * nothing (or another activation) was bound. */
int scv_index_unbind(scv_index *ix, scv_stream *st, uint64_t activation, double now);
/* Completes a deactivation (io held): requeues an OK stream and returns a
 * new stats fragment {"id","target_id","stream_id","engine","user",
 * "start_time","end_time","frames"} when the activation committed frames,
 * else NULL (also when nothing was pending). */
json_t *scv_index_finish(scv_index *ix, scv_stream *st);
/* Unbinds every activation expired at now; *out = referenced streams the
 * caller must finish and put (free the array). Returns their number. */
size_t scv_index_expire(scv_index *ix, double now, scv_stream ***out);

/* Status and error count (io held, after the record is stored); a STOPPED
 * stream leaves the heap, an OK inactive one joins it. */
void scv_index_set_state(scv_index *ix, scv_stream *st, scv_stream_status status, int error_count);

/* GET /survey's body: the figures of each target here and their sums,
 * from counters kept as streams change (no walk over the streams):
 * {"started": wall time the counts began, "streams": {"ok", "stopped"},
 *  "frames" (committed, of the streams here now), "frames_committed" (since
 *  "started"; the SCV's never decreases, a target's restarts from 0 when
 *  its last stream here goes), "with_errors" (streams whose error_count > 0),
 *  "active_cores": {engine: n}, "targets": {id: {the same but "started"}}}.
 * The lock is held only to copy the counters. NULL when out of memory. */
json_t *scv_index_survey(scv_index *ix);
/* GET /survey/:target_id's body: {"streams": [{"id", "frames", "status",
 * "error_count", "active"}]} of the target's streams here (none: empty);
 * the lock is held only to copy them. NULL when out of memory. */
json_t *scv_index_target_rows(scv_index *ix, const char *target_id);

/* GET /active_streams and GET /active_cores bodies. */
json_t *scv_index_active_streams(scv_index *ix);
json_t *scv_index_active_cores(scv_index *ix);

#endif
