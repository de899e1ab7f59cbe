/* core_runner: one thread per core; each loops assign -> start -> frames. */
#include "core/core_runner.h"
#include "client/client.h"
#include "core/core_backoff.h"
#include "core/core_wire.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/wire_file.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ORIGIN_MAX 1024
#define SLEEP_SLICE_S 0.1
#define CLIENT_TIMEOUT_S 60
#define START_REPLY_MAX (64u * 1024 * 1024)

enum call_result { CALL_OK, CALL_DEAD, CALL_STOPPED };
enum call_kind { CALL_START, CALL_FRAME, CALL_CHECKPOINT, CALL_HEARTBEAT };
enum session_end { SESSION_NO_WORK, SESSION_DONE, SESSION_FATAL };

struct core {
    int id;
    const struct core_runner_config *cfg;
    const struct core_engine_ops *engine;
    atomic_int *stop;
    double deadline; /* monotonic seconds; 0: none */
    struct client *client;
    struct core_runner_stats stats;
    /* the current assignment */
    const char *token;
    const char *start_url;
    char origin[ORIGIN_MAX];
    const char *stream_id;
    json_t *start_reply;
    long pending; /* frames sent since the last checkpoint */
    long session_checkpoints;
    int released; /* PUT /core/stop was sent for this assignment */
};

static int stopping(const struct core *k)
{
    return atomic_load(k->stop) || (k->deadline > 0 && clock_mono_s() >= k->deadline);
}

/* Sleeps up to seconds, waking early to stop. 0 when slept, -1 when stopping. */
static int nap(const struct core *k, double seconds)
{
    double until = clock_mono_s() + seconds;
    while (!stopping(k)) {
        double left = until - clock_mono_s();
        if (left <= 0)
            return 0;
        double slice = left < SLEEP_SLICE_S ? left : SLEEP_SLICE_S;
        struct timespec ts = {(time_t)slice, (long)((slice - (double)(time_t)slice) * 1e9)};
        nanosleep(&ts, NULL);
    }
    return -1;
}

static const char *kind_name(enum call_kind kind)
{
    switch (kind) {
    case CALL_START:
        return "start";
    case CALL_FRAME:
        return "frame";
    case CALL_CHECKPOINT:
        return "checkpoint";
    case CALL_HEARTBEAT:
        return "heartbeat";
    }
    return "request";
}

/* One request; for START the reply lands in k->start_reply. 0 or -1. */
static int call_once(struct core *k, enum call_kind kind, const json_t *files, struct client_error *err)
{
    switch (kind) {
    case CALL_START:
        k->start_reply = client_core_start(k->client, k->start_url, k->token, err);
        return k->start_reply ? 0 : -1;
    case CALL_FRAME:
        return client_core_frame(k->client, k->origin, k->token, files, 1, err);
    case CALL_CHECKPOINT:
        return client_core_checkpoint(k->client, k->origin, k->token, files, err);
    case CALL_HEARTBEAT:
        return client_core_heartbeat(k->client, k->origin, k->token, err);
    }
    return -1;
}

/* A reply from the server saying no: retrying the same request cannot help. */
static int refused(const struct client_error *err)
{
    return err->status >= 400 && err->status < 500;
}

/* Sends until acknowledged, resending the same files after each transient
 * failure (the SCV recognises a repeated frame by its body's MD5). */
static enum call_result call_with_retry(struct core *k, enum call_kind kind, const json_t *files)
{
    struct core_backoff backoff;
    struct client_error err;
    core_backoff_init(&backoff, CORE_BACKOFF_INITIAL, CORE_BACKOFF_CAP, k->cfg->max_retries);
    for (;;) {
        if (call_once(k, kind, files, &err) == 0)
            return CALL_OK;
        if (refused(&err)) {
            log_warn("core %d: stream %s: %s refused (HTTP %ld): %s; asking for new work", k->id,
                     k->stream_id ? k->stream_id : "?", kind_name(kind), err.status, err.message);
            return CALL_DEAD;
        }
        double delay = core_backoff_next(&backoff);
        if (delay < 0) {
            log_warn("core %d: %s failed %d times, dropping the stream: %s", k->id, kind_name(kind),
                     backoff.attempts + 1, err.message);
            return CALL_DEAD;
        }
        log_warn("core %d: %s failed (%s); retrying in %.1f s", k->id, kind_name(kind), err.message, delay);
        if (nap(k, delay) != 0)
            return CALL_STOPPED;
    }
}

/* Tells the SCV the stream is released, with the error text if any. */
static void send_stop(struct core *k, const char *error_text)
{
    struct client_error err;
    k->released = 1;
    if (client_core_stop(k->client, k->origin, k->token, error_text, &err) != 0)
        log_warn("core %d: stream %s: stop failed (%s); the SCV will expire the token", k->id, k->stream_id,
                 err.message);
}

/* Reports an engine or stream-file error for the current stream. */
static void report_error(struct core *k, const char *message)
{
    log_warn("core %d: stream %s: %s", k->id, k->stream_id, message);
    k->stats.errors++;
    send_stop(k, message);
}

/* Sends the engine's checkpoint. An engine that refuses to write one (its
 * state is broken) is an error of the stream: nothing is committed. */
static enum call_result checkpoint(struct core *k, core_engine *e, const char *state_wire, int retry)
{
    char msg[CORE_RUNNER_ERROR_MAX];
    size_t len = 0;
    enum call_result r = CALL_DEAD;
    json_t *files = NULL;
    char *state = core_engine_checkpoint(e, &len, msg, sizeof msg);
    if (!state) {
        report_error(k, msg);
        goto out;
    }
    files = core_wire_encode_file(state_wire, state, len, msg, sizeof msg);
    if (!files) {
        log_error("core %d: %s", k->id, msg);
        goto out;
    }
    if (retry) {
        r = call_with_retry(k, CALL_CHECKPOINT, files);
    } else {
        struct client_error err;
        r = call_once(k, CALL_CHECKPOINT, files, &err) == 0 ? CALL_OK : CALL_DEAD;
        if (r != CALL_OK)
            log_warn("core %d: final checkpoint failed: %s", k->id, err.message);
    }
    if (r == CALL_OK) {
        k->stats.frames_committed += k->pending;
        k->stats.checkpoints++;
        k->session_checkpoints++;
        k->pending = 0;
    }
out:
    json_decref(files);
    free(state);
    return r;
}

/* Advances and sends frames until stopped or the stream is lost. Returns
 * CALL_STOPPED when the token is still ours (the caller then stops it). */
static enum call_result run_frames(struct core *k, core_engine *e, const char *state_wire)
{
    char msg[CORE_RUNNER_ERROR_MAX];
    double next_heartbeat = clock_mono_s() + k->cfg->heartbeat_s;
    while (!stopping(k)) {
        if (clock_mono_s() >= next_heartbeat) {
            enum call_result r = call_with_retry(k, CALL_HEARTBEAT, NULL);
            if (r != CALL_OK)
                return r;
            next_heartbeat = clock_mono_s() + k->cfg->heartbeat_s;
        }
        size_t n = 0;
        const unsigned char *frame = core_engine_advance(e, &n, msg, sizeof msg);
        if (!frame) {
            report_error(k, msg);
            return CALL_DEAD;
        }
        json_t *files = core_wire_frame_files(frame, n, msg, sizeof msg);
        if (!files) {
            log_error("core %d: %s", k->id, msg);
            return CALL_STOPPED;
        }
        enum call_result r = call_with_retry(k, CALL_FRAME, files);
        json_decref(files);
        if (r != CALL_OK)
            return r;
        k->pending++;
        k->stats.frames_sent++;
        if (k->pending >= k->cfg->frames_per_checkpoint) {
            r = checkpoint(k, e, state_wire, 1);
            if (r != CALL_OK)
                return r;
        }
        if (k->cfg->frame_interval_s > 0)
            nap(k, k->cfg->frame_interval_s);
    }
    return CALL_STOPPED;
}

/* Builds the engine from the start reply and runs it; the token is ours. */
static void work(struct core *k)
{
    char msg[CORE_RUNNER_ERROR_MAX];
    struct core_wire_files files;
    char default_wire[CORE_WIRE_NAME_MAX];
    core_engine *e = NULL;
    json_t *jfiles = json_object_get(k->start_reply, "files");
    json_t *options = json_object_get(k->start_reply, "options");
    if (core_wire_decode_files(jfiles, k->engine->max_file_bytes, &files, msg, sizeof msg) != 0) {
        report_error(k, msg);
        return;
    }
    e = core_engine_create(k->engine, files.files, files.n, json_is_object(options) ? options : NULL,
                           &k->cfg->engine_settings, msg, sizeof msg);
    if (!e) {
        report_error(k, msg);
        goto out;
    }
    /* The checkpoint goes under the seed state's wire name, so it replaces
     * that seed file in the SCV's GET /core/start reply. */
    const char *state_wire = core_wire_files_wire_name(&files, k->engine->state_file);
    if (!state_wire) {
        snprintf(default_wire, sizeof default_wire, "%s" WIRE_FILE_GZ_B64, k->engine->state_file);
        state_wire = default_wire;
    }
    log_info("core %d: stream %s at step %lld, %d atoms, %d steps per frame", k->id, k->stream_id,
             (long long)core_engine_step(e), core_engine_natoms(e), core_engine_steps_per_frame(e));
    if (run_frames(k, e, state_wire) != CALL_STOPPED) {
        k->stats.lost++;
        goto out;
    }
    /* A clean stop: commit what was sent so no donor time is lost. */
    if (k->pending > 0)
        checkpoint(k, e, state_wire, 0);
    if (!k->released)
        send_stop(k, NULL);
out:
    core_engine_free(e);
    core_wire_files_free(&files);
}

static void set_fatal_key_refused(struct core *k, const char *detail)
{
    k->stats.fatal = 1;
    snprintf(k->stats.fatal_message, sizeof k->stats.fatal_message,
             "the command center refused the engine key: %.400s", detail);
}

/* One assignment, start to stop. */
static enum session_end session(struct core *k)
{
    struct client_error err;
    enum session_end end = SESSION_NO_WORK;
    json_t *assigned = NULL;
    k->start_reply = NULL;
    k->stream_id = NULL;
    k->pending = 0;
    k->session_checkpoints = 0;
    k->released = 0;
    assigned = client_core_assign(k->client, k->cfg->donor_token, k->cfg->target_id, &err);
    if (!assigned) {
        if (err.status == 401) {
            set_fatal_key_refused(k, err.message);
            return SESSION_FATAL;
        }
        log_warn("core %d: no work from the command center: %s", k->id, err.message);
        return SESSION_NO_WORK;
    }
    k->token = json_string_value(json_object_get(assigned, "token"));
    k->start_url = json_string_value(json_object_get(assigned, "url"));
    if (!k->token || !k->start_url || client_url_origin(k->start_url, k->origin, sizeof k->origin) != 0) {
        log_warn("core %d: the command center's assignment lacks a token or a valid url", k->id);
        goto out;
    }
    k->stats.assignments++;
    end = SESSION_DONE;
    enum call_result r = call_with_retry(k, CALL_START, NULL);
    if (r == CALL_STOPPED) {
        send_stop(k, NULL);
        goto out;
    }
    if (r != CALL_OK) {
        k->stats.lost++;
        goto out;
    }
    k->stream_id = json_string_value(json_object_get(k->start_reply, "stream_id"));
    if (!k->stream_id)
        k->stream_id = "?";
    work(k);
out:
    json_decref(k->start_reply);
    json_decref(assigned);
    k->start_reply = NULL;
    k->token = NULL;
    return end;
}

static void *core_main(void *arg)
{
    struct core *k = arg;
    struct core_backoff backoff;
    core_backoff_init(&backoff, CORE_BACKOFF_INITIAL, CORE_BACKOFF_CAP, 0);
    while (!stopping(k)) {
        enum session_end end = session(k);
        if (end == SESSION_FATAL) {
            log_error("core %d: %s", k->id, k->stats.fatal_message);
            break;
        }
        /* Progress resets the delay; a stream that broke at once or no work
         * at all backs off, so a broken stream or an outage is not hammered. */
        if (end == SESSION_DONE && k->session_checkpoints > 0) {
            core_backoff_reset(&backoff);
            continue;
        }
        nap(k, core_backoff_next(&backoff));
    }
    return NULL;
}

void core_runner_config_init(struct core_runner_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->cores = 1;
    cfg->frames_per_checkpoint = CORE_RUNNER_DEFAULT_FRAMES_PER_CHECKPOINT;
    cfg->heartbeat_s = CORE_RUNNER_DEFAULT_HEARTBEAT_S;
    cfg->max_retries = CORE_RUNNER_DEFAULT_MAX_RETRIES;
    cfg->engine = CORE_ENGINE_DEFAULT;
    cfg->engine_settings.platform = CORE_ENGINE_DEFAULT_PLATFORM;
}

static int check_config(const struct core_runner_config *cfg, char *err, size_t errlen)
{
    if (!cfg->cc || !cfg->engine_key) {
        snprintf(err, errlen, "a command center address and an engine key are required");
        return -1;
    }
    if (cfg->cores < 1 || cfg->cores > CORE_RUNNER_MAX_CORES) {
        snprintf(err, errlen, "cores must be from 1 to %d", CORE_RUNNER_MAX_CORES);
        return -1;
    }
    if (cfg->frames_per_checkpoint < 1 || cfg->heartbeat_s <= 0 || cfg->duration_s < 0 ||
        cfg->frame_interval_s < 0 || cfg->max_retries < 0) {
        snprintf(err, errlen, "frames per checkpoint and heartbeat must be positive, durations not negative");
        return -1;
    }
    if (!core_engine_find(cfg->engine ? cfg->engine : CORE_ENGINE_DEFAULT)) {
        snprintf(err, errlen, "unknown engine '%s'; the engines are %s", cfg->engine, core_engine_names());
        return -1;
    }
    if (cfg->engine_settings.threads < 0 || cfg->engine_settings.threads > CORE_ENGINE_MAX_THREADS) {
        snprintf(err, errlen, "threads must be from 0 to %d", CORE_ENGINE_MAX_THREADS);
        return -1;
    }
    return 0;
}

static void add_stats(struct core_runner_stats *sum, const struct core_runner_stats *s)
{
    sum->assignments += s->assignments;
    sum->frames_sent += s->frames_sent;
    sum->frames_committed += s->frames_committed;
    sum->checkpoints += s->checkpoints;
    sum->lost += s->lost;
    sum->errors += s->errors;
    if (s->fatal && !sum->fatal) {
        sum->fatal = 1;
        memcpy(sum->fatal_message, s->fatal_message, sizeof sum->fatal_message);
    }
}

int core_runner_run(const struct core_runner_config *cfg, atomic_int *stop, struct core_runner_stats *stats,
                    char *err, size_t errlen)
{
    struct client_options opts = {
        .ca_bundle = cfg->ca_bundle, .timeout_s = CLIENT_TIMEOUT_S, .max_reply = START_REPLY_MAX};
    struct client_error cerr;
    struct core *cores = NULL;
    pthread_t *threads = NULL;
    int started = 0, rc = -1;
    memset(stats, 0, sizeof *stats);
    if (check_config(cfg, err, errlen) != 0)
        return -1;
    const struct core_engine_ops *engine = core_engine_find(cfg->engine ? cfg->engine : CORE_ENGINE_DEFAULT);
    if (engine->check && engine->check(&cfg->engine_settings, err, errlen) != 0)
        return -1;
    /* The cores resume each other's TLS sessions with the CC and the SCVs. */
    if ((opts.share = client_share_new(&cerr)) == NULL) {
        snprintf(err, errlen, "%s", cerr.message);
        return -1;
    }
    cores = calloc((size_t)cfg->cores, sizeof *cores);
    threads = calloc((size_t)cfg->cores, sizeof *threads);
    if (!cores || !threads) {
        snprintf(err, errlen, "out of memory for %d cores", cfg->cores);
        goto out;
    }
    double deadline = cfg->duration_s > 0 ? clock_mono_s() + cfg->duration_s : 0;
    for (int i = 0; i < cfg->cores; i++) {
        struct core *k = &cores[i];
        k->id = i + 1;
        k->cfg = cfg;
        k->engine = engine;
        k->stop = stop;
        k->deadline = deadline;
        k->client = client_new(cfg->cc, &opts, &cerr);
        if (!k->client) {
            snprintf(err, errlen, "%s", cerr.message);
            goto out;
        }
        if (client_set_token(k->client, cfg->engine_key) != 0) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
    }
    for (; started < cfg->cores; started++) {
        if (pthread_create(&threads[started], NULL, core_main, &cores[started]) != 0) {
            snprintf(err, errlen, "cannot start core thread %d of %d", started + 1, cfg->cores);
            atomic_store(stop, 1);
            goto out;
        }
    }
    rc = 0;
out:
    for (int i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; cores && i < cfg->cores; i++) {
        add_stats(stats, &cores[i].stats);
        client_free(cores[i].client);
    }
    free(threads);
    free(cores);
    client_share_free(opts.share);
    return rc;
}
