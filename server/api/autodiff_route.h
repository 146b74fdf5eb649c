/* POST /autodiff: a scalar expression and a point in, its value, gradient
 * and the tape of the chain rule (forward nodes, reverse-sweep events) out. */
#ifndef GS_SERVER_AUTODIFF_ROUTE_H
#define GS_SERVER_AUTODIFF_ROUTE_H

#include <jansson.h>

#include "wire/json_writer.h"
#include "options.h"
#include "wire/problem.h"

/* Decodes {"expression", "at"} from root, evaluates it within opts->ad_limits
 * and writes the answer into w, or the problem into d: 400 syntax (with the
 * position) or a bad "at" value, 422 over a limit or outside a function's
 * domain (naming the node), 500 out of memory (as the rest of the server). */
void autodiff_compute(const json_t *root, const server_options *opts, jw *w, diag *d);

#endif
