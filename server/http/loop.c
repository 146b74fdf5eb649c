#include "http/loop.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"

/* One thread and its daemon. */
typedef struct {
    event_loop *owner;
    struct MHD_Daemon *d;
    pthread_t thread;
    int running;
    int wake;                /* eventfd: a resume, a turn to accept, quiesce or stop */
    atomic_uint count;       /* its daemon's connections, as of its last run */
    unsigned limit;          /* its share of --max-connections */
    double accept_after;     /* out of descriptors: accept again from then */
} loop_thread;

struct event_loop {
    loop_thread t[LOOP_MAX_THREADS];
    unsigned n;
    atomic_int quiesce, stop;
    int listen_fd;           /* shared by the loops; closed by loop_stop */
};

/* Longest sleep without an event: a safety net (a turn to accept missed). */
#define MAX_SLEEP_MS 1000
/* Connections accepted in one go, so that the loop's own connections are
 * served between bursts. */
#define ACCEPT_BATCH 16
/* After EMFILE and the like: the socket stays readable, so wait this long
 * rather than spin (connections wait in the backlog meanwhile). */
#define ACCEPT_BACKOFF_S 0.1

static double mono_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static unsigned connections(struct MHD_Daemon *d)
{
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return i ? i->num_connections : 0;
}

static void poke(loop_thread *t)
{
    uint64_t one = 1;
    if (write(t->wake, &one, sizeof one) < 0) { /* the counter is full: it wakes anyway */
    }
}

/* Whether t takes the next connection: it is under its share and holds no
 * more than any other loop, so that connections made at once (32 from a
 * load balancer) spread evenly instead of going to whichever loop woke
 * first. The loop holding the fewest always qualifies unless every loop is
 * at its share: then new connections wait in the listen backlog. */
static int my_turn(const loop_thread *t)
{
    const event_loop *l = t->owner;
    unsigned mine = atomic_load(&t->count);
    if (mine >= t->limit || atomic_load(&l->quiesce)) return 0;
    for (unsigned i = 0; i < l->n; i++)
        if (&l->t[i] != t && atomic_load(&l->t[i].count) < mine) return 0;
    return 1;
}

/* Accepts while it is t's turn; hands each connection to its daemon. */
static void accept_some(loop_thread *t)
{
    event_loop *l = t->owner;
    for (int k = 0; k < ACCEPT_BATCH && my_turn(t); k++) {
        struct sockaddr_storage addr;
        socklen_t len = sizeof addr;
        int fd = accept4(l->listen_fd, (struct sockaddr *)&addr, &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                t->accept_after = mono_now() + ACCEPT_BACKOFF_S;
            break;
        }
        /* closes fd itself when it cannot take it */
        if (MHD_add_connection(t->d, fd, (struct sockaddr *)&addr, len) == MHD_YES)
            atomic_fetch_add(&t->count, 1);
    }
    if (!my_turn(t)) /* another loop's turn now: it may be asleep without the socket */
        for (unsigned i = 0; i < l->n; i++)
            if (&l->t[i] != t) poke(&l->t[i]);
}

static void *loop_main(void *arg)
{
    loop_thread *t = arg;
    event_loop *l = t->owner;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(t->d, MHD_DAEMON_INFO_EPOLL_FD);
    int epfd = info ? info->epoll_fd : -1;
    log_batch_begin(); /* the requests' lines: one write(2) per turn, before the wait */
    while (!atomic_load(&l->stop)) {
        MHD_run(t->d);
        atomic_store(&t->count, connections(t->d));
        /* MHD_get_timeout leaves the value as it was when work is already
         * pending (0.9.75): start from 0, "do not wait". */
        MHD_UNSIGNED_LONG_LONG left = 0;
        int timeout = MAX_SLEEP_MS;
        if (MHD_get_timeout(t->d, &left) == MHD_YES && left < MAX_SLEEP_MS) timeout = (int)left;
        int accepting = my_turn(t);
        if (accepting && t->accept_after > 0) {
            double wait = t->accept_after - mono_now();
            if (wait > 0) {
                accepting = 0;
                if (wait * 1000 < timeout) timeout = (int)(wait * 1000) + 1;
            } else t->accept_after = 0;
        }
        struct pollfd fds[3] = {{epfd, POLLIN, 0}, {t->wake, POLLIN, 0},
                                {accepting ? l->listen_fd : -1, POLLIN, 0}};
        log_batch_flush();
        if (poll(fds, 3, timeout) <= 0) continue;
        if (fds[1].revents) {
            uint64_t n;
            if (read(t->wake, &n, sizeof n) < 0) { /* nothing to do: the flags say why */
            }
        }
        if (fds[2].revents) accept_some(t);
    }
    log_batch_end();
    return NULL;
}

event_loop *loop_new(void)
{
    event_loop *l = srv_calloc(1, sizeof *l);
    if (!l) return NULL;
    l->listen_fd = -1;
    for (unsigned i = 0; i < LOOP_MAX_THREADS; i++) {
        l->t[i].owner = l;
        l->t[i].wake = -1;
    }
    return l;
}

int loop_run(event_loop *l, struct MHD_Daemon *const *daemons, unsigned n, int listen_fd,
             unsigned max_connections)
{
    l->listen_fd = listen_fd;
    for (unsigned i = 0; i < n && i < LOOP_MAX_THREADS; i++) {
        loop_thread *t = &l->t[i];
        t->d = daemons[i];
        t->limit = max_connections / n + (i < max_connections % n);
        if (!t->limit) t->limit = 1;
        l->n = i + 1;
        if (!t->d) return -1;
        if ((t->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) return -1;
    }
    for (unsigned i = 0; i < l->n; i++) {
        if (pthread_create(&l->t[i].thread, NULL, loop_main, &l->t[i]) != 0) return -1;
        l->t[i].running = 1;
    }
    return 0;
}

void loop_resume(event_loop *l, struct MHD_Connection *c)
{
    /* the info lives in the connection, which its loop may free as soon as
     * it is resumed: the daemon is read first */
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_DAEMON);
    struct MHD_Daemon *d = ci ? ci->daemon : NULL;
    MHD_resume_connection(c);
    for (unsigned i = 0; i < l->n; i++)
        if (!d || d == l->t[i].d) poke(&l->t[i]);
}

void loop_quiesce(event_loop *l)
{
    /* my_turn is false from here on: no loop accepts again */
    atomic_store(&l->quiesce, 1);
}

void loop_stop(event_loop *l)
{
    atomic_store(&l->stop, 1);
    for (unsigned i = 0; i < l->n; i++) {
        loop_thread *t = &l->t[i];
        if (t->running) {
            poke(t);
            pthread_join(t->thread, NULL);
        }
        if (t->d) MHD_stop_daemon(t->d);
        if (t->wake >= 0) close(t->wake);
    }
    if (l->listen_fd >= 0) close(l->listen_fd);
    srv_free(l);
}
