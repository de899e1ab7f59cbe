#include <stdlib.h>

#include "scv/stream_store_int.h"
#include "util/clock.h"

/* The fragment's id, or NULL after failing with a reason in st. */
static const char *fragment_id(const json_t *fragment, struct status *st)
{
    const char *fid = json_string_value(json_object_get(fragment, "id"));
    if (!json_is_object(fragment) || !fid || fid[0] == '\0') {
        ss_fail(st, STATUS_INVALID, "a stats fragment must be an object with a non-empty string id");
        return NULL;
    }
    return fid;
}

status_code stream_store_outbox_add(stream_store *s, const json_t *fragment, struct status *st)
{
    const char *fid = fragment_id(fragment, st);
    if (!fid)
        return STATUS_INVALID;
    char *text = json_dumps(fragment, JSON_COMPACT);
    if (!text)
        return ss_fail(st, STATUS_IO, "cannot encode stats fragment %s", fid);
    status_code rc = STATUS_OK;
    if (scv_db_outbox_add(s->db, fid, text, clock_wall_s()) != 0)
        rc = ss_fail(st, STATUS_IO, "cannot save stats fragment %s in scv.db", fid);
    free(text);
    return rc;
}

status_code ss_credit_text(const json_t *credit, const char **fid, char **text, struct status *st)
{
    *fid = NULL;
    *text = NULL;
    if (credit == NULL)
        return STATUS_OK;
    if ((*fid = fragment_id(credit, st)) == NULL)
        return STATUS_INVALID;
    if ((*text = json_dumps(credit, JSON_COMPACT)) == NULL)
        return ss_fail(st, STATUS_IO, "cannot encode stats fragment %s", *fid);
    return STATUS_OK;
}

status_code stream_store_outbox_list(stream_store *s, size_t max, json_t **out, struct status *st)
{
    if (scv_db_outbox_list(s->db, max, out) != 0)
        return ss_fail(st, STATUS_IO, "cannot read the stats outbox from scv.db");
    return STATUS_OK;
}

status_code stream_store_outbox_delete(stream_store *s, const char *const *ids, size_t n, struct status *st)
{
    if (scv_db_outbox_delete(s->db, ids, n) != 0)
        return ss_fail(st, STATUS_IO, "cannot delete shipped stats fragments from scv.db");
    return STATUS_OK;
}

status_code stream_store_outbox_stats(stream_store *s, size_t *n, double *oldest, struct status *st)
{
    if (scv_db_outbox_oldest(s->db, oldest) != STATUS_OK)
        return ss_fail(st, STATUS_IO, "cannot read the stats outbox from scv.db");
    *n = scv_db_outbox_count(s->db);
    return STATUS_OK;
}
