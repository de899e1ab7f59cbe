/* cli_sync: sync STREAM_ID DIR | sync --all TARGET_ID DIR. */
#include "cli.h"
#include "client/sync.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { OPT_HELP = 'h', OPT_JSON = 256, OPT_ALL };

static const char sync_usage[] =
    "usage: siegetank sync STREAM_ID DIR [--json]\n"
    "       siegetank sync --all TARGET_ID DIR [--json]\n"
    "  Copies the stream's seed files and every committed partition not yet in DIR\n"
    "  (DIR/files/..., DIR/<N>/frames..., DIR/<N>/checkpoint_files/...). Files are\n"
    "  written whole or not at all, so an interrupted sync simply resumes. --all\n"
    "  syncs each stream of the target into DIR/<stream_id>/. Files the SCV cannot\n"
    "  serve (names with control characters or not UTF-8) are named on stderr and\n"
    "  in --json's skipped_files, and not copied.\n";

static void progress_bar(size_t done, size_t total, const char *remote, void *ud)
{
    const char *stream = ud;
    int width = 30, filled = total ? (int)(done * (size_t)width / total) : width;
    fprintf(stderr, "\r%.24s [%.*s%*s] %zu/%zu %-40.40s", stream, filled, "##############################",
            width - filled, "", done, total, remote);
    if (done == total)
        fputc('\n', stderr);
}

/* Files the SCV left out of the listing (names no request can carry) are
 * not in the copy: say so, in JSON so no control character reaches the
 * terminal. */
static void warn_skipped(const char *stream_id, const json_t *skipped)
{
    char *shown = json_dumps(skipped, JSON_COMPACT);
    fprintf(stderr,
            "siegetank: %s: %zu file(s) on the SCV were not copied, their names cannot be served (see the "
            "SCV's log): %s\n",
            stream_id, json_array_size(skipped), shown ? shown : "");
    free(shown);
}

static int sync_one(struct client *c, const char *stream_id, const char *dir, json_t *report)
{
    struct client_error err;
    struct sync_outcome done = {0};
    sync_progress_fn progress = isatty(STDOUT_FILENO) ? progress_bar : NULL;
    int rc = sync_stream(c, stream_id, dir, progress, (void *)stream_id, &done, &err);
    if (progress && rc != 0)
        fputc('\n', stderr);
    json_t *entry = json_pack("{s:s, s:s, s:I, s:b}", "stream_id", stream_id, "dir", dir, "fetched",
                              (json_int_t)done.fetched, "ok", rc == 0);
    if (done.skipped) {
        warn_skipped(stream_id, done.skipped);
        json_object_set_new(entry, "skipped_files", done.skipped);
    }
    json_array_append_new(report, entry);
    return rc == 0 ? CLI_OK : cli_fail(&err);
}

/* A stream id from the server may name a folder only if it stays one. */
static int safe_folder_name(const char *s)
{
    return s && *s && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static int sync_all(struct client *c, const char *target, const char *dir, json_t *report)
{
    struct client_error err;
    json_t *all = cli_target_streams(c, target, &err), *id;
    size_t i;
    int rc = CLI_OK;
    if (!all)
        return cli_fail(&err);
    json_array_foreach(json_object_get(all, "streams"), i, id)
    {
        char *sub = NULL;
        const char *sid = json_string_value(id);
        if (!safe_folder_name(sid) || asprintf(&sub, "%s/%s", dir, sid) < 0) {
            fprintf(stderr, "siegetank: skipping an unusable stream id '%s'\n", cli_text(id));
            rc = CLI_FAILED;
            continue;
        }
        /* One broken stream must not stop the others from syncing. */
        if (sync_one(c, sid, sub, report) != CLI_OK)
            rc = CLI_FAILED;
        free(sub);
    }
    if (cli_warn_unreachable(all) > 0)
        rc = CLI_FAILED;
    json_decref(all);
    return rc;
}

int cli_sync(int argc, char **argv)
{
    static const struct option opts[] = {{"all", no_argument, NULL, OPT_ALL},
                                         {"json", no_argument, NULL, OPT_JSON},
                                         {"help", no_argument, NULL, OPT_HELP},
                                         {NULL, 0, NULL, 0}};
    int ch, all = 0, json = 0, rc;
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == OPT_ALL)
            all = 1;
        else if (ch == OPT_JSON)
            json = 1;
        else if (ch == OPT_HELP)
            return cli_help(sync_usage);
        else
            return cli_usage(sync_usage, "unknown option '%s'", argv[optind - 1]);
    }
    if (argc - optind != 2)
        return cli_usage(sync_usage, "expected %s and DIR", all ? "TARGET_ID" : "STREAM_ID");
    if (!all && !client_stream_scv(argv[optind]))
        return cli_usage(sync_usage, "'%s' is not a stream id (<uuid>:<scv name>)", argv[optind]);
    struct client *c = cli_connect(1);
    if (!c)
        return CLI_FAILED;
    json_t *report = json_array();
    if (all)
        rc = sync_all(c, argv[optind], argv[optind + 1], report);
    else
        rc = sync_one(c, argv[optind], argv[optind + 1], report);
    if (json) {
        cli_print_json(report);
    } else {
        size_t i;
        json_t *r;
        json_array_foreach(report, i, r)
        {
            printf("%s: %" JSON_INTEGER_FORMAT " file(s) fetched into %s%s\n",
                   cli_text(json_object_get(r, "stream_id")),
                   json_integer_value(json_object_get(r, "fetched")), cli_text(json_object_get(r, "dir")),
                   json_is_true(json_object_get(r, "ok")) ? "" : " (incomplete)");
        }
    }
    json_decref(report);
    client_free(c);
    return rc;
}
