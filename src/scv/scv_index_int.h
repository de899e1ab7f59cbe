/* scv_index_int: the index's records, shared by scv_index.c (the table,
 * heaps and activations) and scv_index_survey.c (the figures it counts);
 * internal to the index. */
#ifndef ST_SCV_INDEX_INT_H
#define ST_SCV_INDEX_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "scv/scv_index.h"
#include "scv/scv_map.h"
#include "util/crypto.h"

struct scv_target;

struct scv_stream {
    char id[STREAM_STORE_ID_MAX + 1];
    struct scv_target *target;
    pthread_mutex_t io;
    int refs; /* lookups in flight, plus one while indexed */
    int removed;
    scv_stream_status status;
    int64_t frames;
    int error_count;
    size_t all_pos, heap_pos, active_pos;
    /* the activation; meaningful while bound or finishing */
    uint64_t activation;
    int bound, finishing;
    char token_hash[SCV_TOKEN_HASH_LEN + 1];
    double expiry, start_time, end_time;
    char user[SCV_USER_MAX + 1];
    char engine[SCV_ENGINE_MAX + 1];
    int64_t buffer_frames, active_frames;
    uint64_t buffer_bytes;
    char last_md5[CRYPTO_MD5_HEX_LEN + 1];
    char fragment_id[33]; /* the activation's stats fragment, made at activation */
    int engine_slot;      /* while bound: its engine's entry in its target's cores, else -1 */
};

struct vec {
    scv_stream **items;
    size_t n, cap;
};

/* The cores active on a target with one engine, and their gauge. */
struct engine_cores {
    char engine[SCV_ENGINE_MAX + 1];
    int64_t active;
    struct metrics_series *series; /* NULL without metrics */
};

/* What GET /survey tells of a target (and, summed, of the SCV). */
struct target_figures {
    int64_t by_status[2]; /* streams per scv_stream_status */
    int64_t frames;       /* committed frames of its streams */
    int64_t committed;    /* frames committed since the index was made */
    int64_t with_errors;  /* streams with error_count > 0 */
};

struct scv_target {
    char id[STREAM_STORE_TARGET_ID_MAX + 1];
    struct vec all;  /* every stream of the target; pos in all_pos */
    struct vec heap; /* OK inactive streams, max-heap by frames; pos in heap_pos */
    struct engine_cores *cores;
    size_t ncores;
    struct target_figures fig;
    struct scv_target *prev, *next; /* the index's list of targets */
};

struct scv_index {
    pthread_mutex_t lock;
    scv_map *streams;         /* id -> scv_stream */
    scv_map *tokens;          /* token hash -> scv_stream */
    scv_map *targets;         /* target id -> scv_target */
    struct vec active;        /* bound streams; pos in active_pos */
    struct scv_target *first; /* every target, for GET /survey */
    size_t ntargets;
    double started;    /* wall time the figures count from */
    int64_t committed; /* frames committed since then, deleted streams' too */
    uint64_t next_activation;
    size_t by_status[2]; /* streams per scv_stream_status */
    struct metrics_family *active_family;
    struct metrics_series *status_gauges[2];
};

/* Adds (sign 1) or takes away (-1) what st counts for in its target's
 * figures and the streams-by-status gauges. */
void scv_index_count_stream(scv_index *ix, const scv_stream *st, int sign);
/* The slot of engine in t's cores, made once per target and engine; -1
 * when out of memory (the activation is then uncounted). */
int scv_index_engine_slot(scv_index *ix, struct scv_target *t, const char *engine);
/* One more (delta 1) or one fewer (-1) core on st's engine. */
void scv_index_count_core(scv_stream *st, int delta);

#endif
