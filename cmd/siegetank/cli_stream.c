/* cli_stream: stream add | info | start | stop | delete | download | upload | list. */
#include "cli.h"
#include "client/sync.h"
#include "util/fs.h"
#include "util/wire_file.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Larger seed or upload files are refused before anything is sent. */
#define CLI_FILE_MAX (256u * 1024 * 1024)

enum { OPT_HELP = 'h', OPT_OUT = 'o', OPT_JSON = 256, OPT_TARGET, OPT_SCV, OPT_TAG };

static const char stream_usage[] =
    "usage: siegetank stream add --target ID --scv NAME FILE... [--tag NAME=FILE]...\n"
    "       siegetank stream info|start|stop|delete STREAM_ID\n"
    "       siegetank stream download STREAM_ID PATH [-o OUT]\n"
    "       siegetank stream upload STREAM_ID PATH FILE\n"
    "       siegetank stream list TARGET_ID\n"
    "  Every form takes --json. add gzips and base64-encodes each FILE and sends it as\n"
    "  <basename>.gz.b64 (a tag as NAME.gz.b64). PATH is a path inside the stream,\n"
    "  e.g. files/state.xml.gz.b64 or 38/frames.xtc; download writes OUT (default:\n"
    "  PATH's basename) through a temp file, so OUT is never left half-written.\n";

struct stream_args {
    const char *target, *scv, *out;
    json_t *tags; /* NAME=FILE strings */
    int json;
};

static int parse_flags(int argc, char **argv, struct stream_args *a)
{
    static const struct option opts[] = {{"target", required_argument, NULL, OPT_TARGET},
                                         {"scv", required_argument, NULL, OPT_SCV},
                                         {"tag", required_argument, NULL, OPT_TAG},
                                         {"out", required_argument, NULL, OPT_OUT},
                                         {"json", no_argument, NULL, OPT_JSON},
                                         {"help", no_argument, NULL, OPT_HELP},
                                         {NULL, 0, NULL, 0}};
    int ch;
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        if (ch == OPT_TARGET)
            a->target = optarg;
        else if (ch == OPT_SCV)
            a->scv = optarg;
        else if (ch == OPT_OUT)
            a->out = optarg;
        else if (ch == OPT_TAG)
            json_array_append_new(a->tags, json_string(optarg));
        else if (ch == OPT_JSON)
            a->json = 1;
        else if (ch == OPT_HELP)
            return -1;
        else
            return cli_usage(stream_usage, "unknown or incomplete option '%s'", argv[optind - 1]);
    }
    return CLI_OK;
}

/* Sets object[name + ".gz.b64"] = base64(gzip(file)); 0, or -1 after printing why. */
static int add_encoded(json_t *object, const char *name, const char *file)
{
    size_t len = 0, b64_len = 0;
    char *b64 = NULL, *key = NULL;
    int rc = -1;
    char *data = fs_read_file(file, CLI_FILE_MAX, &len);
    if (!data) {
        fprintf(stderr, "siegetank: cannot read %s: %s\n", file, errno ? strerror(errno) : "too large");
        return -1;
    }
    b64 = wire_file_encode(data, len, WIRE_FILE_GZ | WIRE_FILE_B64, &b64_len);
    if (!b64 || asprintf(&key, "%s" WIRE_FILE_GZ_B64, name) < 0) {
        key = NULL;
        fprintf(stderr, "siegetank: out of memory encoding %s\n", file);
        goto out;
    }
    if (json_object_get(object, key)) {
        fprintf(stderr, "siegetank: two files would both be sent as '%s'\n", key);
        goto out;
    }
    if (json_object_set_new(object, key, json_stringn(b64, b64_len)) != 0) {
        fprintf(stderr, "siegetank: '%s' is not a valid file name (not UTF-8)\n", name);
        goto out;
    }
    rc = 0;
out:
    free(key);
    free(b64);
    free(data);
    return rc;
}

static int stream_add(struct client *c, struct stream_args *a, int nfiles, char **files)
{
    struct client_error err;
    json_t *body_files = json_object(), *body_tags = json_object(), *tag, *reply = NULL;
    size_t i;
    int rc = CLI_FAILED;
    for (int f = 0; f < nfiles; f++) {
        char *copy = strdup(files[f]);
        int bad = !copy || add_encoded(body_files, basename(copy), files[f]) != 0;
        free(copy);
        if (bad)
            goto out;
    }
    json_array_foreach(a->tags, i, tag)
    {
        char *spec = strdup(json_string_value(tag));
        char *eq = spec ? strchr(spec, '=') : NULL;
        int bad = !eq;
        if (eq) {
            *eq = '\0';
            bad = add_encoded(body_tags, spec, eq + 1) != 0;
        }
        free(spec);
        if (bad)
            goto out;
    }
    reply = client_stream_add(c, a->scv, a->target, body_files,
                              json_object_size(body_tags) ? body_tags : NULL, &err);
    if (!reply) {
        rc = cli_fail(&err);
        goto out;
    }
    if (a->json)
        cli_print_json(reply);
    else
        printf("%s\n", cli_text(json_object_get(reply, "stream_id")));
    rc = CLI_OK;
out:
    json_decref(reply);
    json_decref(body_files);
    json_decref(body_tags);
    return rc;
}

static int stream_info(struct client *c, const char *id, int json)
{
    static const char *const fields[] = {"status", "frames", "error_count", "active"};
    struct client_error err;
    json_t *info = client_stream_info(c, id, &err);
    if (!info)
        return cli_fail(&err);
    if (json) {
        cli_print_json(info);
    } else {
        printf("%-12s %s\n", "stream", id);
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
            printf("%-12s %s\n", fields[i], cli_text(json_object_get(info, fields[i])));
    }
    json_decref(info);
    return CLI_OK;
}

json_t *cli_target_streams(struct client *c, const char *target, struct client_error *err)
{
    json_t *all = client_target_streams(c, target, err), *info, *shard;
    size_t i;
    if (all || (err->status != 404 && err->status != 405))
        return all;
    info = client_target_info(c, target, err);
    if (!info)
        return NULL;
    all = json_pack("{s:[]}", "streams");
    json_array_foreach(json_object_get(info, "shards"), i, shard)
    {
        json_t *part = client_scv_target_streams(c, json_string_value(shard), target, err);
        if (!part) {
            json_decref(all);
            all = NULL;
            break;
        }
        json_array_extend(json_object_get(all, "streams"), json_object_get(part, "streams"));
        json_decref(part);
    }
    json_decref(info);
    return all;
}

int cli_warn_unreachable(const json_t *all)
{
    const json_t *missing = json_object_get(all, "unreachable");
    size_t i;
    json_t *name;
    json_array_foreach(missing, i, name)
    {
        fprintf(stderr, "siegetank: SCV '%s' did not answer; its streams are missing from this list\n",
                cli_text(name));
    }
    return (int)json_array_size(missing);
}

static int stream_list(struct client *c, const char *target, int json)
{
    struct client_error err;
    json_t *all = cli_target_streams(c, target, &err), *id;
    size_t i;
    if (!all)
        return cli_fail(&err);
    if (json)
        cli_print_json(all);
    else
        json_array_foreach(json_object_get(all, "streams"), i, id) printf("%s\n", cli_text(id));
    int rc = cli_warn_unreachable(all) > 0 ? CLI_FAILED : CLI_OK;
    json_decref(all);
    return rc;
}

static int stream_download(struct client *c, const char *id, const char *path, const char *out)
{
    struct client_error err;
    char *copy = strdup(path);
    int rc = CLI_FAILED;
    if (!copy)
        return CLI_FAILED;
    const char *target = out ? out : basename(copy);
    if (!*target || strcmp(target, "..") == 0 || strcmp(target, ".") == 0 || strcmp(target, "/") == 0) {
        free(copy);
        return cli_usage(stream_usage, "cannot name a file after '%s': give -o OUT", path);
    }
    rc = sync_fetch_file(c, id, path, target, &err) == 0 ? CLI_OK : cli_fail(&err);
    free(copy);
    return rc;
}

static int stream_upload(struct client *c, const char *id, const char *path, const char *file)
{
    struct client_error err;
    size_t len = 0;
    char *data = fs_read_file(file, CLI_FILE_MAX, &len);
    if (!data) {
        fprintf(stderr, "siegetank: cannot read %s: %s\n", file, errno ? strerror(errno) : "too large");
        return CLI_FAILED;
    }
    int rc = client_stream_upload(c, id, path, data, len, &err) == 0 ? CLI_OK : cli_fail(&err);
    free(data);
    return rc;
}

static int run(struct client *c, const char *action, struct stream_args *a, int nargs, char **args)
{
    struct client_error err;
    int rc;
    if (strcmp(action, "add") == 0)
        return stream_add(c, a, nargs, args);
    if (strcmp(action, "info") == 0)
        return stream_info(c, args[0], a->json);
    if (strcmp(action, "list") == 0)
        return stream_list(c, args[0], a->json);
    if (strcmp(action, "download") == 0)
        return stream_download(c, args[0], args[1], a->out);
    if (strcmp(action, "upload") == 0)
        return stream_upload(c, args[0], args[1], args[2]);
    if (strcmp(action, "start") == 0)
        rc = client_stream_start(c, args[0], &err);
    else if (strcmp(action, "stop") == 0)
        rc = client_stream_stop(c, args[0], &err);
    else
        rc = client_stream_delete(c, args[0], &err);
    return rc == 0 ? CLI_OK : cli_fail(&err);
}

/* The number of arguments each action takes after its name (-1: one or more). */
static int expected_args(const char *action)
{
    static const struct {
        const char *name;
        int nargs;
    } table[] = {{"add", -1},   {"info", 1},     {"start", 1},  {"stop", 1},
                 {"delete", 1}, {"download", 2}, {"upload", 3}, {"list", 1}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i].name, action) == 0)
            return table[i].nargs;
    return -2;
}

int cli_stream(int argc, char **argv)
{
    struct stream_args a = {.tags = json_array()};
    struct client *c = NULL;
    int rc = parse_flags(argc, argv, &a);
    if (rc == -1)
        rc = cli_help(stream_usage);
    if (rc != CLI_OK)
        goto out;
    const char *action = optind < argc ? argv[optind] : "";
    int nargs = argc - optind - 1, want = expected_args(action);
    rc = CLI_USAGE;
    if (want == -2) {
        rc = cli_usage(stream_usage, *action ? "unknown action '%s'" : "missing action%s", action);
        goto out;
    }
    if ((want >= 0 && nargs != want) || (want == -1 && nargs < 1)) {
        rc = cli_usage(stream_usage, "wrong number of arguments for 'stream %s'", action);
        goto out;
    }
    if (want == -1 && (!a.target || !a.scv)) {
        rc = cli_usage(stream_usage, "stream add needs --target and --scv");
        goto out;
    }
    size_t i;
    json_t *tag;
    json_array_foreach(a.tags, i, tag)
    {
        const char *spec = json_string_value(tag);
        const char *eq = spec ? strchr(spec, '=') : NULL;
        if (!eq || eq == spec || !eq[1] || memchr(spec, '/', (size_t)(eq - spec))) {
            rc = cli_usage(stream_usage, "--tag wants NAME=FILE (NAME without '/'), not '%s'", cli_text(tag));
            goto out;
        }
    }
    if ((want != -1 && (a.target || a.scv || json_array_size(a.tags))) ||
        (a.out && strcmp(action, "download"))) {
        rc = cli_usage(stream_usage, "option not valid for 'stream %s'", action);
        goto out;
    }
    c = cli_connect(strcmp(action, "info") != 0 && strcmp(action, "list") != 0);
    if (!c) {
        rc = CLI_FAILED;
        goto out;
    }
    rc = run(c, action, &a, nargs, argv + optind + 1);
out:
    client_free(c);
    json_decref(a.tags);
    return rc;
}
