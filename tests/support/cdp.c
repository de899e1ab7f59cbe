/* cdp: the DevTools protocol over a pipe to a headless Chromium. */
#include "cdp.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "harness.h"
#include "util/base64.h"
#include "util/clock.h"
#include "util/fs.h"

#define CALL_TIMEOUT_MS 30000
#define MESSAGE_MAX (64u << 20)

struct cdp {
    pid_t pid;
    int to, from; /* the browser's fd 3 and fd 4, our ends */
    char *buf;    /* what was read and not yet parsed */
    size_t len, cap;
    int next_id;
    char session[128];
    json_t *errors;
    int loaded; /* Page.loadEventFired since the last navigate */
};

static double now_ms(void)
{
    return clock_mono_s() * 1e3;
}

static void spawn(struct cdp *c, const char *dir, int width, int height)
{
    int in[2], out[2];
    char profile[PATH_MAX], log[PATH_MAX], size[64];
    snprintf(profile, sizeof profile, "--user-data-dir=%.*s/chromium-profile", PATH_MAX - 40, dir);
    snprintf(log, sizeof log, "%.*s/chromium.log", PATH_MAX - 20, dir);
    snprintf(size, sizeof size, "--window-size=%d,%d", width, height);
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    pid_t parent = getpid();
    c->pid = fork();
    assert_true(c->pid >= 0);
    if (c->pid == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
            _exit(127);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        /* fds 3 and 4 must end up as the pipes, whatever they were. */
        int r = fcntl(in[0], F_DUPFD, 10), w = fcntl(out[1], F_DUPFD, 10);
        if (fd < 0 || r < 0 || w < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0 || dup2(r, 3) < 0 ||
            dup2(w, 4) < 0)
            _exit(127);
        for (int i = 5; i < 1024; i++)
            close(i);
        const char *argv[] = {
            "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", profile,
            size, "--hide-scrollbars", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--disable-dev-shm-usage", "--mute-audio",
            /* loopback bypasses a proxy; everything else dies here */
            "--proxy-server=http://127.0.0.1:9", "about:blank", NULL};
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    c->to = in[1];
    c->from = out[0];
}

static void note_error(struct cdp *c, const char *kind, const char *text)
{
    char line[2048];
    snprintf(line, sizeof line, "%s: %s", kind, text ? text : "?");
    json_array_append_new(c->errors, json_string(line));
}

static void console_error(struct cdp *c, const json_t *params)
{
    const char *type = json_string_value(json_object_get(params, "type"));
    if (type == NULL || (strcmp(type, "error") != 0 && strcmp(type, "assert") != 0))
        return;
    const json_t *arg = json_array_get(json_object_get(params, "args"), 0);
    const json_t *v = json_object_get(arg, "value");
    char *dump = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
    note_error(c, "console", dump ? dump : json_string_value(json_object_get(arg, "description")));
    free(dump);
}

static void on_event(struct cdp *c, const json_t *msg)
{
    const char *method = json_string_value(json_object_get(msg, "method"));
    const json_t *params = json_object_get(msg, "params");
    if (method == NULL)
        return;
    if (strcmp(method, "Runtime.consoleAPICalled") == 0) {
        console_error(c, params);
    } else if (strcmp(method, "Runtime.exceptionThrown") == 0) {
        const json_t *d = json_object_get(params, "exceptionDetails");
        const char *desc = json_string_value(json_object_get(json_object_get(d, "exception"), "description"));
        note_error(c, "exception", desc ? desc : json_string_value(json_object_get(d, "text")));
    } else if (strcmp(method, "Log.entryAdded") == 0) {
        const json_t *e = json_object_get(params, "entry");
        char text[1600];
        snprintf(text, sizeof text, "%s (%s)", json_string_value(json_object_get(e, "text")),
                 json_string_value(json_object_get(e, "url")) ? json_string_value(json_object_get(e, "url"))
                                                              : "");
        const char *level = json_string_value(json_object_get(e, "level"));
        if (level != NULL && strcmp(level, "error") == 0)
            note_error(c, "log", text);
    } else if (strcmp(method, "Page.loadEventFired") == 0) {
        c->loaded = 1;
    }
}

/* The next message, or NULL when none came before deadline. */
static json_t *next_message(struct cdp *c, double deadline)
{
    for (;;) {
        char *nul = c->len ? memchr(c->buf, '\0', c->len) : NULL;
        if (nul != NULL) {
            size_t n = (size_t)(nul - c->buf);
            json_t *msg = json_loadb(c->buf, n, 0, NULL);
            memmove(c->buf, nul + 1, c->len - n - 1);
            c->len -= n + 1;
            assert_non_null(msg);
            return msg;
        }
        double left = deadline - now_ms();
        if (left <= 0)
            return NULL;
        struct pollfd p = {c->from, POLLIN, 0};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        if (c->cap - c->len < 65536) {
            assert_true(c->cap < MESSAGE_MAX);
            c->cap = c->cap ? 2 * c->cap : 1 << 20;
            c->buf = realloc(c->buf, c->cap);
            assert_non_null(c->buf);
        }
        ssize_t got = read(c->from, c->buf + c->len, c->cap - c->len);
        if (got < 0 && errno == EINTR)
            continue;
        assert_true(got > 0); /* the browser went away */
        c->len += (size_t)got;
    }
}

static json_t *call(struct cdp *c, const char *session, const char *method, json_t *params)
{
    int id = ++c->next_id;
    json_t *msg =
        json_pack("{s:i, s:s, s:o}", "id", id, "method", method, "params", params ? params : json_object());
    if (session != NULL)
        json_object_set_new(msg, "sessionId", json_string(session));
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    assert_non_null(text);
    assert_int_equal(fs_write_all(c->to, text, strlen(text) + 1), 0);
    free(text);
    double deadline = now_ms() + CALL_TIMEOUT_MS;
    for (;;) {
        json_t *reply = next_message(c, deadline);
        if (reply == NULL)
            fail_msg("DevTools: no answer to %s", method);
        if (json_integer_value(json_object_get(reply, "id")) != id) {
            on_event(c, reply);
            json_decref(reply);
            continue;
        }
        json_t *err = json_object_get(reply, "error");
        if (err != NULL)
            fail_msg("DevTools: %s failed: %s", method, json_string_value(json_object_get(err, "message")));
        json_t *result = json_incref(json_object_get(reply, "result"));
        json_decref(reply);
        return result;
    }
}

json_t *cdp_call(struct cdp *c, const char *method, json_t *params)
{
    return call(c, c->session, method, params);
}

struct cdp *cdp_start(const char *dir, int width, int height)
{
    struct cdp *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->errors = json_array();
    spawn(c, dir, width, height);
    json_t *t = call(c, NULL, "Target.createTarget", json_pack("{s:s}", "url", "about:blank"));
    json_t *s = call(c, NULL, "Target.attachToTarget",
                     json_pack("{s:O, s:b}", "targetId", json_object_get(t, "targetId"), "flatten", 1));
    snprintf(c->session, sizeof c->session, "%s", json_string_value(json_object_get(s, "sessionId")));
    assert_true(c->session[0] != '\0');
    json_decref(t);
    json_decref(s);
    const char *domains[] = {"Runtime.enable", "Log.enable", "Page.enable"};
    for (size_t i = 0; i < 3; i++)
        json_decref(cdp_call(c, domains[i], NULL));
    json_decref(cdp_call(c, "Emulation.setDeviceMetricsOverride",
                         json_pack("{s:i, s:i, s:i, s:b}", "width", width, "height", height,
                                   "deviceScaleFactor", 1, "mobile", 0)));
    return c;
}

void cdp_stop(struct cdp *c)
{
    if (c == NULL)
        return;
    /* Browser.close's reply may never come: the browser is gone by then. */
    json_t *msg = json_pack("{s:i, s:s}", "id", ++c->next_id, "method", "Browser.close");
    char *text = json_dumps(msg, JSON_COMPACT);
    if (text != NULL)
        fs_write_all(c->to, text, strlen(text) + 1);
    free(text);
    json_decref(msg);
    close(c->to);
    close(c->from);
    if (harness_wait_exit(c->pid, 10) < 0)
        harness_stop(c->pid, SIGKILL, 5);
    json_decref(c->errors);
    free(c->buf);
    free(c);
}

void cdp_navigate(struct cdp *c, const char *url)
{
    c->loaded = 0;
    json_t *r = cdp_call(c, "Page.navigate", json_pack("{s:s}", "url", url));
    const char *err = json_string_value(json_object_get(r, "errorText"));
    if (err != NULL)
        fail_msg("cannot load %s: %s", url, err);
    json_decref(r);
    double deadline = now_ms() + CALL_TIMEOUT_MS;
    while (!c->loaded) {
        json_t *msg = next_message(c, deadline);
        if (msg == NULL)
            fail_msg("%s did not finish loading", url);
        on_event(c, msg);
        json_decref(msg);
    }
}

json_t *cdp_eval(struct cdp *c, const char *expression)
{
    json_t *r = cdp_call(
        c, "Runtime.evaluate",
        json_pack("{s:s, s:b, s:b}", "expression", expression, "returnByValue", 1, "awaitPromise", 1));
    const json_t *ex = json_object_get(r, "exceptionDetails");
    if (ex != NULL)
        fail_msg("evaluating %s: %s", expression,
                 json_string_value(json_object_get(json_object_get(ex, "exception"), "description")));
    json_t *v = json_object_get(json_object_get(r, "result"), "value");
    v = v ? json_incref(v) : json_null();
    json_decref(r);
    return v;
}

int cdp_wait_true(struct cdp *c, const char *expression, int timeout_s)
{
    double deadline = now_ms() + timeout_s * 1e3;
    while (now_ms() < deadline) {
        json_t *v = cdp_eval(c, expression);
        int yes = json_is_true(v);
        json_decref(v);
        if (yes)
            return 0;
        /* Let events in meanwhile; a short pause between tries. */
        json_t *msg = next_message(c, now_ms() + 200);
        if (msg != NULL) {
            on_event(c, msg);
            json_decref(msg);
        }
    }
    return -1;
}

void cdp_screenshot(struct cdp *c, const char *png_path)
{
    json_t *m = cdp_call(c, "Page.getLayoutMetrics", NULL);
    const json_t *size = json_object_get(m, "cssContentSize");
    json_t *clip =
        json_pack("{s:i, s:i, s:O, s:O, s:i}", "x", 0, "y", 0, "width", json_object_get(size, "width"),
                  "height", json_object_get(size, "height"), "scale", 1);
    json_decref(m);
    assert_non_null(clip);
    json_t *shot =
        cdp_call(c, "Page.captureScreenshot",
                 json_pack("{s:s, s:o, s:b}", "format", "png", "clip", clip, "captureBeyondViewport", 1));
    const char *data = json_string_value(json_object_get(shot, "data"));
    assert_non_null(data);
    size_t len = 0;
    unsigned char *png = base64_decode(data, strlen(data), &len);
    assert_non_null(png);
    assert_int_equal(fs_write_file(png_path, png, len, 0), 0);
    free(png);
    json_decref(shot);
}

const json_t *cdp_errors(const struct cdp *c)
{
    return c->errors;
}
