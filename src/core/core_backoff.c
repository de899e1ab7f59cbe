/* core_backoff: doubling delays with a cap and an attempt bound. */
#include "core/core_backoff.h"

void core_backoff_init(struct core_backoff *b, double initial, double cap, int max_attempts)
{
    b->initial = initial > 0 ? initial : CORE_BACKOFF_INITIAL;
    b->cap = cap >= b->initial ? cap : b->initial;
    b->max_attempts = max_attempts > 0 ? max_attempts : 0;
    b->attempts = 0;
}

double core_backoff_next(struct core_backoff *b)
{
    if (b->max_attempts > 0 && b->attempts >= b->max_attempts)
        return -1;
    double delay = b->initial;
    /* Stop doubling once at the cap so a long outage cannot overflow. */
    for (int i = 0; i < b->attempts && delay < b->cap; i++)
        delay *= 2;
    b->attempts++;
    return delay < b->cap ? delay : b->cap;
}

void core_backoff_reset(struct core_backoff *b)
{
    b->attempts = 0;
}
