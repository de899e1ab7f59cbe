/* harness: what integration tests need to drive the real binaries.
 * Temp folders, free loopback ports, spawning and stopping `siegetank`
 * (path from $SIEGETANK_BIN, set by CTest), raw HTTP(S) requests through
 * libcurl, and a throw-away PKI made with the openssl command. */
#ifndef ST_HARNESS_H
#define ST_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

struct harness_response {
    long status; /* 0: no HTTP answer (connection failed) */
    char *body;  /* NUL-terminated */
    size_t len;
    char *headers; /* raw header block, lowercase names */
};

/* A fresh folder under $TMPDIR (or /tmp); path must hold PATH_MAX. */
void harness_tmpdir(char *path);
int harness_free_port(void);
void harness_write(const char *path, const char *text);
const char *harness_bin(void);

/* Starts argv (argv[0] is replaced by harness_bin() when NULL); stdout and
 * stderr go to log_path. The child is SIGKILLed when the test process ends,
 * so a failed or crashed test leaves no daemon behind. */
pid_t harness_spawn(const char *const argv[], const char *log_path);
/* Sends sig and waits up to timeout_s; returns the exit status, 128+signal
 * when killed, or -1 when it did not exit (then it is SIGKILLed). */
int harness_stop(pid_t pid, int sig, int timeout_s);
/* Waits for the child to exit by itself; same return as harness_stop. */
int harness_wait_exit(pid_t pid, int timeout_s);
/* Polls GET url until any HTTP answer; 0 when up, -1 after timeout_s. */
int harness_wait_up(const char *url, int timeout_s);

/* Resource figures of a running process, for tests that assert a daemon
 * did not spend memory or CPU on hostile input: a "Name:" line of
 * /proc/<pid>/status in kB (e.g. "VmHWM", the peak resident set), and the
 * user + system CPU seconds from /proc/<pid>/stat. -1 when unreadable. */
long harness_proc_status_kb(pid_t pid, const char *name);
double harness_proc_cpu_seconds(pid_t pid);

/* Counts the entries under dir (dir itself included) that its group or
 * others may access in any way; the first one's path goes to first (may be
 * NULL; PATH_MAX bytes). -1 when dir cannot be walked. */
int harness_private_tree(const char *dir, char *first);

/* One request. headers: NULL-terminated "Name: value" strings or NULL.
 * cafile: verify the peer against it (NULL: no verification). */
int harness_http(const char *method, const char *url, const char *const headers[], const void *body,
                 size_t len, const char *cafile, struct harness_response *out);
void harness_response_free(struct harness_response *r);
/* Value of a response header (name lowercase) copied into out; 0 or -1. */
int harness_header(const struct harness_response *r, const char *name, char *out, size_t outlen);

/* In dir: root.pem (a root CA), chain.pem (an intermediate CA), cert.pem
 * and key.pem (a localhost leaf signed by the intermediate), other_key.pem
 * (a key that matches nothing). 0 or -1. */
int harness_make_pki(const char *dir);

#endif
