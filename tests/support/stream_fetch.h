/* stream_fetch: what a stream's owner downloads, for tests. Each returns
 * malloc'd bytes (NUL-terminated, *len not counting the NUL) or NULL when a
 * request fails. */
#ifndef ST_TESTS_STREAM_FETCH_H
#define ST_TESTS_STREAM_FETCH_H

#include <jansson.h>
#include <stddef.h>

#include "client/client.h"

/* One file of the stream, e.g. "38/checkpoint_files/state.xml.gz.b64". */
unsigned char *stream_fetch_file(struct client *cc, const char *stream_id, const char *path, size_t *len);

/* The whole trajectory: every partition's frames.xtc in order, also written
 * to the local file out. *partitions (may be NULL) receives the sync
 * reply's "partitions" array (the caller owns it). */
unsigned char *stream_fetch_frames(struct client *cc, const char *stream_id, const char *out, size_t *len,
                                   json_t **partitions);

#endif
