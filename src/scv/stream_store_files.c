#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scv/stream_dir.h"
#include "scv/stream_path.h"
#include "scv/stream_store_int.h"
#include "util/crypto.h"

/* 1 when a name found on disk can be listed and fetched by request; else 0
 * after logging it and adding "<sub>/<escaped name>" to skipped (may be
 * NULL): a name from before the name rule, or put there by hand, must not
 * break a stream's sync or start. */
static int listable(const char *id, const char *sub, const char *name, json_t *skipped)
{
    char shown[4 * STREAM_PATH_NAME_MAX + 1], path[PATH_MAX];
    if (stream_path_name_ok(name, strlen(name)))
        return 1;
    stream_path_escape(name, shown, sizeof shown);
    snprintf(path, sizeof path, "%s/%s", sub, shown);
    log_warn("stream %s: file %s has a name no request can carry (a control character or not UTF-8); "
             "left out of its listings",
             id, path);
    if (skipped != NULL)
        json_array_append_new(skipped, json_string(path));
    return 0;
}

/* Appends the sorted regular-file names of sub (below fd) to a new array. */
static json_t *name_array(int fd, const char *sub, const char *exclude, const char *id, json_t *skipped)
{
    char **names = NULL;
    size_t n = 0;
    json_t *arr = NULL;
    int dir = stream_dir_open(fd, sub);
    if (dir < 0) {
        /* A missing folder (no seed files, say) lists as empty. */
        return errno == ENOENT ? json_array() : NULL;
    }
    if (stream_dir_names(dir, exclude, &names, &n) != 0)
        goto out;
    arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        if (listable(id, sub, names[i], skipped) && json_array_append_new(arr, json_string(names[i])) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
out:
    stream_dir_names_free(names, n);
    close(dir);
    return arr;
}

static int sync_listing(int fd, const char *id, json_t *out)
{
    int64_t *parts = NULL;
    size_t n = 0;
    int rc = -1;
    if (stream_dir_partitions(fd, &parts, &n) != 0)
        return -1;
    json_t *arr = json_array();
    json_t *skipped = json_array();
    json_object_set_new(out, "partitions", arr);
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, json_integer(parts[i]));
    json_t *seeds = name_array(fd, SEED_DIR, NULL, id, skipped);
    if (!arr || !skipped || !seeds || json_object_set_new(out, "seed_files", seeds) != 0)
        goto out;
    if (n > 0) {
        char latest[32], ck[64];
        snprintf(latest, sizeof latest, "%lld", (long long)parts[n - 1]);
        snprintf(ck, sizeof ck, "%s/%s", latest, CHECKPOINT_DIR);
        json_t *frames = name_array(fd, latest, CHECKPOINT_DIR, id, skipped);
        json_t *cks = name_array(fd, ck, NULL, id, skipped);
        if (json_object_set_new(out, "frame_files", frames) != 0 ||
            json_object_set_new(out, "checkpoint_files", cks) != 0)
            goto out;
    }
    if (json_array_size(skipped) > 0 && json_object_set(out, "skipped_files", skipped) != 0)
        goto out;
    rc = 0;
out:
    json_decref(skipped);
    free(parts);
    return rc;
}

status_code stream_store_sync(stream_store *s, const char *id, json_t **out, struct status *st)
{
    *out = NULL;
    int fd;
    status_code rc = ss_open_stream(s, id, &fd, st);
    if (rc != STATUS_OK)
        return rc;
    json_t *obj = json_object();
    if (!obj || sync_listing(fd, id, obj) != 0) {
        rc = ss_fail(st, STATUS_IO, "cannot list the files of stream %s: %s", id, strerror(errno));
        json_decref(obj);
    } else {
        *out = obj;
    }
    close(fd);
    return rc;
}

/* Adds the files of sub (below fd) to map, skipping names already present.
 * *budget is the byte allowance left. */
static status_code add_files(int fd, const char *sub, json_t *map, size_t *budget, const char *id,
                             struct status *st)
{
    char **names = NULL;
    size_t n = 0;
    status_code rc = STATUS_IO;
    int dir = stream_dir_open(fd, sub);
    if (dir < 0 && errno == ENOENT)
        return STATUS_OK;
    if (dir < 0 || stream_dir_names(dir, NULL, &names, &n) != 0) {
        rc = ss_fail(st, STATUS_IO, "cannot list %s of stream %s: %s", sub, id, strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (!listable(id, sub, names[i], NULL) || json_object_get(map, names[i]))
            continue;
        size_t len = 0;
        char *data = stream_dir_read(dir, names[i], *budget, &len);
        if (!data) {
            rc = ss_fail(st, STATUS_IO,
                         errno == ERANGE ? "the start files of stream %s exceed %zu bytes (at %s)"
                                         : "cannot read the start files of stream %s (%zu bytes "
                                           "allowed; at %s)",
                         id, *budget, names[i]);
            goto out;
        }
        json_t *str = json_stringn(data, len);
        free(data);
        if (!str) {
            rc = ss_fail(st, STATUS_IO, "start file %s/%s of stream %s is not UTF-8 text", sub, names[i], id);
            goto out;
        }
        json_object_set_new(map, names[i], str);
        *budget -= len;
    }
    rc = STATUS_OK;
out:
    stream_dir_names_free(names, n);
    ss_close_fd(dir);
    return rc;
}

status_code stream_store_start_files(stream_store *s, const char *id, size_t max_total, json_t **out,
                                     struct status *st)
{
    *out = NULL;
    int fd;
    status_code rc = ss_open_stream(s, id, &fd, st);
    if (rc != STATUS_OK)
        return rc;
    rc = STATUS_IO;
    json_t *map = json_object();
    int64_t latest = ss_latest_partition(fd);
    if (!map || latest < 0) {
        rc = ss_fail(st, STATUS_IO, "cannot list the partitions of stream %s: %s", id, strerror(errno));
        goto out;
    }
    size_t budget = max_total;
    if (latest > 0) {
        char ck[64];
        snprintf(ck, sizeof ck, "%lld/%s", (long long)latest, CHECKPOINT_DIR);
        if ((rc = add_files(fd, ck, map, &budget, id, st)) != STATUS_OK)
            goto out;
    }
    /* Seeds fill in what the checkpoint lacks; its own files take precedence. */
    if ((rc = add_files(fd, SEED_DIR, map, &budget, id, st)) != STATUS_OK)
        goto out;
    *out = map;
    map = NULL;
out:
    json_decref(map);
    close(fd);
    return rc;
}

static status_code path_error(struct status *st, const char *id, const char *path, size_t len, int e)
{
    int shown = len > 128 ? 128 : (int)len;
    switch (e) {
    case EINVAL:
        return ss_fail(
            st, STATUS_INVALID,
            "path '%.*s' is refused: use names joined by '/', none empty, starting with '.' or with NUL",
            shown, path);
    case ELOOP:
    case ENOTDIR:
        return ss_fail(st, STATUS_INVALID, "path '%.*s' crosses a symlink or a non-folder", shown, path);
    case EISDIR:
        return ss_fail(st, STATUS_INVALID, "path '%.*s' is a folder, not a file", shown, path);
    case ENOENT:
        return ss_fail(st, STATUS_NOT_FOUND, "no file '%.*s' in stream %s", shown, path, id);
    default:
        return ss_fail(st, STATUS_IO, "cannot open '%.*s' in stream %s: %s", shown, path, id, strerror(e));
    }
}

status_code stream_store_open_file(stream_store *s, const char *id, const char *path, size_t path_len,
                                   int *fd, off_t *size, struct status *st)
{
    if (!stream_path_ok(path, path_len))
        return path_error(st, id, path, path_len, EINVAL);
    int sfd;
    status_code rc = ss_open_stream(s, id, &sfd, st);
    if (rc != STATUS_OK)
        return rc;
    if (stream_path_open_file(sfd, path, path_len, fd, size) != 0)
        rc = path_error(st, id, path, path_len, errno);
    close(sfd);
    return rc;
}

/* Uploads may not start a buffer or a partition of their own: those names
 * belong to commits, and a fake partition would change the frame count. */
static int upload_allowed(int sfd, const char *path, size_t len)
{
    const char *slash = memchr(path, '/', len);
    size_t first_len = slash ? (size_t)(slash - path) : len;
    char first[STREAM_PATH_NAME_MAX + 1];
    memcpy(first, path, first_len);
    first[first_len] = '\0';
    int64_t frames;
    if (strcmp(first, BUFFER_DIR) == 0)
        return 0;
    if (!stream_dir_parse_partition(first, &frames))
        return 1;
    return slash != NULL && ss_is_dir_at(sfd, first);
}

static status_code file_upload(stream_store *s, const char *id, const char *path, size_t path_len,
                               const void *data, size_t len, struct status *st)
{
    char tmp[NAME_MAX + 1], rnd[17], last[STREAM_PATH_NAME_MAX + 1];
    if (!stream_path_ok(path, path_len))
        return path_error(st, id, path, path_len, EINVAL);
    int sfd, dir = -1, written = 0;
    status_code rc = ss_open_stream(s, id, &sfd, st);
    if (rc != STATUS_OK)
        return rc;
    rc = STATUS_IO;
    if (!upload_allowed(sfd, path, path_len)) {
        rc = ss_fail(st, STATUS_INVALID,
                     "path '%.*s' is refused: uploads may not create " BUFFER_DIR " or a partition folder",
                     path_len > 128 ? 128 : (int)path_len, path);
        goto out;
    }
    if (crypto_random_hex(rnd, 8) != 0) {
        rc = ss_fail(st, STATUS_IO, "no randomness for a temporary name");
        goto out;
    }
    snprintf(tmp, sizeof tmp, UPLOAD_PREFIX "%s", rnd);
    dir = stream_path_open_parent(sfd, path, path_len, 1, last, NULL);
    if (dir < 0) {
        rc = path_error(st, id, path, path_len, errno);
        goto out;
    }
    /* The temporary sits at the stream's top, where reconcile sweeps, and
     * renames into place in one step: readers see the old or the new file. */
    written = 1;
    if (stream_dir_write(sfd, tmp, data, len, STREAM_DIR_FSYNC) != 0) {
        rc = ss_fail(st, STATUS_IO, "cannot write an upload to stream %s: %s", id, strerror(errno));
        goto out;
    }
    if (renameat(sfd, tmp, dir, last) != 0) {
        rc = path_error(st, id, path, path_len, errno);
        goto out;
    }
    written = 0;
    if (fsync(dir) != 0) {
        rc = ss_fail(st, STATUS_IO, "cannot make an upload to stream %s durable: %s", id, strerror(errno));
        goto out;
    }
    rc = STATUS_OK;
out:
    if (written)
        unlinkat(sfd, tmp, 0);
    ss_close_fd(dir);
    close(sfd);
    return rc;
}

status_code stream_store_upload(stream_store *s, const char *id, const char *path, size_t path_len,
                                const void *data, size_t len, struct status *st)
{
    return ss_note_failure(s, file_upload(s, id, path, path_len, data, len, st));
}
