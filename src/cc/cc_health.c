/* cc_health: liveness records, a sorted array of stable pointers. */
#include "cc/cc_health.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cc_health {
    pthread_mutex_t lock;
    cc_health_rec **recs; /* sorted by name */
    size_t n, cap;
};

cc_health *cc_health_new(void)
{
    cc_health *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    pthread_mutex_init(&h->lock, NULL);
    return h;
}

void cc_health_free(cc_health *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < h->n; i++)
        free(h->recs[i]);
    free(h->recs);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

/* Index of name, or of where it belongs with *found = 0. */
static size_t find(const cc_health *h, const char *name, int *found)
{
    size_t lo = 0, hi = h->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(h->recs[mid]->name, name);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

static cc_health_rec *insert(cc_health *h, size_t at, const char *name)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 16;
        cc_health_rec **grown = realloc(h->recs, cap * sizeof *grown);
        if (grown == NULL)
            return NULL;
        h->recs = grown;
        h->cap = cap;
    }
    cc_health_rec *rec = calloc(1, sizeof *rec);
    if (rec == NULL)
        return NULL;
    snprintf(rec->name, sizeof rec->name, "%s", name);
    memmove(&h->recs[at + 1], &h->recs[at], (h->n - at) * sizeof *h->recs);
    h->recs[at] = rec;
    h->n++;
    return rec;
}

cc_health_rec *cc_health_get(cc_health *h, const char *name)
{
    int found;
    pthread_mutex_lock(&h->lock);
    size_t at = find(h, name, &found);
    cc_health_rec *rec = found ? h->recs[at] : insert(h, at, name);
    pthread_mutex_unlock(&h->lock);
    return rec;
}

int cc_health_online(const cc_health_rec *rec)
{
    return atomic_load(&rec->fails) < CC_HEALTH_MAX_FAILS;
}

void cc_health_record(cc_health_rec *rec, int answered)
{
    if (answered) {
        atomic_store(&rec->fails, 0);
        return;
    }
    /* Saturate so a long-dead SCV never wraps around to "online". */
    int fails = atomic_load(&rec->fails);
    while (fails < CC_HEALTH_MAX_FAILS && !atomic_compare_exchange_weak(&rec->fails, &fails, fails + 1))
        ;
}
