/* cc_access: the caller checks of CC jobs (cc_access.h). */
#include "cc/cc_access.h"

#include <stdio.h>
#include <string.h>

#include "util/crypto.h"

status_code cc_access_user(struct server_job *job, cc_user *out)
{
    cc_service *svc = job->app;
    if (job->auth == NULL || job->auth[0] == '\0')
        return status_fail(&job->status, STATUS_DENIED, "missing user token in the Authorization header");
    status_code rc = cc_store_user_by_token(svc->store, job->auth, out, &job->status);
    if (rc == STATUS_NOT_FOUND)
        return status_fail(&job->status, STATUS_DENIED, "invalid or expired user token");
    return rc;
}

status_code cc_access_manager(struct server_job *job, cc_user *out)
{
    if (cc_access_user(job, out) != STATUS_OK)
        return job->status.code;
    if (out->role == CC_ROLE_ADMIN || out->role == CC_ROLE_MANAGER)
        return STATUS_OK;
    return status_fail(&job->status, STATUS_DENIED, "this needs a manager token; '%s' is a %s", out->name,
                       cc_role_name(out->role));
}

status_code cc_access_admin(struct server_job *job, cc_user *out)
{
    if (cc_access_user(job, out) != STATUS_OK)
        return job->status.code;
    if (out->role == CC_ROLE_ADMIN)
        return STATUS_OK;
    return status_fail(&job->status, STATUS_DENIED, "this needs an admin token; '%s' is a %s", out->name,
                       cc_role_name(out->role));
}

/* 1 when auth is one of the space-separated words of list (each compared
 * in constant time). */
static int in_previous(const char *auth, const char *list)
{
    char word[sizeof((struct config *)0)->cc_pass_previous];
    int found = 0;
    for (const char *p = list; *p;) {
        size_t skip = strspn(p, " \t"), len = strcspn(p + skip, " \t");
        if (len == 0)
            break;
        snprintf(word, sizeof word, "%.*s", (int)len, p + skip);
        found |= crypto_equal(auth, word);
        p += skip + len;
    }
    return found;
}

status_code cc_access_scv(struct server_job *job)
{
    cc_service *svc = job->app;
    const char *pass = svc->cfg.cc_pass;
    /* An unset secret must not let anyone in. During a rotation SCVs may
     * still present a previous cc_pass (docs/deployment.md). */
    if (pass[0] != '\0' && job->auth != NULL &&
        (crypto_equal(job->auth, pass) || in_previous(job->auth, svc->cfg.cc_pass_previous)))
        return STATUS_OK;
    return status_fail(&job->status, STATUS_DENIED,
                       "wrong or missing server secret (cc_pass) in the Authorization header");
}
