/* cc_daemon: see cc_daemon.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cc_daemon.h"

#include <stdio.h>
#include <string.h>

#include "harness.h"

void cc_daemon_prepare(struct daemon_proc *d, const char *extra_conf)
{
    daemon_proc_prepare(d, "cc", "testcc", NULL, 0);
    daemon_proc_write_conf(d, "cc_pass = '" CC_DAEMON_SECRET "'\nscv_check_interval = 1\n%s",
                           extra_conf ? extra_conf : "");
}

void cc_daemon_run(struct daemon_proc *d)
{
    assert_int_equal(daemon_proc_start(d, 15), 0);
}

long cc_daemon_call(const struct daemon_proc *d, const char *method, const char *path, const char *auth,
                    const char *body, json_t **out)
{
    char url[1024], header[2048], cors[8];
    struct harness_response r;
    const char *headers[] = {header, NULL};
    snprintf(url, sizeof url, "%s%s", d->url, path);
    snprintf(header, sizeof header, "Authorization: %s", auth ? auth : "");
    harness_http(method, url, auth ? headers : NULL, body, body ? strlen(body) : 0, NULL, &r);
    long status = r.status;
    json_t *v = json_loads(r.body ? r.body : "", 0, NULL);
    if (status != 0)
        assert_int_equal(harness_header(&r, "access-control-allow-origin", cors, sizeof cors), 0);
    if (status != 0 && status != 200) {
        assert_non_null(v);
        assert_true(json_is_string(json_object_get(v, "error")));
    }
    harness_response_free(&r);
    if (out != NULL)
        *out = v;
    else
        json_decref(v);
    return status;
}

void cc_daemon_expect(const struct daemon_proc *d, long status, const char *method, const char *path,
                      const char *auth, const char *body)
{
    long got = cc_daemon_call(d, method, path, auth, body, NULL);
    if (got != status)
        fprintf(stderr, "%s %s%s %s: expected %ld, got %ld\n", method, d->url, path, body ? body : "", status,
                got);
    assert_int_equal(got, status);
}

void cc_daemon_get(const struct daemon_proc *d, const char *method, const char *path, const char *auth,
                   const char *body, const char *key, char *out, size_t n)
{
    json_t *v = NULL;
    assert_int_equal(cc_daemon_call(d, method, path, auth, body, &v), 200);
    const char *s = json_string_value(json_object_get(v, key));
    assert_non_null(s);
    snprintf(out, n, "%s", s);
    json_decref(v);
}
