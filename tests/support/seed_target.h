/* A toy-engine target with seeded streams, made through the client API as a
 * test's setup. seed_target creates, as m's user, a target for the toy
 * engine (MD_ENGINE_NAME, 20 steps per frame) in stage, with
 * points_per_frame when it is > 0, and adds nstreams streams to SCV scv
 * with seed_files(1..nstreams). It writes the target's id to target_id and,
 * when stream_ids is not NULL, each stream's id. Fails the running cmocka
 * test on any refusal. */
#ifndef ST_TESTS_SEED_TARGET_H
#define ST_TESTS_SEED_TARGET_H

#include "client/client.h"

#define SEED_TARGET_ID_MAX 64 /* a uuid and its NUL, with room */
#define SEED_TARGET_STREAM_ID_MAX 256

void seed_target(struct client *m, const char *scv, const char *stage, double points_per_frame, int nstreams,
                 char target_id[SEED_TARGET_ID_MAX], char (*stream_ids)[SEED_TARGET_STREAM_ID_MAX]);

#endif
