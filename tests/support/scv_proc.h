/* A real `siegetank scv` child process for tests that need one beside a CC:
 * started on a free port with its own temporary folder and waited for
 * until it answers HTTP; failures fail the running cmocka test. */
#ifndef ST_TESTS_SCV_PROC_H
#define ST_TESTS_SCV_PROC_H

#include <sys/types.h>

/* Starts an SCV called name that registers with the CC at cc_url using
 * cc_pass; stores its port in *port and returns its pid. */
pid_t scv_proc_start(const char *cc_url, const char *cc_pass, const char *name, int *port);

/* Creates a stream of target on the SCV at port as the user holding token;
 * asserts the SCV answers 200. */
void scv_proc_add_stream(int port, const char *token, const char *target);

#endif
