/* json_slices: long plain strings left in place; see the header. */
#include "scv/json_slices.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A placeholder is "\u0000" and the slice's index: a value no client can
 * send when the text holds no "\u0000" escape, which load checks. */
#define PLACEHOLDER "\\u0000"
#define PLACEHOLDER_MAX 32

struct skeleton {
    char *buf;
    size_t len;
    size_t cap;
};

static int put(struct skeleton *k, const char *p, size_t n)
{
    if (n == 0)
        return 0;
    if (k->len + n > k->cap) {
        size_t cap = k->cap ? k->cap : 256;
        while (cap < k->len + n)
            cap *= 2;
        char *b = realloc(k->buf, cap);
        if (b == NULL)
            return -1;
        k->buf = b;
        k->cap = cap;
    }
    memcpy(k->buf + k->len, p, n);
    k->len += n;
    return 0;
}

static int add_slice(json_slices *s, size_t offset, size_t len)
{
    if ((s->n & (s->n - 1)) == 0) { /* 0, 1, 2, 4, ...: grow by doubling */
        struct json_slice *v = realloc(s->v, (s->n ? 2 * s->n : 1) * sizeof *v);
        if (v == NULL)
            return -1;
        s->v = v;
    }
    s->v[s->n].offset = offset;
    s->v[s->n].len = len;
    s->n++;
    return 0;
}

/* Length of the plain run at p: printable ASCII other than '"' and '\\'. */
static size_t plain_run(const unsigned char *p, const unsigned char *end)
{
    const unsigned char *q = p;
    while (q < end && *q >= 0x20 && *q < 0x7f && *q != '"' && *q != '\\')
        q++;
    return (size_t)(q - p);
}

/* End of the string starting after the quote at text[i] (index of the
 * closing quote, or len when unterminated: jansson reports that). */
static size_t string_end(const char *text, size_t len, size_t i)
{
    for (i++; i < len; i++) {
        if (text[i] == '\\')
            i++;
        else if (text[i] == '"')
            return i;
    }
    return len;
}

/* 1 when the string closing at text[close] is an object key. */
static int is_key(const char *text, size_t len, size_t close)
{
    size_t i = close + 1;
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
        i++;
    return i < len && text[i] == ':';
}

static int build(const char *text, size_t len, size_t min_len, json_slices *s, struct skeleton *k)
{
    const unsigned char *u = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        const char *quote = memchr(text + i, '"', len - i);
        size_t open = quote ? (size_t)(quote - text) : len;
        if (put(k, text + i, open - i) != 0)
            return -1;
        if (open == len)
            return 0;
        size_t run = plain_run(u + open + 1, u + len);
        size_t close = open + 1 + run;
        if (run >= min_len && close < len && text[close] == '"' && !is_key(text, len, close)) {
            char ph[PLACEHOLDER_MAX];
            int n = snprintf(ph, sizeof ph, "\"" PLACEHOLDER "%zu\"", s->n);
            if (add_slice(s, open + 1, run) != 0 || put(k, ph, (size_t)n) != 0)
                return -1;
        } else {
            close = string_end(text, len, open);
            if (put(k, text + open, (close < len ? close + 1 : len) - open) != 0)
                return -1;
        }
        i = close < len ? close + 1 : len;
    }
    return 0;
}

json_t *json_slices_load(const char *text, size_t len, size_t min_len, json_slices *s, json_error_t *err)
{
    struct skeleton k = {0};
    json_t *root = NULL;
    memset(s, 0, sizeof *s);
    s->text = text;
    if (min_len == 0 || memmem(text, len, PLACEHOLDER, strlen(PLACEHOLDER)) != NULL)
        return json_loadb(text, len, 0, err);
    if (build(text, len, min_len, s, &k) != 0) {
        snprintf(err->text, sizeof err->text, "out of memory parsing the body");
        goto out;
    }
    root = json_loadb(k.buf ? k.buf : "", k.len, JSON_ALLOW_NUL, err);
out:
    free(k.buf);
    return root;
}

const char *json_slices_string(const json_slices *s, const json_t *v, size_t *len)
{
    if (!json_is_string(v))
        return NULL;
    const char *str = json_string_value(v);
    *len = json_string_length(v);
    if (s->n == 0 || *len < 2 || str[0] != '\0')
        return str;
    char *end;
    unsigned long long i = strtoull(str + 1, &end, 10);
    if (end != str + *len || i >= s->n)
        return str;
    *len = s->v[i].len;
    return s->text + s->v[i].offset;
}

void json_slices_free(json_slices *s)
{
    free(s->v);
    s->v = NULL;
    s->n = 0;
}
