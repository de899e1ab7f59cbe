/* core_backoff: the reference core's retry schedule.
 * Delays start at `initial` seconds and double up to `cap`; after
 * `max_attempts` delays (0: unlimited) the schedule is exhausted. Reset it
 * after a success. Deterministic, so it can be tested without clocks. */
#ifndef ST_CORE_BACKOFF_H
#define ST_CORE_BACKOFF_H

#define CORE_BACKOFF_INITIAL 0.5
#define CORE_BACKOFF_CAP 30.0

struct core_backoff {
    double initial;
    double cap;
    int max_attempts;
    int attempts; /* delays handed out since the last reset */
};

void core_backoff_init(struct core_backoff *b, double initial, double cap, int max_attempts);
/* The next delay in seconds, or -1 when the schedule is exhausted. */
double core_backoff_next(struct core_backoff *b);
void core_backoff_reset(struct core_backoff *b);

#endif
