/* fuzz_stream: the one-stream SCV store the frame fuzz targets write into.
 *
 * fuzz_stream_open opens a stream store under fuzz_tmpdir()/scv holding one
 * stream `id` (target "target", a one-file state), writes the path of that
 * stream's buffer_files folder to buffer_dir, and returns the store. It
 * aborts, naming the caller, when the store cannot be made: a fuzz target
 * has no way to go on without it. */
#ifndef ST_FUZZ_STREAM_H
#define ST_FUZZ_STREAM_H

#include <stddef.h>

#include "scv/stream_store.h"

stream_store *fuzz_stream_open(const char *caller, const char *id, char *buffer_dir, size_t buffer_dir_size);

#endif
