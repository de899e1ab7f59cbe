/* client_share: a libcurl share handle for TLS sessions and DNS answers,
 * with the locks libcurl asks for, one per kind of shared data. */
#include "client/internal.h"

#include <pthread.h>
#include <stdlib.h>

struct client_share {
    CURLSH *curl;
    pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
};

static void share_lock(CURL *handle, curl_lock_data data, curl_lock_access access, void *arg)
{
    (void)handle, (void)access;
    struct client_share *s = arg;
    pthread_mutex_lock(&s->locks[data]);
}

static void share_unlock(CURL *handle, curl_lock_data data, void *arg)
{
    (void)handle;
    struct client_share *s = arg;
    pthread_mutex_unlock(&s->locks[data]);
}

struct client_share *client_share_new(struct client_error *err)
{
    if (client_global_init(err) != 0)
        return NULL;
    struct client_share *s = calloc(1, sizeof *s);
    if (s == NULL || (s->curl = curl_share_init()) == NULL) {
        free(s);
        client_error_set(err, 0, "out of memory creating a client share");
        return NULL;
    }
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&s->locks[i], NULL);
    if (curl_share_setopt(s->curl, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
        curl_share_setopt(s->curl, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
        curl_share_setopt(s->curl, CURLSHOPT_USERDATA, s) != CURLSHE_OK ||
        curl_share_setopt(s->curl, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK ||
        curl_share_setopt(s->curl, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK) {
        client_error_set(err, 0, "libcurl refused to share TLS sessions");
        client_share_free(s);
        return NULL;
    }
    return s;
}

void client_share_free(struct client_share *s)
{
    if (s == NULL)
        return;
    curl_share_cleanup(s->curl);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&s->locks[i]);
    free(s);
}

CURLSH *client_share_handle(const struct client_share *s)
{
    return s ? s->curl : NULL;
}
