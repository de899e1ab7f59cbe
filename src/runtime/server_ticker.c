/* server_ticker: periodic background jobs, each on a thread of its own
 * until the stop begins (server.h). */
#include <errno.h>
#include <time.h>

#include "runtime/server_internal.h"

static void *ticker_main(void *arg)
{
    struct ticker *t = arg;
    struct server *s = t->server;
    pthread_mutex_lock(&s->stop_lock);
    while (!s->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += t->interval_ms / 1000;
        until.tv_nsec += (long)(t->interval_ms % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        while (!s->stopping && pthread_cond_timedwait(&s->stop_cond, &s->stop_lock, &until) != ETIMEDOUT)
            ;
        if (s->stopping)
            break;
        pthread_mutex_unlock(&s->stop_lock);
        t->fn(t->arg);
        pthread_mutex_lock(&s->stop_lock);
    }
    pthread_mutex_unlock(&s->stop_lock);
    return NULL;
}

int server_tickers_start(struct server *s)
{
    int started = 0;
    for (; started < s->nticker; started++)
        if (pthread_create(&s->tickers[started].tid, NULL, ticker_main, &s->tickers[started]) != 0)
            break;
    return started;
}

void server_tickers_join(struct server *s, int started)
{
    for (int i = 0; i < started; i++)
        pthread_join(s->tickers[i].tid, NULL);
}

int server_add_ticker(struct server *s, int interval_ms, server_tick_fn fn, void *arg)
{
    if (s->nticker == SERVER_MAX_TICKERS || interval_ms <= 0)
        return -1;
    s->tickers[s->nticker++] = (struct ticker){s, 0, interval_ms, fn, arg};
    return 0;
}
