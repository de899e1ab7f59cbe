#include "util/status.h"

#include <stdarg.h>
#include <stdio.h>

status_code status_fail(struct status *st, status_code code, const char *fmt, ...)
{
    if (!st)
        return code;
    st->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->msg, sizeof st->msg, fmt, ap);
    va_end(ap);
    return code;
}

void status_clear(struct status *st)
{
    st->code = STATUS_OK;
    st->msg[0] = '\0';
}

int status_http(status_code code)
{
    switch (code) {
    case STATUS_OK:
        return 200;
    case STATUS_INVALID:
    case STATUS_NOT_FOUND:
    case STATUS_EXISTS:
    case STATUS_CONFLICT:
        return 400;
    case STATUS_DENIED:
        return 401;
    case STATUS_TOO_LARGE:
        return 413;
    case STATUS_UNAVAILABLE:
        return 503;
    case STATUS_IO:
        return 500;
    }
    return 500;
}

const char *status_name(status_code code)
{
    switch (code) {
    case STATUS_OK:
        return "ok";
    case STATUS_INVALID:
        return "invalid request";
    case STATUS_NOT_FOUND:
        return "not found";
    case STATUS_EXISTS:
        return "already exists";
    case STATUS_CONFLICT:
        return "refused state change";
    case STATUS_DENIED:
        return "missing or wrong credentials";
    case STATUS_TOO_LARGE:
        return "too large";
    case STATUS_UNAVAILABLE:
        return "service unavailable, retry later";
    case STATUS_IO:
        return "internal storage failure";
    }
    return "unknown status";
}
