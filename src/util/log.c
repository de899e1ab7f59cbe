#include "util/log.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_file;
static int log_quiet;

int log_open(const char *path)
{
    /* A log may quote requests: for the daemon's user alone. */
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "a") : NULL;
    if (f == NULL) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    setvbuf(f, NULL, _IOLBF, 0);
    pthread_mutex_lock(&log_lock);
    if (log_file != NULL)
        fclose(log_file);
    log_file = f;
    pthread_mutex_unlock(&log_lock);
    return 0;
}

void log_close(void)
{
    pthread_mutex_lock(&log_lock);
    if (log_file != NULL)
        fclose(log_file);
    log_file = NULL;
    pthread_mutex_unlock(&log_lock);
}

void log_set_quiet(int quiet)
{
    log_quiet = quiet;
}

static void log_line(const char *level, const char *fmt, va_list ap)
{
    char msg[2048];
    char stamp[32];
    struct timespec now;
    struct tm tm;

    vsnprintf(msg, sizeof msg, fmt, ap);
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);

    pthread_mutex_lock(&log_lock);
    if (!log_quiet)
        fprintf(stderr, "%s.%03ldZ %s %s\n", stamp, now.tv_nsec / 1000000, level, msg);
    if (log_file != NULL)
        fprintf(log_file, "%s.%03ldZ %s %s\n", stamp, now.tv_nsec / 1000000, level, msg);
    pthread_mutex_unlock(&log_lock);
}

#define LOG_FN(fn, level)                                                                                    \
    void fn(const char *fmt, ...)                                                                            \
    {                                                                                                        \
        va_list ap;                                                                                          \
        va_start(ap, fmt);                                                                                   \
        log_line(level, fmt, ap);                                                                            \
        va_end(ap);                                                                                          \
    }

LOG_FN(log_info, "info")
LOG_FN(log_warn, "warn")
LOG_FN(log_error, "error")
