/* scv_service: the stream workserver daemon's state and its wiring into the
 * server runtime (PROTOCOL.md, "SCV").
 *
 * create opens the streams (scv_streams: the store, reconciled with the
 * folders, and the index of every stream, inactive), loads or makes the
 * secret and tunes the process's allocator for large bodies
 * (SCV_MMAP_THRESHOLD); attach registers the routes (scv_handlers.h), the
 * SCV's metrics and three one-second tickers (core token expiry,
 * registration with the CC every SCV_REGISTER_SECONDS or SCV_RETRY_SECONDS
 * after a failure, stats outbox shipping); destroy releases everything after
 * the server has stopped.
 *
 * The secret the CC must present on POST /streams/activate and GET /survey
 * (scv_handlers_manager.c) is kept in
 * <data folder>/secret (mode 0600, one line of hex), made on first start. */
#ifndef ST_SCV_SERVICE_H
#define ST_SCV_SERVICE_H

#include <pthread.h>
#include <stddef.h>

#include "config/config.h"
#include "runtime/server.h"
#include "scv/scv_cc.h"
#include "scv/scv_streams.h"

#define SCV_REGISTER_SECONDS 30
/* Logged once per run at the first successful registration with the CC
 * (`siegetank up` waits for it in the SCV's log). */
#define SCV_SERVICE_REGISTERED "registered with the command center"
#define SCV_RETRY_SECONDS 2
#define SCV_STATS_BATCH 200
#define SCV_SECRET_BYTES 32
/* Allocations below this come from the heap, not from mmap (glibc's maximum). */
#define SCV_MMAP_THRESHOLD (32 << 20)
/* Free heap kept for reuse before it is returned to the system. */
#define SCV_TRIM_THRESHOLD (256 << 20)

typedef struct scv_service {
    struct config cfg;
    scv_streams *streams;
    scv_cc *cc;
    struct scv_metrics *metrics; /* GET /metrics figures (scv_metrics.h); from attach on */
    char secret[2 * SCV_SECRET_BYTES + 1];
    /* Held across "first stream of a target here" / "last one gone" and the
     * matching shard call, so the CC's shard list never disagrees for long. */
    pthread_mutex_t shard_lock;
    /* ticker threads only */
    double next_register, next_ship;
    int registered; /* 1 after a success, -1 after a failure, 0 before any */
} scv_service;

scv_service *scv_service_create(const struct config *cfg, char *err, size_t errlen);
int scv_service_attach(scv_service *svc, struct server *s, char *err, size_t errlen);
void scv_service_destroy(scv_service *svc);

#endif
