#include "metrics_page.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

char *metrics_page_get(const char *base_url)
{
    char url[256], type[128];
    snprintf(url, sizeof url, "%s/metrics", base_url);
    struct harness_response r;
    assert_int_equal(harness_http("GET", url, NULL, NULL, 0, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(harness_header(&r, "content-type", type, sizeof type), 0);
    assert_non_null(strstr(type, "text/plain; version=0.0.4"));
    FILE *p = popen("promtool check metrics", "w");
    assert_non_null(p);
    fwrite(r.body, 1, r.len, p);
    int status = pclose(p);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("promtool check metrics refused %s:\n%s", url, r.body);
    char *text = strdup(r.body);
    harness_response_free(&r);
    return text;
}

/* The sample's text after "series ", or NULL. */
static const char *sample(const char *text, const char *series)
{
    size_t len = strlen(series);
    for (const char *p = text; *p;) {
        if (strncmp(p, series, len) == 0 && p[len] == ' ')
            return p + len + 1;
        const char *eol = strchr(p, '\n');
        if (eol == NULL)
            break;
        p = eol + 1;
    }
    return NULL;
}

double metrics_page_value(const char *text, const char *series)
{
    const char *v = sample(text, series);
    if (v == NULL)
        fail_msg("no sample %s in:\n%s", series, text);
    return v ? strtod(v, NULL) : -1;
}

void metrics_page_wait(const char *base_url, const char *series, double want, int timeout_s)
{
    char url[256];
    double got = -1;
    snprintf(url, sizeof url, "%s/metrics", base_url);
    for (int i = 0; i < timeout_s * 20; i++) {
        struct harness_response r = {0};
        const char *v = NULL;
        if (harness_http("GET", url, NULL, NULL, 0, NULL, &r) == 0 && r.status == 200 &&
            (v = sample(r.body, series)) != NULL)
            got = strtod(v, NULL);
        harness_response_free(&r);
        if (v != NULL && got == want)
            return;
        usleep(50 * 1000);
    }
    fail_msg("%s: %s still reads %g, not %g, after %d s", url, series, got, want, timeout_s);
}
