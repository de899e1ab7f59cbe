/* sync: plan and fetch a stream's missing files (see sync.h). */
#include "client/sync.h"
#include "util/fs.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A name from the server may become a local file name only if it stays one. */
static int safe_name(const json_t *v)
{
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    return s && len > 0 && len <= SYNC_NAME_MAX && strlen(s) == len && !strchr(s, '/') &&
           strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static int check_names(const json_t *list, const char *field, char *msg, size_t msg_n)
{
    size_t i;
    json_t *v;
    if (!json_is_array(list)) {
        snprintf(msg, msg_n, "the sync reply's '%s' is not a list", field);
        return -1;
    }
    json_array_foreach(list, i, v)
    {
        if (!safe_name(v)) {
            snprintf(msg, msg_n, "the sync reply's '%s' has an unsafe or invalid name", field);
            return -1;
        }
    }
    return 0;
}

/* skipped_files, when present, is a list of strings (shown to a person). */
static int check_skipped(const json_t *list, char *msg, size_t msg_n)
{
    size_t i;
    json_t *v;
    if (list == NULL)
        return 0;
    if (!json_is_array(list)) {
        snprintf(msg, msg_n, "the sync reply's 'skipped_files' is not a list");
        return -1;
    }
    json_array_foreach(list, i, v)
    {
        if (!json_is_string(v)) {
            snprintf(msg, msg_n, "the sync reply's 'skipped_files' holds a value that is not a string");
            return -1;
        }
    }
    return 0;
}

static int check_partitions(const json_t *parts, char *msg, size_t msg_n)
{
    size_t i;
    json_t *v;
    json_int_t last = 0;
    if (!json_is_array(parts)) {
        snprintf(msg, msg_n, "the sync reply has no 'partitions' list");
        return -1;
    }
    json_array_foreach(parts, i, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) <= last) {
            snprintf(msg, msg_n, "the sync reply's partitions are not positive ascending integers");
            return -1;
        }
        last = json_integer_value(v);
    }
    return 0;
}

/* Appends remote (and its local twin) unless the local file exists.
 * Returns 1 when appended, 0 when present, -1 when out of memory. */
static int plan_file(struct sync_plan *plan, size_t *cap, const char *dir, const char *remote)
{
    char *local = NULL;
    if (asprintf(&local, "%s/%s", dir, remote) < 0)
        return -1;
    if (fs_exists(local)) {
        free(local);
        return 0;
    }
    if (plan->count == *cap) {
        size_t grown = *cap ? *cap * 2 : 16;
        struct sync_item *items = realloc(plan->items, grown * sizeof *items);
        if (!items) {
            free(local);
            return -1;
        }
        plan->items = items;
        *cap = grown;
    }
    char *r = strdup(remote);
    if (!r) {
        free(local);
        return -1;
    }
    plan->items[plan->count++] = (struct sync_item){.remote = r, .local = local};
    return 1;
}

/* Plans each name of list under prefix; adds to *added how many were missing. */
static int plan_list(struct sync_plan *plan, size_t *cap, const char *dir, const char *prefix,
                     const json_t *list, size_t *added)
{
    size_t i;
    json_t *v;
    char remote[64 + 2 * SYNC_NAME_MAX];
    json_array_foreach(list, i, v)
    {
        snprintf(remote, sizeof remote, "%s%s", prefix, json_string_value(v));
        int r = plan_file(plan, cap, dir, remote);
        if (r < 0)
            return -1;
        *added += (size_t)r;
    }
    return 0;
}

int sync_plan_build(const json_t *reply, const char *dir, struct sync_plan *plan, char *msg, size_t msg_n)
{
    const json_t *parts = json_object_get(reply, "partitions");
    const json_t *seeds = json_object_get(reply, "seed_files");
    const json_t *frames = json_object_get(reply, "frame_files");
    const json_t *checkpoints = json_object_get(reply, "checkpoint_files");
    json_t *skipped = json_object_get(reply, "skipped_files");
    size_t cap = 0, added = 0, i;
    json_t *p;
    char prefix[64];
    memset(plan, 0, sizeof *plan);
    if (!json_is_object(reply)) {
        snprintf(msg, msg_n, "the sync reply is not a JSON object");
        return -1;
    }
    if (check_partitions(parts, msg, msg_n) != 0 || check_names(seeds, "seed_files", msg, msg_n) != 0 ||
        check_skipped(skipped, msg, msg_n) != 0)
        return -1;
    if (json_array_size(parts) > 0 && (check_names(frames, "frame_files", msg, msg_n) != 0 ||
                                       check_names(checkpoints, "checkpoint_files", msg, msg_n) != 0))
        return -1;
    if (plan_list(plan, &cap, dir, "files/", seeds, &added) != 0)
        goto oom;
    json_array_foreach(parts, i, p)
    {
        added = 0;
        snprintf(prefix, sizeof prefix, "%" JSON_INTEGER_FORMAT "/", json_integer_value(p));
        if (plan_list(plan, &cap, dir, prefix, frames, &added) != 0)
            goto oom;
        snprintf(prefix, sizeof prefix, "%" JSON_INTEGER_FORMAT "/checkpoint_files/", json_integer_value(p));
        if (plan_list(plan, &cap, dir, prefix, checkpoints, &added) != 0)
            goto oom;
        plan->partitions_total++;
        plan->partitions_missing += added > 0;
    }
    if (json_array_size(skipped) > 0)
        plan->skipped = json_incref(skipped);
    return 0;
oom:
    sync_plan_free(plan);
    snprintf(msg, msg_n, "out of memory planning the sync");
    return -1;
}

void sync_plan_free(struct sync_plan *plan)
{
    for (size_t i = 0; i < plan->count; i++) {
        free(plan->items[i].remote);
        free(plan->items[i].local);
    }
    free(plan->items);
    json_decref(plan->skipped);
    memset(plan, 0, sizeof *plan);
}

int sync_fetch_file(struct client *c, const char *stream_id, const char *remote, const char *local,
                    struct client_error *err)
{
    char *tmp = NULL, *parent = strdup(local);
    FILE *f = NULL;
    int fd = -1, rc = -1, created = 0;
    const char *folder = parent ? dirname(parent) : NULL;
    if (!folder || asprintf(&tmp, "%s/.sync-XXXXXX", folder) < 0) {
        tmp = NULL;
        client_error_set(err, 0, "out of memory");
        goto out;
    }
    if (fs_mkdir_p(folder, 0755) != 0 || (fd = mkstemp(tmp)) < 0) {
        client_error_set(err, 0, "cannot write in %s: %s", folder, strerror(errno));
        goto out;
    }
    created = 1;
    f = fdopen(fd, "wb");
    if (!f) {
        client_error_set(err, 0, "cannot write in %s: %s", folder, strerror(errno));
        goto out;
    }
    fd = -1;
    if (client_stream_download(c, stream_id, remote, f, err) != 0)
        goto out;
    int flushed = fflush(f) == 0 && fsync(fileno(f)) == 0;
    int closed = fclose(f) == 0;
    f = NULL;
    if (!flushed || !closed) {
        client_error_set(err, 0, "cannot write %s: %s", local, strerror(errno));
        goto out;
    }
    if (rename(tmp, local) != 0) {
        client_error_set(err, 0, "cannot rename into %s: %s", local, strerror(errno));
        goto out;
    }
    fs_fsync_path(folder);
    rc = 0;
out:
    if (f)
        fclose(f);
    if (fd >= 0)
        close(fd);
    if (rc != 0 && created)
        unlink(tmp);
    free(tmp);
    free(parent);
    return rc;
}

int sync_stream(struct client *c, const char *stream_id, const char *dir, sync_progress_fn progress, void *ud,
                struct sync_outcome *out, struct client_error *err)
{
    struct sync_plan plan = {0};
    char msg[256];
    int rc = -1;
    size_t done = 0;
    /* Ask first: a refused or unknown stream leaves no folder behind. */
    json_t *reply = client_stream_sync(c, stream_id, err);
    if (!reply)
        goto out;
    if (fs_mkdir_p(dir, 0755) != 0) {
        client_error_set(err, 0, "cannot create %s: %s", dir, strerror(errno));
        goto out;
    }
    if (sync_plan_build(reply, dir, &plan, msg, sizeof msg) != 0) {
        client_error_set(err, 200, "%s: %s", stream_id, msg);
        goto out;
    }
    for (; done < plan.count; done++) {
        if (sync_fetch_file(c, stream_id, plan.items[done].remote, plan.items[done].local, err) != 0)
            goto out;
        if (progress)
            progress(done + 1, plan.count, plan.items[done].remote, ud);
    }
    rc = 0;
out:
    out->fetched = done;
    out->skipped = json_incref(plan.skipped);
    sync_plan_free(&plan);
    json_decref(reply);
    return rc;
}
