/* The "files" object of a new stream for tests: the toy engine's seed
 * system and state for a seed, gzipped and base64-encoded as
 * "system.json.gz.b64" and "state.json.gz.b64". Fails the running cmocka
 * test when the engine cannot make them. The caller owns the result. */
#ifndef ST_TESTS_SEED_FILES_H
#define ST_TESTS_SEED_FILES_H

#include <jansson.h>

json_t *seed_files(int seed);

/* The OpenMM test system (tests/core/data/openmm, alanine dipeptide):
 * the gunzipped bytes of data file name ("system.xml.gz"), malloc'd and
 * NUL-terminated. Fails the running test when it cannot be read. */
char *seed_files_openmm_data(const char *name, size_t *len);

/* xml without the first element that starts with open ("<Position "),
 * e.g. a state one position short; malloc'd, NUL-terminated, *len bytes. */
char *seed_files_drop_first(const char *xml, const char *open, size_t *len);

/* The "files" object of a new OpenMM stream: the three texts gzipped and
 * base64-encoded as "system.xml.gz.b64", "state.xml.gz.b64" and
 * "integrator.xml.gz.b64". The caller owns the result. */
json_t *seed_files_openmm(const char *system, size_t system_len, const char *state, size_t state_len,
                          const char *integrator, size_t integrator_len);

#endif
