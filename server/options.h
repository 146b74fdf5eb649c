/* The daemon's settings: command-line flags, each with an environment
 * variable and a default (flag > environment > default). */
#ifndef GS_SERVER_OPTIONS_H
#define GS_SERVER_OPTIONS_H

#include <stdio.h>

#include "gradserve.h"
#include "gradserve_autodiff.h"

enum { LOG_PLAIN = 0, LOG_JSON };

typedef struct {
    char *listen;             /* "host:port", "[v6]:port" */
    size_t max_body_bytes;
    gs_limits limits;         /* layers, units, params, batch elements */
    size_t max_steps;
    double max_request_seconds;
    double max_gradcheck_cost; /* rows x params^2, see --help */
    gs_ad_limits ad_limits;   /* /autodiff: expression length, depth, nodes, variables */
    unsigned max_concurrent;  /* compute workers */
    unsigned queue_ms;        /* longest wait in the queue before 503; 0: no waiting */
    size_t max_queue;         /* requests waiting at once; more get 503 */
    size_t max_memory;        /* budget for the running requests' working sets and the
                                 tensor store together */
    size_t tensor_store_bytes; /* the tensor store's share of max_memory (store/store.h);
                                  computations get the rest */
    unsigned max_connections; /* default: from fd_limit */
    unsigned long fd_limit;   /* the open-file soft limit, after raising it (not a flag) */
    unsigned cpus;            /* CPUs of the cgroup quota (not a flag) */
    const char *memory_from;  /* where max_memory's default came from (not a flag) */
    unsigned idle_timeout;    /* seconds */
    unsigned blas_threads;
    unsigned blas_upgrade;    /* 1: start again with the best kernels (server/kernels.h) */
    char *cors_origins;       /* "*" or a comma list */
    char *auth_token;         /* NULL: no authentication */
    char *auth_token_file;
    unsigned log_format;      /* LOG_PLAIN | LOG_JSON */
    unsigned grace_seconds;
} server_options;

/* Fills o from defaults, then the environment, then argv. Returns 0 to run,
 * 1 when the process should exit successfully (--help, --version), -1 on a
 * bad value (reported on err). */
int options_parse(server_options *o, int argc, char **argv, FILE *out, FILE *err);
void options_free(server_options *o);

#endif
