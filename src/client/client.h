/* client: both sides of the Siegetank protocol (PROTOCOL.md) over libcurl.
 *
 * A handle talks to one Command Center (its base URL) and to any SCV or core
 * URL it is told about; it keeps one CURL easy handle so connections are
 * reused. A handle is NOT thread-safe: use one per thread.
 *
 * Base URLs: "https://host:port" or "http://host:port"; "host:port" without a
 * scheme means https. TLS peers are verified when the host is a domain name
 * and not when it is an IP literal or "localhost"; a CA bundle may be given.
 *
 * Errors: every call that can fail fills a struct client_error: status is the
 * HTTP status (0 for a network or local error) and message the server's
 * {"error"} text, the curl error text or a local reason.
 *
 * Replies: JSON replies come back as new jansson references the caller must
 * json_decref. Calls answering only "200" return 0 / -1.
 *
 * SCVs: stream ids are "<uuid4>:<scv name>"; the SCV host of a name comes
 * from the CC's GET /scvs/status and is cached in the handle (refreshed once
 * when a name is unknown). SCV URLs use the scheme scv_scheme says; by
 * default the CC's, since one deployment serves TLS everywhere or nowhere. */
#ifndef ST_CLIENT_H
#define ST_CLIENT_H

#include <stddef.h>
#include <stdio.h>
#include <jansson.h>

#define CLIENT_ERROR_MAX 512
/* JSON replies larger than this are refused (a download is streamed instead). */
#define CLIENT_DEFAULT_MAX_REPLY (256u * 1024 * 1024)

struct client_error {
    long status; /* HTTP status; 0 when no reply was received */
    char message[CLIENT_ERROR_MAX];
};

enum client_scv_scheme { CLIENT_SCV_AS_CC = 0, CLIENT_SCV_HTTPS, CLIENT_SCV_HTTP };

/* A share lets handles in different threads resume each other's TLS
 * sessions and reuse DNS answers, so a process with many handles (the
 * reference core's threads, a daemon's workers) makes one full TLS
 * handshake per server instead of one per handle. Connections themselves
 * stay per handle (libcurl cannot share them between threads safely).
 * Thread-safe; free it only after every handle that uses it. */
struct client_share;
struct client_share *client_share_new(struct client_error *err);
void client_share_free(struct client_share *s);

struct client_options {
    const char *ca_bundle;  /* NULL: the system's CA store */
    long connect_timeout_s; /* 0: 10 s */
    long timeout_s;         /* whole request, 0: 300 s; downloads use a stall timeout instead */
    size_t max_reply;       /* 0: CLIENT_DEFAULT_MAX_REPLY */
    enum client_scv_scheme scv_scheme;
    struct client_share *share; /* NULL: sessions are the handle's own */
};

struct client;

/* A handle for the CC at base_url (see above), or NULL with err filled. */
struct client *client_new(const char *base_url, const struct client_options *opts, struct client_error *err);
void client_free(struct client *c);

/* A pool keeps one handle per calling thread, made on first use from the
 * pool's base URL and options, so a daemon's threads reuse their
 * connections; the pool's own share lets the handles resume each other's
 * TLS sessions (opts->share is ignored). A thread's handle is freed when
 * the thread exits; client_pool_free frees the calling thread's and must
 * come after every other thread that used the pool has exited. */
struct client_pool;
struct client_pool *client_pool_new(const char *base_url, const struct client_options *opts,
                                    struct client_error *err);
/* This thread's handle (made now if needed), or NULL with err filled. */
struct client *client_pool_get(struct client_pool *p, struct client_error *err);
void client_pool_free(struct client_pool *p);
/* The Authorization value sent by the typed calls below (NULL: none). Copied. */
int client_set_token(struct client *c, const char *token);
const char *client_base_url(const struct client *c);

/* ---- raw protocol access (for tests and anything not wrapped below) ---- */

struct client_reply {
    long status;
    char *body; /* NUL-terminated, malloc'd */
    size_t body_len;
    json_t *json;         /* parsed body, or NULL when it is not JSON */
    char content_md5[64]; /* the reply's Content-MD5 header, "" if none */
};

/* Sends method to url_or_path (a path is joined to the base URL) with auth as
 * the Authorization header (NULL: none), body (may be NULL) and extra header
 * lines ("Name: value", NULL-terminated array, may be NULL). Returns 0 when
 * any HTTP reply arrived (whatever its status) and -1 on a network or local
 * error; err is filled for every non-200 outcome. */
int client_request(struct client *c, const char *method, const char *url_or_path, const char *auth,
                   const void *body, size_t body_len, const char *const *headers, struct client_reply *out,
                   struct client_error *err);
void client_reply_free(struct client_reply *r);

/* ---- pure helpers (exposed for tests and the CLI) ---- */

enum client_host_kind { CLIENT_HOST_DOMAIN, CLIENT_HOST_IP, CLIENT_HOST_LOCALHOST };

/* Classifies the host of a URL or "host:port" ("[::1]:80" included). */
enum client_host_kind client_host_kind(const char *url_or_hostport);
/* 1 when TLS peers must be verified for this URL (a domain name). */
int client_tls_verify(const char *url_or_hostport);
/* "host:port" -> "https://host:port"; keeps an http(s) scheme; drops trailing
 * slashes. 0, or -1 when empty, of another scheme or too long for out. */
int client_url_normalize(const char *in, char *out, size_t n);
/* The "scheme://host[:port]" prefix of url into out. 0 or -1. */
int client_url_origin(const char *url, char *out, size_t n);
/* Percent-encodes s for a URL path, keeping '/' when keep_slash. malloc'd. */
char *client_path_escape(const char *s, int keep_slash);
/* The SCV name of a stream id (after the last ':'), or NULL if malformed. */
const char *client_stream_scv(const char *stream_id);
/* Fills err from a reply: the {"error"} text when the body has one, else a
 * short excerpt of the body, else "HTTP <status>". */
void client_error_from_body(struct client_error *err, long status, const char *body, size_t len);
void client_error_set(struct client_error *err, long status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- Command Center: users, keys, targets ---- */

json_t *client_manager_create(struct client *c, const char *email, const char *password, const char *role,
                              double weight, struct client_error *err); /* {"token"} */
json_t *client_auth(struct client *c, const char *email, const char *password, struct client_error *err);
json_t *client_donor_create(struct client *c, const char *username, const char *password, const char *email,
                            struct client_error *err);
json_t *client_donor_auth(struct client *c, const char *username, const char *password,
                          struct client_error *err);
json_t *client_verify(struct client *c, struct client_error *err); /* {} or {"user","role"} */

/* Donors and credit (ext). settings: {"team"?: string|null, "public"?: bool}
 * with the handle's donor token; delete erases the donor's login. period:
 * "all", "day" or "week" (NULL: all); limit and offset < 0: the server's
 * defaults. {"period","total","entries"} */
json_t *client_donor_info(struct client *c, const char *username, struct client_error *err);
int client_donor_settings(struct client *c, const json_t *settings, struct client_error *err);
int client_donor_delete(struct client *c, struct client_error *err);
json_t *client_leaderboard(struct client *c, int teams, const char *period, long limit, long offset,
                           struct client_error *err);

json_t *client_engine_key_create(struct client *c, const char *engine, const char *description,
                                 struct client_error *err); /* {"key"} */
json_t *client_engine_keys_list(struct client *c, struct client_error *err);
int client_engine_key_delete(struct client *c, const char *key, struct client_error *err);

/* spec: {"engines":[..], "stage"?, "options"?, "weight"?} */
json_t *client_target_create(struct client *c, const json_t *spec,
                             struct client_error *err);                  /* {"target_id"} */
json_t *client_targets_list(struct client *c, struct client_error *err); /* {"targets"} */
json_t *client_target_info(struct client *c, const char *target_id, struct client_error *err);
int client_target_update(struct client *c, const char *target_id, const json_t *changes,
                         struct client_error *err);
int client_target_delete(struct client *c, const char *target_id, struct client_error *err);
json_t *client_target_streams(struct client *c, const char *target_id,
                              struct client_error *err); /* CC, ext */

/* {"<name>": {"host","online"}}; also refreshes the SCV host cache. */
json_t *client_scvs_status(struct client *c, struct client_error *err);
/* The dashboard's overview (GET /status/overview, ext): SCVs, targets,
 * engines and totals; with the token also the manager's own targets. */
json_t *client_status_overview(struct client *c, struct client_error *err);

/* ---- SCV: streams (manager side) ---- */

/* files/tags: {name: string}; tags may be NULL. {"stream_id"} */
json_t *client_stream_add(struct client *c, const char *scv_name, const char *target_id, const json_t *files,
                          const json_t *tags, struct client_error *err);
json_t *client_stream_info(struct client *c, const char *stream_id, struct client_error *err);
int client_stream_start(struct client *c, const char *stream_id, struct client_error *err);
int client_stream_stop(struct client *c, const char *stream_id, struct client_error *err);
int client_stream_delete(struct client *c, const char *stream_id, struct client_error *err);
json_t *client_stream_sync(struct client *c, const char *stream_id, struct client_error *err);
/* Streams the file at path inside the stream into out (never held whole in
 * memory). On failure out may hold part of it: write to a temp file. */
int client_stream_download(struct client *c, const char *stream_id, const char *path, FILE *out,
                           struct client_error *err);
/* Sends data with Content-MD5 = hex MD5 of it. */
int client_stream_upload(struct client *c, const char *stream_id, const char *path, const void *data,
                         size_t len, struct client_error *err);
/* {"streams"} of one target on one SCV. */
json_t *client_scv_target_streams(struct client *c, const char *scv_name, const char *target_id,
                                  struct client_error *err);

/* ---- core API: the handle's token is the engine key for assign; the
 * other calls take the core token and the SCV origin explicitly. ---- */

/* {"token","url"}; donor_token and target_id may be NULL. */
json_t *client_core_assign(struct client *c, const char *donor_token, const char *target_id,
                           struct client_error *err);
/* GET start_url (the assign reply's url); fails when the reply's Content-MD5
 * does not match its body. {"stream_id","target_id","files","options"} */
json_t *client_core_start(struct client *c, const char *start_url, const char *core_token,
                          struct client_error *err);
/* scv_origin: client_url_origin() of start_url. files: {name: string}. */
int client_core_frame(struct client *c, const char *scv_origin, const char *core_token, const json_t *files,
                      long frames, struct client_error *err);
int client_core_checkpoint(struct client *c, const char *scv_origin, const char *core_token,
                           const json_t *files, struct client_error *err);
int client_core_heartbeat(struct client *c, const char *scv_origin, const char *core_token,
                          struct client_error *err);
/* error_text (may be NULL) is base64-encoded by this call. */
int client_core_stop(struct client *c, const char *scv_origin, const char *core_token, const char *error_text,
                     struct client_error *err);

#endif
