#include "scv/stream_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fs.h"

static void close_keep_errno(int fd)
{
    int saved = errno;
    if (fd >= 0)
        close(fd);
    errno = saved;
}

int stream_dir_open(int dirfd, const char *name)
{
    return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

int stream_dir_open_or_make(int dirfd, const char *name)
{
    if (mkdirat(dirfd, name, 0700) != 0 && errno != EEXIST)
        return -1;
    return stream_dir_open(dirfd, name);
}

int stream_dir_write(int dirfd, const char *name, const void *data, size_t len, int flags)
{
    int oflags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC;
    oflags |= (flags & STREAM_DIR_APPEND) ? O_APPEND : O_TRUNC;
    int fd = openat(dirfd, name, oflags, 0600);
    if (fd < 0)
        return -1;
    int rc = -1;
    if (fs_write_all(fd, data, len) != 0)
        goto out;
    if ((flags & STREAM_DIR_FSYNC) && fsync(fd) != 0)
        goto out;
    rc = 0;
out:
    if (close(fd) != 0 && rc == 0)
        rc = -1;
    return rc;
}

char *stream_dir_read(int dirfd, const char *name, size_t max, size_t *len)
{
    char *buf = NULL;
    struct stat sb;
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return NULL;
    if (fstat(fd, &sb) != 0)
        goto out;
    if (!S_ISREG(sb.st_mode)) {
        errno = EINVAL;
        goto out;
    }
    if ((uintmax_t)sb.st_size > max) {
        errno = ERANGE;
        goto out;
    }
    size_t size = (size_t)sb.st_size, got = 0;
    buf = malloc(size + 1);
    if (!buf)
        goto out;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            /* A file that shrank under us is as unreadable as a failing one. */
            if (r == 0)
                errno = EIO;
            free(buf);
            buf = NULL;
            goto out;
        }
        got += (size_t)r;
    }
    buf[size] = '\0';
    *len = size;
out:
    close_keep_errno(fd);
    return buf;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Opens a listing of dirfd without consuming dirfd. */
static DIR *open_listing(int dirfd)
{
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    DIR *d = fdopendir(fd);
    if (!d)
        close_keep_errno(fd);
    return d;
}

/* d_type is a hint some file systems leave unknown; fstatat settles it. */
static int entry_type(int dirfd, const struct dirent *e)
{
    if (e->d_type != DT_UNKNOWN)
        return e->d_type;
    struct stat sb;
    if (fstatat(dirfd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
        return DT_UNKNOWN;
    return S_ISREG(sb.st_mode) ? DT_REG : S_ISDIR(sb.st_mode) ? DT_DIR : DT_UNKNOWN;
}

enum { LIST_FILES, LIST_FOLDERS, LIST_TEMPORARIES };

static int wanted(int dirfd, const struct dirent *e, int what, const char *exclude)
{
    if (what == LIST_TEMPORARIES)
        return e->d_name[0] == '.' && strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    if (e->d_name[0] == '.' || (exclude && strcmp(e->d_name, exclude) == 0))
        return 0;
    return entry_type(dirfd, e) == (what == LIST_FOLDERS ? DT_DIR : DT_REG);
}

/* Makes room in *v (elem bytes each) for index count. 0 or -1. */
static int grow(void **v, size_t *cap, size_t count, size_t elem)
{
    if (count < *cap)
        return 0;
    size_t cap2 = *cap ? *cap * 2 : 16;
    void *grown = realloc(*v, cap2 * elem);
    if (!grown)
        return -1;
    *v = grown;
    *cap = cap2;
    return 0;
}

/* Appends a copy of name to *list. 0 or -1. */
static int push_name(char ***list, size_t *count, size_t *cap, const char *name)
{
    if (grow((void **)list, cap, *count, sizeof **list) != 0)
        return -1;
    if (!((*list)[*count] = strdup(name)))
        return -1;
    ++*count;
    return 0;
}

static int push_part(int64_t **list, size_t *count, size_t *cap, int64_t frames)
{
    if (grow((void **)list, cap, *count, sizeof **list) != 0)
        return -1;
    (*list)[(*count)++] = frames;
    return 0;
}

/* Calls visit on every entry of a listing of dirfd. 0, or -1 when the
 * listing cannot be read or visit returned -1. */
static int each_entry(int dirfd, int (*visit)(int dirfd, const struct dirent *e, void *ctx), void *ctx)
{
    int rc = 0;
    DIR *d = open_listing(dirfd);
    if (!d)
        return -1;
    struct dirent *e;
    /* errno is the only way readdir tells an error from the end. */
    while (rc == 0 && (errno = 0, e = readdir(d)) != NULL)
        rc = visit(dirfd, e, ctx);
    if (rc == 0 && errno != 0)
        rc = -1;
    closedir(d);
    return rc;
}

struct name_list {
    int what;
    const char *exclude;
    char **names;
    size_t count, cap;
};

static int visit_name(int dirfd, const struct dirent *e, void *ctx)
{
    struct name_list *l = ctx;
    if (!wanted(dirfd, e, l->what, l->exclude))
        return 0;
    return push_name(&l->names, &l->count, &l->cap, e->d_name);
}

static int list_names(int dirfd, int what, const char *exclude, char ***names, size_t *n)
{
    struct name_list l = {.what = what, .exclude = exclude};
    if (each_entry(dirfd, visit_name, &l) != 0) {
        stream_dir_names_free(l.names, l.count);
        return -1;
    }
    if (l.count > 1)
        qsort(l.names, l.count, sizeof *l.names, cmp_names);
    *names = l.names;
    *n = l.count;
    return 0;
}

int stream_dir_names(int dirfd, const char *exclude, char ***names, size_t *n)
{
    return list_names(dirfd, LIST_FILES, exclude, names, n);
}

int stream_dir_folders(int dirfd, char ***names, size_t *n)
{
    return list_names(dirfd, LIST_FOLDERS, NULL, names, n);
}

int stream_dir_temporaries(int dirfd, char ***names, size_t *n)
{
    return list_names(dirfd, LIST_TEMPORARIES, NULL, names, n);
}

void stream_dir_names_free(char **names, size_t n)
{
    for (size_t i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
}

int stream_dir_parse_partition(const char *name, int64_t *frames)
{
    size_t len = strlen(name);
    if (len == 0 || len > 18 || name[0] == '0')
        return 0;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (name[i] < '0' || name[i] > '9')
            return 0;
        v = v * 10 + (name[i] - '0');
    }
    *frames = v;
    return 1;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

struct scan_state {
    const char *name;
    int with_temps;
    struct stream_dir_scan scan;
    size_t temps_cap, parts_cap;
};

static int visit_scan(int dirfd, const struct dirent *e, void *ctx)
{
    struct scan_state *st = ctx;
    int64_t frames;
    if (st->with_temps && wanted(dirfd, e, LIST_TEMPORARIES, NULL))
        return push_name(&st->scan.temps, &st->scan.ntemps, &st->temps_cap, e->d_name);
    if (st->name && strcmp(e->d_name, st->name) == 0) {
        st->scan.has_name = 1;
        return 0;
    }
    if (stream_dir_parse_partition(e->d_name, &frames) && entry_type(dirfd, e) == DT_DIR)
        return push_part(&st->scan.parts, &st->scan.nparts, &st->parts_cap, frames);
    return 0;
}

/* One listing of dirfd: the partitions, plus the temporaries when
 * with_temps, plus whether `name` (may be NULL) exists. */
static int scan_listing(int dirfd, const char *name, int with_temps, struct stream_dir_scan *out)
{
    struct scan_state st = {.name = name, .with_temps = with_temps};
    if (each_entry(dirfd, visit_scan, &st) != 0) {
        stream_dir_scan_free(&st.scan);
        return -1;
    }
    if (st.scan.nparts > 1)
        qsort(st.scan.parts, st.scan.nparts, sizeof *st.scan.parts, cmp_i64);
    *out = st.scan;
    return 0;
}

int stream_dir_scan(int dirfd, const char *name, struct stream_dir_scan *out)
{
    return scan_listing(dirfd, name, 1, out);
}

int stream_dir_partitions(int dirfd, int64_t **parts, size_t *n)
{
    struct stream_dir_scan scan;
    if (scan_listing(dirfd, NULL, 0, &scan) != 0)
        return -1;
    *parts = scan.parts;
    *n = scan.nparts;
    return 0;
}

void stream_dir_scan_free(struct stream_dir_scan *scan)
{
    stream_dir_names_free(scan->temps, scan->ntemps);
    free(scan->parts);
    memset(scan, 0, sizeof *scan);
}

int stream_dir_fsync_all(int dirfd)
{
    char **names = NULL;
    size_t n = 0;
    int rc = -1;
    if (stream_dir_names(dirfd, NULL, &names, &n) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int fd = openat(dirfd, names[i], O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            goto out;
        int synced = fsync(fd);
        close_keep_errno(fd);
        if (synced != 0)
            goto out;
    }
    rc = fsync(dirfd);
out:
    stream_dir_names_free(names, n);
    return rc;
}
