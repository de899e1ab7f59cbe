#include "harness.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void harness_tmpdir(char *path)
{
    const char *base = getenv("TMPDIR");
    snprintf(path, PATH_MAX, "%s/siegetank-test-XXXXXX", base ? base : "/tmp");
    if (mkdtemp(path) == NULL) {
        perror("mkdtemp");
        abort();
    }
}

int harness_free_port(void)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t len = sizeof addr;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0)
        abort();
    close(fd);
    return ntohs(addr.sin_port);
}

void harness_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        abort();
    }
    fputs(text, f);
    fclose(f);
}

const char *harness_bin(void)
{
    const char *bin = getenv("SIEGETANK_BIN");
    return bin ? bin : "./siegetank";
}

pid_t harness_spawn(const char *const argv[], const char *log_path)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    /* A test that fails or crashes must not leave daemons running: the
     * child dies with the test process (checked again in case the test died
     * before the request took effect). */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(127);
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    /* A NULL argv[0] would end the list: put the binary in a copy. */
    const char *args[64];
    size_t n = 0;
    args[n++] = argv[0] ? argv[0] : harness_bin();
    for (; n < 63 && argv[n]; n++)
        args[n] = argv[n];
    args[n] = NULL;
    execv(args[0], (char *const *)args);
    perror("execv");
    _exit(127);
}

static int decode_status(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

int harness_wait_exit(pid_t pid, int timeout_s)
{
    int status;
    for (int i = 0; i < timeout_s * 50; i++) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return decode_status(status);
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

int harness_stop(pid_t pid, int sig, int timeout_s)
{
    kill(pid, sig);
    return harness_wait_exit(pid, timeout_s);
}

int harness_wait_up(const char *url, int timeout_s)
{
    for (int i = 0; i < timeout_s * 20; i++) {
        struct harness_response r;
        harness_http("GET", url, NULL, NULL, 0, NULL, &r);
        long status = r.status;
        harness_response_free(&r);
        if (status != 0)
            return 0;
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

struct growbuf {
    char *data;
    size_t len;
};

long harness_proc_status_kb(pid_t pid, const char *name)
{
    char path[64], line[256];
    long kb = -1;
    size_t n = strlen(name);
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    while (f != NULL && kb < 0 && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, name, n) == 0 && line[n] == ':')
            kb = strtol(line + n + 1, NULL, 10);
    if (f != NULL)
        fclose(f);
    return kb;
}

double harness_proc_cpu_seconds(pid_t pid)
{
    char path[64], text[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    size_t len = f != NULL ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f != NULL)
        fclose(f);
    text[len] = '\0';
    /* The command name may hold spaces: the fields count from its ')'. */
    char *p = strrchr(text, ')');
    unsigned long utime, stime;
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static int shared_entries;
static char *shared_first;

static int note_shared(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)type;
    (void)ftw;
    if ((sb->st_mode & 077) != 0 && shared_entries++ == 0 && shared_first != NULL)
        snprintf(shared_first, PATH_MAX, "%s", path);
    return 0;
}

int harness_private_tree(const char *dir, char *first)
{
    shared_entries = 0;
    shared_first = first;
    if (first != NULL)
        first[0] = '\0';
    if (nftw(dir, note_shared, 16, FTW_PHYS) != 0)
        return -1;
    return shared_entries;
}

static size_t on_data(char *ptr, size_t size, size_t n, void *userdata)
{
    struct growbuf *b = userdata;
    size_t add = size * n;
    char *p = realloc(b->data, b->len + add + 1);
    if (p == NULL)
        return 0;
    memcpy(p + b->len, ptr, add);
    b->data = p;
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

int harness_http(const char *method, const char *url, const char *const headers[], const void *body,
                 size_t len, const char *cafile, struct harness_response *out)
{
    struct growbuf bodybuf = {calloc(1, 1), 0}, headbuf = {calloc(1, 1), 0};
    struct curl_slist *list = NULL;
    CURL *c = curl_easy_init();
    memset(out, 0, sizeof *out);
    for (int i = 0; headers != NULL && headers[i] != NULL; i++)
        list = curl_slist_append(list, headers[i]);
    list = curl_slist_append(list, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &bodybuf);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &headbuf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    if (cafile != NULL) {
        curl_easy_setopt(c, CURLOPT_CAINFO, cafile);
    } else {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    for (char *p = headbuf.data; *p; p++)
        if (*p >= 'A' && *p <= 'Z' && (p == headbuf.data || p[-1] == '\n'))
            for (char *q = p; *q && *q != ':'; q++)
                *q = (char)(*q >= 'A' && *q <= 'Z' ? *q + 32 : *q);
    out->body = bodybuf.data;
    out->len = bodybuf.len;
    out->headers = headbuf.data;
    curl_slist_free_all(list);
    curl_easy_cleanup(c);
    return rc == CURLE_OK ? 0 : -1;
}

void harness_response_free(struct harness_response *r)
{
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof *r);
}

int harness_header(const struct harness_response *r, const char *name, char *out, size_t outlen)
{
    size_t n = strlen(name);
    for (const char *p = r->headers; p != NULL && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, name, n) != 0 || p[n] != ':')
            continue;
        const char *v = p + n + 1;
        while (*v == ' ')
            v++;
        size_t len = strcspn(v, "\r\n");
        if (len >= outlen)
            return -1;
        memcpy(out, v, len);
        out[len] = '\0';
        return 0;
    }
    return -1;
}

int harness_make_pki(const char *dir)
{
    char cmd[8192];
    snprintf(
        cmd, sizeof cmd,
        "set -e; cd '%s';"
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout root_key.pem -out root.pem -days 2 "
        "  -subj '/CN=siegetank test root' -addext basicConstraints=critical,CA:TRUE 2>/dev/null;"
        "openssl req -newkey rsa:2048 -nodes -keyout chain_key.pem -out chain.csr "
        "  -subj '/CN=siegetank test intermediate' 2>/dev/null;"
        "printf 'basicConstraints=critical,CA:TRUE\\nkeyUsage=keyCertSign,cRLSign\\n' > ca.ext;"
        "openssl x509 -req -in chain.csr -CA root.pem -CAkey root_key.pem -CAcreateserial -out chain.pem "
        "  -days 2 -extfile ca.ext 2>/dev/null;"
        "openssl req -newkey rsa:2048 -nodes -keyout key.pem -out cert.csr -subj '/CN=localhost' 2>/dev/null;"
        "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > leaf.ext;"
        "openssl x509 -req -in cert.csr -CA chain.pem -CAkey chain_key.pem -CAcreateserial -out cert.pem "
        "  -days 2 -extfile leaf.ext 2>/dev/null;"
        "openssl genrsa -out other_key.pem 2048 2>/dev/null",
        dir);
    return system(cmd) == 0 ? 0 : -1;
}
