/* Starts and stops the real gradserve binary for the API tests.
 *
 * The binary is $GRADSERVE_BIN, else $BUILD/gradserve (so `make test
 * SANITIZE=1` tests the sanitized build), else build/gradserve. It listens
 * on a free loopback port (found by binding port 0; retried when another
 * process takes it first), with the test's extra flags and environment; the
 * inherited environment's GRADSERVE_* variables are dropped so tests are
 * hermetic, and a variable the test sets replaces the inherited one. Its stdout and stderr go to a log file (server.log). */
#ifndef GS_TEST_SERVER_H
#define GS_TEST_SERVER_H

#include <sys/types.h>

typedef struct {
    pid_t pid;
    int port;
    int exited;      /* the process has been reaped */
    int wait_status; /* waitpid status once exited */
    char log[256];   /* path of the log file */
    char bin[512];
} test_server;

/* args: NULL-terminated extra flags; env: NULL-terminated "NAME=value".
 * Waits until GET /health/live answers 200. 0 on success, -1 (with the
 * reason printed) otherwise. */
int server_start(test_server *s, const char *const *args, const char *const *env);

/* Sends sig to the server. */
int server_signal(test_server *s, int sig);

/* Waits up to timeout_ms for the process to exit. Returns 0 and fills
 * *exit_code (exit status, or 128 + signal) when it exited; -1 on timeout. */
int server_wait(test_server *s, int timeout_ms, int *exit_code);

/* SIGTERM, wait (up to 20 s, then SIGKILL). Returns the exit code as
 * server_wait gives it (137 when it had to be killed); removes the log
 * unless the code is nonzero. */
int server_stop(test_server *s);

/* 1 while the process runs. */
int server_alive(test_server *s);

/* Prints the last lines of the server's log (for failures). */
void server_dump_log(const test_server *s, int max_lines);

/* A count from /proc/PID/status, e.g. "VmRSS" (kB) or "Threads"; -1 when
 * the process or the field is not there. */
long server_proc_status(pid_t pid, const char *field);

/* The binary path that server_start would use. */
const char *server_binary(void);

#endif
