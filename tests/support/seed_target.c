/* seed_target: see seed_target.h. */
#include "seed_target.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>

#include "core/md_engine.h"
#include "seed_files.h"

void seed_target(struct client *m, const char *scv, const char *stage, double points_per_frame, int nstreams,
                 char target_id[SEED_TARGET_ID_MAX], char (*stream_ids)[SEED_TARGET_STREAM_ID_MAX])
{
    struct client_error err;
    json_t *spec = json_pack("{s:[s], s:s, s:{s:i}}", "engines", MD_ENGINE_NAME, "stage", stage, "options",
                             "steps_per_frame", 20);
    if (points_per_frame > 0)
        json_object_set_new(spec, "points_per_frame", json_real(points_per_frame));
    json_t *target = client_target_create(m, spec, &err);
    assert_non_null(target);
    snprintf(target_id, SEED_TARGET_ID_MAX, "%s", json_string_value(json_object_get(target, "target_id")));
    for (int i = 0; i < nstreams; i++) {
        json_t *files = seed_files(i + 1);
        json_t *r = client_stream_add(m, scv, target_id, files, NULL, &err);
        assert_non_null(r);
        if (stream_ids)
            snprintf(stream_ids[i], SEED_TARGET_STREAM_ID_MAX, "%s",
                     json_string_value(json_object_get(r, "stream_id")));
        json_decref(r);
        json_decref(files);
    }
    json_decref(target);
    json_decref(spec);
}
