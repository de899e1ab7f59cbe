/* Crash test (issue 4): simulated cores commit checkpoints on several streams
 * through the real CC and SCV while the SCV is killed with SIGKILL at random
 * moments and restarted. After every restart the disk must hold exactly the
 * partitions the cores were told were committed (plus, at most, the one
 * checkpoint whose reply the crash swallowed, and then complete), with the
 * very bytes that were sent, no buffer_files, a frame count equal to the
 * highest partition, and every stream assignable again. At the end the
 * CC must have credited every stream exactly the frames committed on it.
 * One case makes the SCV kill itself right after a commit's rename
 * (SIEGETANK_CRASH_AFTER_RENAME), the instant credit is most at risk.
 *
 * SIEGETANK_CRASH_ROUNDS sets the number of kills (default 20);
 * SIEGETANK_CRASH_SEED replays a run (the seed is printed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "cluster.h"
#include "core/xtc.h"
#include "harness.h"
#include "stats_peek.h"
#include "util/base64.h"
#include "util/fs.h"

#define NSTREAMS 3
#define NCORES 3
#define ENGINE "crash_engine"
#define DEFAULT_ROUNDS 20
#define MAX_CHECKPOINT_BYTES (192 * 1024)
#define DRAIN_TIMEOUT_S 60
#define FILE_MAX (256u << 20) /* a stream file read back whole */

/* One committed (or maybe committed) partition as the cores sent it. */
struct partition {
    int64_t total;         /* the folder name: frames after this commit */
    unsigned char *frames; /* frames.xtc bytes of this partition (XTC frames) */
    size_t frames_len;
    json_t *checkpoint; /* name -> string, stored verbatim */
};

struct ledger {
    char id[256];
    struct partition *parts;
    size_t nparts, cap;
    struct partition pending; /* sent, reply not (yet) received */
    int has_pending;
    size_t verified; /* partitions already compared with the disk */
};

struct crash_test {
    struct cluster c;
    char target_id[128];
    char engine_key[128];
    char streams_dir[PATH_MAX + 200];
    char scv_db[PATH_MAX + 200];
    char cc_db[PATH_MAX + 200];
    struct ledger streams[NSTREAMS];
    pthread_mutex_t lock;
    volatile int stop;
    long commits, lost_replies, lost_committed;
};

struct core_thread {
    struct crash_test *t;
    pthread_t thread;
    uint64_t rng;
};

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static size_t rng_range(uint64_t *s, size_t lo, size_t hi)
{
    return lo + (size_t)(rng_next(s) % (hi - lo + 1));
}

static void partition_free(struct partition *p)
{
    free(p->frames);
    json_decref(p->checkpoint);
    memset(p, 0, sizeof *p);
}

static struct ledger *ledger_find(struct crash_test *t, const char *id)
{
    for (int i = 0; i < NSTREAMS; i++)
        if (strcmp(t->streams[i].id, id) == 0)
            return &t->streams[i];
    return NULL;
}

static int64_t ledger_total(const struct ledger *l)
{
    return l->nparts ? l->parts[l->nparts - 1].total : 0;
}

static void ledger_push(struct ledger *l, struct partition *p)
{
    if (l->nparts == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->parts = realloc(l->parts, l->cap * sizeof *l->parts);
        assert_non_null(l->parts);
    }
    l->parts[l->nparts++] = *p;
    memset(p, 0, sizeof *p);
}

/* ---- the simulated cores ---------------------------------------------- */

/* Checkpoint files of random sizes: one large printable state, one small. */
static json_t *make_checkpoint(uint64_t *rng, int64_t total)
{
    size_t n = rng_range(rng, 64, MAX_CHECKPOINT_BYTES);
    char *state = malloc(n + 1);
    assert_non_null(state);
    for (size_t i = 0; i < n; i++)
        state[i] = (char)('A' + rng_next(rng) % 26);
    state[n] = '\0';
    char meta[64];
    snprintf(meta, sizeof meta, "{\"frames\": %lld}", (long long)total);
    json_t *files = json_pack("{s:s,s:s}", "state.xml.gz.b64", state, "meta.json", meta);
    free(state);
    return files;
}

/* k XTC frames of one random system (1 to 300 atoms, so both of the
 * format's forms), back to back: the SCV counts them against the claim. */
static unsigned char *xtc_frames(uint64_t *rng, long k, size_t *len)
{
    int32_t natoms = (int32_t)rng_range(rng, 1, 300);
    float(*coords)[3] = malloc(sizeof *coords * (size_t)natoms);
    unsigned char *out = NULL;
    assert_non_null(coords);
    *len = 0;
    for (long i = 0; i < k; i++) {
        for (int32_t a = 0; a < natoms; a++)
            for (int d = 0; d < 3; d++)
                coords[a][d] = (float)rng_range(rng, 0, 10000) / 1000.0f;
        xtc_frame f = {.natoms = natoms, .step = (int32_t)i, .time = (float)i, .coords = coords};
        size_t n;
        unsigned char *one = xtc_encode_alloc(&f, &n);
        assert_non_null(one);
        out = realloc(out, *len + n);
        assert_non_null(out);
        memcpy(out + *len, one, n);
        *len += n;
        free(one);
    }
    free(coords);
    return out;
}

/* Sends 1..3 frame requests of 1..3 frames each; appends their bytes to
 * p->frames. Returns the number of frames sent, or -1 on any failure. */
static int64_t send_frames(struct client *cl, uint64_t *rng, const char *origin, const char *token,
                           struct partition *p)
{
    struct client_error err;
    int64_t sent = 0;
    size_t requests = rng_range(rng, 1, 3);
    for (size_t r = 0; r < requests; r++) {
        long k = (long)rng_range(rng, 1, 3);
        size_t n;
        unsigned char *bytes = xtc_frames(rng, k, &n);
        size_t b64_len;
        char *b64 = base64_encode(bytes, n, &b64_len);
        json_t *files = json_pack("{s:s}", "frames.xtc.b64", b64);
        int rc = client_core_frame(cl, origin, token, files, k, &err);
        json_decref(files);
        free(b64);
        if (rc != 0) {
            free(bytes);
            return -1;
        }
        p->frames = realloc(p->frames, p->frames_len + n);
        assert_non_null(p->frames);
        memcpy(p->frames + p->frames_len, bytes, n);
        p->frames_len += n;
        free(bytes);
        sent += k;
    }
    return sent;
}

/* One activation: frames and checkpoints until a failure, the stop flag or
 * a voluntary stop. Returns 0 after a clean stop, -1 otherwise. */
static int run_activation(struct core_thread *ct, struct client *cl, const char *token, const char *url)
{
    struct crash_test *t = ct->t;
    struct client_error err;
    char origin[256];
    assert_int_equal(client_url_origin(url, origin, sizeof origin), 0);
    json_t *start = client_core_start(cl, url, token, &err);
    if (start == NULL)
        return -1;
    struct ledger *l = ledger_find(t, json_string_value(json_object_get(start, "stream_id")));
    json_decref(start);
    assert_non_null(l);
    while (!t->stop) {
        struct partition p = {0};
        int64_t k = send_frames(cl, &ct->rng, origin, token, &p);
        if (k < 0 || client_core_heartbeat(cl, origin, token, &err) != 0) {
            partition_free(&p);
            return -1;
        }
        pthread_mutex_lock(&t->lock);
        p.total = ledger_total(l) + k;
        p.checkpoint = make_checkpoint(&ct->rng, p.total);
        json_t *files = json_incref(p.checkpoint);
        assert_false(l->has_pending);
        l->pending = p;
        l->has_pending = 1;
        pthread_mutex_unlock(&t->lock);
        int rc = client_core_checkpoint(cl, origin, token, files, &err);
        json_decref(files);
        if (rc != 0)
            return -1; /* the pending partition is resolved against the disk */
        pthread_mutex_lock(&t->lock);
        ledger_push(l, &l->pending);
        l->has_pending = 0;
        t->commits++;
        pthread_mutex_unlock(&t->lock);
        if (rng_range(&ct->rng, 0, 4) == 0)
            break;
    }
    return client_core_stop(cl, origin, token, NULL, &err) == 0 ? 0 : -1;
}

static void *core_main(void *arg)
{
    struct core_thread *ct = arg;
    struct crash_test *t = ct->t;
    struct client_error err;
    struct client_options opts = {.timeout_s = 60};
    struct client *cl = client_new(t->c.cc.url, &opts, &err);
    assert_non_null(cl);
    client_set_token(cl, t->engine_key);
    while (!t->stop) {
        json_t *a = client_core_assign(cl, NULL, t->target_id, &err);
        if (a == NULL) {
            usleep(20 * 1000); /* every stream is held, or the SCV is down */
            continue;
        }
        int rc = run_activation(ct, cl, json_string_value(json_object_get(a, "token")),
                                json_string_value(json_object_get(a, "url")));
        json_decref(a);
        if (rc != 0) {
            /* Only a crash makes requests fail here: wait for the next round. */
            while (!t->stop)
                usleep(10 * 1000);
        }
    }
    client_free(cl);
    return NULL;
}

/* ---- checks after a restart ------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Partition folders of a stream, ascending; fails on anything the stream
 * folder must not hold after a restart (a buffer, a temporary). */
static size_t disk_partitions(const char *dir, int64_t *out, size_t max)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        if (strcmp(name, "buffer_files") == 0 || name[0] == '.')
            fail_msg("%s/%s survived a restart", dir, name);
        if (name[0] < '1' || name[0] > '9')
            continue;
        assert_true(n < max);
        out[n++] = strtoll(name, NULL, 10);
    }
    closedir(d);
    qsort(out, n, sizeof *out, cmp_i64);
    return n;
}

/* The names in a folder, sorted, as one comma-joined string. */
static void folder_listing(const char *dir, char *out, size_t outlen)
{
    struct dirent **list;
    int n = scandir(dir, &list, NULL, alphasort);
    assert_true(n >= 0);
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (list[i]->d_name[0] != '.') {
            strncat(out, list[i]->d_name, outlen - strlen(out) - 2);
            strcat(out, ",");
        }
        free(list[i]);
    }
    free(list);
}

static void check_partition(const char *stream_dir, const struct partition *p)
{
    char dir[PATH_MAX + 600], path[PATH_MAX + 900], listing[1024], expect[1024] = "";
    size_t len;
    snprintf(dir, sizeof dir, "%s/%lld", stream_dir, (long long)p->total);
    folder_listing(dir, listing, sizeof listing);
    assert_string_equal(listing, "checkpoint_files,frames.xtc,");
    snprintf(path, sizeof path, "%s/frames.xtc", dir);
    char *data = fs_read_file(path, FILE_MAX, &len);
    assert_non_null(data);
    assert_int_equal(len, p->frames_len);
    assert_memory_equal(data, p->frames, len);
    free(data);

    snprintf(dir, sizeof dir, "%s/%lld/checkpoint_files", stream_dir, (long long)p->total);
    folder_listing(dir, listing, sizeof listing);
    const char *name;
    json_t *v;
    /* jansson keeps insertion order; the listing is sorted. */
    const char *sorted[2] = {"meta.json", "state.xml.gz.b64"};
    for (int i = 0; i < 2; i++) {
        strcat(expect, sorted[i]);
        strcat(expect, ",");
    }
    assert_string_equal(listing, expect);
    json_object_foreach(p->checkpoint, name, v)
    {
        snprintf(path, sizeof path, "%s/%s", dir, name);
        data = fs_read_file(path, FILE_MAX, &len);
        assert_non_null(data);
        assert_int_equal(len, json_string_length(v));
        assert_memory_equal(data, json_string_value(v), len);
        free(data);
    }
}

static void check_stream(struct crash_test *t, struct client *admin, struct ledger *l)
{
    char dir[PATH_MAX + 512];
    struct client_error err;
    size_t max = l->nparts + 2;
    int64_t *disk = malloc(max * sizeof *disk);
    assert_non_null(disk);
    snprintf(dir, sizeof dir, "%s/%s", t->streams_dir, l->id);
    size_t n = disk_partitions(dir, disk, max);
    int64_t highest = n ? disk[n - 1] : 0;
    if (l->has_pending) {
        /* The crash swallowed the reply: committed or not, but never half. */
        if (highest == l->pending.total) {
            ledger_push(l, &l->pending);
            t->commits++;
            t->lost_committed++;
        } else {
            partition_free(&l->pending);
        }
        l->has_pending = 0;
        t->lost_replies++;
    }
    assert_int_equal(n, l->nparts);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(disk[i], l->parts[i].total);
    free(disk);
    for (; l->verified < l->nparts; l->verified++)
        check_partition(dir, &l->parts[l->verified]);

    json_t *info = client_stream_info(admin, l->id, &err);
    assert_non_null(info);
    assert_int_equal(json_integer_value(json_object_get(info, "frames")), highest);
    assert_string_equal(json_string_value(json_object_get(info, "status")), "OK");
    assert_true(json_is_false(json_object_get(info, "active")));
    json_decref(info);
}

/* Every stream must be handed out once by the CC, and then no more. */
static void check_assignable(struct crash_test *t)
{
    struct client_error err;
    struct client *cl = client_new(t->c.cc.url, NULL, &err);
    assert_non_null(cl);
    client_set_token(cl, t->engine_key);
    json_t *seen = json_object();
    json_t *tokens[NSTREAMS];
    for (int i = 0; i < NSTREAMS; i++) {
        tokens[i] = client_core_assign(cl, NULL, t->target_id, &err);
        if (tokens[i] == NULL)
            fail_msg("stream %d of %d not assignable after a restart: %s", i + 1, NSTREAMS, err.message);
        json_t *start = client_core_start(cl, json_string_value(json_object_get(tokens[i], "url")),
                                          json_string_value(json_object_get(tokens[i], "token")), &err);
        assert_non_null(start);
        json_object_set(seen, json_string_value(json_object_get(start, "stream_id")), json_true());
        json_decref(start);
    }
    assert_int_equal(json_object_size(seen), NSTREAMS);
    assert_null(client_core_assign(cl, NULL, t->target_id, &err));
    assert_int_equal(err.status, 400);
    for (int i = 0; i < NSTREAMS; i++) {
        char origin[256];
        const char *url = json_string_value(json_object_get(tokens[i], "url"));
        assert_int_equal(client_url_origin(url, origin, sizeof origin), 0);
        assert_int_equal(
            client_core_stop(cl, origin, json_string_value(json_object_get(tokens[i], "token")), NULL, &err),
            0);
        json_decref(tokens[i]);
    }
    json_decref(seen);
    client_free(cl);
}

/* The whole trajectory through sync and download equals the ledger's. */
static void check_downloads(struct crash_test *t, struct client *admin, struct ledger *l)
{
    struct client_error err;
    json_t *sync = client_stream_sync(admin, l->id, &err);
    assert_non_null(sync);
    json_t *parts = json_object_get(sync, "partitions");
    assert_int_equal(json_array_size(parts), l->nparts);
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/trajectory", t->c.root);
    FILE *out = fopen(path, "w+");
    assert_non_null(out);
    size_t expect_len = 0;
    for (size_t i = 0; i < l->nparts; i++) {
        char remote[64];
        assert_int_equal(json_integer_value(json_array_get(parts, i)), l->parts[i].total);
        snprintf(remote, sizeof remote, "%lld/frames.xtc", (long long)l->parts[i].total);
        assert_int_equal(client_stream_download(admin, l->id, remote, out, &err), 0);
        expect_len += l->parts[i].frames_len;
    }
    fclose(out);
    size_t len;
    char *data = fs_read_file(path, FILE_MAX, &len);
    assert_non_null(data);
    assert_int_equal(len, expect_len);
    size_t off = 0;
    for (size_t i = 0; i < l->nparts; i++) {
        assert_memory_equal(data + off, l->parts[i].frames, l->parts[i].frames_len);
        off += l->parts[i].frames_len;
    }
    free(data);
    json_decref(sync);
}

/* ---- setup and the loop ----------------------------------------------- */

/* Clears t and starts its cluster: a CC, the SCV s1 and the admin client. */
static void setup_cluster(struct crash_test *t, struct client **admin)
{
    struct client_error err;
    memset(t, 0, sizeof *t);
    pthread_mutex_init(&t->lock, NULL);
    cluster_init(&t->c, 0);
    assert_int_equal(cluster_start_cc(&t->c, NULL), 0);
    int i = cluster_add_scv(&t->c, "s1", NULL);
    assert_true(i >= 0);
    snprintf(t->streams_dir, sizeof t->streams_dir, "%s/s1_data/streams", t->c.scv[i].dir);
    snprintf(t->scv_db, sizeof t->scv_db, "%s/s1_data/scv.db", t->c.scv[i].dir);
    snprintf(t->cc_db, sizeof t->cc_db, "%s/cc_data/cc.db", t->c.cc.dir);
    assert_int_equal(cluster_engine_key(&t->c, ENGINE, t->engine_key, sizeof t->engine_key), 0);
    *admin = client_new(t->c.cc.url, NULL, &err);
    assert_non_null(*admin);
    client_set_token(*admin, t->c.admin_token);
    json_t *spec = json_pack("{s:[s], s:s}", "engines", ENGINE, "stage", "private");
    json_t *target = client_target_create(*admin, spec, &err);
    assert_non_null(target);
    snprintf(t->target_id, sizeof t->target_id, "%s",
             json_string_value(json_object_get(target, "target_id")));
    json_decref(target);
    json_decref(spec);
    for (int s = 0; s < NSTREAMS; s++) {
        json_t *files =
            json_pack("{s:s,s:s}", "system.xml.gz.b64", "c3lzdGVt", "state.xml.gz.b64", "c3RhdGU=");
        json_t *r = client_stream_add(*admin, "s1", t->target_id, files, NULL, &err);
        assert_non_null(r);
        snprintf(t->streams[s].id, sizeof t->streams[s].id, "%s",
                 json_string_value(json_object_get(r, "stream_id")));
        json_decref(r);
        json_decref(files);
    }
}

static long env_long(const char *name, long fallback)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? strtol(v, NULL, 10) : fallback;
}

/* Every committed frame credited once: once the SCV has shipped its outbox
 * (after a restart, every activation's credit is there), the CC's stats
 * for each stream add up to the stream's committed frames. */
static void check_credit(struct crash_test *t)
{
    stats_peek_wait_drained(t->scv_db, DRAIN_TIMEOUT_S);
    for (int s = 0; s < NSTREAMS; s++) {
        long credited = stats_peek_credited(t->cc_db, t->streams[s].id);
        if (credited != ledger_total(&t->streams[s]))
            fail_msg("stream %s: %ld frames committed, %ld credited by the CC", t->streams[s].id,
                     (long)ledger_total(&t->streams[s]), credited);
    }
}

/* Runs the cores for a random while, then stops the SCV with sig; sig 0:
 * until the SCV kills itself (SIEGETANK_CRASH_AFTER_RENAME). */
static void stop_while_busy(struct crash_test *t, uint64_t *rng, int sig)
{
    struct core_thread cores[NCORES];
    t->stop = 0;
    for (int i = 0; i < NCORES; i++) {
        cores[i] = (struct core_thread){.t = t, .rng = rng_next(rng) | 1};
        assert_int_equal(pthread_create(&cores[i].thread, NULL, core_main, &cores[i]), 0);
    }
    if (sig == 0) {
        assert_int_equal(harness_wait_exit(t->c.scv[0].pid, 60), 128 + SIGKILL);
        t->c.scv[0].pid = 0;
    } else {
        usleep((useconds_t)rng_range(rng, 50, 1500) * 1000);
        assert_int_equal(cluster_stop(&t->c.scv[0], sig), sig == SIGKILL ? 128 + SIGKILL : 0);
    }
    t->stop = 1;
    for (int i = 0; i < NCORES; i++)
        pthread_join(cores[i].thread, NULL);
}

/* The random source of a test's rounds: from SIEGETANK_CRASH_SEED, or the
 * clock, printed so that a failing run can be replayed. */
static uint64_t crash_rng(const char *test, long rounds)
{
    uint64_t seed = (uint64_t)env_long("SIEGETANK_CRASH_SEED", (long)time(NULL) ^ getpid());
    print_message("%s test: %ld rounds, SIEGETANK_CRASH_SEED=%llu\n", test, rounds, (unsigned long long)seed);
    return seed | 1;
}

/* What every test ends with: each stream downloads as its ledger says, the
 * credit matches the commits, and the cluster and t are released. */
static void finish(struct crash_test *t, struct client *admin)
{
    for (int s = 0; s < NSTREAMS; s++)
        check_downloads(t, admin, &t->streams[s]);
    check_credit(t);
    for (int s = 0; s < NSTREAMS; s++) {
        for (size_t i = 0; i < t->streams[s].nparts; i++)
            partition_free(&t->streams[s].parts[i]);
        free(t->streams[s].parts);
    }
    client_free(admin);
    cluster_stop_all(&t->c);
    pthread_mutex_destroy(&t->lock);
}

static void test_kill_during_checkpoints(void **state)
{
    (void)state;
    static struct crash_test t;
    struct client *admin;
    setup_cluster(&t, &admin);
    long rounds = env_long("SIEGETANK_CRASH_ROUNDS", DEFAULT_ROUNDS);
    uint64_t rng = crash_rng("crash", rounds);
    struct daemon_proc *scv = &t.c.scv[0];

    for (long round = 1; round <= rounds; round++) {
        stop_while_busy(&t, &rng, SIGKILL);
        assert_int_equal(cluster_start(&t.c, scv), 0);
        for (int s = 0; s < NSTREAMS; s++)
            check_stream(&t, admin, &t.streams[s]);
        check_assignable(&t);
    }
    int64_t frames = 0;
    for (int s = 0; s < NSTREAMS; s++)
        frames += ledger_total(&t.streams[s]);
    print_message("crash test: %ld kills, %ld checkpoints committed, %ld replies lost in a crash "
                  "(%ld of those committed), %lld frames\n",
                  rounds, t.commits, t.lost_replies, t.lost_committed, (long long)frames);
    assert_true(t.commits > 0);
    finish(&t, admin);
}

/* Graceful stops (SIGTERM) and kills alternate while the cores work. A
 * graceful stop must leave the clean-stop marker and a store the ledger
 * checks accept without the start-up walk (no buffer, exact partitions and
 * counts); a kill must never leave the marker, and the walk after it must
 * repair a planted incomplete partition. */
static void test_stop_or_kill_during_checkpoints(void **state)
{
    (void)state;
    static struct crash_test t;
    struct client *admin;
    char marker[PATH_MAX + 300], stray[PATH_MAX + 600];
    setup_cluster(&t, &admin);
    snprintf(marker, sizeof marker, "%s/../clean-stop", t.streams_dir);
    snprintf(stray, sizeof stray, "%s/%s/999999999", t.streams_dir, t.streams[0].id);
    long rounds = env_long("SIEGETANK_CRASH_ROUNDS", DEFAULT_ROUNDS) / 2 + 1;
    uint64_t rng = crash_rng("stop-or-kill", rounds);
    for (long round = 1; round <= rounds; round++) {
        int sig = round % 2 ? SIGTERM : SIGKILL;
        stop_while_busy(&t, &rng, sig);
        if (sig == SIGTERM) {
            assert_int_equal(access(marker, F_OK), 0);
        } else {
            assert_int_equal(access(marker, F_OK), -1);
            assert_int_equal(mkdir(stray, 0755), 0);
        }
        assert_int_equal(cluster_start(&t.c, &t.c.scv[0]), 0);
        assert_int_equal(access(marker, F_OK), -1);
        assert_int_equal(access(stray, F_OK), -1);
        for (int s = 0; s < NSTREAMS; s++)
            check_stream(&t, admin, &t.streams[s]);
        check_assignable(&t);
    }
    print_message("stop-or-kill test: %ld checkpoints committed, %ld replies lost in a stop\n", t.commits,
                  t.lost_replies);
    assert_true(t.commits > 0);
    finish(&t, admin);
}

/* The SCV dies the instant a commit's partition is renamed, before it has
 * recorded anything else: the partition is committed, and so must be its
 * credit. Each round restarts the SCV to die at a random commit. */
static void test_kill_right_after_rename(void **state)
{
    (void)state;
    static struct crash_test t;
    struct client *admin;
    char nth[16];
    setup_cluster(&t, &admin);
    long rounds = 4;
    uint64_t rng = crash_rng("kill-after-rename", rounds);
    struct daemon_proc *scv = &t.c.scv[0];
    for (long round = 1; round <= rounds; round++) {
        assert_int_equal(cluster_stop(scv, SIGTERM), 0);
        snprintf(nth, sizeof nth, "%zu", rng_range(&rng, 1, 6));
        setenv("SIEGETANK_CRASH_AFTER_RENAME", nth, 1);
        assert_int_equal(cluster_start(&t.c, scv), 0);
        unsetenv("SIEGETANK_CRASH_AFTER_RENAME");
        stop_while_busy(&t, &rng, 0);
        assert_int_equal(cluster_start(&t.c, scv), 0);
        for (int s = 0; s < NSTREAMS; s++)
            check_stream(&t, admin, &t.streams[s]);
        check_assignable(&t);
    }
    /* Each round's last commit was renamed, then its reply lost. */
    assert_int_equal(t.lost_committed, rounds);
    finish(&t, admin);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_during_checkpoints),
        cmocka_unit_test(test_stop_or_kill_during_checkpoints),
        cmocka_unit_test(test_kill_right_after_rename),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
