/* metrics_page: a daemon's GET /metrics for the tests, as Prometheus would
 * read it. metrics_page_get fetches base_url/metrics, asserts 200 with the
 * text format's content type and that `promtool check metrics` (Debian
 * prometheus) accepts the page, and returns the text (caller frees).
 * metrics_page_value returns the value of one sample, named exactly as the
 * page writes it (`name{a="x",b="y"}`), failing the test when it is
 * missing. metrics_page_wait polls the page (without promtool) until series
 * reads want, failing the test after timeout_s seconds. */
#ifndef ST_METRICS_PAGE_H
#define ST_METRICS_PAGE_H

char *metrics_page_get(const char *base_url);
double metrics_page_value(const char *text, const char *series);
void metrics_page_wait(const char *base_url, const char *series, double want, int timeout_s);

#endif
