/* config: the daemons' `key = value` files (the seeds' format).
 *
 * One setting per line, `#` starts a comment, values may be wrapped in single
 * or double quotes. Keys are fixed per daemon kind; an unknown key, a repeated
 * key or a bad value is an error naming the key and the line. Every setting has
 * a default so a minimal file needs only `name` and `internal_http_port`. */
#ifndef ST_CONFIG_H
#define ST_CONFIG_H

#include <limits.h>
#include <stddef.h>

#include "util/status.h"

enum config_kind { CONFIG_CC, CONFIG_SCV };

struct config {
    enum config_kind kind;
    char name[64];
    int internal_http_port;
    char external_host[256];
    char ssl_certfile[PATH_MAX];
    char ssl_key[PATH_MAX];
    char ssl_ca_certs[PATH_MAX];
    int ssl_min_version;      /* ssl_protocols: lowest and highest TLS 1.x minor */
    int ssl_max_version;      /* version offered (2 = TLS 1.2, 3 = TLS 1.3) */
    char ca_bundle[PATH_MAX]; /* CAs trusted when calling peers by domain name; empty = system */
    char cc_pass[256];
    char cc_pass_previous[1024]; /* cc: earlier cc_pass values (space-separated) during a rotation */
    char command_center[512];
    char database[1024];
    char data_folder[PATH_MAX]; /* resolved: absolute or relative to the config file */
    int heartbeat_increment;    /* seconds */
    int max_stream_errors;
    int threads;
    size_t max_body_size;    /* bytes */
    size_t max_inflate_size; /* scv: bytes the .gz files of one frame may inflate to, together */
    int max_connections;     /* per daemon; 0: derived from RLIMIT_NOFILE (server.h) */
    int header_timeout;      /* seconds to receive request headers */
    int idle_timeout;        /* seconds a keep-alive connection may sit idle */
    int shutdown_timeout;    /* seconds in-flight requests get after SIGTERM */
    int access_log;          /* 1: write <data>/access.log */
    int scv_check_interval;  /* cc: seconds between SCV liveness checks */
};

/* The one rule for a server's name, in its own config and when an SCV
 * registers with the CC: it names the data folder and ends every stream id
 * ("<uuid4>:<name>") and URL path that holds one. */
#define CONFIG_NAME_MAX 63
#define CONFIG_NAME_RULE "1 to 63 letters, digits, '-', '_' or '.', not starting with '.'"
/* 1 when name follows CONFIG_NAME_RULE, else 0. */
int config_name_ok(const char *name);

/* Fill c with defaults for kind. */
void config_defaults(struct config *c, enum config_kind kind);

/* Parse text (as if read from a file at path; path only names errors and
 * anchors a relative data folder). STATUS_OK, or STATUS_INVALID (STATUS_IO
 * when out of memory) with the reason, naming the key and line, in st. */
status_code config_parse(struct config *c, const char *text, const char *path, struct status *st);

/* Defaults + read + parse + checks that need all keys (TLS all-or-nothing,
 * name set). STATUS_OK, or STATUS_INVALID (STATUS_IO when the file cannot
 * be read) with the reason in st. */
status_code config_load(struct config *c, enum config_kind kind, const char *path, struct status *st);

/* 1 when all three TLS files are set, 0 when all are empty. */
int config_tls_enabled(const struct config *c);

#endif
