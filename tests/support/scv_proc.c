#include "scv_proc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "daemon_proc.h"
#include "harness.h"

pid_t scv_proc_start(const char *cc_url, const char *cc_pass, const char *name, int *port)
{
    struct daemon_proc d;
    daemon_proc_prepare(&d, "scv", name, NULL, 0);
    daemon_proc_write_conf(&d, "cc_pass = '%s'\ncommand_center = '%s'", cc_pass, cc_url);
    assert_int_equal(daemon_proc_start(&d, 15), 0);
    *port = d.port;
    return d.pid;
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
