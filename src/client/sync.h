/* sync: incremental, resumable copy of a stream's data into a local folder.
 *
 * The local folder mirrors the stream's paths on the SCV: files/<seed>,
 * <N>/<frame file> and <N>/checkpoint_files/<file> for each partition N.
 * A plan lists every file the SCV's GET /streams/sync reply names that the
 * folder lacks; because each file is written to a temp file and renamed into
 * place, a file that exists is complete, so an interrupted sync resumes where
 * it stopped and seed files are fetched once. Names in the reply are checked:
 * one that could escape the folder ('/', "..", NUL) fails the plan. Files
 * the SCV could not list safely (its "skipped_files", names escaped by the
 * SCV) are not fetched; the plan and the outcome carry that list so the
 * caller can say the copy lacks them. */
#ifndef ST_CLIENT_SYNC_H
#define ST_CLIENT_SYNC_H

#include <stddef.h>
#include <jansson.h>

#include "client/client.h"

#define SYNC_NAME_MAX 255

struct sync_item {
    char *remote; /* path inside the stream, for client_stream_download */
    char *local;  /* dir + "/" + remote */
};

struct sync_plan {
    struct sync_item *items;
    size_t count;
    size_t partitions_total;
    size_t partitions_missing; /* partitions with at least one file to fetch */
    json_t *skipped;           /* the reply's skipped_files (strings), NULL if none */
};

/* What sync_stream did: files written, and the SCV's skipped list (NULL if
 * none; the caller json_decrefs it). */
struct sync_outcome {
    size_t fetched;
    json_t *skipped;
};

/* 0, or -1 with a reason in msg when the reply is malformed. */
int sync_plan_build(const json_t *sync_reply, const char *dir, struct sync_plan *plan, char *msg,
                    size_t msg_n);
void sync_plan_free(struct sync_plan *plan);

/* Downloads remote (a path inside the stream) to local through a temp file
 * in local's folder (created if missing), fsynced and renamed into place, so
 * local only ever holds a whole file. 0 or -1. */
int sync_fetch_file(struct client *c, const char *stream_id, const char *remote, const char *local,
                    struct client_error *err);

/* Called after each fetched file. */
typedef void (*sync_progress_fn)(size_t done, size_t total, const char *remote, void *ud);

/* Fetches the plan's files into dir (created if missing); *out says what
 * was done, also on failure. 0 or -1. */
int sync_stream(struct client *c, const char *stream_id, const char *dir, sync_progress_fn progress, void *ud,
                struct sync_outcome *out, struct client_error *err);

#endif
