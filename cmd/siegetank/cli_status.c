/* cli_status: `siegetank status`, the dashboard's overview as tables. */
#include "cli.h"

#include <stdio.h>

static const char status_usage[] =
    "usage: siegetank status [--json]\n"
    "  What the command center sees now: its SCVs, the targets (public ones, and\n"
    "  yours when logged in as a manager), the engines and the totals, as on its\n"
    "  /dashboard page. --json prints the GET /status/overview reply as it is.\n";

static const char *yes_no(const json_t *v)
{
    return json_is_true(v) ? "yes" : "no";
}

#define FIELD(obj, name) cli_text(json_object_get((obj), (name)))

/* "a, b" for a JSON array of strings (the target's engines). */
static const char *joined(const json_t *list, char *out, size_t n)
{
    size_t i, used = 0;
    json_t *e;
    out[0] = '\0';
    json_array_foreach(list, i, e)
    {
        int w = snprintf(out + used, n - used, "%s%s", i ? ", " : "", json_string_value(e));
        if (w < 0 || (size_t)w >= n - used)
            break;
        used += (size_t)w;
    }
    return out;
}

static void print_tables(const json_t *o)
{
    const json_t *totals = json_object_get(o, "totals"), *row;
    char engines[256];
    size_t i;
    /* cli_text's buffer is reused: one field per call. */
    printf("SCVs online %s", FIELD(totals, "scvs_online"));
    printf(" of %s, ", FIELD(totals, "scvs"));
    printf("streams %s, ", FIELD(totals, "streams"));
    printf("active cores %s, ", FIELD(totals, "active_cores"));
    printf("frames in the last hour %s\n\n", FIELD(totals, "frames_per_hour"));

    printf("%-20s %-7s %-10s %8s %8s %10s\n", "SCV", "ONLINE", "REACHABLE", "STREAMS", "CORES", "FRAMES/H");
    json_array_foreach(json_object_get(o, "scvs"), i, row)
    {
        printf("%-20s %-7s %-10s", FIELD(row, "name"), yes_no(json_object_get(row, "online")),
               yes_no(json_object_get(row, "reachable")));
        printf(" %8s", FIELD(row, "streams"));
        printf(" %8s", FIELD(row, "active_cores"));
        printf(" %10s\n", FIELD(row, "frames_per_hour"));
    }

    printf("\n%-36s %-24s %-8s %-12s %8s %10s %6s %10s\n", "TARGET", "OWNER", "STAGE", "ENGINES", "STREAMS",
           "FRAMES", "CORES", "FRAMES/H");
    json_array_foreach(json_object_get(o, "targets"), i, row)
    {
        printf("%-36s", FIELD(row, "id"));
        printf(" %-24s", FIELD(row, "owner"));
        printf(" %-8s", FIELD(row, "stage"));
        printf(" %-12s", joined(json_object_get(row, "engines"), engines, sizeof engines));
        printf(" %8s", FIELD(row, "streams"));
        printf(" %10s", FIELD(row, "frames"));
        printf(" %6s", FIELD(row, "active_cores"));
        printf(" %10s\n", FIELD(row, "frames_per_hour"));
    }

    printf("\n%-20s %8s %8s\n", "ENGINE", "TARGETS", "CORES");
    json_array_foreach(json_object_get(o, "engines"), i, row)
    {
        printf("%-20s", FIELD(row, "engine"));
        printf(" %8s", FIELD(row, "targets"));
        printf(" %8s\n", FIELD(row, "active_cores"));
    }
}

int cli_status(int argc, char **argv)
{
    struct client_error err;
    int json, rc;
    if (!cli_json_only(argc, argv, status_usage, &json, &rc))
        return rc;
    struct client *c = cli_connect(0);
    if (!c)
        return CLI_FAILED;
    json_t *o = client_status_overview(c, &err);
    rc = o ? CLI_OK : cli_fail(&err);
    if (o && json)
        cli_print_json(o);
    else if (o)
        print_tables(o);
    json_decref(o);
    client_free(c);
    return rc;
}
