/* Starting and stopping the real server binary (see server.h). */
#include "lib/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/http.h"

extern char **environ;

static char g_bin[512];

const char *server_binary(void)
{
    const char *b = getenv("GRADSERVE_BIN");
    if (b && *b) {
        snprintf(g_bin, sizeof g_bin, "%s", b);
    } else {
        const char *build = getenv("BUILD");
        snprintf(g_bin, sizeof g_bin, "%s/gradserve", build && *build ? build : "build");
    }
    return g_bin;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

int server_alive(test_server *s)
{
    if (s->exited || s->pid <= 0) return 0;
    int st;
    pid_t r = waitpid(s->pid, &st, WNOHANG);
    if (r == s->pid) {
        s->exited = 1;
        s->wait_status = st;
        return 0;
    }
    return 1;
}

static int code_of(int st)
{
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return -1;
}

static pid_t spawn(test_server *s, const char *const *args, const char *const *env)
{
    const char *argv[64];
    char listen[64];
    size_t n = 0;
    argv[n++] = s->bin;
    snprintf(listen, sizeof listen, "127.0.0.1:%d", s->port);
    argv[n++] = "--listen";
    argv[n++] = listen;
    for (const char *const *a = args; a && *a && n < 62; a++) argv[n++] = *a;
    argv[n] = NULL;

    /* the environment: inherited minus GRADSERVE_* and minus the names env
     * sets (a test's OPENBLAS_CORETYPE wins over the caller's), plus env */
    size_t ne = 0, cap = 16;
    for (char **e = environ; *e; e++) cap++;
    for (const char *const *e = env; e && *e; e++) cap++;
    const char **envp = calloc(cap, sizeof *envp);
    for (char **e = environ; *e; e++) {
        int replaced = 0;
        size_t name_len = strcspn(*e, "=");
        for (const char *const *t = env; t && *t && !replaced; t++)
            replaced = strncmp(*t, *e, name_len + 1) == 0;
        if (strncmp(*e, "GRADSERVE_", 10) && !replaced) envp[ne++] = *e;
    }
    for (const char *const *e = env; e && *e; e++) envp[ne++] = *e;
    envp[ne] = NULL;

    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0) {
            dup2(nul, 0);
            close(nul);
        }
        execve(s->bin, (char *const *)argv, (char *const *)envp);
        fprintf(stderr, "execve %s: %s\n", s->bin, strerror(errno));
        _exit(127);
    }
    free(envp);
    return pid;
}

int server_start(test_server *s, const char *const *args, const char *const *env)
{
    memset(s, 0, sizeof *s);
    snprintf(s->bin, sizeof s->bin, "%s", server_binary());
    if (access(s->bin, X_OK) != 0) {
        printf("  server binary %s not found (set GRADSERVE_BIN or BUILD)\n", s->bin);
        return -1;
    }
    snprintf(s->log, sizeof s->log, "/tmp/gradserve-test-%d-XXXXXX", (int)getpid());
    int lfd = mkstemp(s->log);
    if (lfd >= 0) close(lfd);

    const char *slow = getenv("GRADSERVE_TEST_START_SECONDS");
    int start_ms = (slow ? atoi(slow) : 20) * 1000;
    for (int attempt = 0; attempt < 5; attempt++) {
        s->port = free_port();
        s->exited = 0;
        s->pid = spawn(s, args, env);
        if (s->pid < 0) {
            printf("  fork failed: %s\n", strerror(errno));
            return -1;
        }
        double deadline = api_now() + start_ms / 1000.0;
        while (api_now() < deadline) {
            if (!server_alive(s)) break;
            http_response r;
            if (http_get(s->port, "/health/live", &r) == 0 && r.status == 200) {
                http_response_free(&r);
                return 0;
            }
            http_response_free(&r);
            api_sleep(0.02);
        }
        if (server_alive(s)) {
            printf("  server did not answer /health/live within %d ms\n", start_ms);
            kill(s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
            s->exited = 1;
            server_dump_log(s, 20);
            return -1;
        }
        /* exited: most likely the port was taken between probe and bind; retry */
        if (attempt == 4) {
            printf("  server exited with code %d at start\n", code_of(s->wait_status));
            server_dump_log(s, 20);
        }
    }
    return -1;
}

int server_signal(test_server *s, int sig)
{
    if (s->exited || s->pid <= 0) return -1;
    return kill(s->pid, sig);
}

int server_wait(test_server *s, int timeout_ms, int *exit_code)
{
    double deadline = api_now() + timeout_ms / 1000.0;
    for (;;) {
        if (!server_alive(s)) {
            if (exit_code) *exit_code = code_of(s->wait_status);
            return 0;
        }
        if (api_now() >= deadline) return -1;
        api_sleep(0.01);
    }
}

int server_stop(test_server *s)
{
    int code = -1;
    if (s->pid <= 0) return -1;
    if (!s->exited) server_signal(s, SIGTERM);
    if (server_wait(s, 20000, &code) != 0) {
        printf("  server did not exit within 20 s of SIGTERM; killing it\n");
        kill(s->pid, SIGKILL);
        server_wait(s, 5000, &code);
        code = 137;
    }
    if (code == 0)
        unlink(s->log);
    else
        server_dump_log(s, 30);
    return code;
}

void server_dump_log(const test_server *s, int max_lines)
{
    FILE *f = fopen(s->log, "r");
    if (!f) return;
    char *lines[256] = {0};
    int n = 0;
    char buf[1024];
    while (fgets(buf, sizeof buf, f)) {
        free(lines[n % 256]);
        lines[n % 256] = strdup(buf);
        n++;
    }
    fclose(f);
    if (max_lines > 256) max_lines = 256;
    int from = n > max_lines ? n - max_lines : 0;
    printf("  --- server log %s (last %d lines) ---\n", s->log, n - from);
    for (int i = from; i < n; i++) printf("  | %s", lines[i % 256]);
    for (int i = 0; i < 256; i++) free(lines[i]);
}

long server_proc_status(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    size_t n = strlen(field);
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, field, n) && line[n] == ':') {
            v = atol(line + n + 1);
            break;
        }
    if (f) fclose(f);
    return v;
}
