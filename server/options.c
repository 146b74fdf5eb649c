/* Flags, environment variables and defaults, from one table: the parser and
 * --help read the same rows, so they cannot disagree. */
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "alloc.h"

typedef enum {
    OPT_SIZE,    /* size_t, optional k/m/g suffix (binary) */
    OPT_UINT,    /* unsigned */
    OPT_REAL,    /* double >= 0 */
    OPT_STRING,  /* char *, owned */
    OPT_LOG,     /* plain | json */
    OPT_SWITCH,  /* unsigned 1 | 0, written on | off */
} opt_type;

typedef struct {
    const char *flag; /* without the leading "--" */
    const char *env;
    opt_type type;
    size_t offset;
    const char *def; /* NULL: computed (see apply_defaults) or unset */
    double min;      /* smallest accepted value for numbers */
    const char *help;
} opt_spec;

#define OFF(m) offsetof(server_options, m)

static const opt_spec SPECS[] = {
    {"listen", "GRADSERVE_LISTEN", OPT_STRING, OFF(listen), "127.0.0.1:8080", 0,
     "address to listen on, HOST:PORT or [IPv6]:PORT"},
    {"max-body-bytes", "GRADSERVE_MAX_BODY_BYTES", OPT_SIZE, OFF(max_body_bytes), "64m", 1,
     "largest request body accepted (413 beyond); k, m, g suffixes are binary"},
    {"max-params", "GRADSERVE_MAX_PARAMS", OPT_SIZE, OFF(limits.max_params), "10000000", 0,
     "largest network, in weights + biases (0: no limit)"},
    {"max-units", "GRADSERVE_MAX_UNITS", OPT_SIZE, OFF(limits.max_units), "65536", 0,
     "widest layer, and most inputs (0: no limit)"},
    {"max-layers", "GRADSERVE_MAX_LAYERS", OPT_SIZE, OFF(limits.max_layers), "64", 0,
     "most layers in a network (0: no limit)"},
    {"max-batch-elems", "GRADSERVE_MAX_BATCH_ELEMS", OPT_SIZE, OFF(limits.max_batch_elems),
     "50000000", 0, "largest batch, as rows x widest layer (0: no limit)"},
    {"max-steps", "GRADSERVE_MAX_STEPS", OPT_SIZE, OFF(max_steps), "100000", 0,
     "most optimizer steps in one /train request (0: no limit)"},
    {"max-request-seconds", "GRADSERVE_MAX_REQUEST_SECONDS", OPT_REAL, OFF(max_request_seconds),
     "60", 0, "wall time per request; training stops when it runs out (0: no limit)"},
    {"max-gradcheck-cost", "GRADSERVE_MAX_GRADCHECK_COST", OPT_REAL, OFF(max_gradcheck_cost),
     "1e10", 0,
     "largest /gradcheck, as rows x params x max(params, multiply-adds of a row's forward pass) (about its work; 0: no limit)"},
    {"max-expression-length", "GRADSERVE_MAX_EXPRESSION_LENGTH", OPT_SIZE,
     OFF(ad_limits.max_length), "4096", 0, "longest /autodiff expression, in bytes (0: no limit)"},
    {"max-expression-depth", "GRADSERVE_MAX_EXPRESSION_DEPTH", OPT_SIZE, OFF(ad_limits.max_depth),
     "64", 0,
     "deepest nesting of an /autodiff expression (0 or over 256: the parser's cap of 256)"},
    {"max-expression-nodes", "GRADSERVE_MAX_EXPRESSION_NODES", OPT_SIZE, OFF(ad_limits.max_nodes),
     "2048", 0, "most nodes on an /autodiff tape, variables counted once (0: no limit)"},
    {"max-expression-vars", "GRADSERVE_MAX_EXPRESSION_VARS", OPT_SIZE, OFF(ad_limits.max_vars),
     "64", 0, "most distinct variables in an /autodiff expression (0: no limit)"},
    {"max-concurrent", "GRADSERVE_MAX_CONCURRENT", OPT_UINT, OFF(max_concurrent), NULL, 1,
     "compute workers: computations at once; more wait in the queue, in order"
     " (default: CPUs available)"},
    {"queue-ms", "GRADSERVE_QUEUE_MS", OPT_UINT, OFF(queue_ms), "10000", 0,
     "milliseconds a computation may wait in the queue before 503 (0: no waiting, 503 when"
     " every worker is busy)"},
    {"max-queue", "GRADSERVE_MAX_QUEUE", OPT_SIZE, OFF(max_queue), "4096", 1,
     "computations waiting at once; one more gets 503"},
    {"max-memory", "GRADSERVE_MAX_MEMORY", OPT_SIZE, OFF(max_memory), NULL, 1,
     "memory budget of the running computations (estimated from their shapes); a"
     " computation waits until it fits, one over it alone gets 422 (default: 3/4 of the"
     " cgroup memory limit, else 1/2 of physical memory)"},
    {"tensor-store-bytes", "GRADSERVE_TENSOR_STORE_BYTES", OPT_SIZE, OFF(tensor_store_bytes),
     NULL, 0,
     "bytes the tensor store (PUT /tensors/sha256:...) may hold, least recently used out"
     " first; taken from --max-memory, the computations get the rest (0: no store;"
     " default: 1/4 of --max-memory)"},
    {"max-connections", "GRADSERVE_MAX_CONNECTIONS", OPT_UINT, OFF(max_connections), NULL, 1,
     "open connections at once, idle keep-alive ones included (more wait in the listen"
     " backlog; default: the open-file limit, raised to its hard limit at start, less 64)"},
    {"idle-timeout", "GRADSERVE_IDLE_TIMEOUT", OPT_UINT, OFF(idle_timeout), "30", 1,
     "seconds an idle connection is kept open"},
    {"blas-threads", "GRADSERVE_BLAS_THREADS", OPT_UINT, OFF(blas_threads), "1", 1,
     "BLAS threads per matrix product (process-wide)"},
    {"blas-upgrade", "GRADSERVE_BLAS_UPGRADE", OPT_SWITCH, OFF(blas_upgrade), "on", 0,
     "on: when OpenBLAS fell back to weaker kernels than the processor runs, start again with"
     " OPENBLAS_CORETYPE naming the best ones (an OPENBLAS_CORETYPE already set is kept); off:"
     " keep OpenBLAS's choice. See docs/blas-kernels.md"},
    {"cors-origins", "GRADSERVE_CORS_ORIGINS", OPT_STRING, OFF(cors_origins), "*", 0,
     "origins allowed by CORS: * or a comma-separated list"},
    {"auth-token-file", "GRADSERVE_AUTH_TOKEN_FILE", OPT_STRING, OFF(auth_token_file), NULL, 0,
     "file holding the bearer token required on compute routes and /metrics"
     " (or set GRADSERVE_AUTH_TOKEN; default: no authentication)"},
    {"log-format", "GRADSERVE_LOG_FORMAT", OPT_LOG, OFF(log_format), "plain", 0,
     "request log on stderr: plain or json"},
    {"grace-seconds", "GRADSERVE_GRACE_SECONDS", OPT_UINT, OFF(grace_seconds), "10", 0,
     "on SIGTERM/SIGINT, how long in-flight requests may take to finish"},
};
#define N_SPECS (sizeof SPECS / sizeof SPECS[0])

/* Whole CPUs of a cgroup quota, or 0 when there is none: v2 "cpu.max" holds
 * "QUOTA PERIOD" or "max PERIOD"; v1 splits them over cpu.cfs_quota_us
 * (-1: none) and cpu.cfs_period_us. */
static unsigned long cgroup_quota_cpus(void)
{
    char quota[32] = "";
    unsigned long period = 0;
    FILE *f = fopen("/sys/fs/cgroup/cpu.max", "r");
    if (f) {
        if (fscanf(f, "%31s %lu", quota, &period) != 2) period = 0;
        fclose(f);
    } else if ((f = fopen("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "r"))) {
        if (fscanf(f, "%31s", quota) != 1) quota[0] = 0;
        fclose(f);
        if ((f = fopen("/sys/fs/cgroup/cpu/cpu.cfs_period_us", "r"))) {
            if (fscanf(f, "%lu", &period) != 1) period = 0;
            fclose(f);
        }
    }
    if (!period || !isdigit((unsigned char)quota[0])) return 0; /* "max", "-1", unreadable */
    return (strtoul(quota, NULL, 10) + period - 1) / period;
}

/* CPUs this process may use, as nproc counts them: the online CPUs, lowered
 * to those of its affinity mask (taskset, systemd's CPUAffinity, a
 * container's --cpuset-cpus: sysconf ignores all three) and to a cgroup
 * quota (docker --cpus, a Kubernetes CPU limit). */
static unsigned available_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned cpus = n > 0 ? (unsigned)n : 1;
    cpu_set_t mask;
    if (sched_getaffinity(0, sizeof mask, &mask) == 0) {
        int allowed = CPU_COUNT(&mask);
        if (allowed >= 1 && (unsigned)allowed < cpus) cpus = (unsigned)allowed;
    }
    unsigned long q = cgroup_quota_cpus();
    if (q >= 1 && q < cpus) cpus = (unsigned)q;
    return cpus;
}

/* The cgroup memory limit (v2 memory.max, v1 memory.limit_in_bytes), or 0
 * when there is none ("max", or v1's near-2^63 "unlimited"). */
static unsigned long long cgroup_memory_limit(void)
{
    static const char *const FILES[] = {"/sys/fs/cgroup/memory.max",
                                         "/sys/fs/cgroup/memory/memory.limit_in_bytes"};
    for (size_t i = 0; i < sizeof FILES / sizeof FILES[0]; i++) {
        FILE *f = fopen(FILES[i], "r");
        if (!f) continue;
        char text[32] = "";
        int ok = fscanf(f, "%31s", text) == 1;
        fclose(f);
        if (!ok || !isdigit((unsigned char)text[0])) return 0;
        unsigned long long v = strtoull(text, NULL, 10);
        return v >= (1ULL << 60) ? 0 : v;
    }
    return 0;
}

/* The memory budget's default: 3/4 of the cgroup limit (the rest for the
 * process itself, connections and bodies being received), else half of
 * physical memory. */
static size_t default_memory_budget(const char **from)
{
    unsigned long long limit = cgroup_memory_limit();
    if (limit) {
        *from = "cgroup memory limit";
        return (size_t)(limit / 4 * 3);
    }
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    *from = "physical memory";
    if (pages <= 0 || page <= 0) return (size_t)1 << 30;
    return (size_t)pages / 2 * (size_t)page;
}

/* Raises the open-file soft limit as far as the hard limit allows (each
 * connection is a descriptor) and returns it. */
static unsigned long raise_fd_limit(void)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) != 0) return 1024;
    if (r.rlim_cur < r.rlim_max) {
        struct rlimit want = {r.rlim_max, r.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &want) == 0) r.rlim_cur = r.rlim_max;
    }
    return r.rlim_cur == RLIM_INFINITY ? (unsigned long)UINT_MAX : (unsigned long)r.rlim_cur;
}

/* Descriptors kept free of connections: the listener, epoll, the ITC pipe,
 * stdio, and files opened meanwhile (cgroup, token). */
#define FD_RESERVE 64

static unsigned default_connections(unsigned long fd_limit)
{
    if (fd_limit <= 2 * FD_RESERVE) return (unsigned)(fd_limit / 2 > 0 ? fd_limit / 2 : 1);
    unsigned long n = fd_limit - FD_RESERVE;
    return n > UINT_MAX ? UINT_MAX : (unsigned)n;
}

static int parse_size(const char *s, size_t *out)
{
    errno = 0;
    char *end;
    if (!isdigit((unsigned char)*s)) return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno) return -1;
    unsigned shift = 0;
    switch (tolower((unsigned char)*end)) {
    case 'k': shift = 10; end++; break;
    case 'm': shift = 20; end++; break;
    case 'g': shift = 30; end++; break;
    default: break;
    }
    if (*end || (shift && v > (SIZE_MAX >> shift)) || v > SIZE_MAX) return -1;
    *out = (size_t)(v << shift);
    return 0;
}

static int parse_real(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

/* Stores text as the value of spec into o; returns 0 or -1 (reported). */
static int set_value(server_options *o, const opt_spec *sp, const char *text, const char *from,
                     FILE *err)
{
    char *field = (char *)o + sp->offset;
    size_t sz;
    double d;
    switch (sp->type) {
    case OPT_SIZE:
        if (parse_size(text, &sz) || (double)sz < sp->min) break;
        *(size_t *)field = sz;
        return 0;
    case OPT_UINT:
        if (parse_size(text, &sz) || sz > UINT_MAX || (double)sz < sp->min) break;
        *(unsigned *)field = (unsigned)sz;
        return 0;
    case OPT_REAL:
        if (parse_real(text, &d) || d < sp->min) break;
        *(double *)field = d;
        return 0;
    case OPT_STRING: {
        char *copy = srv_strdup(text);
        if (!copy) break;
        srv_free(*(char **)field);
        *(char **)field = copy;
        return 0;
    }
    case OPT_LOG:
        if (strcmp(text, "plain") == 0) *(unsigned *)field = LOG_PLAIN;
        else if (strcmp(text, "json") == 0) *(unsigned *)field = LOG_JSON;
        else break;
        return 0;
    case OPT_SWITCH:
        if (strcmp(text, "on") == 0) *(unsigned *)field = 1;
        else if (strcmp(text, "off") == 0) *(unsigned *)field = 0;
        else break;
        return 0;
    }
    fprintf(err, "gradserve: invalid value \"%s\" for --%s (from %s)\n", text, sp->flag, from);
    return -1;
}

/* The defaults found on this machine (before environment and flags). */
typedef struct {
    unsigned cpus, connections;
    size_t memory;
    const char *memory_from;
} computed_defaults;

static void print_help(FILE *out, const computed_defaults *c)
{
    fprintf(out,
            "Usage: gradserve [OPTION]...\n"
            "Serves forward passes, gradients and training of neural networks over HTTP.\n\n"
            "Each option can also be set by its environment variable; a flag wins.\n\n");
    for (size_t i = 0; i < N_SPECS; i++) {
        const opt_spec *sp = &SPECS[i];
        char def[64];
        if (sp->def) snprintf(def, sizeof def, "%s", sp->def);
        else if (sp->offset == OFF(max_concurrent)) snprintf(def, sizeof def, "%u", c->cpus);
        else if (sp->offset == OFF(max_memory))
            snprintf(def, sizeof def, "%zu, from %s", c->memory, c->memory_from);
        else if (sp->offset == OFF(tensor_store_bytes))
            snprintf(def, sizeof def, "1/4 of --max-memory");
        else if (sp->offset == OFF(max_connections))
            snprintf(def, sizeof def, "%u", c->connections);
        else snprintf(def, sizeof def, "unset");
        fprintf(out, "  --%s VALUE\n      %s\n      [env %s; default %s]\n", sp->flag, sp->help,
                sp->env, def);
    }
    fprintf(out,
            "  GRADSERVE_AUTH_TOKEN (environment only)\n"
            "      the bearer token itself, instead of --auth-token-file\n"
            "  --help     print this and exit\n"
            "  --version  print the version and exit\n");
}

/* Reads the token from the file, without trailing whitespace. */
static char *read_token_file(const char *path, FILE *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(err, "gradserve: cannot open auth token file %s\n", path);
        return NULL;
    }
    char buf[4097];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    int too_long = !feof(f);
    fclose(f);
    if (too_long) {
        fprintf(err, "gradserve: auth token file %s is over 4096 bytes\n", path);
        return NULL;
    }
    while (n && isspace((unsigned char)buf[n - 1])) n--;
    buf[n] = 0;
    return srv_strdup(buf);
}

/* A bearer token is visible ASCII (RFC 6750 token68 is narrower; we only
 * refuse what could never be sent in a header). */
static int token_ok(const char *t)
{
    if (!*t) return 0;
    for (; *t; t++)
        if (*t < 0x21 || *t > 0x7e) return 0;
    return 1;
}

static int resolve_auth(server_options *o, FILE *err)
{
    const char *env_token = getenv("GRADSERVE_AUTH_TOKEN");
    if (env_token && o->auth_token_file) {
        fprintf(err, "gradserve: set GRADSERVE_AUTH_TOKEN or --auth-token-file, not both\n");
        return -1;
    }
    if (o->auth_token_file) o->auth_token = read_token_file(o->auth_token_file, err);
    else if (env_token) o->auth_token = srv_strdup(env_token);
    else return 0;
    if (!o->auth_token || !token_ok(o->auth_token)) {
        if (o->auth_token)
            fprintf(err, "gradserve: the auth token must be non-empty visible ASCII\n");
        return -1;
    }
    return 0;
}

int options_parse(server_options *o, int argc, char **argv, FILE *out, FILE *err)
{
    memset(o, 0, sizeof *o);
    computed_defaults c;
    c.cpus = o->cpus = o->max_concurrent = available_cpus();
    c.memory = o->max_memory = default_memory_budget(&c.memory_from);
    o->memory_from = c.memory_from;
    o->tensor_store_bytes = SIZE_MAX; /* unset: a share of max_memory, once that is known */
    o->fd_limit = raise_fd_limit();
    c.connections = o->max_connections = default_connections(o->fd_limit);
    for (size_t i = 0; i < N_SPECS; i++)
        if (SPECS[i].def && set_value(o, &SPECS[i], SPECS[i].def, "default", err)) return -1;
    for (size_t i = 0; i < N_SPECS; i++) {
        const char *v = getenv(SPECS[i].env);
        if (v && set_value(o, &SPECS[i], v, SPECS[i].env, err)) return -1;
    }
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            print_help(out, &c);
            return 1;
        }
        if (strcmp(arg, "--version") == 0) {
            fprintf(out, "gradserve %s\n", GS_VERSION);
            return 1;
        }
        const opt_spec *sp = NULL;
        const char *value = NULL;
        if (strncmp(arg, "--", 2) == 0) {
            const char *name = arg + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            for (size_t i = 0; i < N_SPECS && !sp; i++)
                if (strlen(SPECS[i].flag) == len && strncmp(SPECS[i].flag, name, len) == 0)
                    sp = &SPECS[i];
            if (sp && eq) value = eq + 1;
            else if (sp && a + 1 < argc) value = argv[++a];
        }
        if (!sp || !value) {
            fprintf(err, "gradserve: %s \"%s\"; see --help\n",
                    sp ? "missing value for" : "unknown option", arg);
            return -1;
        }
        if (set_value(o, sp, value, "command line", err)) return -1;
    }
    if (o->max_memory != c.memory) o->memory_from = "--max-memory";
    if (o->tensor_store_bytes == SIZE_MAX) o->tensor_store_bytes = o->max_memory / 4;
    if (o->tensor_store_bytes >= o->max_memory) {
        fprintf(err,
                "gradserve: --tensor-store-bytes (%zu) must be less than --max-memory (%zu), "
                "which also holds the running computations\n",
                o->tensor_store_bytes, o->max_memory);
        return -1;
    }
    return resolve_auth(o, err);
}

void options_free(server_options *o)
{
    for (size_t i = 0; i < N_SPECS; i++)
        if (SPECS[i].type == OPT_STRING) {
            char **p = (char **)((char *)o + SPECS[i].offset);
            srv_free(*p);
            *p = NULL;
        }
    srv_free(o->auth_token);
    o->auth_token = NULL;
}
