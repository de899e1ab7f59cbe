/* scv_cc: the SCV's calls to its Command Center (PROTOCOL.md, "CC endpoints
 * used by SCVs"), blocking, for worker and ticker threads.
 *
 * Each calling thread keeps its own client handle (freed at thread exit) so
 * connections are reused. Manager verification and target info are cached
 * for SCV_CC_CACHE_SECONDS so a busy manager does not hammer the CC; only
 * successful answers are cached. Every call returns STATUS_OK,
 * STATUS_CONFLICT (the CC answered no: st holds its reason), STATUS_INVALID
 * (a target id too long to ask about) or STATUS_UNAVAILABLE (no usable
 * answer: st says why; callers reply 503). */
#ifndef ST_SCV_CC_H
#define ST_SCV_CC_H

#include <jansson.h>
#include <stddef.h>

#include "config/config.h"
#include "util/status.h"

#define SCV_CC_CACHE_SECONDS 15
typedef struct scv_cc scv_cc;

/* secret: what the CC must present to this SCV (sent on registration). */
scv_cc *scv_cc_new(const struct config *cfg, const char *secret);
void scv_cc_free(scv_cc *cc);

/* GET /users/verify: *admin = 1 when the role is admin; user gets the name. */
status_code scv_cc_verify(scv_cc *cc, const char *user_token, char *user, size_t user_len, int *admin,
                          struct status *st);
/* GET /targets/info/:id; *info is a new reference. */
status_code scv_cc_target_info(scv_cc *cc, const char *target_id, json_t **info, struct status *st);
/* PUT /scvs/register {"name","host","password"} with cc_pass. */
status_code scv_cc_register(scv_cc *cc, struct status *st);
/* PUT /targets/shards/:id {"scv": name, "op": "add"|"remove"} with cc_pass. */
status_code scv_cc_shard(scv_cc *cc, const char *target_id, const char *op, struct status *st);
/* POST /stats {"fragments": fragments} with cc_pass. */
status_code scv_cc_post_stats(scv_cc *cc, json_t *fragments, struct status *st);

#endif
