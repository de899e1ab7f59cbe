/* cli_runner: fork + exec of the CLI with its output captured in temp files
 * (files, not pipes, so a chatty child can never block on a full pipe). */
#include "cli_runner.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "util/fs.h"

#define CLI_OUTPUT_MAX (16u << 20)

static int temp_file(char *path, size_t n, const char *kind)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(path, n, "%s/siegetank-cli-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", kind);
    return mkstemp(path);
}

static char *slurp(const char *path)
{
    size_t len;
    char *text = fs_read_file(path, CLI_OUTPUT_MAX, &len);
    return text ? text : strdup("");
}

static void set_or_unset(const char *name, const char *value)
{
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
}

static void child(const struct cli_call *call, const char *const argv[], int in_fd, int out_fd, int err_fd)
{
    const char *args[64] = {harness_bin()};
    size_t n = 1;
    for (; argv[n - 1] && n < 63; n++)
        args[n] = argv[n - 1];
    args[n] = NULL;
    set_or_unset("SIEGETANK_CC", call->cc);
    set_or_unset("SIEGETANK_TOKEN", call->token);
    dup2(in_fd, 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    execv(args[0], (char *const *)args);
    _exit(127);
}

int cli_run(const struct cli_call *call, const char *const argv[], struct cli_result *r)
{
    char in_path[512], out_path[512], err_path[512];
    int in_fd = temp_file(in_path, sizeof in_path, "in");
    int out_fd = temp_file(out_path, sizeof out_path, "out");
    int err_fd = temp_file(err_path, sizeof err_path, "err");
    int status = -1;
    r->status = -1;
    if (in_fd < 0 || out_fd < 0 || err_fd < 0)
        goto out;
    const char *input = call->input ? call->input : "";
    if (write(in_fd, input, strlen(input)) != (ssize_t)strlen(input) || lseek(in_fd, 0, SEEK_SET) != 0)
        goto out;
    fflush(NULL); /* nothing buffered in the test may be written twice */
    pid_t pid = fork();
    if (pid == 0)
        child(call, argv, in_fd, out_fd, err_fd);
    if (pid > 0 && waitpid(pid, &status, 0) == pid)
        r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
out:
    r->out = slurp(out_path);
    r->err = slurp(err_path);
    for (int i = 0; i < 3; i++) {
        int fd = i == 0 ? in_fd : i == 1 ? out_fd : err_fd;
        const char *path = i == 0 ? in_path : i == 1 ? out_path : err_path;
        if (fd >= 0) {
            close(fd);
            unlink(path);
        }
    }
    return r->status;
}

void cli_result_free(struct cli_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

int cli_first_line(const struct cli_result *r, char *out, size_t n)
{
    size_t len = strcspn(r->out, "\n");
    if (len == 0 || len >= n)
        return -1;
    memcpy(out, r->out, len);
    out[len] = '\0';
    return 0;
}
