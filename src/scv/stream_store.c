#include "scv/stream_store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "scv/stream_dir.h"
#include "scv/stream_path.h"
#include "scv/stream_store_int.h"
#include "util/fs.h"

/* ---- helpers of every stream_store file ---- */

status_code ss_errno_code(int e)
{
    switch (e) {
    case ENOENT:
        return STATUS_NOT_FOUND;
    case EINVAL:
    case ELOOP:
    case ENOTDIR:
    case EISDIR:
    case EEXIST:
    case ENOTEMPTY:
    case ENAMETOOLONG:
        return STATUS_INVALID;
    default:
        return STATUS_IO;
    }
}

void ss_close_fd(int fd)
{
    if (fd >= 0)
        close(fd);
}

status_code ss_check_id(const char *id, struct status *st)
{
    size_t len = id ? strlen(id) : 0;
    if (len > STREAM_STORE_ID_MAX || !stream_path_name_ok(id, len))
        return ss_fail(st, STATUS_INVALID,
                       "bad stream id: must be 1..%d bytes, without '/' and not starting with '.'",
                       STREAM_STORE_ID_MAX);
    return STATUS_OK;
}

status_code ss_open_stream(stream_store *s, const char *id, int *fd, struct status *st)
{
    *fd = -1;
    status_code rc = ss_check_id(id, st);
    if (rc != STATUS_OK)
        return rc;
    *fd = stream_dir_open(s->streams_fd, id);
    if (*fd >= 0)
        return STATUS_OK;
    if (errno == ENOENT)
        return ss_fail(st, STATUS_NOT_FOUND, "unknown stream %s", id);
    return ss_fail(st, ss_errno_code(errno), "cannot open stream %s: %s", id, strerror(errno));
}

int ss_join_path(char *buf, const char *a, const char *b, const char *c)
{
    int n = c ? snprintf(buf, PATH_MAX, "%s/%s/%s", a, b, c) : snprintf(buf, PATH_MAX, "%s/%s", a, b);
    if (n < 0 || n >= PATH_MAX) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

int ss_remove_tree(stream_store *s, const char *a, const char *b)
{
    char path[PATH_MAX];
    if (ss_join_path(path, s->streams_dir, a, b) != 0)
        return -1;
    return fs_rm_rf(path);
}

int ss_is_dir_at(int dirfd, const char *name)
{
    struct stat sb;
    return fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode);
}

status_code ss_note_failure(stream_store *s, status_code code)
{
    if (code == STATUS_IO)
        atomic_store(&s->needs_walk, 1);
    return code;
}

int64_t ss_latest_partition(int fd)
{
    int64_t *parts = NULL;
    size_t n = 0;
    if (stream_dir_partitions(fd, &parts, &n) != 0)
        return -1;
    int64_t latest = n ? parts[n - 1] : 0;
    free(parts);
    return latest;
}

/* ---- open / close ---- */

/* Opens streams/ and takes the store's lock on it, so two servers (or a
 * server and a tool) never reconcile or write one store at once. */
static status_code open_streams_dir(stream_store *s, struct status *st)
{
    if (fs_mkdir_p(s->streams_dir, 0700) != 0)
        return ss_fail(st, STATUS_IO, "cannot create %s: %s", s->streams_dir, strerror(errno));
    s->streams_fd = open(s->streams_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->streams_fd < 0)
        return ss_fail(st, STATUS_IO, "cannot open %s: %s", s->streams_dir, strerror(errno));
    if (flock(s->streams_fd, LOCK_EX | LOCK_NB) == 0)
        return STATUS_OK;
    if (errno == EWOULDBLOCK)
        return ss_fail(st, STATUS_IO,
                       "the store in %s is in use (another SCV or tool has it open); stop that first",
                       s->data_dir);
    return ss_fail(st, STATUS_IO, "cannot lock the store in %s: %s", s->data_dir, strerror(errno));
}

stream_store *stream_store_open(const char *data_dir, struct status *st)
{
    char db_path[PATH_MAX];
    stream_store *s = calloc(1, sizeof *s);
    if (!s) {
        ss_fail(st, STATUS_IO, "out of memory");
        return NULL;
    }
    s->streams_fd = -1;
    pthread_mutex_init(&s->buffers_lock, NULL);
    const char *crash = getenv("SIEGETANK_CRASH_AFTER_RENAME");
    s->crash_after_rename = crash != NULL ? strtol(crash, NULL, 10) : 0;
    s->data_dir = strdup(data_dir);
    s->streams_dir = malloc(PATH_MAX);
    if (!s->data_dir || !s->streams_dir) {
        ss_fail(st, STATUS_IO, "out of memory");
        goto fail;
    }
    if (ss_join_path(s->streams_dir, data_dir, "streams", NULL) != 0 ||
        ss_join_path(db_path, data_dir, "scv.db", NULL) != 0) {
        ss_fail(st, STATUS_IO, "data folder path too long: %s", data_dir);
        goto fail;
    }
    if (open_streams_dir(s, st) != STATUS_OK)
        goto fail;
    int clean = 0;
    if (ss_marker_take(s, &clean, st) != STATUS_OK)
        goto fail;
    s->db = scv_db_open(db_path);
    if (!s->db) {
        ss_fail(st, STATUS_IO, "cannot open the database %s (see the log for why)", db_path);
        goto fail;
    }
    if ((!clean && ss_reconcile(s, st) != STATUS_OK) || ss_close_open_fragments(s, st) != STATUS_OK)
        goto fail;
    return s;
fail:
    stream_store_close(s);
    return NULL;
}

void stream_store_close(stream_store *s)
{
    if (!s)
        return;
    scv_db_close(s->db);
    ss_close_fd(s->streams_fd);
    tdestroy(s->buffers, free);
    pthread_mutex_destroy(&s->buffers_lock);
    free(s->streams_dir);
    free(s->data_dir);
    free(s);
}

status_code stream_store_close_clean(stream_store *s, struct status *st)
{
    status_code rc = STATUS_IO;
    if (!s)
        return ss_fail(st, STATUS_INVALID, "no store to close");
    if (atomic_load(&s->needs_walk)) {
        rc = ss_fail(st, STATUS_IO,
                     "a disk or database failure during this run may have left something behind; the next "
                     "start checks every stream");
        goto out;
    }
    if (ss_buffers_remove_all(s) != 0) {
        rc = ss_fail(st, STATUS_IO, "a buffer could not be removed; the next start checks every stream");
        goto out;
    }
    scv_db_close(s->db);
    s->db = NULL;
    rc = ss_marker_write(s, st);
out:
    stream_store_close(s);
    return rc;
}

status_code stream_store_foreach(stream_store *s, scv_stream_fn fn, void *ctx)
{
    return scv_db_stream_foreach(s->db, fn, ctx) == 0 ? STATUS_OK : STATUS_IO;
}

/* ---- create / delete ---- */

status_code stream_store_check_files(const json_t *map, const char *what, int optional, struct status *st)
{
    if (!map && optional)
        return STATUS_OK;
    if (!json_is_object(map))
        return ss_fail(st, STATUS_INVALID, "%s must be an object of name: string", what);
    const char *name;
    size_t name_len;
    json_t *value;
    /* The key length, not strlen, so a key with an embedded NUL is refused. */
    json_object_keylen_foreach((json_t *)map, name, name_len, value)
    {
        if (!stream_path_name_ok(name, name_len))
            return ss_fail(st, STATUS_INVALID,
                           "bad %s name '%.64s': must be 1..255 bytes, without '/' and not starting with '.'",
                           what, name);
        if (!json_is_string(value))
            return ss_fail(st, STATUS_INVALID, "%s '%.64s' must be a string", what, name);
    }
    return STATUS_OK;
}

int ss_write_file_map(int dirfd, const char *sub, const json_t *map)
{
    int fd = stream_dir_open_or_make(dirfd, sub);
    if (fd < 0)
        return -1;
    int rc = -1;
    const char *name;
    json_t *value;
    json_object_foreach((json_t *)map, name, value)
    {
        if (stream_dir_write(fd, name, json_string_value(value), json_string_length(value),
                             STREAM_DIR_FSYNC) != 0)
            goto out;
    }
    rc = fsync(fd);
out:;
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

static status_code stream_create(stream_store *s, const char *id, const char *target_id, const json_t *files,
                                 const json_t *tags, double now, struct status *st)
{
    char tmp[NAME_MAX + 1];
    status_code rc = ss_check_id(id, st);
    if (rc != STATUS_OK)
        return rc;
    size_t tlen = target_id ? strlen(target_id) : 0;
    if (tlen == 0 || tlen > STREAM_STORE_TARGET_ID_MAX)
        return ss_fail(st, STATUS_INVALID, "bad target id: must be 1..%d bytes", STREAM_STORE_TARGET_ID_MAX);
    if ((rc = stream_store_check_files(files, "file", 0, st)) != STATUS_OK ||
        (rc = stream_store_check_files(tags, "tag", 1, st)) != STATUS_OK)
        return rc;
    struct stat sb;
    if (fstatat(s->streams_fd, id, &sb, AT_SYMLINK_NOFOLLOW) == 0)
        return ss_fail(st, STATUS_EXISTS, "stream %s already exists", id);
    /* Build under a temporary name, insert the record, then rename: a crash
     * leaves a temporary (removed by reconcile) or a record without a folder
     * (dropped by reconcile), never a half-written stream. */
    snprintf(tmp, sizeof tmp, NEW_PREFIX "%s", id);
    if (ss_remove_tree(s, tmp, NULL) != 0 || mkdirat(s->streams_fd, tmp, 0700) != 0)
        return ss_fail(st, STATUS_IO, "cannot create a folder for stream %s: %s", id, strerror(errno));
    int fd = stream_dir_open(s->streams_fd, tmp);
    if (fd < 0 || ss_write_file_map(fd, SEED_DIR, files) != 0 || ss_write_file_map(fd, TAGS_DIR, tags) != 0 ||
        fsync(fd) != 0) {
        rc = ss_fail(st, STATUS_IO, "cannot write the files of stream %s: %s", id, strerror(errno));
        goto cleanup;
    }
    if (scv_db_stream_insert(s->db, id, target_id, now) != 0) {
        rc = ss_fail(st, STATUS_IO, "cannot record stream %s in scv.db", id);
        goto cleanup;
    }
    if (renameat(s->streams_fd, tmp, s->streams_fd, id) != 0) {
        rc = ss_fail(st, STATUS_IO, "cannot move stream %s into place: %s", id, strerror(errno));
        scv_db_stream_delete(s->db, id);
        goto cleanup;
    }
    if (fsync(s->streams_fd) != 0) {
        rc = ss_fail(st, STATUS_IO, "cannot make stream %s durable: %s", id, strerror(errno));
        scv_db_stream_delete(s->db, id);
        ss_remove_tree(s, id, NULL);
        goto cleanup;
    }
    close(fd);
    return STATUS_OK;
cleanup:
    ss_close_fd(fd);
    ss_remove_tree(s, tmp, NULL);
    return rc;
}

status_code stream_store_create(stream_store *s, const char *id, const char *target_id, const json_t *files,
                                const json_t *tags, double now, struct status *st)
{
    return ss_note_failure(s, stream_create(s, id, target_id, files, tags, now, st));
}

static status_code stream_delete(stream_store *s, const char *id, struct status *st)
{
    char trash[NAME_MAX + 1];
    status_code rc = ss_check_id(id, st);
    if (rc != STATUS_OK)
        return rc;
    /* Rename first so a crash leaves a temporary (removed by reconcile), not
     * a half-deleted stream that a record still points to. */
    snprintf(trash, sizeof trash, TRASH_PREFIX "%s", id);
    if (ss_remove_tree(s, trash, NULL) != 0)
        return ss_fail(st, STATUS_IO, "cannot clear an old deletion of stream %s: %s", id, strerror(errno));
    int moved = renameat(s->streams_fd, id, s->streams_fd, trash) == 0;
    if (!moved && errno != ENOENT)
        return ss_fail(st, STATUS_IO, "cannot delete stream %s: %s", id, strerror(errno));
    if (moved && fsync(s->streams_fd) != 0)
        return ss_fail(st, STATUS_IO, "cannot delete stream %s durably: %s", id, strerror(errno));
    status_code db_rc = scv_db_stream_delete(s->db, id);
    if (db_rc < 0)
        return ss_fail(st, STATUS_IO, "cannot delete the record of stream %s from scv.db", id);
    if (!moved && db_rc == STATUS_NOT_FOUND)
        return ss_fail(st, STATUS_NOT_FOUND, "unknown stream %s", id);
    ss_buffer_forget(s, id);
    if (ss_remove_tree(s, trash, NULL) != 0) {
        log_warn("stream store: cannot remove deleted stream %s yet (%s); the next start will", id,
                 strerror(errno));
        atomic_store(&s->needs_walk, 1);
    }
    return STATUS_OK;
}

status_code stream_store_delete(stream_store *s, const char *id, struct status *st)
{
    return ss_note_failure(s, stream_delete(s, id, st));
}

/* ---- state and error log ---- */

status_code stream_store_set_state(stream_store *s, const char *id, scv_stream_status status, int error_count,
                                   struct status *st)
{
    status_code rc = ss_check_id(id, st);
    if (rc != STATUS_OK)
        return rc;
    if (error_count < 0)
        return ss_fail(st, STATUS_INVALID, "error count must not be negative");
    status_code db_rc = scv_db_stream_set_state(s->db, id, status, error_count);
    if (db_rc == STATUS_NOT_FOUND)
        return ss_fail(st, STATUS_NOT_FOUND, "unknown stream %s", id);
    if (db_rc != 0)
        return ss_fail(st, STATUS_IO, "cannot update the state of stream %s in scv.db", id);
    return STATUS_OK;
}

status_code stream_store_log_error(stream_store *s, const char *id, const char *text, size_t len, double now,
                                   struct status *st)
{
    if (len > STREAM_STORE_ERROR_TEXT_MAX)
        return ss_fail(st, STATUS_INVALID, "error text is %zu bytes; the limit is %d", len,
                       STREAM_STORE_ERROR_TEXT_MAX);
    int fd;
    status_code rc = ss_open_stream(s, id, &fd, st);
    if (rc != STATUS_OK)
        return rc;
    char stamp[64];
    struct tm tm;
    time_t secs = (time_t)now;
    gmtime_r(&secs, &tm);
    int n = (int)strftime(stamp, sizeof stamp, "[%Y-%m-%dT%H:%M:%SZ] ", &tm);
    char *line = malloc((size_t)n + len + 1);
    if (!line) {
        rc = ss_fail(st, STATUS_IO, "out of memory");
        goto out;
    }
    memcpy(line, stamp, (size_t)n);
    if (len > 0)
        memcpy(line + n, text, len);
    line[(size_t)n + len] = '\n';
    /* One write call per line keeps concurrent appends from interleaving. */
    if (stream_dir_write(fd, ERROR_LOG, line, (size_t)n + len + 1, STREAM_DIR_APPEND | STREAM_DIR_FSYNC) !=
        0) {
        rc = ss_fail(st, STATUS_IO, "cannot append to the error log of stream %s: %s", id, strerror(errno));
        goto out;
    }
    rc = STATUS_OK;
out:
    free(line);
    close(fd);
    return rc;
}
