/* number: see number.h. */
#include "util/number.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>

/* strtol and strtod skip leading white space; a word may not start with it. */
int number_long(const char *text, long min, long max, long *out)
{
    char *end;
    if (isspace((unsigned char)*text))
        return -1;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (end == text || *end != '\0' || errno != 0 || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int number_double(const char *text, double min, double max, double *out)
{
    char *end;
    if (isspace((unsigned char)*text))
        return -1;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || errno != 0 || !isfinite(v) || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}
