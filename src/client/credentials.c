/* credentials: the CLI's saved login (see credentials.h). */
#include "client/credentials.h"
#include "util/fs.h"

#include <errno.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CREDENTIALS_FILE_MAX (64 * 1024)

int credentials_default_path(char *out, size_t n, char *msg, size_t msg_n)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    int w;
    if (xdg && xdg[0] == '/')
        w = snprintf(out, n, "%s/siegetank/credentials", xdg);
    else if (home && *home)
        w = snprintf(out, n, "%s/.config/siegetank/credentials", home);
    else {
        snprintf(msg, msg_n, "neither XDG_CONFIG_HOME nor HOME is set; cannot locate the credentials file");
        return -1;
    }
    if (w < 0 || (size_t)w >= n) {
        snprintf(msg, msg_n, "the credentials path is too long");
        return -1;
    }
    return 0;
}

/* Creates the file's folder with mode 0700 and tightens it if it exists. */
static int prepare_dir(const char *path, char *msg, size_t msg_n)
{
    char *copy = strdup(path);
    int rc = -1;
    if (!copy) {
        snprintf(msg, msg_n, "out of memory");
        return -1;
    }
    const char *dir = dirname(copy);
    if (fs_mkdir_p(dir, 0700) != 0 || chmod(dir, 0700) != 0) {
        snprintf(msg, msg_n, "cannot create %s: %s", dir, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    free(copy);
    return rc;
}

int credentials_save(const char *path, const struct credentials *cr, char *msg, size_t msg_n)
{
    json_t *doc = json_pack("{s:s, s:s}", "cc", cr->cc, "token", cr->token);
    char *text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
    int rc = -1;
    if (!text) {
        snprintf(msg, msg_n, "cannot encode the credentials");
        goto out;
    }
    if (prepare_dir(path, msg, msg_n) != 0)
        goto out;
    if (fs_write_secret(path, text, strlen(text)) != 0) {
        snprintf(msg, msg_n, "cannot write %s: %s", path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    free(text);
    json_decref(doc);
    return rc;
}

static int copy_field(char *dst, const json_t *doc, const char *name)
{
    json_t *v = json_object_get(doc, name);
    if (!v) {
        dst[0] = '\0';
        return 0;
    }
    if (!json_is_string(v) || json_string_length(v) >= CREDENTIALS_FIELD_MAX ||
        strlen(json_string_value(v)) != json_string_length(v))
        return -1;
    strcpy(dst, json_string_value(v));
    return 0;
}

int credentials_load(const char *path, struct credentials *cr, char *msg, size_t msg_n)
{
    size_t len = 0;
    json_t *doc = NULL;
    int rc = -1;
    char *text = fs_read_file(path, CREDENTIALS_FILE_MAX, &len);
    if (!text) {
        snprintf(msg, msg_n, "cannot read %s: %s", path, errno ? strerror(errno) : "unreadable or too large");
        return -1;
    }
    doc = json_loadb(text, len, 0, NULL);
    if (!json_is_object(doc) || copy_field(cr->cc, doc, "cc") != 0 ||
        copy_field(cr->token, doc, "token") != 0) {
        snprintf(msg, msg_n, "%s is corrupt; run 'siegetank login' again", path);
        goto out;
    }
    rc = 0;
out:
    json_decref(doc);
    free(text);
    return rc;
}

static int env_override(char *dst, const char *name, char *msg, size_t msg_n)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return 0;
    if (strlen(v) >= CREDENTIALS_FIELD_MAX) {
        snprintf(msg, msg_n, "%s is too long", name);
        return -1;
    }
    strcpy(dst, v);
    return 0;
}

int credentials_resolve(const char *path, struct credentials *cr, char *msg, size_t msg_n)
{
    memset(cr, 0, sizeof *cr);
    if (path && fs_exists(path) && credentials_load(path, cr, msg, msg_n) != 0)
        return -1;
    if (env_override(cr->cc, "SIEGETANK_CC", msg, msg_n) != 0 ||
        env_override(cr->token, "SIEGETANK_TOKEN", msg, msg_n) != 0)
        return -1;
    if (!cr->cc[0]) {
        snprintf(msg, msg_n,
                 "no command center known: run 'siegetank login --cc HOST:PORT ...' or set SIEGETANK_CC");
        return -1;
    }
    return 0;
}
