/* metrics: counters, gauges and histograms for GET /metrics, written in the
 * Prometheus text exposition format 0.0.4.
 *
 * A registry holds families (name, help, type, label names); a family holds
 * series, one per set of label values, made on first use and never removed.
 * Values are integers in the family's unit; the page shows value / scale
 * (nanoseconds shown as seconds: scale 1e9).
 *
 * Updates never wait: each is a relaxed atomic add into the calling thread's
 * own shard (its first update claims one; past METRICS_SHARDS threads share
 * one). metrics_write sums the shards and takes no lock that an update or a
 * new series takes. Making a series is lock-free too, but walks the family's
 * series, so hot paths keep the pointer. A series is either set
 * (metrics_set: a gauge, or a counter whose total another module keeps,
 * copied by a collector) or moved (metrics_add/metrics_sub), never both.
 * Every update function accepts a NULL series and then does nothing. */
#ifndef ST_METRICS_H
#define ST_METRICS_H

#include <stdint.h>
#include <stdio.h>

#define METRICS_MAX_FAMILIES 96
#define METRICS_MAX_LABELS 4
#define METRICS_MAX_BOUNDS 24
#define METRICS_MAX_CELLS 8192 /* values (a histogram takes bounds + 2) across all series */
#define METRICS_SHARDS 64
#define METRICS_MAX_COLLECTORS 16
#define METRICS_NS 1e9 /* scale of a family kept in nanoseconds and shown in seconds */

struct metrics;
struct metrics_family;
struct metrics_series;

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };

struct metrics_spec {
    enum metrics_type type;
    const char *name; /* [a-zA-Z_:][a-zA-Z0-9_:]*; counters end in _total */
    const char *help;
    const char *labels[METRICS_MAX_LABELS]; /* names; unused ones NULL */
    double scale;                           /* 0 means 1 */
    const uint64_t *bounds;                 /* histograms: ascending upper bounds, stored units */
    int nbounds;
};

/* Latency buckets in nanoseconds, 100 us to 10 s. */
#define METRICS_LATENCY_BOUNDS 16
extern const uint64_t metrics_latency_ns[METRICS_LATENCY_BOUNDS];

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* The family named spec->name (the existing one when the name is taken), or
 * NULL when the spec is malformed or the registry is full. A family without
 * labels has its one series from the start, so it shows 0 before any use. */
struct metrics_family *metrics_family(struct metrics *m, const struct metrics_spec *spec);

/* The series with these label values (one per label name of f; NULL when f
 * has none), made on first use. Values are escaped; bytes that are not UTF-8
 * become '?'. NULL when f is NULL or no cell or memory is left. */
struct metrics_series *metrics_series(struct metrics_family *f, const char *const *values);

void metrics_add(struct metrics_series *s, uint64_t n);         /* counters; gauges up */
void metrics_sub(struct metrics_series *s, uint64_t n);         /* gauges down */
void metrics_set(struct metrics_series *s, int64_t value);      /* see above */
void metrics_observe(struct metrics_series *s, uint64_t value); /* histograms */
static inline void metrics_inc(struct metrics_series *s)
{
    metrics_add(s, 1);
}

/* Seconds (a difference of util/clock readings) in nanoseconds, the unit
 * of duration histograms; 0 for a negative interval. */
static inline uint64_t metrics_ns(double seconds)
{
    return seconds > 0 ? (uint64_t)(seconds * METRICS_NS) : 0;
}

/* fn(arg) runs at the start of every metrics_write, to set gauges read from
 * elsewhere (it must not take a lock that a request waits on). 0, or -1
 * when METRICS_MAX_COLLECTORS are registered. */
int metrics_on_scrape(struct metrics *m, void (*fn)(void *arg), void *arg);

/* The whole page. 0, or -1 when out fails. */
int metrics_write(struct metrics *m, FILE *out);

#endif
