/* core_engine: the registry and what every backend shares. */
#include "core/core_engine.h"
#include "core/md_engine.h"
#include "core/openmm_engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct core_engine {
    const struct core_engine_ops *ops;
    void *impl;
    unsigned char *frame;
    size_t frame_cap;
};

static const struct core_engine_ops *const engines[] = {&md_engine_ops, &openmm_engine_ops};

const struct core_engine_ops *core_engine_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof engines / sizeof engines[0]; i++)
        if (strcmp(engines[i]->name, name) == 0)
            return engines[i];
    return NULL;
}

const char *core_engine_names(void)
{
    return "toy|openmm";
}

const core_file *core_engine_find_file(const core_file *files, size_t nfiles, const char *name,
                                       size_t max_bytes, char *err, size_t errlen)
{
    const core_file *found = NULL;
    for (size_t i = 0; i < nfiles; i++) {
        if (strcmp(files[i].name, name) != 0)
            continue;
        if (found) {
            snprintf(err, errlen, "stream file %s is given twice", name);
            return NULL;
        }
        found = &files[i];
    }
    if (!found) {
        snprintf(err, errlen, "stream file %s is missing", name);
        return NULL;
    }
    if (found->len > max_bytes) {
        snprintf(err, errlen, "stream file %s is %zu bytes; the limit is %zu", name, found->len, max_bytes);
        return NULL;
    }
    return found;
}

int core_engine_parse_steps_per_frame(const json_t *options, int fallback, int *out, char *err, size_t errlen)
{
    *out = fallback;
    if (!options)
        return 0;
    if (!json_is_object(options)) {
        snprintf(err, errlen, "target options must be a JSON object");
        return -1;
    }
    const json_t *spf = json_object_get(options, "steps_per_frame");
    if (!spf)
        return 0;
    json_int_t n = json_is_integer(spf) ? json_integer_value(spf) : 0;
    if (n < 1 || n > CORE_ENGINE_MAX_STEPS_PER_FRAME) {
        snprintf(err, errlen, "option steps_per_frame must be an integer from 1 to %d",
                 CORE_ENGINE_MAX_STEPS_PER_FRAME);
        return -1;
    }
    *out = (int)n;
    return 0;
}

core_engine *core_engine_create(const struct core_engine_ops *ops, const core_file *files, size_t nfiles,
                                const json_t *options, const struct core_engine_settings *settings, char *err,
                                size_t errlen)
{
    core_engine *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    e->ops = ops;
    e->impl = ops->create(files, nfiles, options, settings, err, errlen);
    if (!e->impl)
        goto fail;
    e->frame_cap = ops->frame_bytes_max(e->impl);
    e->frame = malloc(e->frame_cap);
    if (!e->frame) {
        snprintf(err, errlen, "out of memory for a %zu-byte frame buffer", e->frame_cap);
        goto fail;
    }
    return e;
fail:
    core_engine_free(e);
    return NULL;
}

void core_engine_free(core_engine *e)
{
    if (!e)
        return;
    if (e->impl)
        e->ops->destroy(e->impl);
    free(e->frame);
    free(e);
}

const unsigned char *core_engine_advance(core_engine *e, size_t *len, char *err, size_t errlen)
{
    *len = e->ops->advance(e->impl, e->frame, e->frame_cap, err, errlen);
    return *len ? e->frame : NULL;
}

char *core_engine_checkpoint(core_engine *e, size_t *len, char *err, size_t errlen)
{
    return e->ops->checkpoint(e->impl, len, err, errlen);
}

const struct core_engine_ops *core_engine_ops_of(const core_engine *e)
{
    return e->ops;
}

int core_engine_natoms(const core_engine *e)
{
    return e->ops->natoms(e->impl);
}

int core_engine_steps_per_frame(const core_engine *e)
{
    return e->ops->steps_per_frame(e->impl);
}

int64_t core_engine_step(const core_engine *e)
{
    return e->ops->step(e->impl);
}
