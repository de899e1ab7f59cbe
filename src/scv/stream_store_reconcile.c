#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scv/stream_dir.h"
#include "scv/stream_store_int.h"
#include "util/clock.h"
#include "util/fs.h"

typedef struct {
    char *id;
    int64_t frames;
    int seen;
} known_stream;

typedef struct {
    known_stream *items;
    size_t n, cap;
} known_list;

static int collect_known(const scv_stream_record *rec, void *ctx)
{
    known_list *k = ctx;
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 1024;
        known_stream *grown = realloc(k->items, cap * sizeof *grown);
        if (!grown)
            return -1;
        k->items = grown;
        k->cap = cap;
    }
    char *id = strdup(rec->id);
    if (!id)
        return -1;
    k->items[k->n++] = (known_stream){.id = id, .frames = rec->frames};
    return 0;
}

static int cmp_known(const void *a, const void *b)
{
    return strcmp(((const known_stream *)a)->id, ((const known_stream *)b)->id);
}

/* Removes a stream's leftovers and returns its true frame count in *frames:
 * the highest partition holding checkpoint_files/. A higher one without it
 * cannot come from a commit (the buffer gains checkpoint_files/ before its
 * rename), so it is removed as incomplete. */
static int reconcile_stream(stream_store *s, const char *id, int64_t *frames)
{
    struct stream_dir_scan scan = {0};
    int rc = -1;
    int fd = stream_dir_open(s->streams_fd, id);
    if (fd < 0 || stream_dir_scan(fd, BUFFER_DIR, &scan) != 0)
        goto out;
    if (scan.has_name && ss_remove_tree(s, id, BUFFER_DIR) != 0)
        goto out;
    for (size_t i = 0; i < scan.ntemps; i++) {
        if (ss_remove_tree(s, id, scan.temps[i]) != 0)
            goto out;
    }
    *frames = 0;
    for (size_t i = scan.nparts; i-- > 0;) {
        char name[32], sub[64];
        snprintf(name, sizeof name, "%lld", (long long)scan.parts[i]);
        snprintf(sub, sizeof sub, "%s/%s", name, CHECKPOINT_DIR);
        if (ss_is_dir_at(fd, sub)) {
            *frames = scan.parts[i];
            break;
        }
        log_warn("stream store: stream %s: partition %s has no %s; removing it as incomplete", id, name,
                 CHECKPOINT_DIR);
        if (ss_remove_tree(s, id, name) != 0)
            goto out;
    }
    rc = 0;
out:
    if (rc != 0)
        log_error("stream store: cannot reconcile stream %s: %s", id, strerror(errno));
    stream_dir_scan_free(&scan);
    ss_close_fd(fd);
    return rc;
}

typedef struct {
    const char **drop;
    size_t ndrop;
    scv_db_frames_fix *fix;
    size_t nfix;
    size_t nfolders, nthreads; /* how the folders were walked, for the log */
} reconcile_plan;

/* Below this many stream folders the walk stays on the calling thread, so
 * small stores (and most tests) keep one simple path. Above it the walk is
 * bound by per-folder syscalls, which run in parallel across CPUs. */
#define WALK_THREADED_MIN 2048
#define WALK_THREADS_MAX 4

/* One thread's share of the walk: the folders [begin, end) of the sorted
 * listing, looked up in the records (read only). A thread writes only its
 * own slice and its own slots of seen/fix (indexed from begin), so the
 * threads share no mutable state; the slices are merged in folder order. */
typedef struct {
    stream_store *s;
    char **dirs;
    const known_list *known;
    size_t begin, end;
    size_t *seen; /* indexes into known->items of the folders repaired */
    size_t nseen;
    scv_db_frames_fix *fix;
    size_t nfix;
    const char *failed; /* the folder whose repair failed, or NULL */
    int failed_errno;
    pthread_t tid;
    int threaded;
} walk_slice;

static void *walk_slice_run(void *arg)
{
    walk_slice *w = arg;
    const known_list *known = w->known;
    for (size_t i = w->begin; i < w->end; i++) {
        known_stream key = {.id = w->dirs[i]};
        const known_stream *k =
            known->n ? bsearch(&key, known->items, known->n, sizeof key, cmp_known) : NULL;
        if (!k) {
            log_warn("stream store: folder streams/%s has no record; left alone and not served", w->dirs[i]);
            continue;
        }
        int64_t frames;
        if (reconcile_stream(w->s, k->id, &frames) != 0) {
            w->failed = w->dirs[i];
            w->failed_errno = errno;
            return NULL;
        }
        w->seen[w->nseen++] = (size_t)(k - known->items);
        if (frames != k->frames)
            w->fix[w->nfix++] = (scv_db_frames_fix){.id = k->id, .frames = frames};
    }
    return NULL;
}

static size_t walk_thread_count(size_t ndirs)
{
    if (ndirs < WALK_THREADED_MIN)
        return 1;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 2)
        return 1;
    return cpus < WALK_THREADS_MAX ? (size_t)cpus : WALK_THREADS_MAX;
}

/* Repairs every folder in dirs on nthreads threads (the caller's being one)
 * and merges the results into plan in folder order. A thread that cannot be
 * started has its slice run on the calling thread instead. On failure
 * *failed names the first folder (in folder order) that could not be
 * repaired and errno says why. */
static int walk_folders(stream_store *s, char **dirs, size_t ndirs, known_list *known, reconcile_plan *plan,
                        const char **failed)
{
    walk_slice slices[WALK_THREADS_MAX] = {0};
    size_t nthreads = walk_thread_count(ndirs);
    plan->nfolders = ndirs;
    plan->nthreads = nthreads;
    size_t *seen = malloc((ndirs + 1) * sizeof *seen);
    scv_db_frames_fix *fix = malloc((ndirs + 1) * sizeof *fix);
    int rc = -1;
    if (!seen || !fix) {
        errno = ENOMEM;
        goto out;
    }
    for (size_t t = 0; t < nthreads; t++) {
        walk_slice *w = &slices[t];
        *w = (walk_slice){.s = s, .dirs = dirs, .known = known};
        w->begin = ndirs * t / nthreads;
        w->end = ndirs * (t + 1) / nthreads;
        w->seen = seen + w->begin;
        w->fix = fix + w->begin;
        /* The caller's own thread takes slice 0, after the others start. */
        if (t > 0)
            w->threaded = pthread_create(&w->tid, NULL, walk_slice_run, w) == 0;
    }
    for (size_t t = 0; t < nthreads; t++) {
        if (t == 0 || !slices[t].threaded)
            walk_slice_run(&slices[t]);
    }
    for (size_t t = 1; t < nthreads; t++) {
        if (slices[t].threaded)
            pthread_join(slices[t].tid, NULL);
    }
    for (size_t t = 0; t < nthreads; t++) {
        const walk_slice *w = &slices[t];
        if (w->failed) {
            *failed = w->failed;
            errno = w->failed_errno;
            goto out;
        }
        for (size_t i = 0; i < w->nseen; i++)
            known->items[w->seen[i]].seen = 1;
        memcpy(plan->fix + plan->nfix, w->fix, w->nfix * sizeof *w->fix);
        plan->nfix += w->nfix;
    }
    rc = 0;
out:
    free(seen);
    free(fix);
    return rc;
}

/* Walks streams/ once against the records loaded in known (sorted by id).
 * On failure *failed names the stream folder at fault (NULL: streams/
 * itself) and errno says why; *failed lives until *dirs is freed. */
static int reconcile_folders(stream_store *s, known_list *known, reconcile_plan *plan, char ***dirs,
                             size_t *ndirs, const char **failed)
{
    char **temps = NULL;
    size_t ntemps = 0;
    int rc = -1;
    *failed = NULL;
    if (stream_dir_temporaries(s->streams_fd, &temps, &ntemps) != 0)
        goto out;
    for (size_t i = 0; i < ntemps; i++) {
        char path[PATH_MAX];
        if (ss_join_path(path, s->streams_dir, temps[i], NULL) != 0 || fs_rm_rf(path) != 0)
            goto out;
    }
    if (stream_dir_folders(s->streams_fd, dirs, ndirs) != 0 ||
        walk_folders(s, *dirs, *ndirs, known, plan, failed) != 0)
        goto out;
    for (size_t i = 0; i < known->n; i++) {
        if (!known->items[i].seen)
            plan->drop[plan->ndrop++] = known->items[i].id;
    }
    rc = 0;
out:
    stream_dir_names_free(temps, ntemps);
    return rc;
}

status_code ss_reconcile(stream_store *s, struct status *st)
{
    known_list known = {0};
    reconcile_plan plan = {0};
    char **dirs = NULL;
    size_t ndirs = 0;
    const char *failed = NULL;
    status_code rc = STATUS_IO;
    if (scv_db_stream_foreach(s->db, collect_known, &known) != 0) {
        rc = ss_fail(st, STATUS_IO, "cannot load the stream records from scv.db");
        goto out;
    }
    if (known.n > 1)
        qsort(known.items, known.n, sizeof *known.items, cmp_known);
    plan.drop = malloc((known.n + 1) * sizeof *plan.drop);
    plan.fix = malloc((known.n + 1) * sizeof *plan.fix);
    if (!plan.drop || !plan.fix) {
        rc = ss_fail(st, STATUS_IO, "out of memory reconciling %zu streams", known.n);
        goto out;
    }
    if (reconcile_folders(s, &known, &plan, &dirs, &ndirs, &failed) != 0) {
        if (failed)
            rc = ss_fail(st, STATUS_IO, "cannot reconcile the stream folder %s/%s: %s", s->streams_dir,
                         failed, strerror(errno));
        else
            rc = ss_fail(st, STATUS_IO, "cannot reconcile the folders in %s: %s", s->streams_dir,
                         strerror(errno));
        goto out;
    }
    if (scv_db_reconcile(s->db, plan.drop, plan.ndrop, plan.fix, plan.nfix) != 0) {
        rc = ss_fail(st, STATUS_IO, "cannot save the reconciled stream records to scv.db");
        goto out;
    }
    log_info("stream store: %zu streams; %zu frame counts fixed, %zu records of missing folders dropped; "
             "%zu folders checked on %zu threads",
             known.n - plan.ndrop, plan.nfix, plan.ndrop, plan.nfolders, plan.nthreads);
    rc = STATUS_OK;
out:
    for (size_t i = 0; i < known.n; i++)
        free(known.items[i].id);
    free(known.items);
    free(plan.drop);
    free(plan.fix);
    stream_dir_names_free(dirs, ndirs);
    return rc;
}

/* 1 when <id>/<partition> is a folder, 0 when not, -1 on failure. */
static int partition_exists(const char *id, int64_t partition, void *ctx)
{
    stream_store *s = ctx;
    char rel[PATH_MAX];
    struct stat sb;
    if (ss_check_id(id, NULL) != STATUS_OK ||
        snprintf(rel, sizeof rel, "%s/%lld", id, (long long)partition) >= (int)sizeof rel)
        return 0;
    if (fstatat(s->streams_fd, rel, &sb, AT_SYMLINK_NOFOLLOW) == 0)
        return S_ISDIR(sb.st_mode) ? 1 : 0;
    return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
}

/* Activations that were running when the server stopped end here: their
 * credit up to the last commit (the one whose rename a crash interrupted
 * included) goes to the outbox. */
status_code ss_close_open_fragments(stream_store *s, struct status *st)
{
    int64_t moved = 0, applied = 0;
    if (scv_db_commit_intents_resolve(s->db, partition_exists, s, &applied) != 0)
        return ss_fail(st, STATUS_IO, "cannot settle the credit of the commits a stop interrupted");
    if (applied > 0)
        log_info("stream store: %lld commits interrupted right after their rename; credited",
                 (long long)applied);
    if (scv_db_open_fragments_close(s->db, clock_wall_s(), &moved) != 0)
        return ss_fail(st, STATUS_IO, "cannot move the open stats fragments of scv.db to the outbox");
    if (moved > 0)
        log_info("stream store: %lld activations ended by the restart; their stats wait in the outbox",
                 (long long)moved);
    return STATUS_OK;
}
