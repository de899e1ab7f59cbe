/* scv_streams: the SCV's streams, one call per request (PROTOCOL.md, "SCV"
 * and "Stream lifecycle").
 *
 * It owns the in-memory index (scv_index) and the durable store
 * (stream_store) and keeps them in step. Every call that touches a stream's
 * files takes the stream's io lock, re-checks the index under it (the
 * stream may have been deleted, or its core's activation ended, while the
 * caller waited), does the store's work and only then updates the index.
 * Lock order: a stream's io lock, then the index lock; callers see neither.
 * Ending an activation (stop, expiry, a frame that cannot be taken back)
 * discards the buffer, then queues the activation's stats fragment in the
 * durable outbox.
 *
 * Manager and CC calls name a stream by id, core calls by the core token
 * (only its SHA-256 is kept). Calls marked "memory only" do no I/O and may
 * run on an event loop; the rest block, for worker threads. A call that can
 * fail returns a status_code and fills st: INVALID, NOT_FOUND, EXISTS or
 * CONFLICT for the caller's mistake, TOO_LARGE for a passed limit,
 * UNAVAILABLE when memory or randomness ran out, IO for a disk or database
 * failure. */
#ifndef ST_SCV_STREAMS_H
#define ST_SCV_STREAMS_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

#include "scv/scv_index.h"
#include "util/status.h"

#define SCV_STREAMS_TOKEN_BYTES 32
#define SCV_STREAMS_TOKEN_LEN (2 * SCV_STREAMS_TOKEN_BYTES) /* hex */
#define SCV_STREAMS_EXPIRED "unknown or expired core token"

struct scv_streams_config {
    const char *data_dir;
    const char *scv_name;   /* new stream ids are "<uuid4>:<scv_name>" */
    double token_ttl;       /* seconds a core token lives past its last heartbeat */
    int max_stream_errors;  /* core errors that stop a stream */
    size_t max_inflate;     /* bytes one frame's .gz files may inflate to, together */
    size_t max_start_files; /* bytes of GET /core/start's files */
};

typedef struct scv_streams scv_streams;

/* Opens the store (which reconciles it with its folders) and loads every
 * stream into the index, inactive. NULL on failure. */
scv_streams *scv_streams_open(const struct scv_streams_config *cfg, struct status *st);
/* After the server has stopped: closes the store cleanly (see
 * stream_store_close_clean), logging whether the marker was written. */
void scv_streams_close(scv_streams *s);

struct metrics;
struct scv_metrics;
/* Before the server starts: adds the index's figures to m (see
 * scv_index_metrics) and counts commits and store failures in sm
 * (scv_metrics.h; borrowed, may be NULL). */
void scv_streams_metrics(scv_streams *s, struct metrics *m, struct scv_metrics *sm);

/* ---- manager and CC requests ------------------------------------------ */

/* A snapshot of stream id; NOT_FOUND when there is none. Memory only. */
status_code scv_streams_info(scv_streams *s, const char *id, struct scv_stream_info *info, struct status *st);
/* A new stream of target_id with its seed files and tags (may be NULL);
 * its id goes to id (STREAM_STORE_ID_MAX + 1 bytes). */
status_code scv_streams_create(scv_streams *s, const char *target_id, const json_t *files, const json_t *tags,
                               char *id, struct status *st);
/* Ends the activation, then removes the stream everywhere. */
status_code scv_streams_delete(scv_streams *s, const char *id, struct status *st);
/* start: OK with the error count cleared; stop: STOPPED, ending the
 * activation. */
status_code scv_streams_start(scv_streams *s, const char *id, struct status *st);
status_code scv_streams_stop(scv_streams *s, const char *id, struct status *st);
/* The listing of stream_store_sync. */
status_code scv_streams_sync(scv_streams *s, const char *id, json_t **out, struct status *st);
/* A file by its stream-relative path (see stream_store_open_file). */
status_code scv_streams_open_file(scv_streams *s, const char *id, const char *path, int *fd, off_t *size,
                                  struct status *st);
/* See stream_store_upload; CONFLICT while a core holds the stream. */
status_code scv_streams_upload(scv_streams *s, const char *id, const char *path, const void *data, size_t len,
                               struct status *st);
/* Memory only: streams of a target here; {"streams":[ids]} or NULL when
 * none; GET /active_streams and GET /active_cores bodies. */
size_t scv_streams_target_count(scv_streams *s, const char *target_id);
json_t *scv_streams_target_list(scv_streams *s, const char *target_id);
json_t *scv_streams_active_streams(scv_streams *s);
json_t *scv_streams_active_cores(scv_streams *s);
/* Memory only, for the CC's dashboard: GET /survey and GET
 * /survey/:target_id bodies (scv_index_survey, scv_index_target_rows). */
json_t *scv_streams_survey(scv_streams *s);
json_t *scv_streams_target_rows(scv_streams *s, const char *target_id);
/* Binds a fresh core token (into token, SCV_STREAMS_TOKEN_LEN + 1 bytes) to
 * the target's OK inactive stream with the most frames; CONFLICT when none
 * is free. Memory only. */
status_code scv_streams_activate(scv_streams *s, const char *target_id, const char *engine, const char *user,
                                 char *token, struct status *st);

/* ---- core requests, by core token ---------------------------------------- */

/* Extends the token's life by the ttl. Memory only. */
status_code scv_streams_heartbeat(scv_streams *s, const char *token, struct status *st);
/* The stream's snapshot and its start files (see
 * stream_store_start_files; *files a new reference). */
status_code scv_streams_core_start(scv_streams *s, const char *token, struct scv_stream_info *info,
                                   json_t **files, struct status *st);
/* PUT /core/frame: content_md5 must be the body's MD5 (a repeat of the last
 * accepted body is accepted again without effect); the body is appended as
 * scv_frame.h says. A frame that cannot be taken back out of the buffer
 * ends the activation. */
status_code scv_streams_frame(scv_streams *s, const char *token, const char *content_md5, const char *body,
                              size_t len, struct status *st);
/* PUT /core/checkpoint: commits the buffered frames (none: nothing to do)
 * with these checkpoint files and the activation's credit. */
status_code scv_streams_checkpoint(scv_streams *s, const char *token, const json_t *files, struct status *st);
/* PUT /core/stop: logs error (may be NULL) in the stream's error log and
 * counts it (max_stream_errors of them stop the stream), then ends the
 * activation. */
status_code scv_streams_core_stop(scv_streams *s, const char *token, const char *error, size_t len,
                                  struct status *st);

/* ---- the daemon's tickers ------------------------------------------------ */

/* Ends every activation whose token expired; returns how many. */
size_t scv_streams_expire(scv_streams *s);
/* The stats outbox (see stream_store_outbox_list, _delete and _stats). */
status_code scv_streams_outbox_list(scv_streams *s, size_t max, json_t **out, struct status *st);
status_code scv_streams_outbox_delete(scv_streams *s, const char *const *ids, size_t n, struct status *st);
status_code scv_streams_outbox_stats(scv_streams *s, size_t *n, double *oldest, struct status *st);

#endif
