#include "runtime/metrics.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/utf8.h"

#define LABELS_MAX 1024 /* one series' label text, escaped */
#define TL_CACHE 4      /* registries a thread keeps its shard of at hand */

const uint64_t metrics_latency_ns[METRICS_LATENCY_BOUNDS] = {
    100000,   250000,    500000,    1000000,   2500000,    5000000,    10000000,   25000000,
    50000000, 100000000, 250000000, 500000000, 1000000000, 2500000000, 5000000000, 10000000000,
};

struct shard {
    _Atomic uint64_t cells[METRICS_MAX_CELLS];
};

struct metrics_series {
    struct metrics *registry;
    struct metrics_family *family;
    struct metrics_series *next; /* fixed once published */
    uint64_t hash;
    uint32_t cell; /* the first of family->cells */
    _Atomic int64_t set_value;
    char labels[]; /* `a="x",b="y"`, escaped; "" without labels */
};

struct metrics_family {
    struct metrics *registry;
    enum metrics_type type;
    char *name, *help;
    char *labels[METRICS_MAX_LABELS];
    int nlabels;
    double scale;
    uint64_t bounds[METRICS_MAX_BOUNDS];
    int nbounds;
    uint32_t cells; /* per series: 1, or the buckets (bounds + +Inf) and the sum */
    _Atomic(struct metrics_series *) head;
};

struct collector {
    void (*fn)(void *arg);
    void *arg;
};

struct metrics {
    uint64_t generation;        /* never reused, so a thread's cache cannot match a freed registry */
    pthread_mutex_t setup_lock; /* families and collectors; never taken by updates or writes */
    struct metrics_family *families[METRICS_MAX_FAMILIES];
    atomic_int nfamilies;
    struct collector collectors[METRICS_MAX_COLLECTORS];
    atomic_int ncollectors;
    atomic_uint next_cell;
    atomic_int full_logged;
    atomic_int claimed;
    _Atomic(struct shard *) shards[METRICS_SHARDS];
    struct shard common; /* threads past METRICS_SHARDS */
};

static atomic_uint_fast64_t next_generation = 1;

static __thread struct {
    uint64_t generation;
    struct shard *shard;
} tl_cache[TL_CACHE];
static __thread unsigned tl_victim;

struct metrics *metrics_new(void)
{
    struct metrics *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->generation = atomic_fetch_add(&next_generation, 1);
    pthread_mutex_init(&m->setup_lock, NULL);
    return m;
}

static void family_free(struct metrics_family *f)
{
    struct metrics_series *s = atomic_load(&f->head);
    while (s != NULL) {
        struct metrics_series *next = s->next;
        free(s);
        s = next;
    }
    for (int i = 0; i < f->nlabels; i++)
        free(f->labels[i]);
    free(f->name);
    free(f->help);
    free(f);
}

void metrics_free(struct metrics *m)
{
    if (m == NULL)
        return;
    for (int i = 0; i < atomic_load(&m->nfamilies); i++)
        family_free(m->families[i]);
    for (int i = 0; i < METRICS_SHARDS; i++)
        free(atomic_load(&m->shards[i]));
    pthread_mutex_destroy(&m->setup_lock);
    free(m);
}

/* ---- families --------------------------------------------------------- */

static int name_ok(const char *name, int colon_ok)
{
    if (name == NULL || name[0] == '\0' || (name[0] >= '0' && name[0] <= '9'))
        return 0;
    for (const char *p = name; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                 (colon_ok && c == ':');
        if (!ok)
            return 0;
    }
    return 1;
}

static int spec_ok(const struct metrics_spec *spec)
{
    if (!name_ok(spec->name, 1) || spec->help == NULL || spec->scale < 0)
        return 0;
    for (int i = 0; i < METRICS_MAX_LABELS && spec->labels[i] != NULL; i++)
        if (!name_ok(spec->labels[i], 0) || strncmp(spec->labels[i], "__", 2) == 0 ||
            (spec->type == METRICS_HISTOGRAM && strcmp(spec->labels[i], "le") == 0))
            return 0;
    if (spec->type != METRICS_HISTOGRAM)
        return 1;
    if (spec->nbounds < 1 || spec->nbounds > METRICS_MAX_BOUNDS || spec->bounds == NULL)
        return 0;
    for (int i = 1; i < spec->nbounds; i++)
        if (spec->bounds[i] <= spec->bounds[i - 1])
            return 0;
    return 1;
}

static struct metrics_family *family_make(struct metrics *m, const struct metrics_spec *spec)
{
    struct metrics_family *f = calloc(1, sizeof *f);
    if (f == NULL)
        return NULL;
    f->registry = m;
    f->type = spec->type;
    f->scale = spec->scale > 0 ? spec->scale : 1;
    f->name = strdup(spec->name);
    f->help = strdup(spec->help);
    int failed = f->name == NULL || f->help == NULL;
    for (; f->nlabels < METRICS_MAX_LABELS && spec->labels[f->nlabels] != NULL; f->nlabels++)
        failed |= (f->labels[f->nlabels] = strdup(spec->labels[f->nlabels])) == NULL;
    if (spec->type == METRICS_HISTOGRAM) {
        memcpy(f->bounds, spec->bounds, (size_t)spec->nbounds * sizeof *f->bounds);
        f->nbounds = spec->nbounds;
    }
    f->cells = spec->type == METRICS_HISTOGRAM ? (uint32_t)f->nbounds + 2 : 1;
    if (failed) {
        family_free(f);
        return NULL;
    }
    return f;
}

struct metrics_family *metrics_family(struct metrics *m, const struct metrics_spec *spec)
{
    if (m == NULL || !spec_ok(spec))
        return NULL;
    struct metrics_family *f = NULL;
    pthread_mutex_lock(&m->setup_lock);
    int n = atomic_load(&m->nfamilies);
    for (int i = 0; i < n && f == NULL; i++)
        if (strcmp(m->families[i]->name, spec->name) == 0)
            f = m->families[i];
    if (f == NULL && n < METRICS_MAX_FAMILIES && (f = family_make(m, spec)) != NULL) {
        m->families[n] = f;
        atomic_store_explicit(&m->nfamilies, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&m->setup_lock);
    if (f != NULL && f->nlabels == 0)
        metrics_series(f, NULL);
    return f;
}

int metrics_on_scrape(struct metrics *m, void (*fn)(void *arg), void *arg)
{
    int rc = -1;
    pthread_mutex_lock(&m->setup_lock);
    int n = atomic_load(&m->ncollectors);
    if (n < METRICS_MAX_COLLECTORS) {
        m->collectors[n] = (struct collector){fn, arg};
        atomic_store_explicit(&m->ncollectors, n + 1, memory_order_release);
        rc = 0;
    }
    pthread_mutex_unlock(&m->setup_lock);
    return rc;
}

/* ---- series ----------------------------------------------------------- */

/* Appends value to out (room left in *room) escaped for a label value:
 * backslash, double quote and line feed get a backslash; bytes that are
 * not UTF-8 become '?'. 0, or -1 when it does not fit. */
static int escape_value(char **out, size_t *room, const char *value)
{
    size_t len = strlen(value);
    for (size_t i = 0; i < len;) {
        char esc[4] = {0};
        size_t n = utf8_char((const unsigned char *)value + i, len - i, NULL);
        const char *src = value + i;
        size_t take = n;
        if (n == 0) {
            esc[0] = '?';
            src = esc;
            take = n = 1;
        } else if (value[i] == '\\' || value[i] == '"' || value[i] == '\n') {
            esc[0] = '\\';
            esc[1] = value[i] == '\n' ? 'n' : value[i];
            src = esc;
            take = 2;
        }
        if (take >= *room)
            return -1;
        memcpy(*out, src, take);
        *out += take;
        *room -= take;
        i += n;
    }
    return 0;
}

static int format_labels(const struct metrics_family *f, const char *const *values, char *buf, size_t size)
{
    char *out = buf;
    size_t room = size;
    buf[0] = '\0';
    for (int i = 0; i < f->nlabels; i++) {
        int n = snprintf(out, room, "%s%s=\"", i > 0 ? "," : "", f->labels[i]);
        if (n < 0 || (size_t)n >= room)
            return -1;
        out += n;
        room -= (size_t)n;
        if (escape_value(&out, &room, values[i] != NULL ? values[i] : "") != 0 || room < 2)
            return -1;
        *out++ = '"';
        *out = '\0';
        room--;
    }
    return 0;
}

static uint64_t hash_text(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The series with these labels among those from first down to stop. */
static struct metrics_series *series_find(struct metrics_series *first, struct metrics_series *stop,
                                          uint64_t hash, const char *labels)
{
    for (struct metrics_series *s = first; s != stop; s = s->next)
        if (s->hash == hash && strcmp(s->labels, labels) == 0)
            return s;
    return NULL;
}

static struct metrics_series *series_make(struct metrics_family *f, uint64_t hash, const char *labels)
{
    struct metrics *m = f->registry;
    unsigned cell = atomic_load(&m->next_cell);
    do {
        if (cell + f->cells > METRICS_MAX_CELLS) {
            if (!atomic_exchange(&m->full_logged, 1))
                log_warn("metrics: all %d values are in use; new series (first: %s{%s}) go uncounted",
                         METRICS_MAX_CELLS, f->name, labels);
            return NULL;
        }
    } while (!atomic_compare_exchange_weak(&m->next_cell, &cell, cell + f->cells));
    size_t len = strlen(labels);
    struct metrics_series *s = calloc(1, sizeof *s + len + 1);
    if (s == NULL)
        return NULL;
    s->registry = m;
    s->family = f;
    s->hash = hash;
    s->cell = cell;
    memcpy(s->labels, labels, len + 1);
    return s;
}

struct metrics_series *metrics_series(struct metrics_family *f, const char *const *values)
{
    char labels[LABELS_MAX];
    if (f == NULL || (f->nlabels > 0 && values == NULL) ||
        format_labels(f, values, labels, sizeof labels) != 0)
        return NULL;
    uint64_t hash = hash_text(labels);
    struct metrics_series *head = atomic_load_explicit(&f->head, memory_order_acquire);
    struct metrics_series *found = series_find(head, NULL, hash, labels);
    if (found != NULL)
        return found;
    struct metrics_series *made = series_make(f, hash, labels);
    if (made == NULL)
        return NULL;
    for (;;) {
        made->next = head;
        if (atomic_compare_exchange_weak_explicit(&f->head, &head, made, memory_order_release,
                                                  memory_order_acquire))
            return made;
        /* Another thread pushed first: it may have made the same series. */
        found = series_find(head, made->next, hash, labels);
        if (found != NULL) {
            free(made);
            return found;
        }
    }
}

/* ---- updates ---------------------------------------------------------- */

static struct shard *shard_claim(struct metrics *m)
{
    int slot = atomic_fetch_add(&m->claimed, 1);
    if (slot >= METRICS_SHARDS)
        return &m->common;
    struct shard *sh = calloc(1, sizeof *sh);
    if (sh == NULL)
        return &m->common;
    atomic_store_explicit(&m->shards[slot], sh, memory_order_release);
    return sh;
}

static struct shard *my_shard(struct metrics *m)
{
    for (int i = 0; i < TL_CACHE; i++)
        if (tl_cache[i].generation == m->generation)
            return tl_cache[i].shard;
    struct shard *sh = shard_claim(m);
    unsigned slot = tl_victim++ % TL_CACHE;
    tl_cache[slot].generation = m->generation;
    tl_cache[slot].shard = sh;
    return sh;
}

static void cell_add(struct metrics_series *s, uint32_t offset, uint64_t n)
{
    atomic_fetch_add_explicit(&my_shard(s->registry)->cells[s->cell + offset], n, memory_order_relaxed);
}

void metrics_add(struct metrics_series *s, uint64_t n)
{
    if (s != NULL)
        cell_add(s, 0, n);
}

void metrics_sub(struct metrics_series *s, uint64_t n)
{
    if (s != NULL)
        cell_add(s, 0, (uint64_t)0 - n); /* the shards' sum wraps back to the signed value */
}

void metrics_set(struct metrics_series *s, int64_t value)
{
    if (s != NULL)
        atomic_store_explicit(&s->set_value, value, memory_order_relaxed);
}

void metrics_observe(struct metrics_series *s, uint64_t value)
{
    if (s == NULL)
        return;
    const struct metrics_family *f = s->family;
    int bucket = 0;
    while (bucket < f->nbounds && value > f->bounds[bucket])
        bucket++;
    cell_add(s, (uint32_t)bucket, 1);
    cell_add(s, (uint32_t)f->nbounds + 1, value);
}

/* ---- the page --------------------------------------------------------- */

static uint64_t cell_sum(struct metrics *m, uint32_t cell)
{
    uint64_t sum = atomic_load_explicit(&m->common.cells[cell], memory_order_relaxed);
    for (int i = 0; i < METRICS_SHARDS; i++) {
        struct shard *sh = atomic_load_explicit(&m->shards[i], memory_order_acquire);
        if (sh != NULL)
            sum += atomic_load_explicit(&sh->cells[cell], memory_order_relaxed);
    }
    return sum;
}

/* HELP text escapes backslash and line feed. */
static void write_help(FILE *out, const char *help)
{
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            fputs("\\\\", out);
        else if (*p == '\n')
            fputs("\\n", out);
        else
            fputc(*p, out);
    }
}

static void write_value(FILE *out, const struct metrics_family *f, double value)
{
    fprintf(out, " %.15g\n", value / f->scale);
}

/* name{labels[,extra]} */
static void write_name(FILE *out, const char *name, const char *suffix, const char *labels, const char *extra)
{
    int any = labels[0] != '\0' || extra != NULL;
    fprintf(out, "%s%s%s%s%s%s%s", name, suffix, any ? "{" : "", labels,
            labels[0] != '\0' && extra != NULL ? "," : "", extra != NULL ? extra : "", any ? "}" : "");
}

static void write_histogram(FILE *out, struct metrics *m, const struct metrics_family *f,
                            const struct metrics_series *s)
{
    uint64_t cumulative = 0;
    char le[64];
    for (int b = 0; b <= f->nbounds; b++) {
        cumulative += cell_sum(m, s->cell + (uint32_t)b);
        if (b < f->nbounds)
            snprintf(le, sizeof le, "le=\"%.15g\"", (double)f->bounds[b] / f->scale);
        else
            snprintf(le, sizeof le, "le=\"+Inf\"");
        write_name(out, f->name, "_bucket", s->labels, le);
        fprintf(out, " %" PRIu64 "\n", cumulative);
    }
    write_name(out, f->name, "_sum", s->labels, NULL);
    write_value(out, f, (double)cell_sum(m, s->cell + (uint32_t)f->nbounds + 1));
    write_name(out, f->name, "_count", s->labels, NULL);
    fprintf(out, " %" PRIu64 "\n", cumulative);
}

static void write_family(FILE *out, struct metrics *m, const struct metrics_family *f)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    fprintf(out, "# HELP %s ", f->name);
    write_help(out, f->help);
    fprintf(out, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
    for (struct metrics_series *s = atomic_load_explicit(&f->head, memory_order_acquire); s != NULL;
         s = s->next) {
        if (f->type == METRICS_HISTOGRAM) {
            write_histogram(out, m, f, s);
            continue;
        }
        write_name(out, f->name, "", s->labels, NULL);
        int64_t sum = (int64_t)cell_sum(m, s->cell);
        write_value(out, f, (double)(atomic_load_explicit(&s->set_value, memory_order_relaxed) + sum));
    }
}

int metrics_write(struct metrics *m, FILE *out)
{
    int ncollectors = atomic_load_explicit(&m->ncollectors, memory_order_acquire);
    for (int i = 0; i < ncollectors; i++)
        m->collectors[i].fn(m->collectors[i].arg);
    int nfamilies = atomic_load_explicit(&m->nfamilies, memory_order_acquire);
    for (int i = 0; i < nfamilies; i++)
        write_family(out, m, m->families[i]);
    return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}
