#include "scv/scv_service.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scv/scv_handlers.h"
#include "scv/scv_metrics.h"
#include "util/clock.h"
#include "util/crypto.h"
#include "util/fs.h"
#include "util/log.h"

/* ---- the secret ------------------------------------------------------- */

/* Makes a fresh secret, never readable by others (fs_write_secret). */
static int secret_make(const char *path, char *secret, char *err, size_t errlen)
{
    char text[2 * SCV_SECRET_BYTES + 2];
    if (crypto_random_hex(secret, SCV_SECRET_BYTES) != 0) {
        snprintf(err, errlen, "no randomness available to make the SCV secret");
        return -1;
    }
    snprintf(text, sizeof text, "%s\n", secret);
    if (fs_write_secret(path, text, strlen(text)) != 0) {
        snprintf(err, errlen, "cannot write the SCV secret '%s': %s", path, strerror(errno));
        return -1;
    }
    log_info("made a new SCV secret in %s", path);
    return 0;
}

static int secret_load(const char *data_dir, char *secret, char *err, size_t errlen)
{
    char path[PATH_MAX];
    size_t len = 0;
    snprintf(path, sizeof path, "%s/secret", data_dir);
    char *text = fs_read_file(path, 4096, &len);
    if (text == NULL)
        return errno == ENOENT ? secret_make(path, secret, err, errlen) : -1;
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
        text[--len] = '\0';
    int rc = -1;
    if (len < 32 || len > 2 * SCV_SECRET_BYTES) {
        snprintf(err, errlen,
                 "the SCV secret in '%s' must be 32 to %d characters; delete the file to make a new one",
                 path, 2 * SCV_SECRET_BYTES);
        goto out;
    }
    memcpy(secret, text, len + 1);
    rc = 0;
out:
    free(text);
    return rc;
}

/* ---- create / destroy ------------------------------------------------- */

/* Frame bodies (~700 KB) pass through several large buffers per request: the
 * loop's input buffer (grown by doubling), the job's copy, the decoded file.
 * With glibc's defaults each is a fresh mmap that is unmapped on free, so
 * every frame pays page faults and zeroing for ~3 MB, on the event loop too;
 * `perf` showed the loops spending most of their time there, and heartbeats
 * queue behind the loop. Serving them from the heap and keeping freed memory
 * for reuse makes those copies touch warm pages. The cost is that the
 * process keeps its peak heap instead of returning it to the system. */
static void tune_allocator(void)
{
    if (mallopt(M_MMAP_THRESHOLD, SCV_MMAP_THRESHOLD) != 1 ||
        mallopt(M_TRIM_THRESHOLD, SCV_TRIM_THRESHOLD) != 1)
        log_warn("cannot tune the allocator for large bodies; frames will cost more CPU");
}

scv_service *scv_service_create(const struct config *cfg, char *err, size_t errlen)
{
    struct status st;
    scv_service *svc = calloc(1, sizeof *svc);
    if (svc == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    svc->cfg = *cfg;
    tune_allocator();
    pthread_mutex_init(&svc->shard_lock, NULL);
    if (fs_mkdir_p(cfg->data_folder, 0750) != 0) {
        snprintf(err, errlen, "cannot create data folder '%s': %s", cfg->data_folder, strerror(errno));
        goto fail;
    }
    if (secret_load(cfg->data_folder, svc->secret, err, errlen) != 0) {
        if (err[0] == '\0')
            snprintf(err, errlen, "cannot read the SCV secret in '%s': %s", cfg->data_folder,
                     strerror(errno));
        goto fail;
    }
    struct scv_streams_config scfg = {
        .data_dir = cfg->data_folder,
        .scv_name = cfg->name,
        .token_ttl = cfg->heartbeat_increment,
        .max_stream_errors = cfg->max_stream_errors,
        .max_inflate = cfg->max_inflate_size,
        .max_start_files = 2 * cfg->max_body_size,
    };
    svc->streams = scv_streams_open(&scfg, &st);
    if (svc->streams == NULL) {
        snprintf(err, errlen, "%s", st.msg);
        goto fail;
    }
    svc->cc = scv_cc_new(cfg, svc->secret);
    if (svc->cc == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    return svc;
fail:
    scv_service_destroy(svc);
    return NULL;
}

void scv_service_destroy(scv_service *svc)
{
    if (svc == NULL)
        return;
    scv_cc_free(svc->cc);
    scv_streams_close(svc->streams);
    scv_metrics_free(svc->metrics);
    pthread_mutex_destroy(&svc->shard_lock);
    free(svc);
}

/* ---- tickers ---------------------------------------------------------- */

static void tick_expiry(void *arg)
{
    scv_service *svc = arg;
    scv_metrics_expired(svc->metrics, scv_streams_expire(svc->streams));
}

static void tick_register(void *arg)
{
    scv_service *svc = arg;
    struct status st;
    double now = clock_wall_s();
    if (now < svc->next_register)
        return;
    if (scv_cc_register(svc->cc, &st) == STATUS_OK) {
        if (svc->registered != 1)
            log_info(SCV_SERVICE_REGISTERED " %s as '%s' (%s)", svc->cfg.command_center, svc->cfg.name,
                     svc->cfg.external_host);
        svc->registered = 1;
        svc->next_register = now + SCV_REGISTER_SECONDS;
        return;
    }
    if (svc->registered != -1)
        log_warn("cannot register with the command center: %s (retrying every %d s)", st.msg,
                 SCV_RETRY_SECONDS);
    svc->registered = -1;
    svc->next_register = now + SCV_RETRY_SECONDS;
}

/* The outbox's gauges, every tick: a count kept without a query and one
 * indexed lookup, so a large backlog costs no more than an empty outbox. */
static void outbox_figures(scv_service *svc, double now)
{
    struct status st;
    size_t n;
    double oldest;
    if (scv_streams_outbox_stats(svc->streams, &n, &oldest, &st) == STATUS_OK)
        scv_metrics_outbox(svc->metrics, n, n > 0 ? now - oldest : 0);
}

static void tick_ship_stats(void *arg)
{
    scv_service *svc = arg;
    struct status st;
    json_t *batch = NULL;
    double now = clock_wall_s();
    outbox_figures(svc, now);
    if (now < svc->next_ship)
        return;
    if (scv_streams_outbox_list(svc->streams, SCV_STATS_BATCH, &batch, &st) != STATUS_OK) {
        log_error("stats outbox: %s", st.msg);
        goto out;
    }
    size_t n = json_array_size(batch);
    if (n == 0)
        goto out;
    if (scv_cc_post_stats(svc->cc, batch, &st) != STATUS_OK) {
        log_warn("cannot ship %zu stats fragments to the command center: %s (will retry)", n, st.msg);
        svc->next_ship = now + SCV_RETRY_SECONDS;
        goto out;
    }
    const char **ids = calloc(n, sizeof *ids);
    if (ids == NULL)
        goto out;
    for (size_t i = 0; i < n; i++)
        ids[i] = json_string_value(json_object_get(json_array_get(batch, i), "id"));
    if (scv_streams_outbox_delete(svc->streams, ids, n, &st) != STATUS_OK)
        log_error("stats outbox: shipped fragments not deleted (the CC ignores the repeat): %s", st.msg);
    free(ids);
out:
    json_decref(batch);
}

int scv_service_attach(scv_service *svc, struct server *s, char *err, size_t errlen)
{
    if (scv_manager_routes(s) != 0 || scv_core_routes(s) != 0) {
        snprintf(err, errlen, "cannot register the SCV routes (route table full)");
        return -1;
    }
    if (server_add_ticker(s, 1000, tick_expiry, svc) != 0 ||
        server_add_ticker(s, 1000, tick_register, svc) != 0 ||
        server_add_ticker(s, 1000, tick_ship_stats, svc) != 0) {
        snprintf(err, errlen, "cannot add the SCV tickers");
        return -1;
    }
    svc->metrics = scv_metrics_new(server_metrics(s), svc->cfg.data_folder);
    if (svc->metrics == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    scv_streams_metrics(svc->streams, server_metrics(s), svc->metrics);
    return 0;
}
