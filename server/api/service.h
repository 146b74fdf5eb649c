/* The routes that compute nothing: health, metrics, the contract and the
 * playground. Each answers at once, on the event loop (routes.h, on_plain). */
#ifndef GS_SERVER_SERVICE_H
#define GS_SERVER_SERVICE_H

#include "api/routes.h"

void serve_live(const char *body, size_t len, const compute_env *env, compute_result *res);
/* 503 with Retry-After while draining, so that load balancers stop sending. */
void serve_ready(const char *body, size_t len, const compute_env *env, compute_result *res);
void serve_metrics(const char *body, size_t len, const compute_env *env, compute_result *res);
void serve_openapi(const char *body, size_t len, const compute_env *env, compute_result *res);
/* GET /: the playground's page; GET /static/{file}: its scripts and style. */
void serve_page(const char *body, size_t len, const compute_env *env, compute_result *res);
void serve_static(const char *body, size_t len, const compute_env *env, compute_result *res);

#endif
