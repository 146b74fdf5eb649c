/* Log lines on stderr, plain (logfmt) or JSON. Every write(2) holds whole
 * lines, so lines from concurrent threads never interleave: an event's line
 * is written at once; a request's line is written at once too, except on a
 * thread that gathers them (an event loop, log_batch_begin), which writes
 * what it gathered in one write(2) before it next waits (log_batch_flush),
 * as nginx's `access_log ... buffer=` does. */
#ifndef GS_SERVER_LOG_H
#define GS_SERVER_LOG_H

#include <stddef.h>

void log_set_format(unsigned format); /* LOG_PLAIN | LOG_JSON */

/* One line per request. status 0: the request ended before a response. */
void log_request(const char *request_id, const char *method, const char *path, int status,
                 size_t bytes, double seconds);

/* This thread gathers request lines from now on, until log_batch_end (which
 * writes what is left). A line is written when the buffer (PIPE_BUF, 4 KiB:
 * the most a pipe writes atomically) would overflow, at the latest. */
void log_batch_begin(void);
/* Writes the lines gathered on this thread, if any, in one write(2). */
void log_batch_flush(void);
void log_batch_end(void);

/* A server event: level "info" | "error", and a message. */
void log_event(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
