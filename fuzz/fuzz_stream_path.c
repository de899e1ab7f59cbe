/* Fuzz target: the SCV's stream path rules (stream_path). The input is a
 * request path. Accepted names and paths must follow the header's rules,
 * stream_path_escape must give plain text that fits (and a good name as is),
 * and walking one, in a small tree with symlinks out of it, a FIFO and
 * nested folders, must only ever reach a regular file or folder inside the
 * tree (checked through /proc/self/fd), making folders only there. */
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_support.h"
#include "scv/stream_path.h"
#include "util/fs.h"
#include "util/utf8.h"

static char root[PATH_MAX];
static int rootfd = -1;

static void must(int ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char p[PATH_MAX + 64];
    snprintf(root, sizeof root, "%s/root", fuzz_tmpdir());
    snprintf(p, sizeof p, "%s/a/b", root);
    must(fs_mkdir_p(p, 0755) == 0);
    snprintf(p, sizeof p, "%s/a/b/f", root);
    must(fs_write_file(p, "x", 1, 0) == 0);
    snprintf(p, sizeof p, "%s/top", root);
    must(fs_write_file(p, "y", 1, 0) == 0);
    snprintf(p, sizeof p, "%s/out", root);
    must(symlink("/etc", p) == 0);
    snprintf(p, sizeof p, "%s/a/up", root);
    must(symlink("../..", p) == 0);
    snprintf(p, sizeof p, "%s/a/passwd", root);
    must(symlink("/etc/passwd", p) == 0);
    snprintf(p, sizeof p, "%s/fifo", root);
    must(mkfifo(p, 0600) == 0);
    rootfd = open(root, O_RDONLY | O_DIRECTORY);
    must(rootfd >= 0);
    return 0;
}

/* Valid UTF-8 without a control character (C0, DEL, C1). */
static int plain_text(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        unsigned cp;
        size_t n = utf8_char(p + i, len - i, &cp);
        if (n == 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
            return 0;
        i += n;
    }
    return 1;
}

static void check_name(const char *s, size_t len)
{
    FUZZ_CHECK(len >= 1 && len <= STREAM_PATH_NAME_MAX && s[0] != '.');
    FUZZ_CHECK(memchr(s, '/', len) == NULL && memchr(s, '\0', len) == NULL);
    FUZZ_CHECK(plain_text(s, len));
}

/* The escaped form fits, is plain text, and leaves a good name alone. */
static void check_escape(const char *s, size_t len)
{
    static const size_t sizes[] = {1, 5, 17, STREAM_PATH_NAME_MAX + 1, 4 * STREAM_PATH_MAX + 1};
    static char out[4 * STREAM_PATH_MAX + 1];
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        memset(out, 0x7f, sizes[k]);
        stream_path_escape(s, out, sizes[k]);
        const char *nul = memchr(out, '\0', sizes[k]);
        FUZZ_CHECK(nul != NULL);
        FUZZ_CHECK(plain_text(out, (size_t)(nul - out)));
        if (stream_path_name_ok(s, len) && len < sizes[k])
            FUZZ_CHECK(strcmp(out, s) == 0);
    }
}

static void check_path(const char *s, size_t len)
{
    FUZZ_CHECK(len <= STREAM_PATH_MAX);
    size_t start = 0;
    for (size_t i = 0; i <= len; i++)
        if (i == len || s[i] == '/') {
            check_name(s + start, i - start);
            start = i + 1;
        }
}

/* fd must name something inside the tree. */
static void check_inside(int fd)
{
    char link[64], where[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, where, sizeof where - 1);
    FUZZ_CHECK(n > 0);
    where[n] = '\0';
    size_t rl = strlen(root);
    FUZZ_CHECK(strncmp(where, root, rl) == 0 && (where[rl] == '\0' || where[rl] == '/'));
}

/* Keeps the tree as it was for the next input: the walk made the last
 * `created` folders of path, so the first of them goes, with what is below. */
static void remove_created(const char *path, size_t len, int created)
{
    int dirs = 0;
    for (size_t i = 0; i < len; i++)
        dirs += path[i] == '/';
    FUZZ_CHECK(created <= dirs);
    int keep = dirs - created;
    size_t end = 0;
    for (int seen = -1; seen < keep; end++)
        if (path[end] == '/')
            seen++;
    char first[PATH_MAX + STREAM_PATH_MAX + 2];
    snprintf(first, sizeof first, "%s/%.*s", root, (int)(end - 1), path);
    FUZZ_CHECK(fs_rm_rf(first) == 0);
}

static void walk(const char *path, size_t len)
{
    int fd = -1;
    off_t size = -1;
    if (stream_path_open_file(rootfd, path, len, &fd, &size) == 0) {
        struct stat sb;
        FUZZ_CHECK(fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == size);
        check_inside(fd);
        close(fd);
    }
    char last[STREAM_PATH_NAME_MAX + 1];
    int created = -1;
    int dirfd = stream_path_open_parent(rootfd, path, len, 1, last, &created);
    if (dirfd >= 0) {
        check_inside(dirfd);
        check_name(last, strlen(last));
        close(dirfd);
    }
    FUZZ_CHECK(created >= 0);
    if (created > 0)
        remove_created(path, len, created);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    if (size <= STREAM_PATH_MAX)
        check_escape(s, size);
    if (stream_path_name_ok(s, size))
        check_name(s, size);
    if (stream_path_ok(s, size)) {
        check_path(s, size);
        walk(s, size);
    }
    free(s);
    return 0;
}
