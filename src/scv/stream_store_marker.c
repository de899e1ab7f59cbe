#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scv/stream_store_int.h"
#include "util/fs.h"

#define MARKER_TEXT_MAX 512

/* The marker's text: what it is, then the identity and last change of
 * streams/ and scv.db, so adding or removing a stream folder or putting back
 * another scv.db while stopped makes the next open walk. -1 with errno when
 * either cannot be examined (no scv.db yet, say). */
static int marker_text(stream_store *s, char *buf, size_t size)
{
    char db_path[PATH_MAX];
    struct stat sd, db;
    if (fstat(s->streams_fd, &sd) != 0 || ss_join_path(db_path, s->data_dir, "scv.db", NULL) != 0 ||
        stat(db_path, &db) != 0)
        return -1;
    int n = snprintf(buf, size,
                     "siegetank SCV store: stopped cleanly, so the next start skips checking every stream.\n"
                     "Delete this file to make it check them (after changing streams/ by hand, say).\n"
                     "streams/ %ju %ju %lld.%09ld\n"
                     "scv.db %ju %jd %lld.%09ld\n",
                     (uintmax_t)sd.st_ino, (uintmax_t)sd.st_nlink, (long long)sd.st_ctim.tv_sec,
                     sd.st_ctim.tv_nsec, (uintmax_t)db.st_ino, (intmax_t)db.st_size,
                     (long long)db.st_ctim.tv_sec, db.st_ctim.tv_nsec);
    if (n < 0 || (size_t)n >= size) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

/* Reads and removes the marker, durably, before the store changes anything:
 * a crash from here on leaves no marker. *clean = 1 when it was present and
 * matches (the walk may be skipped), 0 when the walk must run. */
status_code ss_marker_take(stream_store *s, int *clean, struct status *st)
{
    char path[PATH_MAX], tmp[PATH_MAX], want[MARKER_TEXT_MAX];
    size_t len = 0;
    if (ss_join_path(path, s->data_dir, STREAM_STORE_CLEAN_MARKER, NULL) != 0 ||
        ss_join_path(tmp, s->data_dir, STREAM_STORE_CLEAN_MARKER ".tmp", NULL) != 0)
        return ss_fail(st, STATUS_IO, "data folder path too long: %s", s->data_dir);
    char *text = fs_read_file(path, MARKER_TEXT_MAX, &len);
    int present = text || fs_exists(path);
    *clean = 0;
    if (!present && !fs_exists(tmp))
        return STATUS_OK;
    *clean =
        text && marker_text(s, want, sizeof want) == 0 && len == strlen(want) && memcmp(text, want, len) == 0;
    free(text);
    if (fs_rm_rf(path) != 0 || fs_rm_rf(tmp) != 0 || fs_fsync_path(s->data_dir) != 0)
        return ss_fail(
            st, STATUS_IO,
            "cannot remove the clean-stop marker %s durably: %s; remove it by hand and start again", path,
            strerror(errno));
    if (*clean)
        log_info("stream store: the last run stopped cleanly; not checking every stream folder");
    else if (present)
        log_warn("stream store: the clean-stop marker did not match streams/ and scv.db (changed while "
                 "stopped?); checking every stream folder");
    return STATUS_OK;
}

/* Makes everything the store did durable: scv.db (closed by now, its WAL
 * included), and every removal and rename below streams/, the ones that
 * were not fsynced as they happened too. */
static int store_sync(stream_store *s)
{
    int fd = open(s->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = syncfs(s->streams_fd) == 0 && syncfs(fd) == 0 ? 0 : -1;
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

status_code ss_marker_write(stream_store *s, struct status *st)
{
    char path[PATH_MAX], text[MARKER_TEXT_MAX];
    if (store_sync(s) != 0 || marker_text(s, text, sizeof text) != 0 ||
        ss_join_path(path, s->data_dir, STREAM_STORE_CLEAN_MARKER, NULL) != 0 ||
        fs_write_atomic(path, text, strlen(text)) != 0)
        return ss_fail(st, STATUS_IO,
                       "cannot write the clean-stop marker in %s: %s; the next start checks every stream",
                       s->data_dir, strerror(errno));
    return STATUS_OK;
}
