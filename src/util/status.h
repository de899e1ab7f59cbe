/* status: the one error convention of the tree.
 *
 * A call that can fail returns a status_code. When it fails it also fills
 * the caller's struct status (callers may pass NULL when they only need the
 * code) with a message a user can act on, through status_fail. The daemons
 * answer a failed status with status_http(code) and {"error": msg}; the
 * mapping lives only here, so the same failure gets the same HTTP status on
 * the CC and the SCV. */
#ifndef ST_STATUS_H
#define ST_STATUS_H

#include <stddef.h>

typedef enum status_code {
    STATUS_OK = 0,
    STATUS_INVALID,     /* bad or oversized input, nothing to do: 400 */
    STATUS_NOT_FOUND,   /* unknown id, name or file: 400 (the protocol's rule) */
    STATUS_EXISTS,      /* name or id already taken: 400 */
    STATUS_CONFLICT,    /* refused state change: 400 */
    STATUS_DENIED,      /* missing or wrong credentials, not the owner: 401 */
    STATUS_TOO_LARGE,   /* a size limit was passed: 413 */
    STATUS_UNAVAILABLE, /* a peer or the database server is unreachable; retry: 503 */
    STATUS_IO,          /* local disk or database failure, out of memory: 500 */
} status_code;

#define STATUS_MSG_LEN 256

struct status {
    status_code code;
    char msg[STATUS_MSG_LEN];
};

/* Records code and the printf-style message in st (when st is not NULL) and
 * returns code, so a failing path reads `return status_fail(st, ...)`. The
 * message is truncated to fit. */
status_code status_fail(struct status *st, status_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Resets st to STATUS_OK with an empty message. */
void status_clear(struct status *st);

/* The HTTP status a daemon answers code with (200 for STATUS_OK). */
int status_http(status_code code);

/* A short generic reason for code, for when no message was recorded. */
const char *status_name(status_code code);

#endif
