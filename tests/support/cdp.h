/* cdp: a headless Chromium (Debian `chromium`) driven through the DevTools
 * protocol, for tests of pages the way people see them.
 *
 * The browser runs with --remote-debugging-pipe: requests go to its fd 3
 * and replies and events come from its fd 4, each one JSON text followed by
 * a NUL byte, so no websocket and no port are involved. One page is opened
 * and attached (flat session); its console errors, uncaught exceptions and
 * error log entries (failed loads, CSP refusals) are collected from the
 * start. Traffic other than loopback goes to a dead proxy, so a page can
 * reach nothing but the servers under test. The browser dies with the test
 * process. Each call aborts the test (cmocka) when the browser fails. */
#ifndef ST_CDP_H
#define ST_CDP_H

#include <jansson.h>

struct cdp;

/* Starts the browser (profile and log under dir) with a page of
 * width x height CSS pixels. */
struct cdp *cdp_start(const char *dir, int width, int height);
void cdp_stop(struct cdp *c);

/* Sends method with params (stolen; NULL for {}) to the page's session and
 * returns the result (a new reference). A protocol error fails the test. */
json_t *cdp_call(struct cdp *c, const char *method, json_t *params);

/* Loads url and waits for its load event. */
void cdp_navigate(struct cdp *c, const char *url);
/* The value of a JavaScript expression in the page (promises awaited), a
 * new reference; an exception fails the test. */
json_t *cdp_eval(struct cdp *c, const char *expression);
/* Evaluates expression until it is true; 0, or -1 after timeout_s. */
int cdp_wait_true(struct cdp *c, const char *expression, int timeout_s);
/* Saves a PNG of the page as it is now. */
void cdp_screenshot(struct cdp *c, const char *png_path);

/* The errors seen so far, one line each ("console: ...", "exception: ...",
 * "log: ..."); an empty array when there were none. Borrowed. */
const json_t *cdp_errors(const struct cdp *c);

#endif
