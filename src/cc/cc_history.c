/* cc_history: per-minute rings, one per key, in a tsearch tree. */
#include "cc/cc_history.h"

#include <math.h>
#include <pthread.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "util/fs.h"
#include "util/gz.h"

#define N CC_HISTORY_MINUTES
#define SAVE_VERSION 1
/* A day of a thousand busy targets is some 45 MB of JSON, a tenth of that
 * gzipped. */
#define SAVE_GZ_MAX (64u << 20)
#define SAVE_MAX (512u << 20)

struct series {
    char *key;
    int64_t last;   /* the newest minute the ring holds */
    int64_t worked; /* the newest minute with any work (expiry) */
    int32_t assigned[N];
    int32_t cores[N]; /* -1: no survey that minute */
    int64_t frames[N];
};

struct cc_history {
    pthread_mutex_t lock;
    void *root; /* tsearch tree of struct series, by key */
};

static int64_t minute_of(double t)
{
    return (int64_t)floor(t / 60.0);
}

static size_t slot(int64_t minute)
{
    int64_t s = minute % N;
    return (size_t)(s < 0 ? s + N : s);
}

static int cmp_series(const void *a, const void *b)
{
    return strcmp(((const struct series *)a)->key, ((const struct series *)b)->key);
}

cc_history *cc_history_new(void)
{
    cc_history *h = calloc(1, sizeof *h);
    if (h != NULL)
        pthread_mutex_init(&h->lock, NULL);
    return h;
}

static void series_free(void *p)
{
    struct series *s = p;
    if (s != NULL)
        free(s->key);
    free(s);
}

void cc_history_free(cc_history *h)
{
    if (h == NULL)
        return;
    tdestroy(h->root, series_free);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

/* Calls fn(series, arg) for every series in key order. */
struct walk {
    void (*fn)(struct series *s, void *arg);
    void *arg;
};

static void walk_node(const void *node, VISIT which, void *closure)
{
    const struct walk *w = closure;
    if (which == postorder || which == leaf)
        w->fn(*(struct series *const *)node, w->arg);
}

static void for_each(const cc_history *h, void (*fn)(struct series *s, void *arg), void *arg)
{
    struct walk w = {fn, arg};
    twalk_r(h->root, walk_node, &w);
}

/* Moves the ring forward to minute, emptying the minutes it skips. */
static void advance(struct series *s, int64_t minute)
{
    if (minute <= s->last)
        return;
    int64_t from = minute - s->last > N ? minute - N + 1 : s->last + 1;
    for (int64_t m = from; m <= minute; m++) {
        size_t i = slot(m);
        s->assigned[i] = 0;
        s->frames[i] = 0;
        s->cores[i] = -1;
    }
    s->last = minute;
}

static struct series *lookup(const cc_history *h, const char *key)
{
    struct series probe = {.key = (char *)key};
    struct series **found = tfind(&probe, &h->root, cmp_series);
    return found != NULL ? *found : NULL;
}

/* The series of key moved forward to minute, created when new; NULL when
 * out of memory. */
static struct series *get(cc_history *h, const char *key, int64_t minute)
{
    struct series *s = lookup(h, key);
    if (s != NULL) {
        advance(s, minute);
        return s;
    }
    s = calloc(1, sizeof *s);
    if (s == NULL || (s->key = strdup(key)) == NULL) {
        free(s);
        return NULL;
    }
    for (size_t i = 0; i < N; i++)
        s->cores[i] = -1;
    s->last = s->worked = minute;
    if (tsearch(s, &h->root, cmp_series) == NULL) {
        series_free(s);
        return NULL;
    }
    return s;
}

void cc_history_assigned(cc_history *h, const char *target_id, double now)
{
    int64_t m = minute_of(now);
    pthread_mutex_lock(&h->lock);
    const char *keys[2] = {"", target_id};
    for (size_t k = 0; k < 2; k++) {
        struct series *s = get(h, keys[k], m);
        if (s == NULL)
            continue;
        size_t i = slot(s->last);
        s->assigned[i]++;
        s->worked = s->last;
        /* The CC is clearly up this minute, even before its first survey
         * in it: not a gap. */
        if (k == 0 && s->cores[i] < 0)
            s->cores[i] = 0;
    }
    pthread_mutex_unlock(&h->lock);
}

struct expiry {
    int64_t before; /* series that worked last at or before this minute go */
    struct series **v;
    size_t n, cap;
};

static void note_expired(struct series *s, void *arg)
{
    struct expiry *e = arg;
    if (s->key[0] == '\0' || s->worked > e->before)
        return;
    if (e->n == e->cap) {
        size_t cap = e->cap ? 2 * e->cap : 16;
        struct series **grown = realloc(e->v, cap * sizeof *grown);
        if (grown == NULL)
            return; /* kept until the next sample */
        e->v = grown;
        e->cap = cap;
    }
    e->v[e->n++] = s;
}

/* Drops the series (never the system's) that saw no work in the ring. */
static void expire(cc_history *h, int64_t minute)
{
    struct expiry e = {.before = minute - N};
    for_each(h, note_expired, &e);
    for (size_t i = 0; i < e.n; i++) {
        tdelete(e.v[i], &h->root, cmp_series);
        series_free(e.v[i]);
    }
    free(e.v);
}

static void start_minute(struct series *s, void *arg)
{
    int64_t minute = *(const int64_t *)arg;
    advance(s, minute);
    s->cores[slot(minute)] = 0;
}

void cc_history_sample(cc_history *h, double now, const struct cc_history_point *points, size_t n)
{
    int64_t m = minute_of(now);
    pthread_mutex_lock(&h->lock);
    get(h, "", m);
    /* The minute's last survey decides its cores: whoever it did not list
     * had none. */
    for_each(h, start_minute, &m);
    for (size_t i = 0; i < n; i++) {
        int work = points[i].frames > 0 || points[i].cores > 0;
        struct series *s = work || points[i].key[0] == '\0' ? get(h, points[i].key, m) : NULL;
        if (s == NULL)
            continue;
        s->frames[slot(m)] += points[i].frames;
        s->cores[slot(m)] = (int32_t)points[i].cores;
        if (work)
            s->worked = m;
    }
    expire(h, m);
    pthread_mutex_unlock(&h->lock);
}

/* Whether minute is in s's ring. */
static int holds(const struct series *s, int64_t minute)
{
    return s != NULL && minute <= s->last && minute > s->last - N;
}

int64_t cc_history_frames_last_hour(cc_history *h, const char *key, double now)
{
    int64_t m = minute_of(now), sum = 0;
    pthread_mutex_lock(&h->lock);
    const struct series *s = lookup(h, key);
    for (int64_t k = m - 59; k <= m; k++)
        if (holds(s, k))
            sum += s->frames[slot(k)];
    pthread_mutex_unlock(&h->lock);
    return sum;
}

json_t *cc_history_series(cc_history *h, const char *key, double now)
{
    int64_t m = minute_of(now), first = m - CC_HISTORY_WINDOW + 1;
    json_t *a = json_array(), *f = json_array(), *c = json_array();
    json_t *out = json_pack("{s:I, s:i, s:o, s:o, s:o}", "start", (json_int_t)(first * 60), "step", 60,
                            "assignments", a, "frames", f, "active_cores", c);
    if (out == NULL)
        return NULL;
    pthread_mutex_lock(&h->lock);
    const struct series *all = lookup(h, ""), *s = lookup(h, key);
    for (int64_t k = first; k <= m; k++) {
        if (!holds(all, k) || all->cores[slot(k)] < 0) {
            json_array_append_new(a, json_null());
            json_array_append_new(f, json_null());
            json_array_append_new(c, json_null());
            continue;
        }
        int in = holds(s, k);
        size_t i = slot(k);
        json_array_append_new(a, json_integer(in ? s->assigned[i] : 0));
        json_array_append_new(f, json_integer(in ? s->frames[i] : 0));
        json_array_append_new(c, json_integer(in && s->cores[i] > 0 ? s->cores[i] : 0));
    }
    pthread_mutex_unlock(&h->lock);
    return out;
}

/* [[minute, assigned, frames, cores], ...] of the minutes that hold
 * anything, oldest first. */
static json_t *series_rows(const struct series *s)
{
    json_t *rows = json_array();
    for (int64_t k = s->last - N + 1; k <= s->last; k++) {
        size_t i = slot(k);
        if (s->assigned[i] == 0 && s->frames[i] == 0 && s->cores[i] < 0)
            continue;
        json_array_append_new(rows, json_pack("[I, i, I, i]", (json_int_t)k, s->assigned[i],
                                              (json_int_t)s->frames[i], s->cores[i]));
    }
    return rows;
}

static void save_series(struct series *s, void *all)
{
    json_object_set_new(all, s->key, series_rows(s));
}

int cc_history_save(cc_history *h, const char *path)
{
    json_t *all = json_object();
    pthread_mutex_lock(&h->lock);
    for_each(h, save_series, all);
    pthread_mutex_unlock(&h->lock);
    json_t *doc = json_pack("{s:i, s:o}", "version", SAVE_VERSION, "series", all);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    size_t len = 0;
    unsigned char *gz = text ? gz_compress(text, strlen(text), &len) : NULL;
    int rc = gz != NULL && fs_write_atomic(path, gz, len) == 0 ? 0 : -1;
    free(gz);
    free(text);
    json_decref(doc);
    return rc;
}

static int load_row(cc_history *h, const char *key, const json_t *row)
{
    json_int_t minute, frames;
    int assigned, cores;
    if (json_unpack((json_t *)row, "[I, i, I, i]", &minute, &assigned, &frames, &cores) != 0 ||
        assigned < 0 || frames < 0 || cores < -1)
        return -1;
    struct series *s = get(h, key, minute);
    if (s == NULL)
        return -1;
    if (!holds(s, minute))
        return 0; /* older than the ring: rows came out of order */
    size_t i = slot(minute);
    s->assigned[i] = assigned;
    s->frames[i] = frames;
    s->cores[i] = cores;
    if (assigned > 0 || frames > 0 || cores > 0)
        s->worked = minute > s->worked ? minute : s->worked;
    return 0;
}

static int load_doc(cc_history *h, const json_t *doc)
{
    const json_t *all = json_object_get(doc, "series"), *rows, *row;
    const char *key;
    size_t i;
    if (json_integer_value(json_object_get(doc, "version")) != SAVE_VERSION || !json_is_object(all))
        return -1;
    json_object_foreach((json_t *)all, key, rows)
    {
        if (!json_is_array(rows))
            return -1;
        json_array_foreach(rows, i, row)
        {
            if (load_row(h, key, row) != 0)
                return -1;
        }
    }
    return 0;
}

int cc_history_load(cc_history *h, const char *path)
{
    size_t gz_len = 0, len = 0;
    char *gz = fs_read_file(path, SAVE_GZ_MAX, &gz_len);
    if (gz == NULL)
        return fs_exists(path) ? -1 : 0;
    unsigned char *text = gz_decompress(gz, gz_len, SAVE_MAX, &len);
    free(gz);
    json_t *doc = text ? json_loadb((const char *)text, len, 0, NULL) : NULL;
    free(text);
    cc_history *fresh = cc_history_new();
    int rc = doc != NULL && fresh != NULL ? load_doc(fresh, doc) : -1;
    json_decref(doc);
    if (rc == 0) {
        pthread_mutex_lock(&h->lock);
        void *old = h->root;
        h->root = fresh->root;
        fresh->root = old;
        pthread_mutex_unlock(&h->lock);
    }
    cc_history_free(fresh);
    return rc;
}
