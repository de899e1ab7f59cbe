/* stream_fetch: downloads through the client library into memory. */
#include "stream_fetch.h"

#include <stdio.h>
#include <stdlib.h>

/* The contents of f from its start, NUL-terminated; NULL on failure. */
static unsigned char *slurp(FILE *f, size_t *len)
{
    long size = ftell(f);
    if (size < 0)
        return NULL;
    unsigned char *data = malloc((size_t)size + 1);
    rewind(f);
    if (!data || fread(data, 1, (size_t)size, f) != (size_t)size) {
        free(data);
        return NULL;
    }
    data[size] = '\0';
    *len = (size_t)size;
    return data;
}

unsigned char *stream_fetch_file(struct client *cc, const char *stream_id, const char *path, size_t *len)
{
    struct client_error err;
    unsigned char *data = NULL;
    FILE *f = tmpfile();
    if (!f)
        return NULL;
    if (client_stream_download(cc, stream_id, path, f, &err) == 0)
        data = slurp(f, len);
    fclose(f);
    return data;
}

unsigned char *stream_fetch_frames(struct client *cc, const char *stream_id, const char *out, size_t *len,
                                   json_t **partitions)
{
    struct client_error err;
    unsigned char *data = NULL;
    json_t *sync = client_stream_sync(cc, stream_id, &err);
    FILE *f = fopen(out, "w+");
    if (!sync || !f)
        goto out;
    json_t *parts = json_object_get(sync, "partitions");
    size_t i;
    json_t *part;
    json_array_foreach(parts, i, part)
    {
        char remote[64];
        snprintf(remote, sizeof remote, "%lld/frames.xtc", (long long)json_integer_value(part));
        if (client_stream_download(cc, stream_id, remote, f, &err) != 0)
            goto out;
    }
    data = slurp(f, len);
    if (data && partitions)
        *partitions = json_incref(parts);
out:
    if (f)
        fclose(f);
    json_decref(sync);
    return data;
}
