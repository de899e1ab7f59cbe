/* cc_fold: the folder thread and its pending gauge. */
#include "cc/cc_fold.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "util/clock.h"
#include "util/log.h"

struct cc_fold {
    cc_store *store;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* on CLOCK_MONOTONIC */
    int stopping;
    int woken;         /* fragments were queued since the last fold began */
    long long since;   /* how many */
    long long pending; /* the figure, under lock */
    int failing;       /* the last fold failed (logged once per outage) */
    /* Copies for cc_fold_read. */
    atomic_llong pending_seen, folded;
    _Atomic double last_s;
};

static void publish(cc_fold *f)
{
    atomic_store_explicit(&f->pending_seen, f->pending, memory_order_relaxed);
}

cc_fold_figures cc_fold_read(const cc_fold *f)
{
    cc_fold_figures out = {0};
    if (!f)
        return out;
    out.pending = atomic_load_explicit(&f->pending_seen, memory_order_relaxed);
    out.folded = atomic_load_explicit(&f->folded, memory_order_relaxed);
    out.last_s = atomic_load_explicit(&f->last_s, memory_order_relaxed);
    return out;
}

void cc_fold_queued(cc_fold *f, size_t n)
{
    if (!f || n == 0)
        return;
    pthread_mutex_lock(&f->lock);
    f->woken = 1;
    f->since += (long long)n;
    f->pending += (long long)n;
    publish(f);
    pthread_cond_signal(&f->wake);
    pthread_mutex_unlock(&f->lock);
}

/* Sleeps (lock held) until the clock_mono_s time t, or sooner when
 * stopped or, with woken_too, woken. */
static void sleep_until(cc_fold *f, double t, int woken_too)
{
    struct timespec until = {.tv_sec = (time_t)t, .tv_nsec = (long)((t - (double)(time_t)t) * 1e9)};
    while (!(woken_too && f->woken) && !f->stopping &&
           pthread_cond_timedwait(&f->wake, &f->lock, &until) != ETIMEDOUT)
        ;
}

/* Waits for the next fold: until woken or CC_FOLD_IDLE_MS passed, then no
 * sooner than CC_FOLD_GAP_MS after the previous fold began, so that under
 * load each fold takes what arrived meanwhile. */
static void wait_turn(cc_fold *f, double last_start)
{
    sleep_until(f, clock_mono_s() + CC_FOLD_IDLE_MS / 1e3, 1);
    sleep_until(f, last_start + CC_FOLD_GAP_MS / 1e3, 0);
}

/* One fold; 1 when a full one left more to take at once. */
static int fold_once(cc_fold *f, double start)
{
    struct status st;
    size_t folded = 0;
    long long left = 0;
    status_code rc = cc_store_credit_fold(f->store, CC_FOLD_MAX, &folded, &left, &st);
    double took = clock_mono_s() - start;
    pthread_mutex_lock(&f->lock);
    if (rc == STATUS_OK) {
        /* Rows queued during the fold are in left or in since (maybe both):
         * the gauge may read high for a moment, never low. */
        f->pending = left + f->since;
        publish(f);
    }
    pthread_mutex_unlock(&f->lock);
    if (rc != STATUS_OK) {
        if (!f->failing)
            log_warn("credit fold: %s; retrying every %d ms", st.msg, CC_FOLD_IDLE_MS);
        f->failing = 1;
        return 0;
    }
    if (f->failing)
        log_info("credit fold: working again");
    f->failing = 0;
    atomic_fetch_add_explicit(&f->folded, (long long)folded, memory_order_relaxed);
    atomic_store_explicit(&f->last_s, took, memory_order_relaxed);
    return folded == CC_FOLD_MAX;
}

static void *fold_main(void *arg)
{
    cc_fold *f = arg;
    int more = 1; /* what a previous run left is folded at start */
    double start = 0;
    pthread_mutex_lock(&f->lock);
    while (!f->stopping) {
        if (!more)
            wait_turn(f, start);
        if (f->stopping)
            break;
        f->woken = 0;
        f->since = 0;
        pthread_mutex_unlock(&f->lock);
        start = clock_mono_s();
        more = fold_once(f, start);
        pthread_mutex_lock(&f->lock);
    }
    pthread_mutex_unlock(&f->lock);
    return NULL;
}

cc_fold *cc_fold_start(cc_store *store)
{
    pthread_condattr_t attr;
    cc_fold *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->store = store;
    atomic_init(&f->pending_seen, 0);
    atomic_init(&f->folded, 0);
    atomic_init(&f->last_s, 0);
    pthread_mutex_init(&f->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&f->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&f->thread, NULL, fold_main, f) != 0) {
        pthread_cond_destroy(&f->wake);
        pthread_mutex_destroy(&f->lock);
        free(f);
        return NULL;
    }
    return f;
}

void cc_fold_stop(cc_fold *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->lock);
    f->stopping = 1;
    pthread_cond_signal(&f->wake);
    pthread_mutex_unlock(&f->lock);
    pthread_join(f->thread, NULL);
    pthread_cond_destroy(&f->wake);
    pthread_mutex_destroy(&f->lock);
    free(f);
}
