#include "log.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wire/json_writer.h"
#include "options.h"

/* Set once at start-up, before any thread exists. */
static unsigned log_format = LOG_PLAIN;

void log_set_format(unsigned format) { log_format = format; }

/* RFC 3339 UTC time with milliseconds. The date and time to the second are
 * formatted once per second per thread (gmtime_r and strftime take locks and
 * the time zone's state: too much for every request's line). */
static void timestamp(char out[32])
{
    static _Thread_local time_t last = -1;
    static _Thread_local char secs[24];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != last) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        if (!strftime(secs, sizeof secs, "%Y-%m-%dT%H:%M:%S", &tm)) secs[0] = 0;
        last = ts.tv_sec;
    }
    size_t n = strlen(secs);
    long ms = ts.tv_nsec / 1000000;
    memcpy(out, secs, n);
    out[n++] = '.';
    out[n++] = (char)('0' + ms / 100);
    out[n++] = (char)('0' + ms / 10 % 10);
    out[n++] = (char)('0' + ms % 10);
    out[n++] = 'Z';
    out[n] = 0;
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

/* Request lines gathered by this thread (log_batch_begin) and not yet
 * written. PIPE_BUF (4 KiB on Linux): stderr is often a pipe (a container
 * runtime, systemd), where only a write of at most PIPE_BUF bytes is
 * atomic; a bigger one could interleave with another thread's lines. About
 * 30 lines of 130 bytes: a turn at 32 connections fits in one write. */
#define BATCH_BYTES PIPE_BUF
static _Thread_local struct {
    int on;
    size_t len;
    char buf[BATCH_BYTES];
} batch;

void log_batch_begin(void) { batch.on = 1; }

void log_batch_flush(void)
{
    if (!batch.len) return;
    emit(batch.buf, batch.len);
    batch.len = 0;
}

void log_batch_end(void)
{
    log_batch_flush();
    batch.on = 0;
}

/* A request's line is built by appending, without printf (one per request). */
typedef struct {
    char *p, *end;
} line_buf;

static void put(line_buf *b, const char *s, size_t n)
{
    if (n > (size_t)(b->end - b->p)) n = (size_t)(b->end - b->p);
    memcpy(b->p, s, n);
    b->p += n;
}
static void puts_(line_buf *b, const char *s) { put(b, s, strlen(s)); }

static void put_uint(line_buf *b, unsigned long long v, int min_digits)
{
    char d[24];
    int k = 0;
    do d[k++] = (char)('0' + v % 10);
    while ((v /= 10) != 0 || k < min_digits);
    while (k) put(b, &d[--k], 1);
}

/* seconds as milliseconds with 3 decimals (as "%.3f" prints them). */
static void put_ms(line_buf *b, double seconds)
{
    double us = seconds * 1e6;
    if (!(us >= 0 && us < 1e18)) us = 0;
    unsigned long long u = (unsigned long long)(us + 0.5);
    put_uint(b, u / 1000, 1);
    put(b, ".", 1);
    put_uint(b, u % 1000, 3);
}

static void put_json(line_buf *b, const char *v)
{
    char q[1100];
    put(b, q, json_escape_into(q, sizeof q, v));
}

/* A logfmt value, quoted when it holds spaces, quotes, '=' or '\\'. */
static void put_logfmt(line_buf *b, const char *v)
{
    if (*v && !strpbrk(v, " \"=\\")) puts_(b, v);
    else put_json(b, v);
}

/* A field's key after the ones before it: ,"key": in JSON, " key=" in logfmt. */
static void put_key(line_buf *b, int json, const char *key)
{
    puts_(b, json ? ",\"" : " ");
    puts_(b, key);
    puts_(b, json ? "\":" : "=");
}

/* A text field: a JSON string, or a logfmt value. */
static void put_text(line_buf *b, int json, const char *key, const char *v)
{
    put_key(b, json, key);
    if (json) put_json(b, v);
    else put_logfmt(b, v);
}

void log_request(const char *request_id, const char *method, const char *path, int status,
                 size_t bytes, double seconds)
{
    char ts[32], line[2400];
    line_buf b = {line, line + sizeof line - 1};
    timestamp(ts);
    int json = log_format == LOG_JSON;
    if (json) {
        puts_(&b, "{\"time\":\"");
        puts_(&b, ts);
        puts_(&b, "\"");
    } else {
        puts_(&b, ts);
    }
    put_text(&b, json, "request_id", request_id);
    put_text(&b, json, "method", method);
    put_text(&b, json, "path", path);
    put_key(&b, json, "status");
    put_uint(&b, (unsigned)status, 1);
    put_key(&b, json, "bytes");
    put_uint(&b, bytes, 1);
    put_key(&b, json, "duration_ms");
    put_ms(&b, seconds);
    if (json) puts_(&b, "}");
    *b.p++ = '\n';
    size_t n = (size_t)(b.p - line);
    if (!batch.on) {
        emit(line, n);
        return;
    }
    if (n > sizeof batch.buf - batch.len) log_batch_flush();
    memcpy(batch.buf + batch.len, line, n); /* n < 2400 < PIPE_BUF: it fits an empty buffer */
    batch.len += n;
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
