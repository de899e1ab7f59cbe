/* stream_store: the SCV's durable streams, on disk and in scv_db.
 * Layout under the data folder: scv.db, and streams/<id>/ holding files/
 * (seed files), tags/, one <N>/ folder per committed partition (frame files
 * for frames (previous N, N] and checkpoint_files/ for the state at N),
 * buffer_files/ (the uncommitted buffer) and error_log.txt.
 * Blocking calls for worker threads; nothing about HTTP or tokens. Callers
 * serialize calls on one stream; different streams may run concurrently.
 * Every call that can fail returns a status_code and fills st (may be NULL)
 * with a reason a user can act on: STATUS_INVALID or STATUS_EXISTS for the
 * caller's mistake, STATUS_NOT_FOUND for no such stream or file, STATUS_IO
 * for a disk or database failure (also logged). File maps are JSON objects
 * of name -> string, the string's bytes stored verbatim. */
#ifndef ST_STREAM_STORE_H
#define ST_STREAM_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "scv/scv_db.h"
#include "util/status.h"

#define STREAM_STORE_ID_MAX 200 /* leaves room for temporary prefixes within NAME_MAX */
#define STREAM_STORE_TARGET_ID_MAX 128
#define STREAM_STORE_ERROR_TEXT_MAX 65536

typedef struct stream_store stream_store;

/* Opens the store (creating the folder, streams/ and scv.db as needed) and
 * locks it: a second open of the same folder, by this or another process,
 * fails until the first is closed. Then it reconciles: per stream, leftover
 * buffer_files/ and temporary entries are removed, a highest partition
 * lacking checkpoint_files/ is removed as incomplete, the highest remaining
 * partition becomes the record's frame count, and records whose folder is
 * gone are dropped. Folders without a record are kept and logged.
 *
 * The reconcile walk is skipped when the clean-stop marker
 * (STREAM_STORE_CLEAN_MARKER in the data folder, written by
 * stream_store_close_clean) is present and still matches streams/ and
 * scv.db; the marker is removed durably before anything else, so a crash
 * from then on makes the next open walk again. A missing, unreadable or
 * stale marker means a walk.
 *
 * Open stats fragments (activations the last run never finished) move to
 * the outbox either way. NULL on failure. */
stream_store *stream_store_open(const char *data_dir, struct status *st);
/* Closes without a marker: the next open walks every stream, as after a
 * crash. For tools, and whenever a clean stop cannot be vouched for. */
void stream_store_close(stream_store *s);
/* Closes after a graceful stop, when no other call on s is running or can
 * start: removes every buffer this run left, closes scv.db, makes the whole
 * store durable (syncfs), then writes the clean-stop marker atomically
 * (temporary, fsync, rename, fsync of the folder). No marker is written, and
 * the reason is logged, when any of that fails or when a disk or database
 * failure since open may have left something only the walk repairs. s is
 * freed either way; returns STATUS_OK when the marker was written. */
status_code stream_store_close_clean(stream_store *s, struct status *st);

#define STREAM_STORE_CLEAN_MARKER "clean-stop"

/* Checks a file map: an object (or NULL when optional) of name -> string,
 * every name one the name rule accepts (stream_path.h); what names the map
 * in the reason. INVALID otherwise. */
status_code stream_store_check_files(const json_t *map, const char *what, int optional, struct status *st);

/* Every stream record (one SELECT), to build the server's indexes. */
status_code stream_store_foreach(stream_store *s, scv_stream_fn fn, void *ctx);

/* id: a name (see stream_path.h) of at most STREAM_STORE_ID_MAX bytes, by
 * convention "<uuid4>:<scv name>". tags may be NULL. Writes and fsyncs
 * everything, then inserts the record (status OK, 0 frames); on failure
 * nothing is left behind. EXISTS if the id exists. */
status_code stream_store_create(stream_store *s, const char *id, const char *target_id, const json_t *files,
                                const json_t *tags, double now, struct status *st);
status_code stream_store_delete(stream_store *s, const char *id, struct status *st);

status_code stream_store_set_state(stream_store *s, const char *id, scv_stream_status status, int error_count,
                                   struct status *st);
/* Appends "[<UTC time>] <text>\n" to the stream's error_log.txt. */
status_code stream_store_log_error(stream_store *s, const char *id, const char *text, size_t len, double now,
                                   struct status *st);

/* One PUT /core/frame's files, appended to buffer_files/ as a unit (no
 * fsync; commit makes them durable). begin, then per file
 * stream_store_frame_file (NOT_FOUND for an unknown stream; INVALID for a
 * refused name or "checkpoint_files") and stream_store_frame_write any
 * number of times, then stream_store_frame_end, which frees f. appended
 * maps the bytes the current file gained since its stream_store_frame_file
 * (read-only, valid until the next frame_file or end; *len 0 when none).
 * end with keep = 0 cuts every file back to its length before begin
 * (removing the ones begin did not find), so a refused frame leaves the
 * buffer as it was; it returns IO when that fails, and the buffer must then
 * be discarded. */
typedef struct stream_store_frame stream_store_frame;
status_code stream_store_frame_begin(stream_store *s, const char *id, stream_store_frame **f,
                                     struct status *st);
status_code stream_store_frame_file(stream_store_frame *f, const char *name, struct status *st);
status_code stream_store_frame_write(stream_store_frame *f, const void *data, size_t len, struct status *st);
status_code stream_store_frame_appended(stream_store_frame *f, const void **data, size_t *len,
                                        struct status *st);
status_code stream_store_frame_end(stream_store_frame *f, int keep, struct status *st);
status_code stream_store_discard_buffer(stream_store *s, const char *id, struct status *st);

/* Commits the buffer holding k >= 1 frames with the given checkpoint files:
 * files into buffer_files/checkpoint_files/, fsync every file and both
 * folders, record credit durably, rename buffer_files to <old + k>, fsync
 * the stream folder, then update the record and the activation's running
 * credit. A crash at any instant leaves either the previous partition or
 * the complete new one, and the credit that goes with it. credit: the
 * activation's stats fragment as it stands once this commit is in (an
 * object with a string "id"; the next open moves it to the outbox if the
 * activation does not end first), or NULL. *new_frames = old + k. */
status_code stream_store_commit(stream_store *s, const char *id, const json_t *checkpoint_files, int64_t k,
                                const json_t *credit, int64_t *new_frames, struct status *st);

/* *out = {"partitions":[..ascending], "seed_files":[..]} plus, when
 * partitions exist, "frame_files" and "checkpoint_files" of the latest.
 * Files whose names break the name rule (stream_path.h) are left out, logged
 * and named in "skipped_files" (stream-relative, escaped as
 * stream_path_escape does). */
status_code stream_store_sync(stream_store *s, const char *id, json_t **out, struct status *st);

/* *out = the latest checkpoint's files plus every seed file the checkpoint
 * lacks, as name -> string (names that break the name rule are logged and
 * left out). IO if they total over max_total bytes or one is
 * not UTF-8 text (JSON cannot carry it). */
status_code stream_store_start_files(stream_store *s, const char *id, size_t max_total, json_t **out,
                                     struct status *st);

/* Opens a regular file by a path relative to the stream folder (e.g.
 * "files/system.xml.gz.b64", "38/frames.xtc"); the caller closes *fd. */
status_code stream_store_open_file(stream_store *s, const char *id, const char *path, size_t path_len,
                                   int *fd, off_t *size, struct status *st);

/* Atomically replaces (or creates) a file by a stream-relative path, making
 * missing parent folders. Refuses a path starting at buffer_files/ or at a
 * partition-like number that is not an existing partition, so an upload can
 * never fake a partition or frame count. */
status_code stream_store_upload(stream_store *s, const char *id, const char *path, size_t path_len,
                                const void *data, size_t len, struct status *st);

/* Stats outbox. fragment must be an object with a string "id"; adding an
 * id already present is a no-op, and it replaces the open fragment of that
 * id (the running credit a commit saved). list: a new array, oldest first. */
status_code stream_store_outbox_add(stream_store *s, const json_t *fragment, struct status *st);
status_code stream_store_outbox_list(stream_store *s, size_t max, json_t **out, struct status *st);
status_code stream_store_outbox_delete(stream_store *s, const char *const *ids, size_t n, struct status *st);
/* Fragments waiting (a count kept as they come and go, no query) and the
 * creation time (Unix) of the oldest, 0 when none (one indexed lookup). */
status_code stream_store_outbox_stats(stream_store *s, size_t *n, double *oldest, struct status *st);

#endif
