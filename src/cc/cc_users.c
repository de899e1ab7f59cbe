/* cc_users: accounts (PROTOCOL.md): managers and admins, donors, logins and
 * token verification. Every handler hashes with Argon2, so each takes a
 * login slot (bounded memory) and runs on a worker. */
#include <stdio.h>

#include "cc/cc_fields.h"
#include "cc/cc_access.h"

static void reply_token(struct server_job *job, const char *token)
{
    job->reply = json_pack("{s:s}", "token", token);
}

/* Who may create a manager: an admin, or anyone on loopback while no admin
 * exists yet (the bootstrap; a remote request never can). */
static int may_create_manager(struct server_job *job)
{
    cc_service *svc = job->app;
    cc_user admin;
    int exists = 0;
    if (job->auth != NULL)
        return cc_access_admin(job, &admin);
    if (cc_store_admin_exists(svc->store, &exists, &job->status) != STATUS_OK)
        return -1;
    if (exists) {
        status_fail(&job->status, STATUS_DENIED, "creating a manager needs an admin token");
        return -1;
    }
    if (!job->local) {
        status_fail(&job->status, STATUS_DENIED,
                    "the first admin can only be created on the CC host (loopback or "
                    "`siegetank cc add-manager`)");
        return -1;
    }
    return 0;
}

static void work_create_manager(struct server_job *job)
{
    cc_service *svc = job->app;
    const char *email = NULL, *password = NULL, *role_name = NULL;
    double weight = 1;
    cc_role role;
    char token[AUTH_TOKEN_HEX_LEN + 1];
    if (may_create_manager(job) != 0)
        return;
    if (cc_field_string(job->json, "email", CC_FIELD_REQUIRED, CC_NAME_MAX, &email, &job->status) !=
            STATUS_OK ||
        cc_field_string(job->json, "password", CC_FIELD_REQUIRED, AUTH_PASSWORD_MAX, &password,
                        &job->status) != STATUS_OK ||
        cc_field_string(job->json, "role", CC_FIELD_REQUIRED, 32, &role_name, &job->status) != STATUS_OK ||
        cc_field_number(job->json, "weight", CC_FIELD_OPTIONAL, &weight, &job->status) != STATUS_OK)
        return;
    if (cc_role_parse(role_name, &role) != 0 || role == CC_ROLE_DONOR) {
        status_fail(&job->status, STATUS_INVALID, "unknown role '%s': use 'admin' or 'manager'", role_name);
        return;
    }
    if (cc_store_create_manager(svc->store, email, password, role, weight, token, &job->status) != STATUS_OK)
        return;
    reply_token(job, token);
    cc_service_refresh(svc); /* the draw uses manager weights */
}

static void authenticate(struct server_job *job, int donors)
{
    cc_service *svc = job->app;
    const char *key = donors ? "username" : "email";
    const char *name = NULL, *password = NULL;
    char token[AUTH_TOKEN_HEX_LEN + 1];
    if (cc_field_string(job->json, key, CC_FIELD_REQUIRED, CC_NAME_MAX, &name, &job->status) != STATUS_OK ||
        cc_field_string(job->json, "password", CC_FIELD_REQUIRED, AUTH_PASSWORD_MAX, &password,
                        &job->status) != STATUS_OK)
        return;
    status_code rc = cc_store_authenticate(svc->store, donors, name, password, token, &job->status);
    if (rc == STATUS_DENIED || rc == STATUS_NOT_FOUND) {
        status_fail(&job->status, STATUS_DENIED, "wrong %s or password", key);
        return;
    }
    if (rc != STATUS_OK)
        return;
    reply_token(job, token);
}

static void work_auth(struct server_job *job)
{
    authenticate(job, 0);
}

static void work_donor_auth(struct server_job *job)
{
    authenticate(job, 1);
}

static void work_create_donor(struct server_job *job)
{
    cc_service *svc = job->app;
    const char *username = NULL, *password = NULL, *email = NULL;
    char token[AUTH_TOKEN_HEX_LEN + 1];
    if (cc_field_string(job->json, "username", CC_FIELD_REQUIRED, CC_NAME_MAX, &username, &job->status) !=
            STATUS_OK ||
        cc_field_string(job->json, "password", CC_FIELD_REQUIRED, AUTH_PASSWORD_MAX, &password,
                        &job->status) != STATUS_OK ||
        cc_field_string(job->json, "email", CC_FIELD_REQUIRED, CC_NAME_MAX, &email, &job->status) !=
            STATUS_OK)
        return;
    if (cc_store_create_donor(svc->store, username, email, password, token, &job->status) == STATUS_OK)
        reply_token(job, token);
}

static void work_verify(struct server_job *job)
{
    cc_user user;
    if (cc_access_user(job, &user) != 0)
        return;
    job->reply = json_pack("{s:s, s:s}", "user", user.name, "role", cc_role_name(user.role));
}

/* Logins and sign-ups hash a password (Argon2, ~64 MB each): each holds one
 * of the CC_LOGINS_MAX slots of svc->logins. */
int cc_users_routes(struct server *s, cc_service *svc)
{
    return server_route_job_limited(s, "POST", "/managers", work_create_manager, SERVER_JOB_JSON,
                                    &svc->logins) |
           server_route_job_limited(s, "POST", "/auth", work_auth, SERVER_JOB_JSON, &svc->logins) |
           server_route_job_limited(s, "POST", "/donors", work_create_donor, SERVER_JOB_JSON, &svc->logins) |
           server_route_job_limited(s, "POST", "/donors/auth", work_donor_auth, SERVER_JOB_JSON,
                                    &svc->logins) |
           server_route_job(s, "GET", "/users/verify", work_verify, SERVER_JOB_JSON);
}
