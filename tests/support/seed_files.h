/* The "files" object of a new stream for tests: the MD engine's seed
 * system and state for a seed, gzipped and base64-encoded as
 * "system.json.gz.b64" and "state.json.gz.b64". Fails the running cmocka
 * test when the engine cannot make them. The caller owns the result. */
#ifndef ST_TESTS_SEED_FILES_H
#define ST_TESTS_SEED_FILES_H

#include <jansson.h>

json_t *seed_files(int seed);

#endif
