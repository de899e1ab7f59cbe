/* Fuzz target: one PUT /core/frame body into a stream's buffer
 * (scv_frame_append): the JSON body, its files map and "frames" claim, the
 * wire names (".b64", ".gz"), inflating within a 1 MiB limit, and the
 * credit integrity count of .xtc files. The input is the body. Properties:
 * a refused frame leaves no buffer file behind (the buffer starts empty);
 * an accepted one left exactly the bytes it reports; the buffer is never
 * left broken (no disk fails here). The buffer is discarded after each
 * input. */
#include <dirent.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "fuzz_stream.h"
#include "fuzz_support.h"
#include "scv/scv_frame.h"
#include "scv/stream_store.h"

#define ID "0123-fuzz:s1"
#define MAX_INFLATE (1 << 20)

static stream_store *store;
static char buffer_dir[PATH_MAX];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    store = fuzz_stream_open("fuzz_frame_body", ID, buffer_dir, sizeof buffer_dir);
    return 0;
}

/* Total bytes of the buffer's files (0 when there is no buffer). */
static uint64_t buffer_bytes(void)
{
    char path[PATH_MAX + 256];
    struct stat sb;
    uint64_t total = 0;
    DIR *d = opendir(buffer_dir);
    if (d == NULL)
        return 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", buffer_dir, e->d_name);
        FUZZ_CHECK(stat(path, &sb) == 0 && S_ISREG(sb.st_mode));
        total += (uint64_t)sb.st_size;
    }
    closedir(d);
    return total;
}

static int buffer_has_files(void)
{
    int found = 0;
    DIR *d = opendir(buffer_dir);
    if (d == NULL)
        return 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        found |= e->d_name[0] != '.';
    closedir(d);
    return found;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct status st;
    int64_t frames = 0;
    uint64_t bytes = 0;
    int broken = 0;
    status_code rc =
        scv_frame_append(store, ID, (const char *)data, size, MAX_INFLATE, &frames, &bytes, &broken, &st);
    FUZZ_CHECK(!broken);
    FUZZ_CHECK(rc == STATUS_OK || rc == STATUS_INVALID || rc == STATUS_TOO_LARGE);
    if (rc == STATUS_OK)
        FUZZ_CHECK(frames >= 1 && buffer_bytes() == bytes);
    else
        FUZZ_CHECK(!buffer_has_files());
    FUZZ_CHECK(stream_store_discard_buffer(store, ID, &st) == STATUS_OK);
    return 0;
}
