#include "scv_proc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

pid_t scv_proc_start(const char *cc_url, const char *cc_pass, const char *name, int *port)
{
    char dir[PATH_MAX], conf[PATH_MAX + 16], log[PATH_MAX + 16], text[2048], url[128];
    harness_tmpdir(dir);
    *port = harness_free_port();
    snprintf(conf, sizeof conf, "%s/scv.conf", dir);
    snprintf(log, sizeof log, "%s/out.log", dir);
    snprintf(text, sizeof text,
             "name = '%s'\ninternal_http_port = %d\nexternal_host = '127.0.0.1:%d'\nthreads = 2\n"
             "cc_pass = '%s'\ncommand_center = '%s'\n",
             name, *port, *port, cc_pass, cc_url);
    harness_write(conf, text);
    const char *argv[] = {harness_bin(), "scv", "-c", conf, NULL};
    pid_t pid = harness_spawn(argv, log);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", *port);
    assert_int_equal(harness_wait_up(url, 15), 0);
    return pid;
}

void scv_proc_add_stream(int port, const char *token, const char *target)
{
    char url[128], header[128], body[512];
    struct harness_response r;
    const char *headers[] = {header, NULL};
    snprintf(url, sizeof url, "http://127.0.0.1:%d/streams", port);
    snprintf(header, sizeof header, "Authorization: %s", token);
    snprintf(body, sizeof body, "{\"target_id\":\"%s\",\"files\":{\"state.xml.gz.b64\":\"AAAA\"}}", target);
    harness_http("POST", url, headers, body, strlen(body), NULL, &r);
    if (r.status != 200)
        fprintf(stderr, "POST /streams on the SCV: %ld %s\n", r.status, r.body);
    assert_int_equal(r.status, 200);
    harness_response_free(&r);
}
