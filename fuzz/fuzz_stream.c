/* fuzz_stream: see fuzz_stream.h. */
#include "fuzz_stream.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_support.h"
#include "util/log.h"

stream_store *fuzz_stream_open(const char *caller, const char *id, char *buffer_dir, size_t buffer_dir_size)
{
    char dir[PATH_MAX];
    struct status err;
    log_set_quiet(1);
    snprintf(dir, sizeof dir, "%s/scv", fuzz_tmpdir());
    snprintf(buffer_dir, buffer_dir_size, "%s/streams/%s/buffer_files", dir, id);
    stream_store *store = stream_store_open(dir, &err);
    json_t *files = json_pack("{s:s}", "state.xml", "<xml/>");
    if (store == NULL || stream_store_create(store, id, "target", files, NULL, 1.0, &err) != STATUS_OK) {
        fprintf(stderr, "%s: %s\n", caller, err.msg);
        abort();
    }
    json_decref(files);
    return store;
}
