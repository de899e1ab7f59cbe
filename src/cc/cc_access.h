/* cc_access: who is calling a CC job (server_job.h), from its Authorization
 * value: a user's token and its role, or the CC's own secret (cc_pass) that
 * SCVs present. Each check returns STATUS_OK, or fails the job's status
 * with 401 (the store's failure when it failed) and returns that code. */
#ifndef ST_CC_ACCESS_H
#define ST_CC_ACCESS_H

#include "cc/cc_service.h"
#include "runtime/server_job.h"
#include "util/status.h"

/* The user of the job's token into out. */
status_code cc_access_user(struct server_job *job, cc_user *out);
status_code cc_access_manager(struct server_job *job, cc_user *out); /* manager or admin */
status_code cc_access_admin(struct server_job *job, cc_user *out);
/* The token is the CC's cc_pass or a previous one (constant time). */
status_code cc_access_scv(struct server_job *job);

#endif
