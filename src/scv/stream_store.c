#include "scv/stream_store.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <limits.h>
#include <pthread.h>
#include <search.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "scv/stream_dir.h"
#include "scv/stream_path.h"
#include "util/crypto.h"
#include "util/fs.h"
#include "util/log.h"

#define SEED_DIR "files"
#define TAGS_DIR "tags"
#define BUFFER_DIR "buffer_files"
#define CHECKPOINT_DIR "checkpoint_files"
#define ERROR_LOG "error_log.txt"
/* Temporaries start with '.', which no stream id or request path may. */
#define NEW_PREFIX ".new-"
#define TRASH_PREFIX ".trash-"
#define UPLOAD_PREFIX ".upload-"

#define MARKER_TEXT_MAX 512

struct stream_store {
    char *data_dir;
    char *streams_dir;
    int streams_fd;
    scv_db *db;
    /* Ids of streams that may have a buffer_files/ (a tsearch tree): noted
     * before a buffer is made, forgotten once it is renamed or removed, so a
     * clean stop removes what is left without visiting every stream. */
    pthread_mutex_t buffers_lock;
    void *buffers;
    /* Set by any disk or database failure in a call that changes a stream:
     * it may have left something only the reconcile walk repairs, so the
     * clean-stop marker is not written. */
    atomic_int needs_walk;
    /* The crash tests' fault injection: SIEGETANK_CRASH_AFTER_RENAME=N
     * kills the process the instant the Nth commit has renamed its
     * partition, the moment exactly-once credit must survive. 0: never. */
    long crash_after_rename;
    atomic_long commits;
};

static int fail(char *err, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Formats the reason into err and, for the server's own failures, the log. */
static int fail(char *err, int rc, const char *fmt, ...)
{
    char msg[STREAM_STORE_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (err)
        memcpy(err, msg, sizeof msg);
    if (rc == STREAM_STORE_IO)
        log_error("stream store: %s", msg);
    return rc;
}

/* Maps a failed file operation's errno to who is at fault. */
static int errno_rc(int e)
{
    switch (e) {
    case ENOENT:
        return STREAM_STORE_NOT_FOUND;
    case EINVAL:
    case ELOOP:
    case ENOTDIR:
    case EISDIR:
    case EEXIST:
    case ENOTEMPTY:
    case ENAMETOOLONG:
        return STREAM_STORE_INVALID;
    default:
        return STREAM_STORE_IO;
    }
}

static void close_fd(int fd)
{
    if (fd >= 0)
        close(fd);
}

static int check_id(const char *id, char *err)
{
    size_t len = id ? strlen(id) : 0;
    if (len > STREAM_STORE_ID_MAX || !stream_path_name_ok(id, len))
        return fail(err, STREAM_STORE_INVALID,
                    "bad stream id: must be 1..%d bytes, without '/' and not starting with '.'",
                    STREAM_STORE_ID_MAX);
    return STREAM_STORE_OK;
}

/* Returns the stream folder's fd, or a negative stream_store_rc. */
static int open_stream(stream_store *s, const char *id, char *err)
{
    int rc = check_id(id, err);
    if (rc != STREAM_STORE_OK)
        return rc;
    int fd = stream_dir_open(s->streams_fd, id);
    if (fd >= 0)
        return fd;
    if (errno == ENOENT)
        return fail(err, STREAM_STORE_NOT_FOUND, "unknown stream %s", id);
    return fail(err, errno_rc(errno), "cannot open stream %s: %s", id, strerror(errno));
}

static int join_path(char *buf, const char *a, const char *b, const char *c)
{
    int n = c ? snprintf(buf, PATH_MAX, "%s/%s/%s", a, b, c) : snprintf(buf, PATH_MAX, "%s/%s", a, b);
    if (n < 0 || n >= PATH_MAX) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

/* Removes streams_dir/a[/b] and everything below it; missing is fine. */
static int remove_tree(stream_store *s, const char *a, const char *b)
{
    char path[PATH_MAX];
    if (join_path(path, s->streams_dir, a, b) != 0)
        return -1;
    return fs_rm_rf(path);
}

static int is_dir_at(int dirfd, const char *name)
{
    struct stat sb;
    return fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode);
}

/* Passes rc through, remembering a failure of the server's own. */
static int note_failure(stream_store *s, int rc)
{
    if (rc == STREAM_STORE_IO)
        atomic_store(&s->needs_walk, 1);
    return rc;
}

/* ---- buffers a clean stop must remove ---- */

static int cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Called before a buffer may be made. -1 when out of memory. */
static int buffer_note(stream_store *s, const char *id)
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

/* Called once the buffer is renamed into a partition or removed. */
static void buffer_forget(stream_store *s, const char *id)
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

/* Removes every buffer still noted (their activations end with this run).
 * -1 after logging the first that cannot be removed. */
static int buffers_remove_all(stream_store *s)
{
    int rc = 0;
    pthread_mutex_lock(&s->buffers_lock);
    while (rc == 0 && s->buffers) {
        char *id = *(char **)s->buffers;
        tdelete(id, &s->buffers, cmp_id);
        if (remove_tree(s, id, BUFFER_DIR) != 0) {
            log_error("stream store: cannot remove the buffer of stream %s: %s", id, strerror(errno));
            rc = -1;
        }
        free(id);
    }
    pthread_mutex_unlock(&s->buffers_lock);
    return rc;
}

/* ---- reconcile ---- */

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
    if (scan.has_name && remove_tree(s, id, BUFFER_DIR) != 0)
        goto out;
    for (size_t i = 0; i < scan.ntemps; i++) {
        if (remove_tree(s, id, scan.temps[i]) != 0)
            goto out;
    }
    *frames = 0;
    for (size_t i = scan.nparts; i-- > 0;) {
        char name[32], sub[64];
        snprintf(name, sizeof name, "%lld", (long long)scan.parts[i]);
        snprintf(sub, sizeof sub, "%s/%s", name, CHECKPOINT_DIR);
        if (is_dir_at(fd, sub)) {
            *frames = scan.parts[i];
            break;
        }
        log_warn("stream store: stream %s: partition %s has no %s; removing it as incomplete", id, name,
                 CHECKPOINT_DIR);
        if (remove_tree(s, id, name) != 0)
            goto out;
    }
    rc = 0;
out:
    if (rc != 0)
        log_error("stream store: cannot reconcile stream %s: %s", id, strerror(errno));
    stream_dir_scan_free(&scan);
    close_fd(fd);
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
        if (join_path(path, s->streams_dir, temps[i], NULL) != 0 || fs_rm_rf(path) != 0)
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

static int reconcile(stream_store *s, char *err)
{
    known_list known = {0};
    reconcile_plan plan = {0};
    char **dirs = NULL;
    size_t ndirs = 0;
    const char *failed = NULL;
    int rc = STREAM_STORE_IO;
    if (scv_db_stream_foreach(s->db, collect_known, &known) != 0) {
        rc = fail(err, STREAM_STORE_IO, "cannot load the stream records from scv.db");
        goto out;
    }
    if (known.n > 1)
        qsort(known.items, known.n, sizeof *known.items, cmp_known);
    plan.drop = malloc((known.n + 1) * sizeof *plan.drop);
    plan.fix = malloc((known.n + 1) * sizeof *plan.fix);
    if (!plan.drop || !plan.fix) {
        rc = fail(err, STREAM_STORE_IO, "out of memory reconciling %zu streams", known.n);
        goto out;
    }
    if (reconcile_folders(s, &known, &plan, &dirs, &ndirs, &failed) != 0) {
        if (failed)
            rc = fail(err, STREAM_STORE_IO, "cannot reconcile the stream folder %s/%s: %s", s->streams_dir,
                      failed, strerror(errno));
        else
            rc = fail(err, STREAM_STORE_IO, "cannot reconcile the folders in %s: %s", s->streams_dir,
                      strerror(errno));
        goto out;
    }
    if (scv_db_reconcile(s->db, plan.drop, plan.ndrop, plan.fix, plan.nfix) != 0) {
        rc = fail(err, STREAM_STORE_IO, "cannot save the reconciled stream records to scv.db");
        goto out;
    }
    log_info("stream store: %zu streams; %zu frame counts fixed, %zu records of missing folders dropped; "
             "%zu folders checked on %zu threads",
             known.n - plan.ndrop, plan.nfix, plan.ndrop, plan.nfolders, plan.nthreads);
    rc = STREAM_STORE_OK;
out:
    for (size_t i = 0; i < known.n; i++)
        free(known.items[i].id);
    free(known.items);
    free(plan.drop);
    free(plan.fix);
    stream_dir_names_free(dirs, ndirs);
    return rc;
}

/* ---- open / close ---- */

static double wall_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (double)now.tv_sec + now.tv_nsec / 1e9;
}

/* 1 when <id>/<partition> is a folder, 0 when not, -1 on failure. */
static int partition_exists(const char *id, int64_t partition, void *ctx)
{
    stream_store *s = ctx;
    char rel[PATH_MAX];
    struct stat sb;
    if (check_id(id, NULL) != STREAM_STORE_OK ||
        snprintf(rel, sizeof rel, "%s/%lld", id, (long long)partition) >= (int)sizeof rel)
        return 0;
    if (fstatat(s->streams_fd, rel, &sb, AT_SYMLINK_NOFOLLOW) == 0)
        return S_ISDIR(sb.st_mode) ? 1 : 0;
    return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
}

/* Activations that were running when the server stopped end here: their
 * credit up to the last commit (the one whose rename a crash interrupted
 * included) goes to the outbox. */
static int close_open_fragments(stream_store *s, char *err)
{
    int64_t moved = 0, applied = 0;
    if (scv_db_commit_intents_resolve(s->db, partition_exists, s, &applied) != 0)
        return fail(err, STREAM_STORE_IO, "cannot settle the credit of the commits a stop interrupted");
    if (applied > 0)
        log_info("stream store: %lld commits interrupted right after their rename; credited",
                 (long long)applied);
    if (scv_db_open_fragments_close(s->db, wall_now(), &moved) != 0)
        return fail(err, STREAM_STORE_IO, "cannot move the open stats fragments of scv.db to the outbox");
    if (moved > 0)
        log_info("stream store: %lld activations ended by the restart; their stats wait in the outbox",
                 (long long)moved);
    return STREAM_STORE_OK;
}

/* ---- the clean-stop marker ---- */

/* The marker's text: what it is, then the identity and last change of
 * streams/ and scv.db, so adding or removing a stream folder or putting back
 * another scv.db while stopped makes the next open walk. -1 with errno when
 * either cannot be examined (no scv.db yet, say). */
static int marker_text(stream_store *s, char *buf, size_t size)
{
    char db_path[PATH_MAX];
    struct stat st, db;
    if (fstat(s->streams_fd, &st) != 0 || join_path(db_path, s->data_dir, "scv.db", NULL) != 0 ||
        stat(db_path, &db) != 0)
        return -1;
    int n = snprintf(buf, size,
                     "siegetank SCV store: stopped cleanly, so the next start skips checking every stream.\n"
                     "Delete this file to make it check them (after changing streams/ by hand, say).\n"
                     "streams/ %ju %ju %lld.%09ld\n"
                     "scv.db %ju %jd %lld.%09ld\n",
                     (uintmax_t)st.st_ino, (uintmax_t)st.st_nlink, (long long)st.st_ctim.tv_sec,
                     st.st_ctim.tv_nsec, (uintmax_t)db.st_ino, (intmax_t)db.st_size,
                     (long long)db.st_ctim.tv_sec, db.st_ctim.tv_nsec);
    if (n < 0 || (size_t)n >= size) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

/* Reads and removes the marker, durably, before the store changes anything:
 * a crash from here on leaves no marker. 1 when it was present and matches
 * (the walk may be skipped), 0 when the walk must run, or a negative
 * stream_store_rc. */
static int marker_take(stream_store *s, char *err)
{
    char path[PATH_MAX], tmp[PATH_MAX], want[MARKER_TEXT_MAX];
    size_t len = 0;
    if (join_path(path, s->data_dir, STREAM_STORE_CLEAN_MARKER, NULL) != 0 ||
        join_path(tmp, s->data_dir, STREAM_STORE_CLEAN_MARKER ".tmp", NULL) != 0)
        return fail(err, STREAM_STORE_IO, "data folder path too long: %s", s->data_dir);
    char *text = fs_read_file(path, MARKER_TEXT_MAX, &len);
    int present = text || fs_exists(path);
    if (!present && !fs_exists(tmp))
        return 0;
    int clean =
        text && marker_text(s, want, sizeof want) == 0 && len == strlen(want) && memcmp(text, want, len) == 0;
    free(text);
    if (fs_rm_rf(path) != 0 || fs_rm_rf(tmp) != 0 || fs_fsync_path(s->data_dir) != 0)
        return fail(err, STREAM_STORE_IO,
                    "cannot remove the clean-stop marker %s durably: %s; remove it by hand and start again",
                    path, strerror(errno));
    if (clean)
        log_info("stream store: the last run stopped cleanly; not checking every stream folder");
    else if (present)
        log_warn("stream store: the clean-stop marker did not match streams/ and scv.db (changed while "
                 "stopped?); checking every stream folder");
    return clean;
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

/* ---- open / close ---- */

/* Opens streams/ and takes the store's lock on it, so two servers (or a
 * server and a tool) never reconcile or write one store at once. */
static int open_streams_dir(stream_store *s, char *err)
{
    if (fs_mkdir_p(s->streams_dir, 0700) != 0)
        return fail(err, STREAM_STORE_IO, "cannot create %s: %s", s->streams_dir, strerror(errno));
    s->streams_fd = open(s->streams_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->streams_fd < 0)
        return fail(err, STREAM_STORE_IO, "cannot open %s: %s", s->streams_dir, strerror(errno));
    if (flock(s->streams_fd, LOCK_EX | LOCK_NB) == 0)
        return STREAM_STORE_OK;
    if (errno == EWOULDBLOCK)
        return fail(err, STREAM_STORE_IO,
                    "the store in %s is in use (another SCV or tool has it open); stop that first",
                    s->data_dir);
    return fail(err, STREAM_STORE_IO, "cannot lock the store in %s: %s", s->data_dir, strerror(errno));
}

stream_store *stream_store_open(const char *data_dir, char *err)
{
    char db_path[PATH_MAX];
    stream_store *s = calloc(1, sizeof *s);
    if (!s) {
        fail(err, STREAM_STORE_IO, "out of memory");
        return NULL;
    }
    s->streams_fd = -1;
    pthread_mutex_init(&s->buffers_lock, NULL);
    const char *crash = getenv("SIEGETANK_CRASH_AFTER_RENAME");
    s->crash_after_rename = crash != NULL ? strtol(crash, NULL, 10) : 0;
    s->data_dir = strdup(data_dir);
    s->streams_dir = malloc(PATH_MAX);
    if (!s->data_dir || !s->streams_dir) {
        fail(err, STREAM_STORE_IO, "out of memory");
        goto fail;
    }
    if (join_path(s->streams_dir, data_dir, "streams", NULL) != 0 ||
        join_path(db_path, data_dir, "scv.db", NULL) != 0) {
        fail(err, STREAM_STORE_IO, "data folder path too long: %s", data_dir);
        goto fail;
    }
    if (open_streams_dir(s, err) != STREAM_STORE_OK)
        goto fail;
    int clean = marker_take(s, err);
    if (clean < 0)
        goto fail;
    s->db = scv_db_open(db_path);
    if (!s->db) {
        fail(err, STREAM_STORE_IO, "cannot open the database %s (see the log for why)", db_path);
        goto fail;
    }
    if ((!clean && reconcile(s, err) != STREAM_STORE_OK) || close_open_fragments(s, err) != STREAM_STORE_OK)
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
    close_fd(s->streams_fd);
    tdestroy(s->buffers, free);
    pthread_mutex_destroy(&s->buffers_lock);
    free(s->streams_dir);
    free(s->data_dir);
    free(s);
}

int stream_store_close_clean(stream_store *s, char *err)
{
    char path[PATH_MAX], text[MARKER_TEXT_MAX];
    int rc = STREAM_STORE_IO;
    if (!s)
        return fail(err, STREAM_STORE_INVALID, "no store to close");
    if (atomic_load(&s->needs_walk)) {
        rc = fail(err, STREAM_STORE_IO,
                  "a disk or database failure during this run may have left something behind; the next "
                  "start checks every stream");
        goto out;
    }
    if (buffers_remove_all(s) != 0) {
        rc = fail(err, STREAM_STORE_IO, "a buffer could not be removed; the next start checks every stream");
        goto out;
    }
    scv_db_close(s->db);
    s->db = NULL;
    if (store_sync(s) != 0 || marker_text(s, text, sizeof text) != 0 ||
        join_path(path, s->data_dir, STREAM_STORE_CLEAN_MARKER, NULL) != 0 ||
        fs_write_atomic(path, text, strlen(text)) != 0) {
        rc = fail(err, STREAM_STORE_IO,
                  "cannot write the clean-stop marker in %s: %s; the next start checks "
                  "every stream",
                  s->data_dir, strerror(errno));
        goto out;
    }
    rc = STREAM_STORE_OK;
out:
    stream_store_close(s);
    return rc;
}

int stream_store_foreach(stream_store *s, scv_stream_fn fn, void *ctx)
{
    return scv_db_stream_foreach(s->db, fn, ctx) == 0 ? STREAM_STORE_OK : STREAM_STORE_IO;
}

/* ---- create / delete ---- */

/* Checks a file map: an object (or NULL when optional) of name -> string. */
static int check_file_map(const json_t *map, const char *what, int optional, char *err)
{
    if (!map && optional)
        return STREAM_STORE_OK;
    if (!json_is_object(map))
        return fail(err, STREAM_STORE_INVALID, "%s must be an object of name: string", what);
    const char *name;
    size_t name_len;
    json_t *value;
    /* The key length, not strlen, so a key with an embedded NUL is refused. */
    json_object_keylen_foreach((json_t *)map, name, name_len, value)
    {
        if (!stream_path_name_ok(name, name_len))
            return fail(err, STREAM_STORE_INVALID,
                        "bad %s name '%.64s': must be 1..255 bytes, without '/' and not starting with '.'",
                        what, name);
        if (!json_is_string(value))
            return fail(err, STREAM_STORE_INVALID, "%s '%.64s' must be a string", what, name);
    }
    return STREAM_STORE_OK;
}

/* Writes every file of map (may be NULL) into the sub-folder sub of dirfd,
 * fsyncing each file and the sub-folder. -1 with errno on failure. */
static int write_file_map(int dirfd, const char *sub, const json_t *map)
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

static int stream_create(stream_store *s, const char *id, const char *target_id, const json_t *files,
                         const json_t *tags, double now, char *err)
{
    char tmp[NAME_MAX + 1];
    int rc = check_id(id, err);
    if (rc != STREAM_STORE_OK)
        return rc;
    size_t tlen = target_id ? strlen(target_id) : 0;
    if (tlen == 0 || tlen > STREAM_STORE_TARGET_ID_MAX)
        return fail(err, STREAM_STORE_INVALID, "bad target id: must be 1..%d bytes",
                    STREAM_STORE_TARGET_ID_MAX);
    if ((rc = check_file_map(files, "file", 0, err)) != STREAM_STORE_OK ||
        (rc = check_file_map(tags, "tag", 1, err)) != STREAM_STORE_OK)
        return rc;
    struct stat sb;
    if (fstatat(s->streams_fd, id, &sb, AT_SYMLINK_NOFOLLOW) == 0)
        return fail(err, STREAM_STORE_INVALID, "stream %s already exists", id);
    /* Build under a temporary name, insert the record, then rename: a crash
     * leaves a temporary (removed by reconcile) or a record without a folder
     * (dropped by reconcile), never a half-written stream. */
    snprintf(tmp, sizeof tmp, NEW_PREFIX "%s", id);
    if (remove_tree(s, tmp, NULL) != 0 || mkdirat(s->streams_fd, tmp, 0700) != 0)
        return fail(err, STREAM_STORE_IO, "cannot create a folder for stream %s: %s", id, strerror(errno));
    int fd = stream_dir_open(s->streams_fd, tmp);
    if (fd < 0 || write_file_map(fd, SEED_DIR, files) != 0 || write_file_map(fd, TAGS_DIR, tags) != 0 ||
        fsync(fd) != 0) {
        rc = fail(err, STREAM_STORE_IO, "cannot write the files of stream %s: %s", id, strerror(errno));
        goto cleanup;
    }
    if (scv_db_stream_insert(s->db, id, target_id, now) != 0) {
        rc = fail(err, STREAM_STORE_IO, "cannot record stream %s in scv.db", id);
        goto cleanup;
    }
    if (renameat(s->streams_fd, tmp, s->streams_fd, id) != 0) {
        rc = fail(err, STREAM_STORE_IO, "cannot move stream %s into place: %s", id, strerror(errno));
        scv_db_stream_delete(s->db, id);
        goto cleanup;
    }
    if (fsync(s->streams_fd) != 0) {
        rc = fail(err, STREAM_STORE_IO, "cannot make stream %s durable: %s", id, strerror(errno));
        scv_db_stream_delete(s->db, id);
        remove_tree(s, id, NULL);
        goto cleanup;
    }
    close(fd);
    return STREAM_STORE_OK;
cleanup:
    close_fd(fd);
    remove_tree(s, tmp, NULL);
    return rc;
}

int stream_store_create(stream_store *s, const char *id, const char *target_id, const json_t *files,
                        const json_t *tags, double now, char *err)
{
    return note_failure(s, stream_create(s, id, target_id, files, tags, now, err));
}

static int stream_delete(stream_store *s, const char *id, char *err)
{
    char trash[NAME_MAX + 1];
    int rc = check_id(id, err);
    if (rc != STREAM_STORE_OK)
        return rc;
    /* Rename first so a crash leaves a temporary (removed by reconcile), not
     * a half-deleted stream that a record still points to. */
    snprintf(trash, sizeof trash, TRASH_PREFIX "%s", id);
    if (remove_tree(s, trash, NULL) != 0)
        return fail(err, STREAM_STORE_IO, "cannot clear an old deletion of stream %s: %s", id,
                    strerror(errno));
    int moved = renameat(s->streams_fd, id, s->streams_fd, trash) == 0;
    if (!moved && errno != ENOENT)
        return fail(err, STREAM_STORE_IO, "cannot delete stream %s: %s", id, strerror(errno));
    if (moved && fsync(s->streams_fd) != 0)
        return fail(err, STREAM_STORE_IO, "cannot delete stream %s durably: %s", id, strerror(errno));
    int db_rc = scv_db_stream_delete(s->db, id);
    if (db_rc < 0)
        return fail(err, STREAM_STORE_IO, "cannot delete the record of stream %s from scv.db", id);
    if (!moved && db_rc == SCV_DB_NOT_FOUND)
        return fail(err, STREAM_STORE_NOT_FOUND, "unknown stream %s", id);
    buffer_forget(s, id);
    if (remove_tree(s, trash, NULL) != 0) {
        log_warn("stream store: cannot remove deleted stream %s yet (%s); the next start will", id,
                 strerror(errno));
        atomic_store(&s->needs_walk, 1);
    }
    return STREAM_STORE_OK;
}

int stream_store_delete(stream_store *s, const char *id, char *err)
{
    return note_failure(s, stream_delete(s, id, err));
}

/* ---- state and error log ---- */

int stream_store_set_state(stream_store *s, const char *id, scv_stream_status status, int error_count,
                           char *err)
{
    int rc = check_id(id, err);
    if (rc != STREAM_STORE_OK)
        return rc;
    if (error_count < 0)
        return fail(err, STREAM_STORE_INVALID, "error count must not be negative");
    int db_rc = scv_db_stream_set_state(s->db, id, status, error_count);
    if (db_rc == SCV_DB_NOT_FOUND)
        return fail(err, STREAM_STORE_NOT_FOUND, "unknown stream %s", id);
    if (db_rc != 0)
        return fail(err, STREAM_STORE_IO, "cannot update the state of stream %s in scv.db", id);
    return STREAM_STORE_OK;
}

int stream_store_log_error(stream_store *s, const char *id, const char *text, size_t len, double now,
                           char *err)
{
    if (len > STREAM_STORE_ERROR_TEXT_MAX)
        return fail(err, STREAM_STORE_INVALID, "error text is %zu bytes; the limit is %d", len,
                    STREAM_STORE_ERROR_TEXT_MAX);
    int fd = open_stream(s, id, err);
    if (fd < 0)
        return fd;
    int rc = STREAM_STORE_IO;
    char stamp[64];
    struct tm tm;
    time_t secs = (time_t)now;
    gmtime_r(&secs, &tm);
    int n = (int)strftime(stamp, sizeof stamp, "[%Y-%m-%dT%H:%M:%SZ] ", &tm);
    char *line = malloc((size_t)n + len + 1);
    if (!line) {
        rc = fail(err, STREAM_STORE_IO, "out of memory");
        goto out;
    }
    memcpy(line, stamp, (size_t)n);
    if (len > 0)
        memcpy(line + n, text, len);
    line[(size_t)n + len] = '\n';
    /* One write call per line keeps concurrent appends from interleaving. */
    if (stream_dir_write(fd, ERROR_LOG, line, (size_t)n + len + 1, STREAM_DIR_APPEND | STREAM_DIR_FSYNC) !=
        0) {
        rc = fail(err, STREAM_STORE_IO, "cannot append to the error log of stream %s: %s", id,
                  strerror(errno));
        goto out;
    }
    rc = STREAM_STORE_OK;
out:
    free(line);
    close(fd);
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
};

int stream_store_frame_begin(stream_store *s, const char *id, stream_store_frame **out, char *err)
{
    *out = NULL;
    int fd = open_stream(s, id, err);
    if (fd < 0)
        return fd;
    stream_store_frame *f = calloc(1, sizeof *f);
    if (f == NULL) {
        close(fd);
        return fail(err, STREAM_STORE_IO, "out of memory buffering a frame of stream %s", id);
    }
    f->s = s;
    snprintf(f->id, sizeof f->id, "%s", id);
    f->stream_fd = fd;
    f->buf_fd = -1;
    f->fd = -1;
    *out = f;
    return STREAM_STORE_OK;
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
    const int flags = O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC;
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

static int frame_file(stream_store_frame *f, const char *name, char *err)
{
    if (!name || !stream_path_name_ok(name, strlen(name)) || strcmp(name, CHECKPOINT_DIR) == 0)
        return fail(err, STREAM_STORE_INVALID,
                    "bad frame file name '%.64s': must be 1..255 bytes, without '/', not starting with '.' "
                    "and not " CHECKPOINT_DIR,
                    name ? name : "");
    close_fd(f->fd);
    f->fd = -1;
    if (f->buf_fd < 0 && buffer_note(f->s, f->id) != 0)
        return fail(err, STREAM_STORE_IO, "out of memory buffering a frame of stream %s", f->id);
    if (f->buf_fd < 0)
        f->buf_fd = stream_dir_open_or_make(f->stream_fd, BUFFER_DIR);
    if (f->buf_fd < 0 || frame_open(f, name) != 0)
        return fail(err, errno_rc(errno) == STREAM_STORE_INVALID ? STREAM_STORE_INVALID : STREAM_STORE_IO,
                    "cannot append to frame file %s of stream %s: %s", name, f->id, strerror(errno));
    return STREAM_STORE_OK;
}

int stream_store_frame_file(stream_store_frame *f, const char *name, char *err)
{
    return note_failure(f->s, frame_file(f, name, err));
}

int stream_store_frame_write(stream_store_frame *f, const void *data, size_t len, char *err)
{
    if (f->fd < 0)
        return fail(err, STREAM_STORE_INVALID, "no frame file is open");
    if (fs_write_all(f->fd, data, len) != 0)
        return note_failure(f->s,
                            fail(err, STREAM_STORE_IO, "cannot append to frame file %s of stream %s: %s",
                                 f->touched[f->ntouched - 1].name, f->id, strerror(errno)));
    return STREAM_STORE_OK;
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
        close_fd(fd);
        if (rc != 0)
            return -1;
    }
    return 0;
}

int stream_store_frame_end(stream_store_frame *f, int keep, char *err)
{
    int rc = STREAM_STORE_OK;
    close_fd(f->fd);
    if (!keep && frame_rollback(f) != 0)
        rc = note_failure(f->s, fail(err, STREAM_STORE_IO,
                                     "cannot take a refused frame out of the buffer of stream %s: %s", f->id,
                                     strerror(errno)));
    close_fd(f->buf_fd);
    close(f->stream_fd);
    free(f->touched);
    free(f);
    return rc;
}

static int buffer_discard(stream_store *s, const char *id, char *err)
{
    int fd = open_stream(s, id, err);
    if (fd < 0)
        return fd;
    close(fd);
    if (remove_tree(s, id, BUFFER_DIR) != 0)
        return fail(err, STREAM_STORE_IO, "cannot discard the buffer of stream %s: %s", id, strerror(errno));
    buffer_forget(s, id);
    return STREAM_STORE_OK;
}

int stream_store_discard_buffer(stream_store *s, const char *id, char *err)
{
    return note_failure(s, buffer_discard(s, id, err));
}

/* Highest partition of an open stream folder (0 when none); -1 on failure. */
static int64_t latest_partition(int fd)
{
    int64_t *parts = NULL;
    size_t n = 0;
    if (stream_dir_partitions(fd, &parts, &n) != 0)
        return -1;
    int64_t latest = n ? parts[n - 1] : 0;
    free(parts);
    return latest;
}

/* Steps 1-2 of a commit: checkpoint files into the buffer, then every file
 * and both folders fsynced. Returns -1 with errno on failure. */
static int prepare_buffer(stream_store *s, const char *id, int fd, const json_t *checkpoint_files)
{
    int rc = -1;
    int ck = -1;
    /* A failed earlier attempt may have left checkpoint files of other names. */
    char sub[NAME_MAX + 1];
    snprintf(sub, sizeof sub, "%s/%s", BUFFER_DIR, CHECKPOINT_DIR);
    int buf = stream_dir_open_or_make(fd, BUFFER_DIR);
    if (buf < 0 || remove_tree(s, id, sub) != 0)
        goto out;
    if (write_file_map(buf, CHECKPOINT_DIR, checkpoint_files) != 0)
        goto out;
    ck = stream_dir_open(buf, CHECKPOINT_DIR);
    if (ck < 0 || stream_dir_fsync_all(ck) != 0 || stream_dir_fsync_all(buf) != 0)
        goto out;
    rc = 0;
out:;
    int saved = errno;
    close_fd(ck);
    close_fd(buf);
    errno = saved;
    return rc;
}

/* The credit's fragment id and its JSON text (*text to free), or -1 after
 * failing with a reason in err. A NULL credit gives NULL and NULL. */
static int credit_text(const json_t *credit, const char **fid, char **text, char *err);

static int buffer_commit(stream_store *s, const char *id, const json_t *checkpoint_files, int64_t k,
                         const json_t *credit, int64_t *new_frames, char *err)
{
    if (k < 1)
        return fail(err, STREAM_STORE_INVALID, "a commit needs at least one buffered frame, not %lld",
                    (long long)k);
    const char *fid = NULL;
    char *text = NULL;
    int rc = check_file_map(checkpoint_files, "checkpoint file", 0, err);
    if (rc != STREAM_STORE_OK || (rc = credit_text(credit, &fid, &text, err)) != STREAM_STORE_OK)
        return rc;
    int fd = open_stream(s, id, err);
    if (fd < 0) {
        free(text);
        return fd;
    }
    /* The folders, not the record, decide the old count: they are the truth. */
    int64_t old = latest_partition(fd);
    if (old < 0) {
        rc = fail(err, STREAM_STORE_IO, "cannot list the partitions of stream %s: %s", id, strerror(errno));
        goto out;
    }
    if (k > 999999999999999999LL - old) {
        rc = fail(err, STREAM_STORE_INVALID, "frame count %lld + %lld is too large", (long long)old,
                  (long long)k);
        goto out;
    }
    if (buffer_note(s, id) != 0 || prepare_buffer(s, id, fd, checkpoint_files) != 0) {
        rc = fail(err, STREAM_STORE_IO, "cannot write the checkpoint of stream %s: %s", id, strerror(errno));
        goto out;
    }
    char name[32];
    snprintf(name, sizeof name, "%lld", (long long)(old + k));
    /* The credit is on disk before the partition can be. */
    if (fid != NULL && scv_db_commit_intent(s->db, id, old + k, fid, text) != 0) {
        rc = fail(err, STREAM_STORE_IO, "cannot record the credit of partition %s of stream %s in scv.db",
                  name, id);
        goto out;
    }
    if (renameat(fd, BUFFER_DIR, fd, name) != 0) {
        rc = fail(err, STREAM_STORE_IO, "cannot commit partition %s of stream %s: %s", name, id,
                  strerror(errno));
        goto out;
    }
    buffer_forget(s, id);
    if (fsync(fd) != 0) {
        rc = fail(err, STREAM_STORE_IO, "cannot commit partition %s of stream %s durably: %s", name, id,
                  strerror(errno));
        goto out;
    }
    if (atomic_fetch_add(&s->commits, 1) + 1 == s->crash_after_rename)
        raise(SIGKILL);
    /* The partition is committed; a stale record is repaired by reconcile,
     * which the next start must then run, and the intent still there gives
     * the credit then. */
    if (scv_db_commit_done(s->db, id, old + k, fid, text) != 0) {
        log_error("stream store: stream %s committed %s frames but scv.db was not updated", id, name);
        atomic_store(&s->needs_walk, 1);
    }
    *new_frames = old + k;
    rc = STREAM_STORE_OK;
out:
    free(text);
    close(fd);
    return rc;
}

int stream_store_commit(stream_store *s, const char *id, const json_t *checkpoint_files, int64_t k,
                        const json_t *credit, int64_t *new_frames, char *err)
{
    return note_failure(s, buffer_commit(s, id, checkpoint_files, k, credit, new_frames, err));
}

/* ---- reading ---- */

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

int stream_store_sync(stream_store *s, const char *id, json_t **out, char *err)
{
    *out = NULL;
    int fd = open_stream(s, id, err);
    if (fd < 0)
        return fd;
    int rc = STREAM_STORE_OK;
    json_t *obj = json_object();
    if (!obj || sync_listing(fd, id, obj) != 0) {
        rc = fail(err, STREAM_STORE_IO, "cannot list the files of stream %s: %s", id, strerror(errno));
        json_decref(obj);
    } else {
        *out = obj;
    }
    close(fd);
    return rc;
}

/* Adds the files of sub (below fd) to map, skipping names already present.
 * *budget is the byte allowance left. */
static int add_files(int fd, const char *sub, json_t *map, size_t *budget, const char *id, char *err)
{
    char **names = NULL;
    size_t n = 0;
    int rc = STREAM_STORE_IO;
    int dir = stream_dir_open(fd, sub);
    if (dir < 0 && errno == ENOENT)
        return STREAM_STORE_OK;
    if (dir < 0 || stream_dir_names(dir, NULL, &names, &n) != 0) {
        rc = fail(err, STREAM_STORE_IO, "cannot list %s of stream %s: %s", sub, id, strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (!listable(id, sub, names[i], NULL) || json_object_get(map, names[i]))
            continue;
        size_t len = 0;
        char *data = stream_dir_read(dir, names[i], *budget, &len);
        if (!data) {
            rc = fail(err, STREAM_STORE_IO,
                      errno == ERANGE ? "the start files of stream %s exceed %zu bytes (at %s)"
                                      : "cannot read the start files of stream %s (%zu bytes "
                                        "allowed; at %s)",
                      id, *budget, names[i]);
            goto out;
        }
        json_t *str = json_stringn(data, len);
        free(data);
        if (!str) {
            rc = fail(err, STREAM_STORE_IO, "start file %s/%s of stream %s is not UTF-8 text", sub, names[i],
                      id);
            goto out;
        }
        json_object_set_new(map, names[i], str);
        *budget -= len;
    }
    rc = STREAM_STORE_OK;
out:
    stream_dir_names_free(names, n);
    close_fd(dir);
    return rc;
}

int stream_store_start_files(stream_store *s, const char *id, size_t max_total, json_t **out, char *err)
{
    *out = NULL;
    int fd = open_stream(s, id, err);
    if (fd < 0)
        return fd;
    int rc = STREAM_STORE_IO;
    json_t *map = json_object();
    int64_t latest = latest_partition(fd);
    if (!map || latest < 0) {
        rc = fail(err, STREAM_STORE_IO, "cannot list the partitions of stream %s: %s", id, strerror(errno));
        goto out;
    }
    size_t budget = max_total;
    if (latest > 0) {
        char ck[64];
        snprintf(ck, sizeof ck, "%lld/%s", (long long)latest, CHECKPOINT_DIR);
        if ((rc = add_files(fd, ck, map, &budget, id, err)) != STREAM_STORE_OK)
            goto out;
    }
    /* Seeds fill in what the checkpoint lacks; its own files take precedence. */
    if ((rc = add_files(fd, SEED_DIR, map, &budget, id, err)) != STREAM_STORE_OK)
        goto out;
    *out = map;
    map = NULL;
out:
    json_decref(map);
    close(fd);
    return rc;
}

static int path_error(char *err, const char *id, const char *path, size_t len, int e)
{
    int shown = len > 128 ? 128 : (int)len;
    switch (e) {
    case EINVAL:
        return fail(
            err, STREAM_STORE_INVALID,
            "path '%.*s' is refused: use names joined by '/', none empty, starting with '.' or with NUL",
            shown, path);
    case ELOOP:
    case ENOTDIR:
        return fail(err, STREAM_STORE_INVALID, "path '%.*s' crosses a symlink or a non-folder", shown, path);
    case EISDIR:
        return fail(err, STREAM_STORE_INVALID, "path '%.*s' is a folder, not a file", shown, path);
    case ENOENT:
        return fail(err, STREAM_STORE_NOT_FOUND, "no file '%.*s' in stream %s", shown, path, id);
    default:
        return fail(err, STREAM_STORE_IO, "cannot open '%.*s' in stream %s: %s", shown, path, id,
                    strerror(e));
    }
}

int stream_store_open_file(stream_store *s, const char *id, const char *path, size_t path_len, int *fd,
                           off_t *size, char *err)
{
    if (!stream_path_ok(path, path_len))
        return path_error(err, id, path, path_len, EINVAL);
    int sfd = open_stream(s, id, err);
    if (sfd < 0)
        return sfd;
    int rc = STREAM_STORE_OK;
    if (stream_path_open_file(sfd, path, path_len, fd, size) != 0)
        rc = path_error(err, id, path, path_len, errno);
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
    return slash != NULL && is_dir_at(sfd, first);
}

static int file_upload(stream_store *s, const char *id, const char *path, size_t path_len, const void *data,
                       size_t len, char *err)
{
    char tmp[NAME_MAX + 1], rnd[17], last[STREAM_PATH_NAME_MAX + 1];
    if (!stream_path_ok(path, path_len))
        return path_error(err, id, path, path_len, EINVAL);
    int sfd = open_stream(s, id, err);
    if (sfd < 0)
        return sfd;
    int rc = STREAM_STORE_IO, dir = -1, written = 0;
    if (!upload_allowed(sfd, path, path_len)) {
        rc = fail(err, STREAM_STORE_INVALID,
                  "path '%.*s' is refused: uploads may not create " BUFFER_DIR " or a partition folder",
                  path_len > 128 ? 128 : (int)path_len, path);
        goto out;
    }
    if (crypto_random_hex(rnd, 8) != 0) {
        rc = fail(err, STREAM_STORE_IO, "no randomness for a temporary name");
        goto out;
    }
    snprintf(tmp, sizeof tmp, UPLOAD_PREFIX "%s", rnd);
    dir = stream_path_open_parent(sfd, path, path_len, 1, last, NULL);
    if (dir < 0) {
        rc = path_error(err, id, path, path_len, errno);
        goto out;
    }
    /* The temporary sits at the stream's top, where reconcile sweeps, and
     * renames into place in one step: readers see the old or the new file. */
    written = 1;
    if (stream_dir_write(sfd, tmp, data, len, STREAM_DIR_FSYNC) != 0) {
        rc = fail(err, STREAM_STORE_IO, "cannot write an upload to stream %s: %s", id, strerror(errno));
        goto out;
    }
    if (renameat(sfd, tmp, dir, last) != 0) {
        rc = path_error(err, id, path, path_len, errno);
        goto out;
    }
    written = 0;
    if (fsync(dir) != 0) {
        rc =
            fail(err, STREAM_STORE_IO, "cannot make an upload to stream %s durable: %s", id, strerror(errno));
        goto out;
    }
    rc = STREAM_STORE_OK;
out:
    if (written)
        unlinkat(sfd, tmp, 0);
    close_fd(dir);
    close(sfd);
    return rc;
}

int stream_store_upload(stream_store *s, const char *id, const char *path, size_t path_len, const void *data,
                        size_t len, char *err)
{
    return note_failure(s, file_upload(s, id, path, path_len, data, len, err));
}

/* ---- stats outbox ---- */

/* The fragment's id, or NULL after failing with a reason in err. */
static const char *fragment_id(const json_t *fragment, char *err)
{
    const char *fid = json_string_value(json_object_get(fragment, "id"));
    if (!json_is_object(fragment) || !fid || fid[0] == '\0') {
        fail(err, STREAM_STORE_INVALID, "a stats fragment must be an object with a non-empty string id");
        return NULL;
    }
    return fid;
}

int stream_store_outbox_add(stream_store *s, const json_t *fragment, char *err)
{
    const char *fid = fragment_id(fragment, err);
    if (!fid)
        return STREAM_STORE_INVALID;
    char *text = json_dumps(fragment, JSON_COMPACT);
    if (!text)
        return fail(err, STREAM_STORE_IO, "cannot encode stats fragment %s", fid);
    int rc = STREAM_STORE_OK;
    if (scv_db_outbox_add(s->db, fid, text, wall_now()) != 0)
        rc = fail(err, STREAM_STORE_IO, "cannot save stats fragment %s in scv.db", fid);
    free(text);
    return rc;
}

static int credit_text(const json_t *credit, const char **fid, char **text, char *err)
{
    *fid = NULL;
    *text = NULL;
    if (credit == NULL)
        return STREAM_STORE_OK;
    if ((*fid = fragment_id(credit, err)) == NULL)
        return STREAM_STORE_INVALID;
    if ((*text = json_dumps(credit, JSON_COMPACT)) == NULL)
        return fail(err, STREAM_STORE_IO, "cannot encode stats fragment %s", *fid);
    return STREAM_STORE_OK;
}

int stream_store_outbox_list(stream_store *s, size_t max, json_t **out, char *err)
{
    if (scv_db_outbox_list(s->db, max, out) != 0)
        return fail(err, STREAM_STORE_IO, "cannot read the stats outbox from scv.db");
    return STREAM_STORE_OK;
}

int stream_store_outbox_delete(stream_store *s, const char *const *ids, size_t n, char *err)
{
    if (scv_db_outbox_delete(s->db, ids, n) != 0)
        return fail(err, STREAM_STORE_IO, "cannot delete shipped stats fragments from scv.db");
    return STREAM_STORE_OK;
}
