/* Log lines on stderr, plain (logfmt) or JSON, one write(2) per line so lines
 * from concurrent requests never interleave. */
#ifndef GS_SERVER_LOG_H
#define GS_SERVER_LOG_H

#include <stddef.h>

void log_set_format(unsigned format); /* LOG_PLAIN | LOG_JSON */

/* One line per request. status 0: the request ended before a response. */
void log_request(const char *request_id, const char *method, const char *path, int status,
                 size_t bytes, double seconds);

/* A server event: level "info" | "error", and a message. */
void log_event(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
