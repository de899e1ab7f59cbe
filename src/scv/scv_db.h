/* scv_db: the SCV's SQLite records — one row per stream, the running credit
 * of activations (open fragments, and the intents that tie a commit's
 * credit to its partition) and a durable outbox of stats fragments waiting
 * to be shipped to the CC.
 * The partitions on disk are the truth for frame counts; these rows are an
 * index that stream_store's reconcile repairs at open, which is why WAL with
 * synchronous=NORMAL is enough (a commit's credit intent alone is written
 * with FULL). One connection guarded by a mutex (util/sqldb.h): any thread
 * may call any function. Every call returns a status_code: STATUS_OK,
 * STATUS_NOT_FOUND for no such stream, STATUS_EXISTS for an id taken, or
 * STATUS_IO for a database failure, logged with SQLite's reason. */
#ifndef ST_SCV_DB_H
#define ST_SCV_DB_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util/status.h"

typedef struct scv_db scv_db;

typedef enum { SCV_STREAM_OK = 0, SCV_STREAM_STOPPED = 1 } scv_stream_status;

/* Strings are valid only during the callback that receives the record. */
typedef struct {
    const char *id;
    const char *target_id;
    scv_stream_status status;
    int64_t frames;
    int error_count;
    double creation_date;
} scv_stream_record;

/* Returns 0 to go on; anything else stops the iteration as a failure of
 * fn (foreach then returns STATUS_IO). */
typedef int (*scv_stream_fn)(const scv_stream_record *rec, void *ctx);

typedef struct {
    const char *id;
    int64_t frames;
} scv_db_frames_fix;

/* Opens (creating or upgrading the schema) the database file at path. NULL
 * on failure, with the reason logged. */
scv_db *scv_db_open(const char *path);
void scv_db_close(scv_db *db);

/* EXISTS when the id exists. New streams are OK with 0 frames. */
status_code scv_db_stream_insert(scv_db *db, const char *id, const char *target_id, double creation_date);
status_code scv_db_stream_delete(scv_db *db, const char *id);
status_code scv_db_stream_get_frames(scv_db *db, const char *id, int64_t *frames);
status_code scv_db_stream_set_frames(scv_db *db, const char *id, int64_t frames);
status_code scv_db_stream_set_state(scv_db *db, const char *id, scv_stream_status status, int error_count);
/* Every stream in one SELECT, in storage order: ordering by id would look
 * each row up through the id index (7x slower at 100,000 streams). */
status_code scv_db_stream_foreach(scv_db *db, scv_stream_fn fn, void *ctx);
/* Drops and frame fixes applied in a single transaction. */
status_code scv_db_reconcile(scv_db *db, const char *const *drop, size_t ndrop, const scv_db_frames_fix *fix,
                             size_t nfix);

/* Adding an id already present is a no-op, so retries are safe. The open
 * fragment of the same id, if any, is removed in the same transaction. */
status_code scv_db_outbox_add(scv_db *db, const char *id, const char *json_text, double created);
/* A commit's credit, recorded around the rename that commits its partition
 * (docs/durability.md). Before the rename, commit_intent durably records
 * (synchronous=FULL) the partition and the activation's stats fragment as
 * it stands once that partition exists; after it, commit_done sets the
 * stream's frame count, saves the fragment as the activation's open
 * fragment (its running credit, replacing the previous copy; skipped when
 * fragment_id is NULL) and drops the intent, in one transaction. At start,
 * intents_resolve turns each intent whose partition exists (exists returns
 * 1; 0 when not, -1 on failure) into the open fragment and drops the rest,
 * so a crash on either side of the rename credits the commit exactly when
 * it happened. *applied = intents that were applied. */
typedef int (*scv_db_partition_fn)(const char *stream_id, int64_t partition, void *ctx);
status_code scv_db_commit_intent(scv_db *db, const char *stream_id, int64_t partition,
                                 const char *fragment_id, const char *json_text);
status_code scv_db_commit_done(scv_db *db, const char *stream_id, int64_t frames, const char *fragment_id,
                               const char *json_text);
status_code scv_db_commit_intents_resolve(scv_db *db, scv_db_partition_fn exists, void *ctx,
                                          int64_t *applied);
/* Moves every open fragment into the outbox (at start-up, when no
 * activation can be running); *moved = how many. */
status_code scv_db_open_fragments_close(scv_db *db, double created, int64_t *moved);
/* *out = new JSON array of up to max fragment objects, oldest first. */
status_code scv_db_outbox_list(scv_db *db, size_t max, json_t **out);
status_code scv_db_outbox_delete(scv_db *db, const char *const *ids, size_t n);
/* Fragments in the outbox, without a query (a count kept as rows come and
 * go); the creation time of the oldest (seq order), 0 when it is empty. */
size_t scv_db_outbox_count(scv_db *db);
status_code scv_db_outbox_oldest(scv_db *db, double *created);

#endif
