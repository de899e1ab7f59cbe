/* core_engine: the reference core's engines behind one interface.
 *
 * An engine is built from a stream's decoded files and its target's options,
 * then advances one frame at a time, each frame an XTC frame the core
 * appends to frames.xtc, and writes its checkpoint (one file, ops->state_file)
 * at a frame boundary. Backends fill a core_engine_ops table: "toy"
 * (md_engine) and "openmm" (openmm_engine). This module holds what they
 * share: the registry, finding a stream file, the steps_per_frame option,
 * and a frame buffer sized for the engine's system.
 * Errors come back as NULL/0 with a message fit for PUT /core/stop. */
#ifndef ST_CORE_ENGINE_H
#define ST_CORE_ENGINE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define CORE_ENGINE_DEFAULT "toy"
#define CORE_ENGINE_DEFAULT_PLATFORM "CPU"
#define CORE_ENGINE_MAX_STEPS_PER_FRAME 1000000
#define CORE_ENGINE_MAX_THREADS 1024
#define CORE_ENGINE_ERROR_MAX 512 /* error messages fit in this many bytes */

/* One decoded stream file under its base name ("system.xml"). */
typedef struct core_file {
    const char *name;
    const void *data;
    size_t len;
} core_file;

/* Settings from the core's command line; engines ignore what they lack. */
struct core_engine_settings {
    const char *platform; /* OpenMM platform name: CPU, Reference, OpenCL */
    int threads;          /* CPU platform threads; 0: the platform's choice */
};

struct core_engine_ops {
    const char *name;       /* the engine key's engine */
    const char *state_file; /* the checkpoint's base name */
    size_t max_file_bytes;  /* largest decoded stream file accepted */
    /* Whether this machine can run the engine with these settings (NULL:
     * always). Checked before any work is asked for, so a core that cannot
     * run never counts errors against streams. 0, or -1 with the reason. */
    int (*check)(const struct core_engine_settings *settings, char *err, size_t errlen);
    void *(*create)(const core_file *files, size_t nfiles, const json_t *options,
                    const struct core_engine_settings *settings, char *err, size_t errlen);
    void (*destroy)(void *impl);
    /* Bytes that always hold one frame of this engine's system. */
    size_t (*frame_bytes_max)(const void *impl);
    /* One frame of steps; its XTC bytes into buf, or 0 with the reason. */
    size_t (*advance)(void *impl, unsigned char *buf, size_t cap, char *err, size_t errlen);
    /* The checkpoint file's bytes (malloc'd), or NULL with the reason; an
     * engine refuses to checkpoint a state it finds broken. */
    char *(*checkpoint)(void *impl, size_t *len, char *err, size_t errlen);
    int (*natoms)(const void *impl);
    int (*steps_per_frame)(const void *impl);
    int64_t (*step)(const void *impl);
};

/* The backend named name, or NULL. */
const struct core_engine_ops *core_engine_find(const char *name);
/* The known names, for usage text: "toy|openmm". */
const char *core_engine_names(void);

/* The file called name among files; NULL with the reason when it is
 * missing, given twice or over max_bytes. */
const core_file *core_engine_find_file(const core_file *files, size_t nfiles, const char *name,
                                       size_t max_bytes, char *err, size_t errlen);

/* steps_per_frame from the target's options (an object or NULL): a JSON
 * integer from 1 to CORE_ENGINE_MAX_STEPS_PER_FRAME, fallback when absent.
 * 0, or -1 with the reason. */
int core_engine_parse_steps_per_frame(const json_t *options, int fallback, int *out, char *err,
                                      size_t errlen);

typedef struct core_engine core_engine;

core_engine *core_engine_create(const struct core_engine_ops *ops, const core_file *files, size_t nfiles,
                                const json_t *options, const struct core_engine_settings *settings, char *err,
                                size_t errlen);
void core_engine_free(core_engine *e);
/* Advances one frame; its XTC bytes stay valid until the next call.
 * NULL with the reason. */
const unsigned char *core_engine_advance(core_engine *e, size_t *len, char *err, size_t errlen);
/* The checkpoint file's bytes, malloc'd; NULL with the reason. */
char *core_engine_checkpoint(core_engine *e, size_t *len, char *err, size_t errlen);
const struct core_engine_ops *core_engine_ops_of(const core_engine *e);
int core_engine_natoms(const core_engine *e);
int core_engine_steps_per_frame(const core_engine *e);
int64_t core_engine_step(const core_engine *e);

#endif
