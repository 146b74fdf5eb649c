/* The event loops: a few threads (one per CPU of the quota, at most
 * --max-concurrent) that own the sockets, each running a libmicrohttpd
 * daemon of its own. They share one listening socket and accept from it
 * themselves, in turns that keep their connection counts even (a loop takes
 * a connection only while it holds no more than any other), and hand each
 * connection to their daemon (MHD_add_connection), which keeps it for its
 * life.
 *
 * Each daemon runs in libmicrohttpd's external mode with epoll: its thread
 * waits for the daemon's epoll descriptor, its wake-up eventfd and (in its
 * turn) the listening socket with poll(), which does not consume the
 * edge-triggered events the daemon itself reads, then lets the daemon run
 * without blocking (MHD_run). libmicrohttpd's own threads are not used
 * because 0.9.75 re-enters epoll_wait with the full timeout after a batch of
 * exactly 128 events (daemon.c, MHD_epoll), leaving the connections already
 * found ready unserved until another event comes: with 256 busy keep-alive
 * connections the server stalled for up to the idle timeout (measured: 85 to
 * 3,700 requests/s instead of 10,000). Its own accepting (a daemon with a
 * listening socket takes up to 10 connections per wake-up, whichever loop
 * wakes first) put all 32 connections of a benchmark on one loop in some
 * runs.
 *
 * Every call on a daemon except MHD_resume_connection (which the compute
 * workers make through loop_resume) happens on its loop's thread. */
#ifndef GS_SERVER_LOOP_H
#define GS_SERVER_LOOP_H

#include <microhttpd.h>

typedef struct event_loop event_loop;

/* A loop not yet running (NULL when out of resources): made before the
 * daemon, so that the handlers can resume connections through it. */
event_loop *loop_new(void);

#define LOOP_MAX_THREADS 64

/* Starts a thread for each of the n daemons (started with MHD_USE_EPOLL,
 * MHD_USE_NO_LISTEN_SOCKET and no internal thread; n <= LOOP_MAX_THREADS),
 * accepting from listen_fd (non-blocking; l owns it from here on and closes
 * it in loop_stop) up to max_connections in all, shared out evenly. 0, or -1
 * (then free l, the daemons and the socket with loop_stop; a NULL daemon
 * fails, the ones before it are stopped there). */
int loop_run(event_loop *l, struct MHD_Daemon *const *daemons, unsigned n, int listen_fd,
             unsigned max_connections);

/* MHD_resume_connection, from any thread, and a wake-up for the loop that
 * owns c: in external mode the daemon's inter-thread channel is not in the
 * epoll set the loop waits on. */
void loop_resume(event_loop *l, struct MHD_Connection *c);

/* Stops accepting connections (the listen socket stays open until
 * loop_stop, its backlog unanswered). */
void loop_quiesce(event_loop *l);

/* Stops the threads, then the daemons (no connection may be suspended),
 * closes the listen socket and frees l (also a loop that never ran). */
void loop_stop(event_loop *l);

#endif
