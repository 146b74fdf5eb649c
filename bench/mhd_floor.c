/* mhd_floor: the floor under gradserve's small-request figures. A bare
 * libmicrohttpd server (epoll, a pool of one thread per CPU, as gradserve runs
 * one event loop per CPU) that answers every request with the same 180-byte
 * JSON of the 2-4-1 /gradients answer's shape, reading and dropping the body:
 * what the HTTP library, loopback TCP and the kernel cost a request with no
 * work at all. bench/http.sh measures its server CPU per request and its
 * throughput beside gradserve's, under the same load client, in the same run.
 *
 *   mhd_floor --port P [--threads N]      serves until SIGTERM */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char ANSWER[] =
    "{\"loss\":0.69314718055994529,\"grads\":{\"0.weight\":[[0.1,0.2],[0.3,0.4],"
    "[0.5,0.6],[0.7,0.8]],\"0.bias\":[0.1,0.2,0.3,0.4],\"2.weight\":[[0.1,0.2,0.3,0.4]],"
    "\"2.bias\":[0.5]}}";

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    (void)cls, (void)url, (void)method, (void)version, (void)upload;
    if (!*state) { /* headers only: the body follows */
        *state = c;
        return MHD_YES;
    }
    if (*upload_size) { /* a piece of the body: dropped */
        *upload_size = 0;
        return MHD_YES;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(sizeof ANSWER - 1, (void *)ANSWER,
                                                            MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ok;
}

int main(int argc, char **argv)
{
    unsigned port = 0, threads = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port")) port = (unsigned)atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = (unsigned)atoi(argv[i + 1]);
    }
    if (!port || port > 65535 || !threads) {
        fprintf(stderr, "usage: mhd_floor --port P [--threads N]\n");
        return 2;
    }
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL); /* the daemon's threads inherit it */
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TURBO, (uint16_t)port, NULL, NULL, answer, NULL,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT, 4000u,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "mhd_floor: cannot listen on port %u\n", port);
        return 1;
    }
    int sig;
    sigwait(&stop, &sig);
    MHD_stop_daemon(d);
    return 0;
}
