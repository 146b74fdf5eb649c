/* A /train answered as NDJSON while it runs (Accept: application/x-ndjson):
 * a line per epoch, then the answer (or the problem that stopped it) as the
 * last line. The worker appends lines (stream_line, then stream_worker_done)
 * and libmicrohttpd's content reader hands them out (stream_read),
 * suspending the connection while there is nothing to send. The request is
 * then shared by the connection and the worker: whichever leaves last frees
 * it. */
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "http/exchange.h"
#include "wire/problem.h"

int stream_open(http_request *q)
{
    if (!(q->stream = srv_calloc(1, sizeof *q->stream))) return -1;
    pthread_mutex_init(&q->stream->mu, NULL);
    q->stream->worker = 1;
    return 0;
}

void stream_free(ndjson_stream *st)
{
    if (!st) return;
    pthread_mutex_destroy(&st->mu);
    srv_free(st->buf);
    srv_free(st);
}

int wants_ndjson(struct MHD_Connection *c)
{
    const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept");
    return accept && strcasestr(accept, "application/x-ndjson") != NULL;
}

/* Appends a line and its newline, and wakes the connection when the answer
 * can start or its reader waits. Called with st->mu held; 0, or -1 when out
 * of memory (the line is dropped). */
static int stream_append(http_request *q, const char *line, size_t len)
{
    ndjson_stream *st = q->stream;
    if (st->sent == st->len) st->sent = st->len = 0;
    if (st->len + len + 1 > st->cap) {
        size_t cap = 2 * (st->len + len + 1);
        char *b = srv_realloc(st->buf, cap);
        if (!b) return -1;
        st->buf = b;
        st->cap = cap;
    }
    memcpy(st->buf + st->len, line, len);
    st->buf[st->len + len] = '\n';
    st->len += len + 1;
    if (!st->opened || st->waiting) {
        st->opened = 1;
        st->waiting = 0;
        loop_resume(q->srv->loop, q->conn);
    }
    return 0;
}

/* train_stream.line, on the worker: nonzero once the client has left. */
int stream_line(void *ctx, const char *json, size_t len)
{
    http_request *q = ctx;
    pthread_mutex_lock(&q->stream->mu);
    int gone = q->stream->gone;
    if (!gone) stream_append(q, json, len);
    pthread_mutex_unlock(&q->stream->mu);
    return gone;
}

/* train_stream.closed, on the worker before every step. A suspended
 * connection is not watched by libmicrohttpd, so every 50 ms the worker
 * looks at the socket itself for the client's hang-up. */
int stream_closed(void *ctx)
{
    http_request *q = ctx;
    ndjson_stream *st = q->stream;
    if (atomic_load(&st->closed)) return 1;
    double now = now_seconds();
    if (now < st->next_probe) return 0;
    st->next_probe = now + 0.05;
    /* under the lock the connection cannot end (http_completed takes it) */
    pthread_mutex_lock(&st->mu);
    int hung_up = st->gone;
    const union MHD_ConnectionInfo *ci =
        hung_up ? NULL : MHD_get_connection_info(q->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci) {
        struct pollfd p = {ci->connect_fd, POLLRDHUP, 0};
        hung_up = poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
    }
    pthread_mutex_unlock(&st->mu);
    return hung_up;
}

/* libmicrohttpd's content reader: what is there, the end, or (nothing yet)
 * the connection suspended until stream_append wakes it. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    http_request *q = cls;
    ndjson_stream *st = q->stream;
    (void)pos;
    pthread_mutex_lock(&st->mu);
    size_t n = st->len - st->sent;
    if (n > max) n = max;
    if (n) {
        memcpy(buf, st->buf + st->sent, n);
        st->sent += n;
        q->bytes += n;
    } else if (!st->finished) {
        st->waiting = 1;
        MHD_suspend_connection(q->conn);
    }
    int end = !n && st->finished;
    pthread_mutex_unlock(&st->mu);
    return end ? MHD_CONTENT_READER_END_OF_STREAM : (ssize_t)n;
}

/* The first line is in: 200 and the lines as they come (chunked). */
enum MHD_Result stream_start(server *s, struct MHD_Connection *c, http_request *q)
{
    static const header STREAM_HEADERS[] = {{"Cache-Control", "no-cache"},
                                            {"X-Accel-Buffering", "no"}, /* nginx: pass on */
                                            {NULL, NULL}};
        struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, q, NULL);
    if (!r) return MHD_NO;
    q->wait = WAIT_STREAMING;
    enum MHD_Result ret =
        send_response(s, c, q, 200, "application/x-ndjson", r, 0, STREAM_HEADERS);
    q->bytes = 0; /* counted as the reader hands bytes out */
    return ret;
}

/* The worker's answer as the stream's last line: the usual result, or the
 * problem that stopped it. Called with st->mu held. */
static void stream_finish(server *s, http_request *q)
{
    compute_result *res = &q->res;
    size_t len = res->parts ? res->parts->json_len : res->len;
    /* a long answer's chunks joined: the line is copied into the stream anyway */
    char *line = res->status != 200 ? problem_render(&res->d, q->id, &len)
                 : res->parts       ? jw_parts_join(res->parts, len)
                                    : res->body;
    if (res->status != 200) count_problem(s, &res->d);
    if (!line || stream_append(q, line, len) != 0) {
        static const char OOM[] = "{\"type\":\"https://gradserve.dev/problems/internal\","
                                  "\"title\":\"Internal error\",\"status\":500,"
                                  "\"detail\":\"out of memory writing the last line\"}";
        stream_append(q, OOM, sizeof OOM - 1); /* fits: the buffer holds the earlier lines */
    }
    if (line != res->body) srv_free(line);
    q->stream->finished = 1;
    if (q->stream->waiting) {
        q->stream->waiting = 0;
        loop_resume(s->loop, q->conn);
    }
}

int stream_worker_done(http_request *q)
{
    ndjson_stream *st = q->stream;
    pthread_mutex_lock(&st->mu);
    st->worker = 0;
    int streaming = st->opened, gone = st->gone;
    if (streaming && !gone) stream_finish(q->srv, q);
    pthread_mutex_unlock(&st->mu);
    if (gone) { /* the connection has ended: the worker is last */
        count_problem(q->srv, &q->res.d);
        http_request_free(q);
        return 1;
    }
    return streaming;
}

int stream_connection_ended(http_request *q)
{
    ndjson_stream *st = q->stream;
    pthread_mutex_lock(&st->mu);
    st->gone = 1;
    atomic_store(&st->closed, 1);
    int worker = st->worker;
    pthread_mutex_unlock(&st->mu);
    return worker;
}
