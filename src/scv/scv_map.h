/* scv_map: a string-keyed hash map of pointers for the SCV's in-memory
 * indexes (stream id, core token hash, target id). Keys are copied; values
 * are borrowed. Not thread-safe: the owner's lock guards it. Grows as needed
 * so lookups stay O(1) at 100,000 entries. */
#ifndef ST_SCV_MAP_H
#define ST_SCV_MAP_H

#include <stddef.h>

typedef struct scv_map scv_map;

scv_map *scv_map_new(void);
/* Frees the keys, and each value through free_value when not NULL. */
void scv_map_free(scv_map *m, void (*free_value)(void *));
void *scv_map_get(const scv_map *m, const char *key);
/* 0, or -1 when the key exists already or memory ran out. */
int scv_map_put(scv_map *m, const char *key, void *value);
/* The removed value, or NULL when absent. */
void *scv_map_remove(scv_map *m, const char *key);

#endif
