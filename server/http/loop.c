#include "http/loop.h"

#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"

struct event_loop {
    struct MHD_Daemon *d;
    pthread_t thread;
    int running;
    int wake;                /* eventfd: quiesce or stop asked */
    atomic_int quiesce, stop;
    atomic_int quiesced;
    MHD_socket listen_fd;    /* returned by MHD_quiesce_daemon; closed after stopping */
};

/* Longest sleep without an event: a safety net for states in which the
 * daemon's epoll set cannot wake us (its listen socket left out after
 * running out of descriptors). */
#define MAX_SLEEP_MS 1000

static unsigned connections(struct MHD_Daemon *d)
{
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return i ? i->num_connections : 0;
}

static void *loop_main(void *arg)
{
    event_loop *l = arg;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_EPOLL_FD);
    int epfd = info ? info->epoll_fd : -1;
    while (!atomic_load(&l->stop)) {
        /* The daemon puts its listen socket back in the epoll set at the start
         * of a run when it is under --max-connections: a run that closed
         * connections is followed by another before sleeping. */
        unsigned before = connections(l->d);
        MHD_run(l->d);
        if (connections(l->d) < before) MHD_run(l->d);
        if (atomic_load(&l->quiesce) && !atomic_load(&l->quiesced)) {
            l->listen_fd = MHD_quiesce_daemon(l->d);
            atomic_store(&l->quiesced, 1);
        }
        /* MHD_get_timeout leaves the value as it was when work is already
         * pending (0.9.75): start from 0, "do not wait". */
        MHD_UNSIGNED_LONG_LONG left = 0;
        int timeout = MAX_SLEEP_MS;
        if (MHD_get_timeout(l->d, &left) == MHD_YES && left < MAX_SLEEP_MS) timeout = (int)left;
        struct pollfd fds[2] = {{epfd, POLLIN, 0}, {l->wake, POLLIN, 0}};
        if (poll(fds, 2, timeout) > 0 && fds[1].revents) {
            uint64_t n;
            if (read(l->wake, &n, sizeof n) < 0) { /* nothing to do: the flags say why */
            }
        }
    }
    return NULL;
}

static void poke(event_loop *l)
{
    uint64_t one = 1;
    if (write(l->wake, &one, sizeof one) < 0) { /* the counter is full: it wakes anyway */
    }
}

event_loop *loop_new(void)
{
    event_loop *l = srv_calloc(1, sizeof *l);
    if (!l) return NULL;
    l->listen_fd = MHD_INVALID_SOCKET;
    l->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->wake < 0) {
        srv_free(l);
        return NULL;
    }
    return l;
}

int loop_run(event_loop *l, struct MHD_Daemon *d)
{
    l->d = d;
    if (pthread_create(&l->thread, NULL, loop_main, l) != 0) return -1;
    l->running = 1;
    return 0;
}

void loop_resume(event_loop *l, struct MHD_Connection *c)
{
    MHD_resume_connection(c);
    poke(l);
}

void loop_quiesce(event_loop *l)
{
    atomic_store(&l->quiesce, 1);
    poke(l);
    while (!atomic_load(&l->quiesced)) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

void loop_stop(event_loop *l)
{
    atomic_store(&l->stop, 1);
    poke(l);
    if (l->running) pthread_join(l->thread, NULL);
    if (l->d) MHD_stop_daemon(l->d);
    if (l->listen_fd != MHD_INVALID_SOCKET) close(l->listen_fd);
    close(l->wake);
    srv_free(l);
}
