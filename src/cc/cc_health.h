/* cc_health: what the CC knows about each SCV's liveness (PROTOCOL.md).
 *
 * One record per SCV name, created on first sight and kept for the life of
 * the process, so its address is stable and cache snapshots may point at it
 * across reloads. A failed check increments the fail count, any answer resets
 * it; an SCV is online while fail count < CC_HEALTH_MAX_FAILS. The record
 * also remembers which scheme (https or http) the SCV answered on, since the
 * registry stores only host:port. Fields are atomics: readers on the event
 * loops never take a lock. */
#ifndef ST_CC_HEALTH_H
#define ST_CC_HEALTH_H

#include <stdatomic.h>

#include "cc/cc_store.h"

#define CC_HEALTH_MAX_FAILS 10

enum cc_scheme { CC_SCHEME_UNKNOWN = 0, CC_SCHEME_HTTPS, CC_SCHEME_HTTP };

typedef struct cc_health_rec {
    char name[CC_SCV_NAME_MAX + 1];
    atomic_int fails;
    atomic_int scheme;   /* enum cc_scheme */
    atomic_int checking; /* 1 while a liveness check is queued or running */
} cc_health_rec;

typedef struct cc_health cc_health;

cc_health *cc_health_new(void); /* NULL when out of memory */
void cc_health_free(cc_health *h);
/* The record of name, created when new. NULL when out of memory. */
cc_health_rec *cc_health_get(cc_health *h, const char *name);

int cc_health_online(const cc_health_rec *rec);
/* answered: 1 when the SCV sent any HTTP reply, 0 when it could not be reached. */
void cc_health_record(cc_health_rec *rec, int answered);

#endif
