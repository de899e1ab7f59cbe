/* Fuzz target: the client's sync planning (sync_plan_build). The input is a
 * GET /streams/sync reply. Each planned file must lie inside the local
 * folder: its remote path is files/<name>, <N>/<name> or
 * <N>/checkpoint_files/<name> with N a listed partition and no component
 * empty, "." or "..", and local is the folder, '/', then remote. */
#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/sync.h"
#include "fuzz_support.h"
#include "util/fs.h"

static char dir[PATH_MAX];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char p[PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s/sync", fuzz_tmpdir());
    snprintf(p, sizeof p, "%s/1/checkpoint_files", dir);
    if (fs_mkdir_p(p, 0755) != 0)
        abort();
    snprintf(p, sizeof p, "%s/1/frames.xtc", dir);
    if (fs_write_file(p, "x", 1, 0) != 0)
        abort();
    snprintf(p, sizeof p, "%s/files", dir);
    if (fs_mkdir_p(p, 0755) != 0)
        abort();
    return 0;
}

static void check_component(const char *s, size_t len)
{
    FUZZ_CHECK(len > 0 && len <= SYNC_NAME_MAX);
    FUZZ_CHECK(!(len == 1 && s[0] == '.') && !(len == 2 && s[0] == '.' && s[1] == '.'));
}

static void check_item(const struct sync_item *it)
{
    size_t dl = strlen(dir);
    FUZZ_CHECK(strncmp(it->local, dir, dl) == 0 && it->local[dl] == '/');
    FUZZ_CHECK(strcmp(it->local + dl + 1, it->remote) == 0);
    const char *r = it->remote;
    int parts = 0;
    for (const char *p = r;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        check_component(r, (size_t)(p - r));
        parts++;
        if (*p == '\0')
            break;
        r = p + 1;
    }
    FUZZ_CHECK(parts == 2 || (parts == 3 && strstr(it->remote, "/checkpoint_files/") != NULL));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *reply = json_loadb((const char *)data, size, JSON_ALLOW_NUL, NULL);
    struct sync_plan plan;
    char msg[256] = "";
    if (sync_plan_build(reply, dir, &plan, msg, sizeof msg) == 0) {
        FUZZ_CHECK(plan.partitions_missing <= plan.partitions_total);
        for (size_t i = 0; i < plan.count; i++)
            check_item(&plan.items[i]);
        sync_plan_free(&plan);
    } else {
        FUZZ_CHECK(msg[0] != '\0' && plan.count == 0);
    }
    json_decref(reply);
    return 0;
}
