/* client_pool: a handle per thread through a pthread key, one share. */
#include "client/internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct client_pool {
    pthread_key_t key;
    char *base_url;
    char *ca_bundle;
    struct client_options opts;
    struct client_share *share;
};

static void handle_destroy(void *c)
{
    client_free(c);
}

struct client_pool *client_pool_new(const char *base_url, const struct client_options *opts,
                                    struct client_error *err)
{
    struct client_pool *p = calloc(1, sizeof *p);
    if (p == NULL) {
        client_error_set(err, 0, "out of memory creating a client pool");
        return NULL;
    }
    p->opts = *opts;
    p->base_url = strdup(base_url);
    p->ca_bundle = opts->ca_bundle ? strdup(opts->ca_bundle) : NULL;
    if (p->base_url == NULL || (opts->ca_bundle && p->ca_bundle == NULL)) {
        client_error_set(err, 0, "out of memory creating a client pool");
        goto fail;
    }
    if ((p->share = client_share_new(err)) == NULL)
        goto fail;
    if (pthread_key_create(&p->key, handle_destroy) != 0) {
        client_error_set(err, 0, "cannot keep per-thread client handles");
        client_share_free(p->share);
        goto fail;
    }
    p->opts.ca_bundle = p->ca_bundle;
    p->opts.share = p->share;
    return p;
fail:
    free(p->base_url);
    free(p->ca_bundle);
    free(p);
    return NULL;
}

struct client *client_pool_get(struct client_pool *p, struct client_error *err)
{
    struct client *c = pthread_getspecific(p->key);
    if (c != NULL)
        return c;
    c = client_new(p->base_url, &p->opts, err);
    if (c != NULL && pthread_setspecific(p->key, c) != 0) {
        client_free(c);
        client_error_set(err, 0, "cannot keep a per-thread client handle");
        return NULL;
    }
    return c;
}

void client_pool_free(struct client_pool *p)
{
    if (p == NULL)
        return;
    client_free(pthread_getspecific(p->key));
    pthread_key_delete(p->key);
    client_share_free(p->share);
    free(p->base_url);
    free(p->ca_bundle);
    free(p);
}
