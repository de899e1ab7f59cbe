#include <errno.h>
#include <fcntl.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scv/stream_dir.h"
#include "scv/stream_path.h"
#include "scv/stream_store_int.h"
#include "util/fs.h"

/* ---- buffers a clean stop must remove ---- */

static int cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

int ss_buffer_note(stream_store *s, const char *id)
{
    int rc = 0;
    pthread_mutex_lock(&s->buffers_lock);
    if (!tfind(id, &s->buffers, cmp_id)) {
        char *copy = strdup(id);
        if (!copy || !tsearch(copy, &s->buffers, cmp_id)) {
            free(copy);
            rc = -1;
        }
    }
    pthread_mutex_unlock(&s->buffers_lock);
    return rc;
}

void ss_buffer_forget(stream_store *s, const char *id)
{
    pthread_mutex_lock(&s->buffers_lock);
    void *node = tfind(id, &s->buffers, cmp_id);
    if (node) {
        char *copy = *(char **)node;
        tdelete(id, &s->buffers, cmp_id);
        free(copy);
    }
    pthread_mutex_unlock(&s->buffers_lock);
}

/* Their activations end with this run. */
int ss_buffers_remove_all(stream_store *s)
{
    int rc = 0;
    pthread_mutex_lock(&s->buffers_lock);
    while (rc == 0 && s->buffers) {
        char *id = *(char **)s->buffers;
        tdelete(id, &s->buffers, cmp_id);
        if (ss_remove_tree(s, id, BUFFER_DIR) != 0) {
            log_error("stream store: cannot remove the buffer of stream %s: %s", id, strerror(errno));
            rc = -1;
        }
        free(id);
    }
    pthread_mutex_unlock(&s->buffers_lock);
    return rc;
}

/* ---- buffer ---- */

/* A file a frame touched: its length before (or -1 when it was made). */
struct frame_touch {
    char name[STREAM_PATH_NAME_MAX + 1];
    off_t before;
};

struct stream_store_frame {
    stream_store *s;
    char id[STREAM_STORE_ID_MAX + 1];
    int stream_fd, buf_fd, fd; /* -1 until opened */
    struct frame_touch *touched;
    size_t ntouched, cap;
    void *map; /* stream_store_frame_appended's mapping, or NULL */
    size_t map_len;
};

static void frame_unmap(stream_store_frame *f)
{
    if (f->map != NULL)
        munmap(f->map, f->map_len);
    f->map = NULL;
}

status_code stream_store_frame_begin(stream_store *s, const char *id, stream_store_frame **out,
                                     struct status *st)
{
    *out = NULL;
    int fd;
    status_code rc = ss_open_stream(s, id, &fd, st);
    if (rc != STATUS_OK)
        return rc;
    stream_store_frame *f = calloc(1, sizeof *f);
    if (f == NULL) {
        close(fd);
        return ss_fail(st, STATUS_IO, "out of memory buffering a frame of stream %s", id);
    }
    f->s = s;
    snprintf(f->id, sizeof f->id, "%s", id);
    f->stream_fd = fd;
    f->buf_fd = -1;
    f->fd = -1;
    *out = f;
    return STATUS_OK;
}

/* Opens name in buffer_files/ for appending and records its length. */
static int frame_open(stream_store_frame *f, const char *name)
{
    if (f->ntouched == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 4;
        struct frame_touch *t = realloc(f->touched, cap * sizeof *t);
        if (t == NULL)
            return -1;
        f->touched = t;
        f->cap = cap;
    }
    struct frame_touch *t = &f->touched[f->ntouched];
    /* Readable too, for stream_store_frame_appended. */
    const int flags = O_RDWR | O_APPEND | O_NOFOLLOW | O_CLOEXEC;
    struct stat sb;
    f->fd = openat(f->buf_fd, name, flags);
    if (f->fd >= 0 && fstat(f->fd, &sb) == 0)
        t->before = sb.st_size;
    else if (f->fd < 0 && errno == ENOENT &&
             (f->fd = openat(f->buf_fd, name, flags | O_CREAT | O_EXCL, 0600)) >= 0)
        t->before = -1;
    else
        return -1;
    snprintf(t->name, sizeof t->name, "%s", name);
    f->ntouched++;
    return 0;
}

static status_code frame_file(stream_store_frame *f, const char *name, struct status *st)
{
    if (!name || !stream_path_name_ok(name, strlen(name)) || strcmp(name, CHECKPOINT_DIR) == 0)
        return ss_fail(
            st, STATUS_INVALID,
            "bad frame file name '%.64s': must be 1..255 bytes, without '/', not starting with '.' "
            "and not " CHECKPOINT_DIR,
            name ? name : "");
    frame_unmap(f);
    ss_close_fd(f->fd);
    f->fd = -1;
    if (f->buf_fd < 0 && ss_buffer_note(f->s, f->id) != 0)
        return ss_fail(st, STATUS_IO, "out of memory buffering a frame of stream %s", f->id);
    if (f->buf_fd < 0)
        f->buf_fd = stream_dir_open_or_make(f->stream_fd, BUFFER_DIR);
    if (f->buf_fd < 0 || frame_open(f, name) != 0)
        return ss_fail(st, ss_errno_code(errno) == STATUS_INVALID ? STATUS_INVALID : STATUS_IO,
                       "cannot append to frame file %s of stream %s: %s", name, f->id, strerror(errno));
    return STATUS_OK;
}

status_code stream_store_frame_file(stream_store_frame *f, const char *name, struct status *st)
{
    return ss_note_failure(f->s, frame_file(f, name, st));
}

status_code stream_store_frame_write(stream_store_frame *f, const void *data, size_t len, struct status *st)
{
    if (f->fd < 0)
        return ss_fail(st, STATUS_INVALID, "no frame file is open");
    if (fs_write_all(f->fd, data, len) != 0)
        return ss_note_failure(f->s, ss_fail(st, STATUS_IO, "cannot append to frame file %s of stream %s: %s",
                                             f->touched[f->ntouched - 1].name, f->id, strerror(errno)));
    return STATUS_OK;
}

status_code stream_store_frame_appended(stream_store_frame *f, const void **data, size_t *len,
                                        struct status *st)
{
    struct stat sb;
    *data = NULL;
    *len = 0;
    if (f->fd < 0)
        return ss_fail(st, STATUS_INVALID, "no frame file is open");
    frame_unmap(f);
    const struct frame_touch *t = &f->touched[f->ntouched - 1];
    off_t start = t->before < 0 ? 0 : t->before;
    if (fstat(f->fd, &sb) != 0)
        return ss_note_failure(f->s, ss_fail(st, STATUS_IO, "cannot read back frame file %s of stream %s: %s",
                                             t->name, f->id, strerror(errno)));
    if (sb.st_size <= start)
        return STATUS_OK;
    /* A mapping starts on a page boundary. */
    off_t page = (off_t)sysconf(_SC_PAGESIZE);
    off_t from = start - start % page;
    size_t map_len = (size_t)(sb.st_size - from);
    void *map = mmap(NULL, map_len, PROT_READ, MAP_SHARED, f->fd, from);
    if (map == MAP_FAILED)
        return ss_note_failure(f->s, ss_fail(st, STATUS_IO, "cannot read back frame file %s of stream %s: %s",
                                             t->name, f->id, strerror(errno)));
    f->map = map;
    f->map_len = map_len;
    *data = (const unsigned char *)map + (start - from);
    *len = (size_t)(sb.st_size - start);
    return STATUS_OK;
}

/* Undoes the touches, newest first (a name may be touched twice). */
static int frame_rollback(stream_store_frame *f)
{
    for (size_t i = f->ntouched; i-- > 0;) {
        const struct frame_touch *t = &f->touched[i];
        if (t->before < 0) {
            if (unlinkat(f->buf_fd, t->name, 0) != 0)
                return -1;
            continue;
        }
        int fd = openat(f->buf_fd, t->name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
        int rc = fd >= 0 ? ftruncate(fd, t->before) : -1;
        ss_close_fd(fd);
        if (rc != 0)
            return -1;
    }
    return 0;
}

status_code stream_store_frame_end(stream_store_frame *f, int keep, struct status *st)
{
    status_code rc = STATUS_OK;
    frame_unmap(f);
    ss_close_fd(f->fd);
    if (!keep && frame_rollback(f) != 0)
        rc = ss_note_failure(f->s, ss_fail(st, STATUS_IO,
                                           "cannot take a refused frame out of the buffer of stream %s: %s",
                                           f->id, strerror(errno)));
    ss_close_fd(f->buf_fd);
    close(f->stream_fd);
    free(f->touched);
    free(f);
    return rc;
}

static status_code buffer_discard(stream_store *s, const char *id, struct status *st)
{
    int fd;
    status_code rc = ss_open_stream(s, id, &fd, st);
    if (rc != STATUS_OK)
        return rc;
    close(fd);
    if (ss_remove_tree(s, id, BUFFER_DIR) != 0)
        return ss_fail(st, STATUS_IO, "cannot discard the buffer of stream %s: %s", id, strerror(errno));
    ss_buffer_forget(s, id);
    return STATUS_OK;
}

status_code stream_store_discard_buffer(stream_store *s, const char *id, struct status *st)
{
    return ss_note_failure(s, buffer_discard(s, id, st));
}
