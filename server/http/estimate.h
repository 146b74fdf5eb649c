/* A compute request's working set, estimated from the shapes its JSON states
 * before any tensor is decoded, so that the queue can admit it by memory
 * (queue.h). One pass over the JSON text that allocates nothing. */
#ifndef GS_SERVER_ESTIMATE_H
#define GS_SERVER_ESTIMATE_H

#include <stddef.h>

#include "gradserve.h"
#include "api/routes.h"

/* A pass of at most this many multiply-adds (rows x parameters) costs less
 * than handing the request to a worker and back (a few microseconds against
 * two thread wake-ups): the event loop runs it itself when nothing waits
 * (http.c, wq_run_here). 2-4-1 on 4 rows is 68. */
#define ESTIMATE_TINY_MACS 65536.0

typedef struct {
    size_t memory; /* bytes at the peak, the body itself included */
    int tiny;      /* a one-pass route (its row's one_pass) of dense layers, at
                      most ESTIMATE_TINY_MACS: run where it is, not handed over */
    size_t text_numbers; /* numbers in its tensors written as text, as counted in the
                            text (at most the numbers memory counts for them); the
                            scan sizes its pool of doubles from it (wire/fastjson.h).
                            0: not known (estimated from its length) */
} request_estimate;

/* What running route r (its param_copies, float64 and one_pass) on this body
 * will take: json[0, json_len) is the request's JSON (the binary part of a
 * body_len-byte body follows it). memory is an over-estimate by design
 * (every buffer of the decode, the pass, the optimizer and the answer counted
 * as if alive at once).
 *
 * A request whose shapes break a limit of lim or max_steps (a /train's
 * optimizer steps; 0: none), or whose JSON cannot be read, or whose layers
 * are not all dense, is estimated from its length alone and is never tiny:
 * the decode refuses it, naming the field or the limit, before allocating
 * anything of its stated size. */
request_estimate estimate_request(const route_def *r, const char *json, size_t json_len,
                                  size_t body_len, const gs_limits *lim, size_t max_steps);

#endif
