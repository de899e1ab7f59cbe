/* stats_peek: the stats pipeline as a test sees it, read straight from the
 * daemons' SQLite files (read-only, with a busy timeout, while they run):
 * the SCV's scv.db outbox and the CC's cc.db stats table. Failures abort the
 * test (cmocka). */
#ifndef ST_STATS_PEEK_H
#define ST_STATS_PEEK_H

/* Fragments waiting in the SCV's outbox. */
long stats_peek_outbox(const char *scv_db);
/* Waits up to timeout_s until the SCV's outbox is empty, else fails. */
void stats_peek_wait_drained(const char *scv_db, int timeout_s);
/* Frames the CC has credited to one stream (0 when none). */
long stats_peek_credited(const char *cc_db, const char *stream_id);

#endif
