/* option: the CLI's "key=value" arguments as JSON object members.
 * The key is non-empty, at most OPTION_KEY_MAX bytes, without whitespace.
 * The value is read as JSON when it parses as JSON (50, 1.5, true, null,
 * "text", [..], {..}) and is a plain string otherwise; an empty value is
 * refused (write key='""' for an empty string). Functions return 0, or -1
 * with a message for the user in msg. */
#ifndef ST_CLIENT_OPTION_H
#define ST_CLIENT_OPTION_H

#include <stddef.h>
#include <jansson.h>

#define OPTION_KEY_MAX 256
#define OPTION_VALUE_MAX (64 * 1024)

/* *key is malloc'd, *value a new reference. */
int option_parse(const char *arg, char **key, json_t **value, char *msg, size_t msg_n);
/* Parses arg and sets it in object (a later key replaces an earlier one). */
int option_add(json_t *object, const char *arg, char *msg, size_t msg_n);

#endif
