/* log: timestamped lines to stderr and, once log_open() is called, to a file.
 * Thread-safe; each call writes one whole line.
 *
 * The log is process-wide on purpose, not a context passed around: a
 * process is one daemon (or one CLI command) with one log, stderr is
 * process-wide anyway, and the log is written from every layer (util up to
 * the handlers), so threading a handle through each call would buy nothing.
 * Tests that run several servers in one process share it. */
#ifndef ST_LOG_H
#define ST_LOG_H

#include <stdio.h>

int log_open(const char *path); /* also log to this file (append; made 0600); 0 or -1 */
void log_close(void);
void log_set_quiet(int quiet); /* 1: do not echo to stderr */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
