/* core_runner: the reference core's protocol loop (PROTOCOL.md, core side).
 *
 * Each core is a thread with its own client handle and engine (core_engine:
 * "toy" or "openmm", one engine per process). It asks
 * the CC for work (engine key, optional donor token and target), fetches the
 * stream with GET /core/start, then loops: advance one frame, send it
 * (PUT /core/frame), checkpoint every frames_per_checkpoint frames
 * (PUT /core/checkpoint), heartbeat every heartbeat_s (POST /core/heartbeat).
 *
 * Failures: a network error or 5xx is retried with the identical body after
 * a doubling delay (0.5 s up to 30 s, at most max_retries times), so the
 * SCV's duplicate-frame check drops a frame that had already arrived. A 4xx
 * means the core token is dead: the core drops the stream and asks for work
 * again. An engine error is reported with PUT /core/stop {"error"}. A 401 on
 * assign (the engine key is refused) ends that core for good.
 *
 * Stopping: when *stop becomes nonzero or duration_s has passed, each core
 * checkpoints the frames it has sent since its last checkpoint (one attempt),
 * sends PUT /core/stop and exits; core_runner_run returns after all joined. */
#ifndef ST_CORE_RUNNER_H
#define ST_CORE_RUNNER_H

#include <stdatomic.h>
#include <stddef.h>

#include "core/core_engine.h"

#define CORE_RUNNER_MAX_CORES 1024
#define CORE_RUNNER_DEFAULT_FRAMES_PER_CHECKPOINT 10
#define CORE_RUNNER_DEFAULT_HEARTBEAT_S 60.0
#define CORE_RUNNER_DEFAULT_MAX_RETRIES 8
#define CORE_RUNNER_ERROR_MAX 512

struct core_runner_config {
    const char *cc;          /* host:port (https) or http(s)://host:port */
    const char *engine_key;  /* Authorization for POST /core/assign */
    const char *donor_token; /* NULL: no donor credited */
    const char *target_id;   /* NULL: any public target for the engine */
    const char *ca_bundle;   /* NULL: the system's CA store */
    int cores;               /* 1..CORE_RUNNER_MAX_CORES */
    double duration_s;       /* 0: until *stop */
    int frames_per_checkpoint;
    double heartbeat_s;
    double frame_interval_s; /* pause between frames; 0: as fast as possible */
    int max_retries;         /* retries of one request before the stream is dropped */
    const char *engine;      /* core_engine name; NULL: CORE_ENGINE_DEFAULT */
    struct core_engine_settings engine_settings;
};

struct core_runner_stats {
    long assignments;      /* streams obtained */
    long frames_sent;      /* frames the SCV acknowledged */
    long frames_committed; /* frames covered by an acknowledged checkpoint */
    long checkpoints;      /* checkpoints that committed frames */
    long lost;             /* streams dropped: dead token or retries exhausted */
    long errors;           /* engine or stream-file errors reported to the SCV */
    int fatal;             /* some core gave up for good (see fatal_message) */
    char fatal_message[CORE_RUNNER_ERROR_MAX];
};

/* Fills the defaults above (1 core, no duration, the toy engine on
 * platform CPU, ...); cc and key NULL. */
void core_runner_config_init(struct core_runner_config *cfg);

/* Runs the cores until *stop or the duration; fills stats (summed over the
 * cores). Returns 0, or -1 with the reason in err when it could not start
 * (bad config, no threads). */
int core_runner_run(const struct core_runner_config *cfg, atomic_int *stop, struct core_runner_stats *stats,
                    char *err, size_t errlen);

#endif
