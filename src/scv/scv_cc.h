/* scv_cc: the SCV's calls to its Command Center (PROTOCOL.md, "CC endpoints
 * used by SCVs"), blocking, for worker and ticker threads.
 *
 * Each calling thread keeps its own client handle (freed at thread exit) so
 * connections are reused. Manager verification and target info are cached
 * for SCV_CC_CACHE_SECONDS so a busy manager does not hammer the CC; only
 * successful answers are cached. Every call returns SCV_CC_OK,
 * SCV_CC_REFUSED (the CC answered no: err holds its reason) or
 * SCV_CC_UNREACHABLE (no usable answer: err says why; callers reply 503). */
#ifndef ST_SCV_CC_H
#define ST_SCV_CC_H

#include <jansson.h>
#include <stddef.h>

#include "config/config.h"

#define SCV_CC_CACHE_SECONDS 15
#define SCV_CC_ERR_LEN 512

typedef enum { SCV_CC_OK = 0, SCV_CC_REFUSED = 1, SCV_CC_UNREACHABLE = -1 } scv_cc_rc;

typedef struct scv_cc scv_cc;

/* secret: what the CC must present to this SCV (sent on registration). */
scv_cc *scv_cc_new(const struct config *cfg, const char *secret);
void scv_cc_free(scv_cc *cc);

/* GET /users/verify: *admin = 1 when the role is admin; user gets the name. */
scv_cc_rc scv_cc_verify(scv_cc *cc, const char *user_token, char *user, size_t user_len, int *admin,
                        char *err);
/* GET /targets/info/:id; *info is a new reference. */
scv_cc_rc scv_cc_target_info(scv_cc *cc, const char *target_id, json_t **info, char *err);
/* PUT /scvs/register {"name","host","password"} with cc_pass. */
scv_cc_rc scv_cc_register(scv_cc *cc, char *err);
/* PUT /targets/shards/:id {"scv": name, "op": "add"|"remove"} with cc_pass. */
scv_cc_rc scv_cc_shard(scv_cc *cc, const char *target_id, const char *op, char *err);
/* POST /stats {"fragments": fragments} with cc_pass. */
scv_cc_rc scv_cc_post_stats(scv_cc *cc, json_t *fragments, char *err);

#endif
