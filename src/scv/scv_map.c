#include "scv/scv_map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SCV_MAP_INITIAL 64

struct entry {
    struct entry *next;
    uint64_t hash;
    void *value;
    char key[];
};

struct scv_map {
    struct entry **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
};

/* FNV-1a: keys are server-made ids and hashes, so no hostile collisions. */
static uint64_t hash_key(const char *key)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h;
}

scv_map *scv_map_new(void)
{
    scv_map *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->buckets = calloc(SCV_MAP_INITIAL, sizeof *m->buckets);
    if (m->buckets == NULL) {
        free(m);
        return NULL;
    }
    m->nbuckets = SCV_MAP_INITIAL;
    return m;
}

void scv_map_free(scv_map *m, void (*free_value)(void *))
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct entry *e = m->buckets[i];
        while (e != NULL) {
            struct entry *next = e->next;
            if (free_value != NULL)
                free_value(e->value);
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    free(m);
}

static struct entry **find_slot(const scv_map *m, const char *key, uint64_t h)
{
    struct entry **slot = &m->buckets[h & (m->nbuckets - 1)];
    while (*slot != NULL && ((*slot)->hash != h || strcmp((*slot)->key, key) != 0))
        slot = &(*slot)->next;
    return slot;
}

void *scv_map_get(const scv_map *m, const char *key)
{
    struct entry *e = *find_slot(m, key, hash_key(key));
    return e != NULL ? e->value : NULL;
}

static void grow(scv_map *m)
{
    size_t n = m->nbuckets * 2;
    struct entry **b = calloc(n, sizeof *b);
    if (b == NULL)
        return; /* stays correct, only slower */
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct entry *e = m->buckets[i];
        while (e != NULL) {
            struct entry *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

int scv_map_put(scv_map *m, const char *key, void *value)
{
    uint64_t h = hash_key(key);
    struct entry **slot = find_slot(m, key, h);
    if (*slot != NULL)
        return -1;
    size_t len = strlen(key);
    struct entry *e = malloc(sizeof *e + len + 1);
    if (e == NULL)
        return -1;
    e->next = NULL;
    e->hash = h;
    e->value = value;
    memcpy(e->key, key, len + 1);
    *slot = e;
    if (++m->count > m->nbuckets)
        grow(m);
    return 0;
}

void *scv_map_remove(scv_map *m, const char *key)
{
    struct entry **slot = find_slot(m, key, hash_key(key));
    struct entry *e = *slot;
    if (e == NULL)
        return NULL;
    *slot = e->next;
    void *value = e->value;
    free(e);
    m->count--;
    return value;
}
