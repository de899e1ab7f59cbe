#include "scv/scv_service.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scv/scv_metrics.h"
#include "util/clock.h"
#include "util/crypto.h"
#include "util/fs.h"
#include "util/log.h"

double scv_now(void)
{
    return clock_wall_s();
}

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

static int load_stream(const scv_stream_record *rec, void *ctx)
{
    scv_index *ix = ctx;
    if (scv_index_add(ix, rec->id, rec->target_id, rec->status, rec->frames, rec->error_count) != 0) {
        log_error("cannot index stream %s (out of memory or a duplicate id)", rec->id);
        return 1;
    }
    return 0;
}

scv_service *scv_service_create(const struct config *cfg, char *err, size_t errlen)
{
    char serr[STREAM_STORE_ERR_LEN] = "";
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
    svc->store = stream_store_open(cfg->data_folder, serr);
    if (svc->store == NULL) {
        snprintf(err, errlen, "cannot open the stream store: %s", serr);
        goto fail;
    }
    svc->index = scv_index_new();
    if (svc->index == NULL || stream_store_foreach(svc->store, load_stream, svc->index) != 0) {
        snprintf(err, errlen, "cannot load the streams into memory (see the log)");
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
    char err[STREAM_STORE_ERR_LEN];
    scv_cc_free(svc->cc);
    scv_index_free(svc->index);
    scv_metrics_free(svc->metrics);
    /* The server has stopped and every worker has finished, so nothing can
     * touch the store any more: a clean stop spares the next start its walk. */
    if (svc->store && stream_store_close_clean(svc->store, err) == STREAM_STORE_OK)
        log_info("stream store closed cleanly; the next start skips checking every stream folder");
    else if (svc->store)
        log_warn("stream store closed without the clean-stop marker: %s", err);
    pthread_mutex_destroy(&svc->shard_lock);
    free(svc);
}

/* ---- deactivation ----------------------------------------------------- */

void scv_service_finish(scv_service *svc, scv_stream *st)
{
    char err[STREAM_STORE_ERR_LEN];
    struct scv_stream_info info;
    if (scv_index_info(svc->index, st, &info) == 0 &&
        stream_store_discard_buffer(svc->store, info.id, err) != STREAM_STORE_OK)
        log_error("deactivating %s: cannot discard its buffer: %s", info.id, err);
    json_t *fragment = scv_index_finish(svc->index, st);
    if (fragment == NULL)
        return;
    if (stream_store_outbox_add(svc->store, fragment, err) != STREAM_STORE_OK)
        log_error("stats fragment lost for %s: %s", json_string_value(json_object_get(fragment, "stream_id")),
                  err);
    json_decref(fragment);
}

/* ---- tickers ---------------------------------------------------------- */

static void tick_expiry(void *arg)
{
    scv_service *svc = arg;
    scv_stream **expired = NULL;
    size_t n = scv_index_expire(svc->index, scv_now(), &expired);
    scv_metrics_expired(svc->metrics, n);
    for (size_t i = 0; i < n; i++) {
        scv_stream_lock(expired[i]);
        scv_service_finish(svc, expired[i]);
        scv_stream_unlock(expired[i]);
        scv_index_put(svc->index, expired[i]);
    }
    free(expired);
}

static void tick_register(void *arg)
{
    scv_service *svc = arg;
    char err[SCV_CC_ERR_LEN];
    double now = scv_now();
    if (now < svc->next_register)
        return;
    if (scv_cc_register(svc->cc, err) == SCV_CC_OK) {
        if (svc->registered != 1)
            log_info(SCV_SERVICE_REGISTERED " %s as '%s' (%s)", svc->cfg.command_center, svc->cfg.name,
                     svc->cfg.external_host);
        svc->registered = 1;
        svc->next_register = now + SCV_REGISTER_SECONDS;
        return;
    }
    if (svc->registered != -1)
        log_warn("cannot register with the command center: %s (retrying every %d s)", err, SCV_RETRY_SECONDS);
    svc->registered = -1;
    svc->next_register = now + SCV_RETRY_SECONDS;
}

static void tick_ship_stats(void *arg)
{
    scv_service *svc = arg;
    char err[SCV_CC_ERR_LEN];
    char serr[STREAM_STORE_ERR_LEN];
    json_t *batch = NULL;
    double now = scv_now();
    if (now < svc->next_ship)
        return;
    if (stream_store_outbox_list(svc->store, SCV_STATS_BATCH, &batch, serr) != STREAM_STORE_OK) {
        log_error("stats outbox: %s", serr);
        goto out;
    }
    size_t n = json_array_size(batch);
    if (n == 0)
        goto out;
    if (scv_cc_post_stats(svc->cc, batch, err) != SCV_CC_OK) {
        log_warn("cannot ship %zu stats fragments to the command center: %s (will retry)", n, err);
        svc->next_ship = now + SCV_RETRY_SECONDS;
        goto out;
    }
    const char **ids = calloc(n, sizeof *ids);
    if (ids == NULL)
        goto out;
    for (size_t i = 0; i < n; i++)
        ids[i] = json_string_value(json_object_get(json_array_get(batch, i), "id"));
    if (stream_store_outbox_delete(svc->store, ids, n, serr) != STREAM_STORE_OK)
        log_error("stats outbox: shipped fragments not deleted (the CC ignores the repeat): %s", serr);
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
    scv_index_metrics(svc->index, server_metrics(s));
    return 0;
}
