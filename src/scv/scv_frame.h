/* scv_frame: one PUT /core/frame body into a stream's buffer (PROTOCOL.md,
 * "Core requests").
 *
 * The body is {"files": {name: string}, "frames"?: 1..10^9 (default 1)}.
 * A file's name says its encoding: ".b64" then ".gz" suffixes are undone
 * (base64 text, then gzip bytes) and the rest names the buffer file it is
 * appended to; inflating streams straight into the buffer, within
 * max_inflate bytes for all the frame's files together. A file whose
 * decoded name ends in ".xtc" must hold exactly "frames" XTC frames (credit
 * integrity, PROTOCOL.md "Donors and credit"). Either every file is
 * appended or, on any refusal, none: the buffer is left as it was. Long
 * strings are read in place from body (json_slices), so body is only read. */
#ifndef ST_SCV_FRAME_H
#define ST_SCV_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "scv/stream_store.h"
#include "util/status.h"

/* Appends the frame to stream id's buffer; *frames gets its "frames" and
 * *bytes what was appended (inflated). *broken = 1 when a refused frame
 * could not be taken back out, so the buffer must be discarded (the status
 * is then IO). */
status_code scv_frame_append(stream_store *store, const char *id, const char *body, size_t len,
                             size_t max_inflate, int64_t *frames, uint64_t *bytes, int *broken,
                             struct status *st);

#endif
