/* A compute request's working set, estimated from the shapes its JSON states
 * before any tensor is decoded, so that the queue can admit it by memory
 * (queue.h). One pass over the JSON text that allocates nothing. */
#ifndef GS_SERVER_ESTIMATE_H
#define GS_SERVER_ESTIMATE_H

#include <stddef.h>

#include "gradserve.h"
#include "api/routes.h"

/* Bytes that running route r (its param_copies and float64) on this body will hold at its peak, the body
 * itself included: json[0, json_len) is the request's JSON (the binary part
 * of a body_len-byte body follows it). An over-estimate by design (every
 * buffer of the decode, the pass, the optimizer and the answer counted as if
 * alive at once).
 *
 * A request whose shapes break a limit of lim, or whose JSON cannot be read,
 * is estimated from its length alone: the decode refuses it, naming the field
 * or the limit, before allocating anything of its stated size. */
size_t estimate_working_set(const route_def *r, const char *json, size_t json_len, size_t body_len,
                            const gs_limits *lim);

#endif
