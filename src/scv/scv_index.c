/* scv_index: the table of streams, the per-target heaps, activation and
 * deactivation (scv_index.h). The metrics and GET /survey figures it
 * keeps are in scv_index_survey.c. */
#include "scv/scv_index.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scv/scv_map.h"
#include "util/clock.h"
#include "util/crypto.h"
#include "scv/scv_index_int.h"
#include "util/log.h"

#define NO_POS ((size_t)-1)

/* ---- vectors with back-pointers --------------------------------------- */

static int vec_push(struct vec *v, scv_stream *st, size_t *pos)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        scv_stream **items = realloc(v->items, cap * sizeof *items);
        if (items == NULL)
            return -1;
        v->items = items;
        v->cap = cap;
    }
    *pos = v->n;
    v->items[v->n++] = st;
    return 0;
}

/* Removes by swapping the last item in; pos_of picks the back-pointer. */
static void vec_remove(struct vec *v, size_t pos, size_t *(*pos_of)(scv_stream *))
{
    scv_stream *gone = v->items[pos];
    v->items[pos] = v->items[--v->n];
    *pos_of(v->items[pos]) = pos;
    *pos_of(gone) = NO_POS;
}

static size_t *all_pos_of(scv_stream *st)
{
    return &st->all_pos;
}

static size_t *active_pos_of(scv_stream *st)
{
    return &st->active_pos;
}

/* ---- the per-target heap ---------------------------------------------- */

static void heap_swap(struct vec *h, size_t a, size_t b)
{
    scv_stream *t = h->items[a];
    h->items[a] = h->items[b];
    h->items[b] = t;
    h->items[a]->heap_pos = a;
    h->items[b]->heap_pos = b;
}

static void heap_up(struct vec *h, size_t i)
{
    while (i > 0 && h->items[(i - 1) / 2]->frames < h->items[i]->frames) {
        heap_swap(h, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void heap_down(struct vec *h, size_t i)
{
    for (;;) {
        size_t best = i, l = 2 * i + 1, r = l + 1;
        if (l < h->n && h->items[l]->frames > h->items[best]->frames)
            best = l;
        if (r < h->n && h->items[r]->frames > h->items[best]->frames)
            best = r;
        if (best == i)
            return;
        heap_swap(h, i, best);
        i = best;
    }
}

static void heap_insert(scv_stream *st)
{
    struct vec *h = &st->target->heap;
    if (st->heap_pos != NO_POS || vec_push(h, st, &st->heap_pos) != 0)
        return;
    heap_up(h, st->heap_pos);
}

static void heap_remove(scv_stream *st)
{
    struct vec *h = &st->target->heap;
    size_t i = st->heap_pos;
    if (i == NO_POS)
        return;
    st->heap_pos = NO_POS;
    if (i == --h->n)
        return;
    h->items[i] = h->items[h->n];
    h->items[i]->heap_pos = i;
    heap_down(h, i);
    heap_up(h, i);
}

/* Queued when assignable: OK, not held by a core, not being deactivated. */
static void requeue(scv_stream *st)
{
    if (st->status == SCV_STREAM_OK && !st->bound && !st->finishing && !st->removed)
        heap_insert(st);
    else
        heap_remove(st);
}

/* ---- table ------------------------------------------------------------ */

scv_index *scv_index_new(void)
{
    scv_index *ix = calloc(1, sizeof *ix);
    if (ix == NULL)
        return NULL;
    pthread_mutex_init(&ix->lock, NULL);
    ix->started = clock_wall_s();
    ix->streams = scv_map_new();
    ix->tokens = scv_map_new();
    ix->targets = scv_map_new();
    if (ix->streams == NULL || ix->tokens == NULL || ix->targets == NULL) {
        scv_index_free(ix);
        return NULL;
    }
    return ix;
}

static void target_free(void *p)
{
    struct scv_target *t = p;
    free(t->all.items);
    free(t->heap.items);
    free(t->cores);
    free(t);
}

static void stream_free(void *p)
{
    scv_stream *st = p;
    pthread_mutex_destroy(&st->io);
    free(st);
}

/* At shutdown, when no request holds a reference any more. */
void scv_index_free(scv_index *ix)
{
    if (ix == NULL)
        return;
    scv_map_free(ix->tokens, NULL);
    scv_map_free(ix->streams, stream_free);
    scv_map_free(ix->targets, target_free);
    free(ix->active.items);
    pthread_mutex_destroy(&ix->lock);
    free(ix);
}

static struct scv_target *target_get_or_make(scv_index *ix, const char *target_id)
{
    struct scv_target *t = scv_map_get(ix->targets, target_id);
    if (t != NULL)
        return t;
    t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    snprintf(t->id, sizeof t->id, "%s", target_id);
    if (scv_map_put(ix->targets, target_id, t) != 0) {
        free(t);
        return NULL;
    }
    t->next = ix->first;
    if (ix->first != NULL)
        ix->first->prev = t;
    ix->first = t;
    ix->ntargets++;
    return t;
}

/* Drops a target that has no stream left. */
static void target_drop(scv_index *ix, struct scv_target *t)
{
    if (t->prev != NULL)
        t->prev->next = t->next;
    else
        ix->first = t->next;
    if (t->next != NULL)
        t->next->prev = t->prev;
    ix->ntargets--;
    target_free(scv_map_remove(ix->targets, t->id));
}

int scv_index_add(scv_index *ix, const char *id, const char *target_id, scv_stream_status status,
                  int64_t frames, int error_count)
{
    int rc = -1;
    if (strlen(id) > STREAM_STORE_ID_MAX || strlen(target_id) > STREAM_STORE_TARGET_ID_MAX)
        return -1;
    scv_stream *st = calloc(1, sizeof *st);
    if (st == NULL)
        return -1;
    snprintf(st->id, sizeof st->id, "%s", id);
    pthread_mutex_init(&st->io, NULL);
    st->refs = 1;
    st->status = status;
    st->frames = frames;
    st->error_count = error_count;
    st->heap_pos = st->active_pos = st->all_pos = NO_POS;
    st->engine_slot = -1;

    pthread_mutex_lock(&ix->lock);
    struct scv_target *t = target_get_or_make(ix, target_id);
    if (t == NULL || scv_map_get(ix->streams, id) != NULL)
        goto out;
    if (vec_push(&t->all, st, &st->all_pos) != 0)
        goto out;
    if (scv_map_put(ix->streams, id, st) != 0) {
        vec_remove(&t->all, st->all_pos, all_pos_of);
        goto out;
    }
    st->target = t;
    requeue(st);
    scv_index_count_stream(ix, st, 1);
    rc = 0;
out:
    if (rc != 0 && t != NULL && t->all.n == 0)
        target_drop(ix, t);
    pthread_mutex_unlock(&ix->lock);
    if (rc != 0)
        stream_free(st);
    return rc;
}

static void unbind_locked(scv_index *ix, scv_stream *st, double now)
{
    scv_index_count_core(st, -1);
    st->engine_slot = -1;
    scv_map_remove(ix->tokens, st->token_hash);
    vec_remove(&ix->active, st->active_pos, active_pos_of);
    st->bound = 0;
    st->finishing = 1;
    st->end_time = now;
}

size_t scv_index_remove(scv_index *ix, scv_stream *st)
{
    pthread_mutex_lock(&ix->lock);
    if (st->removed) {
        pthread_mutex_unlock(&ix->lock);
        return 0;
    }
    struct scv_target *t = st->target;
    if (st->bound)
        unbind_locked(ix, st, 0);
    heap_remove(st);
    vec_remove(&t->all, st->all_pos, all_pos_of);
    scv_map_remove(ix->streams, st->id);
    scv_index_count_stream(ix, st, -1);
    st->removed = 1;
    size_t left = t->all.n;
    if (left == 0)
        target_drop(ix, t);
    st->target = NULL;
    int last = --st->refs == 0;
    pthread_mutex_unlock(&ix->lock);
    if (last)
        stream_free(st);
    return left;
}

scv_stream *scv_index_get(scv_index *ix, const char *id)
{
    pthread_mutex_lock(&ix->lock);
    scv_stream *st = scv_map_get(ix->streams, id);
    if (st != NULL)
        st->refs++;
    pthread_mutex_unlock(&ix->lock);
    return st;
}

void scv_index_put(scv_index *ix, scv_stream *st)
{
    if (st == NULL)
        return;
    pthread_mutex_lock(&ix->lock);
    int last = --st->refs == 0;
    pthread_mutex_unlock(&ix->lock);
    if (last)
        stream_free(st);
}

void scv_stream_lock(scv_stream *st)
{
    pthread_mutex_lock(&st->io);
}

void scv_stream_unlock(scv_stream *st)
{
    pthread_mutex_unlock(&st->io);
}

int scv_index_info(scv_index *ix, scv_stream *st, struct scv_stream_info *info)
{
    int rc = -1;
    pthread_mutex_lock(&ix->lock);
    if (st->removed)
        goto out;
    snprintf(info->id, sizeof info->id, "%s", st->id);
    snprintf(info->target_id, sizeof info->target_id, "%s", st->target->id);
    info->status = st->status;
    info->frames = st->frames;
    info->error_count = st->error_count;
    info->active = st->bound;
    info->activation = st->activation;
    rc = 0;
out:
    pthread_mutex_unlock(&ix->lock);
    return rc;
}

size_t scv_index_target_count(scv_index *ix, const char *target_id)
{
    pthread_mutex_lock(&ix->lock);
    struct scv_target *t = scv_map_get(ix->targets, target_id);
    size_t n = t != NULL ? t->all.n : 0;
    pthread_mutex_unlock(&ix->lock);
    return n;
}

json_t *scv_index_target_streams(scv_index *ix, const char *target_id)
{
    json_t *ids = json_array();
    if (ids == NULL)
        return NULL;
    pthread_mutex_lock(&ix->lock);
    struct scv_target *t = scv_map_get(ix->targets, target_id);
    for (size_t i = 0; t != NULL && i < t->all.n; i++)
        json_array_append_new(ids, json_string(t->all.items[i]->id));
    pthread_mutex_unlock(&ix->lock);
    if (json_array_size(ids) == 0) {
        json_decref(ids);
        return NULL;
    }
    return json_pack("{s:o}", "streams", ids);
}

/* ---- activation ------------------------------------------------------- */

/* A fragment id: 32 hex digits, the activation's time in milliseconds (12
 * digits) then 80 random bits. Unique like a random one, and the ids of a
 * moment sort together, so the CC's index of them grows at its end instead
 * of taking a write to a random page per fragment (docs/PERFORMANCE.md,
 * "Donor credit"). 0, or -1 without randomness. */
static int fragment_id_new(double now, char out[33])
{
    unsigned long long ms = now > 0 ? (unsigned long long)(now * 1e3) : 0;
    snprintf(out, 13, "%012llx", ms & 0xffffffffffffULL);
    return crypto_random_hex(out + 12, 10);
}

int scv_index_activate(scv_index *ix, const char *target_id, const char *engine, const char *user,
                       const char *token_hash, double now, double ttl, char *stream_id)
{
    int rc = -1;
    pthread_mutex_lock(&ix->lock);
    struct scv_target *t = scv_map_get(ix->targets, target_id);
    if (t == NULL || t->heap.n == 0)
        goto out;
    scv_stream *st = t->heap.items[0];
    char fragment_id[sizeof st->fragment_id];
    if (fragment_id_new(now, fragment_id) != 0) {
        log_error("stats: no randomness for a fragment id; activation of target %s refused", target_id);
        goto out;
    }
    if (scv_map_put(ix->tokens, token_hash, st) != 0)
        goto out;
    if (vec_push(&ix->active, st, &st->active_pos) != 0) {
        scv_map_remove(ix->tokens, token_hash);
        goto out;
    }
    heap_remove(st);
    st->bound = 1;
    st->activation = ++ix->next_activation;
    snprintf(st->token_hash, sizeof st->token_hash, "%s", token_hash);
    snprintf(st->engine, sizeof st->engine, "%s", engine);
    snprintf(st->user, sizeof st->user, "%s", user != NULL ? user : "");
    memcpy(st->fragment_id, fragment_id, sizeof fragment_id);
    st->engine_slot = scv_index_engine_slot(ix, t, engine);
    scv_index_count_core(st, 1);
    st->start_time = now;
    st->expiry = now + ttl;
    st->end_time = 0;
    st->buffer_frames = st->active_frames = 0;
    st->buffer_bytes = 0;
    st->last_md5[0] = '\0';
    memcpy(stream_id, st->id, strlen(st->id) + 1);
    rc = 0;
out:
    pthread_mutex_unlock(&ix->lock);
    return rc;
}

scv_stream *scv_index_by_token(scv_index *ix, const char *token_hash, double now, uint64_t *activation)
{
    pthread_mutex_lock(&ix->lock);
    scv_stream *st = scv_map_get(ix->tokens, token_hash);
    if (st != NULL && st->expiry > now) {
        st->refs++;
        *activation = st->activation;
    } else {
        st = NULL;
    }
    pthread_mutex_unlock(&ix->lock);
    return st;
}

int scv_index_heartbeat(scv_index *ix, const char *token_hash, double now, double ttl)
{
    int rc = -1;
    pthread_mutex_lock(&ix->lock);
    scv_stream *st = scv_map_get(ix->tokens, token_hash);
    if (st != NULL && st->expiry > now) {
        st->expiry = now + ttl;
        rc = 0;
    }
    pthread_mutex_unlock(&ix->lock);
    return rc;
}

static int bound_to(const scv_stream *st, uint64_t activation)
{
    return st->bound && st->activation == activation && !st->removed;
}

int scv_index_frame_check(scv_index *ix, scv_stream *st, uint64_t activation, const char *md5, int *duplicate)
{
    int rc = -1;
    pthread_mutex_lock(&ix->lock);
    if (bound_to(st, activation)) {
        *duplicate = strcmp(st->last_md5, md5) == 0;
        rc = 0;
    }
    pthread_mutex_unlock(&ix->lock);
    return rc;
}

void scv_index_frame_accepted(scv_index *ix, scv_stream *st, uint64_t activation, const char *md5, int64_t n,
                              uint64_t bytes)
{
    pthread_mutex_lock(&ix->lock);
    if (bound_to(st, activation)) {
        snprintf(st->last_md5, sizeof st->last_md5, "%s", md5);
        st->buffer_frames += n;
        st->buffer_bytes += bytes;
    }
    pthread_mutex_unlock(&ix->lock);
}

int64_t scv_index_buffered(scv_index *ix, scv_stream *st, uint64_t activation)
{
    pthread_mutex_lock(&ix->lock);
    int64_t n = bound_to(st, activation) ? st->buffer_frames : -1;
    pthread_mutex_unlock(&ix->lock);
    return n;
}

uint64_t scv_index_committed(scv_index *ix, scv_stream *st, int64_t new_frames, int64_t k)
{
    pthread_mutex_lock(&ix->lock);
    uint64_t bytes = st->buffer_bytes;
    if (st->target != NULL) {
        st->target->fig.frames += new_frames - st->frames;
        st->target->fig.committed += k;
    }
    ix->committed += k;
    st->frames = new_frames;
    st->active_frames += k;
    st->buffer_frames = 0;
    st->buffer_bytes = 0;
    st->last_md5[0] = '\0';
    pthread_mutex_unlock(&ix->lock);
    return bytes;
}

/* ---- deactivation ----------------------------------------------------- */

int scv_index_unbind(scv_index *ix, scv_stream *st, uint64_t activation, double now)
{
    int done = 0;
    pthread_mutex_lock(&ix->lock);
    if (st->bound && (activation == 0 || st->activation == activation)) {
        unbind_locked(ix, st, now);
        done = 1;
    }
    pthread_mutex_unlock(&ix->lock);
    return done;
}

static json_t *fragment_locked(const scv_stream *st, double end_time, int64_t frames)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:f,s:f,s:I}", "id", st->fragment_id, "target_id",
                     st->target != NULL ? st->target->id : "", "stream_id", st->id, "engine", st->engine,
                     "user", st->user, "start_time", st->start_time, "end_time", end_time, "frames",
                     (json_int_t)frames);
}

json_t *scv_index_progress(scv_index *ix, scv_stream *st, int64_t committing, double now)
{
    pthread_mutex_lock(&ix->lock);
    int64_t frames = st->active_frames + committing;
    json_t *fragment = frames > 0 ? fragment_locked(st, now, frames) : NULL;
    pthread_mutex_unlock(&ix->lock);
    return fragment;
}

json_t *scv_index_finish(scv_index *ix, scv_stream *st)
{
    json_t *fragment = NULL;
    pthread_mutex_lock(&ix->lock);
    if (!st->finishing)
        goto out;
    st->finishing = 0;
    if (st->active_frames > 0)
        fragment = fragment_locked(st, st->end_time, st->active_frames);
    st->buffer_frames = st->active_frames = 0;
    st->buffer_bytes = 0;
    st->last_md5[0] = '\0';
    if (!st->removed)
        requeue(st);
out:
    pthread_mutex_unlock(&ix->lock);
    return fragment;
}

size_t scv_index_expire(scv_index *ix, double now, scv_stream ***out)
{
    size_t n = 0;
    *out = NULL;
    pthread_mutex_lock(&ix->lock);
    for (size_t i = 0; i < ix->active.n; i++)
        n += ix->active.items[i]->expiry <= now;
    if (n == 0 || (*out = malloc(n * sizeof **out)) == NULL) {
        n = 0;
        goto out;
    }
    size_t k = 0;
    for (size_t i = 0; i < ix->active.n;) {
        scv_stream *st = ix->active.items[i];
        if (st->expiry > now) {
            i++;
            continue;
        }
        unbind_locked(ix, st, now); /* swaps another item into slot i */
        st->refs++;
        (*out)[k++] = st;
    }
out:
    pthread_mutex_unlock(&ix->lock);
    return n;
}

void scv_index_set_state(scv_index *ix, scv_stream *st, scv_stream_status status, int error_count)
{
    pthread_mutex_lock(&ix->lock);
    if (!st->removed)
        scv_index_count_stream(ix, st, -1);
    st->status = status;
    st->error_count = error_count;
    if (!st->removed)
        scv_index_count_stream(ix, st, 1);
    requeue(st);
    pthread_mutex_unlock(&ix->lock);
}

/* ---- listings --------------------------------------------------------- */

json_t *scv_index_active_streams(scv_index *ix)
{
    json_t *out = json_object();
    if (out == NULL)
        return NULL;
    pthread_mutex_lock(&ix->lock);
    for (size_t i = 0; i < ix->active.n; i++) {
        const scv_stream *st = ix->active.items[i];
        json_t *per_target = json_object_get(out, st->target->id);
        if (per_target == NULL) {
            per_target = json_object();
            json_object_set_new(out, st->target->id, per_target);
        }
        json_object_set_new(per_target, st->id,
                            json_pack("{s:s,s:f,s:I,s:I,s:s}", "user", st->user, "start_time", st->start_time,
                                      "active_frames", (json_int_t)st->active_frames, "buffer_frames",
                                      (json_int_t)st->buffer_frames, "engine", st->engine));
    }
    pthread_mutex_unlock(&ix->lock);
    return out;
}

json_t *scv_index_active_cores(scv_index *ix)
{
    json_t *out = json_object();
    if (out == NULL)
        return NULL;
    pthread_mutex_lock(&ix->lock);
    for (size_t i = 0; i < ix->active.n; i++) {
        const char *engine = ix->active.items[i]->engine;
        json_t *count = json_object_get(out, engine);
        json_object_set_new(out, engine, json_integer(count != NULL ? json_integer_value(count) + 1 : 1));
    }
    pthread_mutex_unlock(&ix->lock);
    return out;
}

/* One stream's row as copied under the lock. */
struct stream_row {
    char id[STREAM_STORE_ID_MAX + 1];
    int64_t frames;
    scv_stream_status status;
    int error_count, active;
};

json_t *scv_index_target_rows(scv_index *ix, const char *target_id)
{
    struct stream_row *rows = NULL;
    size_t n = 0;
    json_t *list = json_array();
    if (list == NULL)
        return NULL;
    pthread_mutex_lock(&ix->lock);
    const struct scv_target *t = scv_map_get(ix->targets, target_id);
    if (t != NULL && (rows = malloc((t->all.n + 1) * sizeof *rows)) != NULL) {
        for (; n < t->all.n; n++) {
            const scv_stream *st = t->all.items[n];
            memcpy(rows[n].id, st->id, sizeof rows[n].id);
            rows[n].frames = st->frames;
            rows[n].status = st->status;
            rows[n].error_count = st->error_count;
            rows[n].active = st->bound;
        }
    }
    pthread_mutex_unlock(&ix->lock);
    if (t != NULL && rows == NULL) {
        json_decref(list);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, json_pack("{s:s, s:I, s:s, s:i, s:b}", "id", rows[i].id, "frames",
                                              (json_int_t)rows[i].frames, "status",
                                              rows[i].status == SCV_STREAM_OK ? "OK" : "STOPPED",
                                              "error_count", rows[i].error_count, "active", rows[i].active));
    free(rows);
    return json_pack("{s:o}", "streams", list);
}
