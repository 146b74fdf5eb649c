#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "json_writer.h"
#include "options.h"

/* Set once at start-up, before any thread exists. */
static unsigned log_format = LOG_PLAIN;

void log_set_format(unsigned format) { log_format = format; }

/* RFC 3339 UTC time with milliseconds. */
static void timestamp(char out[32])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

static void emit(const char *line, size_t n)
{
    while (n) {
        ssize_t w = write(STDERR_FILENO, line, n);
        if (w <= 0) return;
        line += w;
        n -= (size_t)w;
    }
}

/* Quotes a logfmt value when it holds spaces, quotes or '='. */
static void logfmt_value(char *out, size_t cap, const char *v)
{
    if (*v && !strpbrk(v, " \"=\\"))
        snprintf(out, cap, "%s", v);
    else
        json_escape_into(out, cap, v);
}

void log_request(const char *request_id, const char *method, const char *path, int status,
                 size_t bytes, double seconds)
{
    char ts[32], id[300], m[64], p[600], line[1200];
    timestamp(ts);
    int n;
    if (log_format == LOG_JSON) {
        json_escape_into(id, sizeof id, request_id);
        json_escape_into(m, sizeof m, method);
        json_escape_into(p, sizeof p, path);
        n = snprintf(line, sizeof line,
                     "{\"time\":\"%s\",\"request_id\":%s,\"method\":%s,\"path\":%s,"
                     "\"status\":%d,\"bytes\":%zu,\"duration_ms\":%.3f}\n",
                     ts, id, m, p, status, bytes, seconds * 1e3);
    } else {
        logfmt_value(id, sizeof id, request_id);
        logfmt_value(m, sizeof m, method);
        logfmt_value(p, sizeof p, path);
        n = snprintf(line, sizeof line,
                     "%s request_id=%s method=%s path=%s status=%d bytes=%zu duration_ms=%.3f\n",
                     ts, id, m, p, status, bytes, seconds * 1e3);
    }
    if (n > 0) emit(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

void log_event(const char *level, const char *fmt, ...)
{
    char ts[32], msg[512], quoted[1100], line[1300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    timestamp(ts);
    json_escape_into(quoted, sizeof quoted, msg);
    int n;
    if (log_format == LOG_JSON)
        n = snprintf(line, sizeof line, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":%s}\n", ts,
                     level, quoted);
    else
        n = snprintf(line, sizeof line, "%s level=%s msg=%s\n", ts, level, quoted);
    if (n > 0) emit(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}
