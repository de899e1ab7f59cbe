/* Fuzz target: the SCV's frame buffer (stream_store_frame_*), the part of
 * PUT /core/frame that appends a frame's files to buffer_files/ and cuts a
 * refused frame back out. The input is a program of operations on one
 * stream: begin a frame, open a file (from a few names, good and bad),
 * append bytes, end the frame keeping it or not. A model in memory tracks
 * what every buffer file must hold; after each end the files on disk must
 * equal it exactly (a refused frame leaves the buffer as it was before
 * begin). The buffer is discarded after each input. */
#include <dirent.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_stream.h"
#include "fuzz_support.h"
#include "scv/stream_store.h"
#include "util/fs.h"

#define ID "0123-fuzz:s1"
#define NNAMES 8
#define GOOD_NAMES 3 /* the first ones are acceptable */
#define MODEL_MAX (1 << 20)

static const char *const names[NNAMES] = {"frames.xtc", "log.txt", "caf\xc3\xa9", "checkpoint_files",
                                          ".hidden",    "a/b",     "bad\xffname", "evil\r\nX: y"};

struct file_model {
    unsigned char *data;
    size_t len;
    int exists;
};

static stream_store *store;
static char buffer_dir[PATH_MAX];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    store = fuzz_stream_open("fuzz_frame_buffer", ID, buffer_dir, sizeof buffer_dir);
    return 0;
}

static void model_copy(struct file_model *dst, const struct file_model *src)
{
    for (int i = 0; i < NNAMES; i++) {
        dst[i].len = src[i].len;
        dst[i].exists = src[i].exists;
        memcpy(dst[i].data, src[i].data, src[i].len);
    }
}

/* The buffer folder holds exactly the model's files, byte for byte. */
static void check_disk(const struct file_model *m)
{
    int expected = 0;
    for (int i = 0; i < NNAMES; i++) {
        char path[PATH_MAX * 2];
        snprintf(path, sizeof path, "%s/%s", buffer_dir, names[i]);
        size_t len = 0;
        char *data = fs_read_file(path, MODEL_MAX + 1, &len);
        FUZZ_CHECK((data != NULL) == m[i].exists);
        if (data != NULL)
            FUZZ_CHECK(len == m[i].len && memcmp(data, m[i].data, len) == 0);
        free(data);
        expected += m[i].exists;
    }
    DIR *d = opendir(buffer_dir);
    int found = 0;
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL)
        found += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    if (d != NULL)
        closedir(d);
    FUZZ_CHECK(found == expected);
}

struct run {
    const uint8_t *p, *end;
    stream_store_frame *frame;
    int open; /* index of the file appended to, or -1 */
    struct file_model now[NNAMES], before[NNAMES];
};

static void op_begin(struct run *r)
{
    struct status err;
    if (r->frame != NULL)
        return;
    FUZZ_CHECK(stream_store_frame_begin(store, ID, &r->frame, &err) == STATUS_OK);
    model_copy(r->before, r->now);
    r->open = -1;
}

static void op_file(struct run *r, int which)
{
    struct status err;
    if (r->frame == NULL)
        return;
    int rc = stream_store_frame_file(r->frame, names[which], &err);
    if (which < GOOD_NAMES) {
        FUZZ_CHECK(rc == STATUS_OK);
        r->now[which].exists = 1;
        r->open = which;
    } else {
        FUZZ_CHECK(rc == STATUS_INVALID);
    }
}

static void op_write(struct run *r, size_t want)
{
    struct status err;
    size_t n = want < (size_t)(r->end - r->p) ? want : (size_t)(r->end - r->p);
    if (r->frame == NULL || r->open < 0)
        return;
    struct file_model *f = &r->now[r->open];
    if (f->len + n > MODEL_MAX)
        return;
    FUZZ_CHECK(stream_store_frame_write(r->frame, r->p, n, &err) == STATUS_OK);
    memcpy(f->data + f->len, r->p, n);
    f->len += n;
    r->p += n;
}

static void op_end(struct run *r, int keep)
{
    struct status err;
    if (r->frame == NULL)
        return;
    FUZZ_CHECK(stream_store_frame_end(r->frame, keep, &err) == STATUS_OK);
    r->frame = NULL;
    if (!keep)
        model_copy(r->now, r->before);
    check_disk(r->now);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct run r;
    struct status err;
    for (int i = 0; i < NNAMES; i++) {
        if (r.now[i].data == NULL &&
            ((r.now[i].data = malloc(MODEL_MAX)) == NULL || (r.before[i].data = malloc(MODEL_MAX)) == NULL))
            abort();
        r.now[i].len = r.before[i].len = 0;
        r.now[i].exists = r.before[i].exists = 0;
    }
    r.p = data;
    r.end = data + size;
    r.frame = NULL;
    r.open = -1;
    while (r.p < r.end) {
        uint8_t op = *r.p++;
        switch (op & 3) {
        case 0:
            op_begin(&r);
            break;
        case 1:
            op_file(&r, (op >> 2) % NNAMES);
            break;
        case 2:
            op_write(&r, op >> 2);
            break;
        default:
            op_end(&r, (op >> 2) & 1);
        }
    }
    op_end(&r, 0);
    FUZZ_CHECK(stream_store_discard_buffer(store, ID, &err) == STATUS_OK);
    return 0;
}
