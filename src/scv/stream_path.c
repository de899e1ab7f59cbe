#include "scv/stream_path.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/utf8.h"

/* Control characters: C0 (NUL included), DEL and C1. */
static int is_control(unsigned cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

int stream_path_name_ok(const char *name, size_t len)
{
    if (!name || len == 0 || len > STREAM_PATH_NAME_MAX || name[0] == '.')
        return 0;
    const unsigned char *p = (const unsigned char *)name;
    for (size_t i = 0; i < len;) {
        unsigned cp;
        size_t n = utf8_char(p + i, len - i, &cp);
        if (n == 0 || cp == '/' || is_control(cp))
            return 0;
        i += n;
    }
    return 1;
}

void stream_path_escape(const char *name, char *out, size_t outlen)
{
    const unsigned char *p = (const unsigned char *)name;
    size_t len = strlen(name), o = 0;
    for (size_t i = 0; i < len;) {
        unsigned cp;
        size_t n = utf8_char(p + i, len - i, &cp);
        if (n == 0 || is_control(cp)) {
            n = n ? n : 1;
            if (o + 4 * n >= outlen) /* each byte as \xNN, then the NUL */
                break;
            for (size_t k = 0; k < n; k++)
                o += (size_t)snprintf(out + o, 5, "\\x%02X", p[i + k]);
        } else if (o + n < outlen) {
            memcpy(out + o, p + i, n);
            o += n;
        } else {
            break;
        }
        i += n;
    }
    if (outlen > 0)
        out[o] = '\0';
}

int stream_path_ok(const char *path, size_t len)
{
    if (!path || len == 0 || len > STREAM_PATH_MAX)
        return 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && path[i] != '/')
            continue;
        if (!stream_path_name_ok(path + start, i - start))
            return 0;
        start = i + 1;
    }
    return 1;
}

/* Opens child folder name under dirfd without following a symlink. */
static int open_child_dir(int dirfd, const char *name)
{
    return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* Opens (making it when create) the folder name below dirfd. */
static int step_into(int dirfd, const char *name, int create, int *created)
{
    int next = open_child_dir(dirfd, name);
    if (next >= 0 || errno != ENOENT || !create)
        return next;
    if (mkdirat(dirfd, name, 0700) != 0)
        return -1;
    if (created)
        (*created)++;
    return open_child_dir(dirfd, name);
}

int stream_path_open_parent(int rootfd, const char *path, size_t len, int create, char *last, int *created)
{
    if (created)
        *created = 0;
    if (!stream_path_ok(path, len)) {
        errno = EINVAL;
        return -1;
    }
    int dirfd = open_child_dir(rootfd, ".");
    size_t start = 0;
    for (size_t i = 0; dirfd >= 0 && i < len; i++) {
        if (path[i] != '/')
            continue;
        char name[STREAM_PATH_NAME_MAX + 1];
        memcpy(name, path + start, i - start);
        name[i - start] = '\0';
        start = i + 1;
        int next = step_into(dirfd, name, create, created);
        int saved = errno;
        close(dirfd);
        errno = saved;
        dirfd = next;
    }
    if (dirfd >= 0) {
        memcpy(last, path + start, len - start);
        last[len - start] = '\0';
    }
    return dirfd;
}

int stream_path_open_file(int rootfd, const char *path, size_t len, int *fd, off_t *size)
{
    char last[STREAM_PATH_NAME_MAX + 1];
    int dirfd = stream_path_open_parent(rootfd, path, len, 0, last, NULL);
    if (dirfd < 0)
        return -1;
    int rc = -1;
    int f = openat(dirfd, last, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    struct stat sb;
    if (f < 0)
        goto out;
    if (fstat(f, &sb) != 0)
        goto out;
    if (!S_ISREG(sb.st_mode)) {
        errno = S_ISDIR(sb.st_mode) ? EISDIR : EINVAL;
        goto out;
    }
    /* O_NONBLOCK only kept a FIFO from hanging the open; regular files ignore it. */
    fcntl(f, F_SETFL, 0);
    *fd = f;
    *size = sb.st_size;
    f = -1;
    rc = 0;
out:;
    int saved = errno;
    if (f >= 0)
        close(f);
    close(dirfd);
    errno = saved;
    return rc;
}
