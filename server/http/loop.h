/* The event loop: one thread that owns libmicrohttpd's sockets.
 *
 * libmicrohttpd runs in its external mode with epoll: this thread waits for
 * its epoll descriptor to become readable (poll(), which does not consume
 * the edge-triggered events the daemon itself reads), then lets the daemon
 * run without blocking (MHD_run). Its own internal thread is not used
 * because libmicrohttpd 0.9.75 re-enters epoll_wait with the full timeout
 * after a batch of exactly 128 events (daemon.c, MHD_epoll), leaving the
 * connections already found ready unserved until another event comes: with
 * 256 busy keep-alive connections the server stalled for up to the idle
 * timeout (measured: 85 to 3,700 requests/s instead of 10,000).
 *
 * Every call on the daemon except MHD_resume_connection (which the compute
 * workers make through loop_resume) happens on this thread, quiescing
 * included. */
#ifndef GS_SERVER_LOOP_H
#define GS_SERVER_LOOP_H

#include <microhttpd.h>

typedef struct event_loop event_loop;

/* A loop not yet running (NULL when out of resources): made before the
 * daemon, so that the handlers can resume connections through it. */
event_loop *loop_new(void);

/* Starts the thread for d (started with MHD_USE_EPOLL and no internal
 * thread). 0, or -1 (then free l with loop_stop). */
int loop_run(event_loop *l, struct MHD_Daemon *d);

/* MHD_resume_connection, from any thread, and a wake-up for the loop: in
 * external mode the daemon's inter-thread channel is not in the epoll set
 * the loop waits on. */
void loop_resume(event_loop *l, struct MHD_Connection *c);

/* Stops accepting connections (the listen socket stays open until
 * loop_stop); returns once the loop has done so. */
void loop_quiesce(event_loop *l);

/* Stops the thread, then the daemon (no connection may be suspended), closes
 * the listen socket and frees l (also a loop that never ran). */
void loop_stop(event_loop *l);

#endif
