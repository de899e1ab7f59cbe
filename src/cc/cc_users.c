/* cc_users: accounts (PROTOCOL.md): managers and admins, donors, logins and
 * token verification. Every handler hashes with Argon2, so each takes a
 * login slot (bounded memory) and runs on a worker. */
#include <stdio.h>

#include "cc/cc_fields.h"
#include "cc/cc_job.h"

#define ERR_MAX CC_FIELDS_ERR_MAX

static void reply_token(cc_job *job, const char *token)
{
    job->reply = json_pack("{s:s}", "token", token);
}

/* Who may create a manager: an admin, or anyone on loopback while no admin
 * exists yet (the bootstrap; a remote request never can). */
static int may_create_manager(cc_job *job)
{
    cc_user admin;
    int exists = 0;
    if (job->auth != NULL)
        return cc_job_admin(job, &admin);
    struct status st;
    if (cc_store_admin_exists(job->svc->store, &exists, &st) != STATUS_OK) {
        cc_job_store_fail(job, &st);
        return -1;
    }
    if (exists) {
        cc_job_fail(job, 401, "creating a manager needs an admin token");
        return -1;
    }
    if (!job->loopback) {
        cc_job_fail(job, 401,
                    "the first admin can only be created on the CC host (loopback or "
                    "`siegetank cc add-manager`)");
        return -1;
    }
    return 0;
}

static void work_create_manager(cc_job *job)
{
    const char *email = NULL, *password = NULL, *role_name = NULL;
    double weight = 1;
    cc_role role;
    char err[ERR_MAX], token[AUTH_TOKEN_HEX_LEN + 1];
    if (may_create_manager(job) != 0)
        return;
    if (cc_field_string(job->body, "email", CC_FIELD_REQUIRED, CC_NAME_MAX, &email, err, sizeof err) != 0 ||
        cc_field_string(job->body, "password", CC_FIELD_REQUIRED, AUTH_PASSWORD_MAX, &password, err,
                        sizeof err) != 0 ||
        cc_field_string(job->body, "role", CC_FIELD_REQUIRED, 32, &role_name, err, sizeof err) != 0 ||
        cc_field_number(job->body, "weight", CC_FIELD_OPTIONAL, &weight, err, sizeof err) != 0) {
        cc_job_fail(job, 400, "%s", err);
        return;
    }
    if (cc_role_parse(role_name, &role) != 0 || role == CC_ROLE_DONOR) {
        cc_job_fail(job, 400, "unknown role '%s': use 'admin' or 'manager'", role_name);
        return;
    }
    struct status st;
    if (cc_store_create_manager(job->svc->store, email, password, role, weight, token, &st) != STATUS_OK) {
        cc_job_store_fail(job, &st);
        return;
    }
    reply_token(job, token);
    job->refresh = 1; /* the draw uses manager weights */
}

static void authenticate(cc_job *job, int donors)
{
    const char *key = donors ? "username" : "email";
    const char *name = NULL, *password = NULL;
    char err[ERR_MAX], token[AUTH_TOKEN_HEX_LEN + 1];
    if (cc_field_string(job->body, key, CC_FIELD_REQUIRED, CC_NAME_MAX, &name, err, sizeof err) != 0 ||
        cc_field_string(job->body, "password", CC_FIELD_REQUIRED, AUTH_PASSWORD_MAX, &password, err,
                        sizeof err) != 0) {
        cc_job_fail(job, 400, "%s", err);
        return;
    }
    struct status st;
    status_code rc = cc_store_authenticate(job->svc->store, donors, name, password, token, &st);
    if (rc == STATUS_DENIED || rc == STATUS_NOT_FOUND) {
        cc_job_fail(job, 401, "wrong %s or password", key);
        return;
    }
    if (rc != STATUS_OK) {
        cc_job_store_fail(job, &st);
        return;
    }
    reply_token(job, token);
}

static void work_auth(cc_job *job)
{
    authenticate(job, 0);
}

static void work_donor_auth(cc_job *job)
{
    authenticate(job, 1);
}

static void work_create_donor(cc_job *job)
{
    const char *username = NULL, *password = NULL, *email = NULL;
    char err[ERR_MAX], token[AUTH_TOKEN_HEX_LEN + 1];
    if (cc_field_string(job->body, "username", CC_FIELD_REQUIRED, CC_NAME_MAX, &username, err, sizeof err) !=
            0 ||
        cc_field_string(job->body, "password", CC_FIELD_REQUIRED, AUTH_PASSWORD_MAX, &password, err,
                        sizeof err) != 0 ||
        cc_field_string(job->body, "email", CC_FIELD_REQUIRED, CC_NAME_MAX, &email, err, sizeof err) != 0) {
        cc_job_fail(job, 400, "%s", err);
        return;
    }
    struct status st;
    if (cc_store_create_donor(job->svc->store, username, email, password, token, &st) != STATUS_OK)
        cc_job_store_fail(job, &st);
    else
        reply_token(job, token);
}

static void work_verify(cc_job *job)
{
    cc_user user;
    if (cc_job_user(job, &user) != 0)
        return;
    job->reply = json_pack("{s:s, s:s}", "user", user.name, "role", cc_role_name(user.role));
}

static void handle_create_manager(struct server_request *r)
{
    cc_job_start(r, work_create_manager, CC_JOB_LOGIN);
}

static void handle_auth(struct server_request *r)
{
    cc_job_start(r, work_auth, CC_JOB_LOGIN);
}

static void handle_create_donor(struct server_request *r)
{
    cc_job_start(r, work_create_donor, CC_JOB_LOGIN);
}

static void handle_donor_auth(struct server_request *r)
{
    cc_job_start(r, work_donor_auth, CC_JOB_LOGIN);
}

static void handle_verify(struct server_request *r)
{
    cc_job_start(r, work_verify, 0);
}

int cc_users_routes(struct server *s)
{
    return server_route(s, "POST", "/managers", handle_create_manager) |
           server_route(s, "POST", "/auth", handle_auth) |
           server_route(s, "POST", "/donors", handle_create_donor) |
           server_route(s, "POST", "/donors/auth", handle_donor_auth) |
           server_route(s, "GET", "/users/verify", handle_verify);
}
