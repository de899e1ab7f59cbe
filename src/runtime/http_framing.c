#include "runtime/http_framing.h"

#include <string.h>
#include <strings.h>

struct field {
    const char *name, *value;
    size_t name_len, value_len;
};

/* Splits a header line at its colon and trims the value; 0 when the line is
 * not a field (an obs-fold continuation or no colon). */
static int split_field(const char *line, size_t len, struct field *f)
{
    const char *colon = memchr(line, ':', len);
    if (len == 0 || line[0] == ' ' || line[0] == '\t' || colon == NULL)
        return 0;
    f->name = line;
    f->name_len = (size_t)(colon - line);
    const char *v = colon + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    f->value = v;
    f->value_len = (size_t)(end - v);
    return 1;
}

static int name_is(const struct field *f, const char *name)
{
    return f->name_len == strlen(name) && strncasecmp(f->name, name, f->name_len) == 0;
}

const char *http_framing_check(const char *head, size_t len)
{
    const char *p = memchr(head, '\n', len); /* past the request line */
    const char *end = head + len;
    const char *cl_value = NULL;
    size_t cl_len = 0;
    int te = 0, cl = 0;
    while (p != NULL && ++p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t line_len = (size_t)((nl != NULL ? nl : end) - p);
        if (line_len > 0 && p[line_len - 1] == '\r')
            line_len--;
        if (line_len == 0)
            break; /* the blank line: the head ends */
        struct field f;
        if (split_field(p, line_len, &f) && name_is(&f, "content-length")) {
            if (cl && (f.value_len != cl_len || memcmp(f.value, cl_value, cl_len) != 0))
                return "Content-Length headers that differ";
            cl = 1;
            cl_value = f.value;
            cl_len = f.value_len;
        } else if (split_field(p, line_len, &f) && name_is(&f, "transfer-encoding")) {
            te++;
        }
        p = nl;
    }
    if (te > 0 && cl)
        return "both Content-Length and Transfer-Encoding";
    if (te > 1)
        return "more than one Transfer-Encoding header";
    return NULL;
}
