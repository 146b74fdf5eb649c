/* What the HTTP side's files share (not for outside http/): the state of
 * one request on its way through the pipeline (api/pipeline.h), from its
 * headers to its completion, and the functions of the stages that live in
 * files of their own: respond.c (stage 8, every response) and stream.c
 * (a /train answered as NDJSON while it runs). */
#ifndef GS_SERVER_EXCHANGE_H
#define GS_SERVER_EXCHANGE_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "api/pipeline.h"
#include "http/http.h"
#include "http/queue.h"

#define REQUEST_ID_MAX 128
/* The JSON header's length in a body that carries binary tensors after it
 * (Triton's binary tensor extension), in requests and responses. */
#define BINARY_HEADER "Inference-Header-Content-Length"

/* Where a compute request is once its body has arrived. */
typedef enum {
    WAIT_NONE = 0, /* not submitted (yet) */
    WAIT_QUEUED,   /* suspended: queued or running on a worker */
    WAIT_DONE,     /* resumed: the worker's outcome is in the job and res */
    WAIT_REFUSED,  /* resumed without queueing: the queue was full */
    WAIT_STREAMING, /* answering with NDJSON lines while the worker runs */
} wait_state;

/* /train answered as NDJSON while it runs (Accept: application/x-ndjson):
 * the worker appends lines (stream_line, then the final answer in
 * finish_job) and libmicrohttpd's content reader hands them out
 * (stream_read), suspending the connection while there is nothing to send.
 * The request is then shared by the connection and the worker: whichever
 * leaves last frees it. */
typedef struct {
    pthread_mutex_t mu;
    char *buf;
    size_t len, cap, sent; /* buf[sent, len): not handed out yet */
    int opened;            /* the first line is in: the 200 answer may start */
    int finished;          /* the last line is in */
    int waiting;           /* the reader found nothing and suspended the connection */
    int gone;              /* the connection has ended (http_completed) */
    atomic_int closed;     /* the same, read by the worker without the lock */
    double next_probe;     /* the worker's next look at the socket (stream_closed) */
    int worker;            /* the worker still holds the request */
} ndjson_stream;

/* State of one request, from its headers to its completion. */
typedef struct {
    job work; /* first: queue.c hands back this address */
    server *srv;
    struct MHD_Connection *conn;
    wait_state wait;
    size_t json_len;     /* the JSON header's length in a binary body; 0: all JSON */
    size_t text_numbers; /* its estimate's count of numbers in text tensors (estimate.h) */
    double t_body;       /* the whole body had arrived */
    const route_def *route;
    const char *param; /* the path's parameter (route_find), in path */
    double start;
    char id[REQUEST_ID_MAX + 1];
    char method[16];
    char path[256];
    char *body; /* capped at --max-body-bytes; at buf + pad */
    size_t len, cap;
    char *buf;  /* the allocation */
    size_t pad; /* puts the binary part after a JSON header on an 8-byte boundary,
                   so that its tensors can be used where they lie (codec.h) */
    int too_large;
    size_t discarded; /* bytes dropped since too_large */
    int compute; /* the route reads this request's body (route_reads_body) */
    sha256_stream *sha; /* BODY_BYTES: the body's sha256, as it arrives */
    int status;  /* queued; 0 until then */
    size_t bytes;
    size_t expect_len; /* Content-Length, when given and within the limit */
    double t_queued;   /* when the response was queued (the send phase starts) */
    ndjson_stream *stream; /* a /train that asked for NDJSON, or NULL */
    compute_result res;  /* the worker's answer (WAIT_DONE, JOB_RAN); last, so that
                            its problem's 7 KB of errors end the state (REQUEST_HEAD) */
} http_request;

/* The bytes of a request's state that start zeroed: all but res.d.errors,
 * written before they are read (problem.h). */
#define REQUEST_HEAD offsetof(http_request, res.d.errors)

typedef route_header header;

/* Frees q and what it holds (http.c). */
void http_request_free(http_request *q);

/* ---- respond.c: stage 8 --------------------------------------------------------- */

extern const header RETRY_AFTER[];

/* Queues r with the headers every response has (CORS, request id, nosniff). */
enum MHD_Result send_response(server *s, struct MHD_Connection *c, http_request *q, int status,
                              const char *content_type, struct MHD_Response *r, size_t len,
                              const header *extra);
/* Queues body (freed by MHD when owned) with the headers every response has. */
enum MHD_Result respond(server *s, struct MHD_Connection *c, http_request *q, int status,
                        const char *content_type, const char *body, size_t len, int owned,
                        const header *extra);
enum MHD_Result respond_problem(server *s, struct MHD_Connection *c, http_request *q,
                                const diag *d, const header *extra);
enum MHD_Result respond_error(server *s, struct MHD_Connection *c, http_request *q, int status,
                              const char *slug, const header *extra, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
/* 413 over --max-body-bytes (size: the Content-Length, or NULL). */
enum MHD_Result respond_too_large(server *s, struct MHD_Connection *c, http_request *q,
                                  const char *size);
/* 503 with Retry-After: draining, the queue full, or the wait expired. */
enum MHD_Result respond_unavailable(server *s, struct MHD_Connection *c, http_request *q,
                                    reject_reason why);
/* A route's answer (compute_run's result), its body handed to the response. */
enum MHD_Result respond_result(server *s, struct MHD_Connection *c, http_request *q,
                               compute_result *res);
/* OPTIONS: the CORS preflight of q's route. */
enum MHD_Result respond_preflight(server *s, struct MHD_Connection *c, http_request *q);
/* A compute problem in the rejection metrics (over a limit, out of time, a
 * streamed client gone). */
void count_problem(server *s, const diag *d);

/* ---- stream.c: /train as NDJSON ------------------------------------------------------ */

/* 1 when the client asks for NDJSON (Accept: application/x-ndjson). */
int wants_ndjson(struct MHD_Connection *c);
/* Gives q its stream, held by the worker to come; 0, or -1 out of memory. */
int stream_open(http_request *q);
void stream_free(ndjson_stream *st);
/* train_stream's two hooks, on the worker (ctx = q). */
int stream_line(void *ctx, const char *json, size_t len);
int stream_closed(void *ctx);
/* The first line is in (the connection resumed): 200 and the lines as they come. */
enum MHD_Result stream_start(server *s, struct MHD_Connection *c, http_request *q);
/* The worker is done with q (finish_job): its answer becomes the last line.
 * 1 when that is all (the stream carries the answer, or the client left
 * and q is freed here); 0 when nothing was streamed: answer as usual. */
int stream_worker_done(http_request *q);
/* The connection has ended (http_completed): 1 when the worker still holds
 * q and will free it, 0 when the caller frees it. */
int stream_connection_ended(http_request *q);

#endif
