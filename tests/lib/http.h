/* HTTP requests for the API tests, through libcurl.
 *
 * A client owns one curl handle, so consecutive requests reuse its
 * connection (keep-alive); response.num_connects tells whether a request
 * opened a new one. Every response is checked against openapi.yaml when a
 * schema has been installed with http_set_schema(): the result is in
 * response.schema_error, and violations are also counted process-wide
 * (http_schema_violations) so threads cannot lose one. */
#ifndef GS_TEST_HTTP_H
#define GS_TEST_HTTP_H

#include <stddef.h>

#include "lib/schema.h"

typedef struct {
    char *name;
    char *value;
} http_header;

typedef struct {
    long status;         /* 0 when the transfer failed */
    int curl_code;       /* CURLcode */
    char curl_error[256];
    char *body;          /* NUL-terminated, body_len bytes */
    size_t body_len;
    http_header *headers; /* of the final response (not of a 100 Continue) */
    size_t n_headers;
    long num_connects;   /* new connections this request opened */
    double seconds;      /* total time */
    size_t bytes_sent;   /* request body bytes curl uploaded */
    char schema_error[600]; /* "" when the response matched the contract */
} http_response;

typedef struct http_client http_client;

/* A client for http://127.0.0.1:port. token: when not NULL, every request
 * carries "Authorization: Bearer <token>". */
http_client *http_client_new(int port, const char *token);
void http_client_free(http_client *c);
void http_client_set_token(http_client *c, const char *token);
void http_client_set_timeout(http_client *c, long seconds);

/* One request. headers: NULL-terminated "Name: value" strings added as is
 * ("Name:" removes a header curl would add). A body is sent when body is
 * not NULL; its Content-Type is application/json unless headers give one.
 * Returns 0 when a response was received (any status), -1 otherwise. */
int http_request(http_client *c, const char *method, const char *path,
                 const char *const *headers, const char *body, size_t body_len,
                 http_response *r);

/* Upload of a declared length from a callback, to test early answers.
 * declared: the Content-Length sent (or -1 for chunked); the callback
 * supplies up to `total` bytes of filler ('x'). */
int http_request_upload(http_client *c, const char *method, const char *path,
                        const char *const *headers, long long declared, size_t total,
                        http_response *r);

/* Shorthands with a fresh handle (a new connection). */
int http_get(int port, const char *path, http_response *r);
int http_post_json(int port, const char *path, const char *json, http_response *r);

/* Case-insensitive header lookup in a response; NULL when absent. */
const char *http_header_get(const http_response *r, const char *name);
void http_response_free(http_response *r);

/* Raw bytes over a fresh TCP connection: sends data (all at once), reads
 * until the peer closes or timeout_ms passes; *out is NUL-terminated.
 * Returns the bytes read, or -1 when the connection failed. */
long http_raw(int port, const char *data, size_t len, char **out, int timeout_ms);
/* The status code of the first response in a raw reply, 0 if none. */
int http_raw_status(const char *reply);

/* Schema checks on every response (NULL to switch them off). */
void http_set_schema(const schema *s);
/* Violations seen since start, and the first few messages (joined by '\n'). */
long http_schema_violations(void);
const char *http_schema_violation_log(void);

#endif
