/* The HTTP side: libmicrohttpd's access handler, which moves each request
 * through the pipeline's stages on the event loop (api/pipeline.h: admit,
 * receive, queue, respond), and the server state it shares with the compute
 * workers. */
#ifndef GS_SERVER_HTTP_H
#define GS_SERVER_HTTP_H

#include <microhttpd.h>
#include <stdatomic.h>

#include "http/loop.h"
#include "metrics.h"
#include "options.h"
#include "http/queue.h"
#include "store/store.h"
#include "api/net_cache.h"
#include "wire/json_cache.h"

typedef struct {
    const server_options *opts;
    metrics metrics;
    work_queue queue;          /* --max-concurrent workers, FIFO, memory budget */
    tensor_store *store;       /* /tensors/ and refs; --tensor-store-bytes of --max-memory */
    json_cache *skeletons;     /* parsed skeletons for the requests (wire/json_cache.h) */
    net_cache *nets;           /* and their networks' definitions (api/net_cache.h) */
    size_t compute_memory;     /* the rest of --max-memory: the running computations' */
    event_loop *loop;          /* owns the sockets; resumes connections (loop.h) */
    atomic_int draining;       /* SIGTERM seen: not ready, no new computations */
    atomic_int abort_compute;  /* grace ran out: training stops */
    char **origins;            /* CORS allow-list; NULL with any_origin */
    size_t n_origins;
    int any_origin;
} server;

int server_init(server *s, const server_options *o);
void server_free(server *s);

/* MHD_AccessHandlerCallback, cls = server. */
enum MHD_Result http_handle(void *cls, struct MHD_Connection *c, const char *url,
                            const char *method, const char *version, const char *upload_data,
                            size_t *upload_data_size, void **con_cls);

/* MHD_RequestCompletedCallback, cls = server: metrics, the log line, and
 * freeing the request's state (also for aborted requests). */
void http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe);

#endif
