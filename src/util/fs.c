#include "util/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fs_mkdir_p(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, mode) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* Largest piece handed to one write(2). The kernel copies a write into the
 * page cache a folio at a time and only yields the CPU between folios; ext4's
 * large folios make one 512 KB write a single copy of about a millisecond on
 * a loaded machine, during which, on kernels built without full preemption,
 * no other thread of the process (an event loop woken by a request) can take
 * that CPU. Smaller writes end in a return to user space, where it can. */
#define FS_WRITE_PIECE (64 * 1024)

int fs_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len < FS_WRITE_PIECE ? len : FS_WRITE_PIECE);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int write_with_flags(const char *path, int flags, mode_t mode, const void *data, size_t len,
                            int do_fsync)
{
    int fd = open(path, flags | O_WRONLY | O_CREAT | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    int rc = fs_write_all(fd, data, len);
    if (rc == 0 && do_fsync)
        rc = fsync(fd);
    int saved = errno;
    if (close(fd) != 0 && rc == 0)
        return -1;
    errno = saved;
    return rc;
}

int fs_write_file(const char *path, const void *data, size_t len, int do_fsync)
{
    return write_with_flags(path, O_TRUNC, 0644, data, len, do_fsync);
}

int fs_append_file(const char *path, const void *data, size_t len, int do_fsync)
{
    return write_with_flags(path, O_APPEND, 0644, data, len, do_fsync);
}

int fs_fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/* A secret's temporary is made afresh (O_EXCL) with mode 0600: a leftover
 * one would keep its old, maybe wider, mode through O_CREAT. */
static int write_atomic(const char *path, const void *data, size_t len, int secret)
{
    char tmp[PATH_MAX], dir[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp ||
        snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (secret && unlink(tmp) != 0 && errno != ENOENT)
        return -1;
    if (write_with_flags(tmp, secret ? O_EXCL : O_TRUNC, secret ? 0600 : 0644, data, len, 1) != 0)
        goto fail;
    if (rename(tmp, path) != 0)
        goto fail;
    return fs_fsync_path(dirname(dir));
fail:;
    int saved = errno;
    unlink(tmp);
    errno = saved;
    return -1;
}

int fs_write_atomic(const char *path, const void *data, size_t len)
{
    return write_atomic(path, data, len, 0);
}

int fs_write_secret(const char *path, const void *data, size_t len)
{
    return write_atomic(path, data, len, 1);
}

char *fs_read_file(const char *path, size_t max, size_t *out_len)
{
    char *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max)
        goto out;
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL)
        goto out;
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            free(buf);
            buf = NULL;
            goto out;
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    if (out_len != NULL)
        *out_len = got;
out:
    close(fd);
    return buf;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        return rmdir(path);
    return unlink(path);
}

int fs_rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlink(path);
    return nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS);
}

int fs_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

int fs_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}
