/* query: named values of a URL query string (the raw text after '?').
 *
 * Keys are matched exactly and the first pair with that key wins; values
 * are taken as sent, not percent-decoded (the routes that read them take
 * plain words and whole numbers, which need no escaping). A key without
 * '=' has the empty value; a NULL query has no keys. Nothing is allocated. */
#ifndef ST_UTIL_QUERY_H
#define ST_UTIL_QUERY_H

#include <stddef.h>

/* 1 with key's value copied into out (NUL-terminated), 0 when the key is
 * absent (out untouched), -1 when the value needs more than n - 1 bytes. */
int query_value(const char *query, const char *key, char *out, size_t n);

/* key's value as a whole number in [min, max] (number_long's rule): 1 when
 * read into *out, 0 when absent (*out untouched), -1 when present but not
 * such a number. */
int query_long(const char *query, const char *key, long min, long max, long *out);

#endif
