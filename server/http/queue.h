/* The compute queue: one FIFO of requests whose bodies have arrived, a fixed
 * pool of compute workers that runs them in arrival order, and admission by
 * a memory budget as well as by CPU.
 *
 * The HTTP side (http.c) suspends a request's connection and submits a job;
 * a worker runs it and calls its finish hook, which resumes the connection so
 * that libmicrohttpd's event loop sends the answer. A job leaves the queue in
 * exactly one of three ways, and finish is called exactly once for each:
 * run (JOB_RAN), its wait ran past --queue-ms (JOB_EXPIRED), or the shutdown's
 * grace period ended first (JOB_DRAINED).
 *
 * Order: the head of the queue is the only job that may start. It starts when
 * a worker is free and its estimated working set fits in what is left of the
 * budget (or nothing else runs: a job that fits the budget alone always runs
 * eventually). A big job at the head therefore holds back small ones behind
 * it rather than being overtaken for ever: waits stay in arrival order.
 *
 * Nothing here knows HTTP or BLAS. */
#ifndef GS_SERVER_QUEUE_H
#define GS_SERVER_QUEUE_H

#include <pthread.h>
#include <stddef.h>

#include "metrics.h"

typedef enum { JOB_RAN = 0, JOB_EXPIRED, JOB_DRAINED } job_outcome;

typedef struct job {
    struct job *next;
    size_t memory;        /* estimated working set, bytes (held while it runs) */
    double enqueued;      /* monotonic seconds */
    double started;       /* when a worker took it (JOB_RAN), else 0 */
    job_outcome outcome;
    int waited_for_memory; /* reached the head and found the budget short */
    void (*run)(struct job *);    /* on a worker thread */
    void (*finish)(struct job *); /* once, after run or instead of it; any thread */
} job;

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t work;    /* workers: a job may start */
    pthread_cond_t expiry;  /* the keeper: the head's deadline may have changed */
    job *head, *tail;
    size_t length;
    size_t max_length;      /* --max-queue */
    double max_wait;        /* --queue-ms, seconds; 0: no waiting at all */
    size_t budget;          /* --max-memory, bytes */
    size_t in_use;          /* estimated bytes of the running jobs */
    unsigned n_workers;
    unsigned busy;          /* jobs running: on workers, or on a loop (wq_run_here) */
    unsigned outstanding;   /* submitted and not yet finished */
    int release_pending;    /* a big job ran: empty the mapping cache once idle */
    double last_done;       /* when the last job finished (monotonic seconds) */
    int stopping;
    pthread_t *workers;
    pthread_t keeper;
    metrics *m;
} work_queue;

/* Starts n_workers compute threads and the keeper (which answers expired
 * waits while every worker is busy, and has alloc.c unmap its cache of freed
 * mappings when the queue falls idle after a big job). 0, or -1 with nothing started. */
int wq_start(work_queue *q, unsigned n_workers, size_t max_length, double max_wait,
             size_t budget, metrics *m);

/* Appends j (its run, finish and memory set; memory <= budget). 0, or -1
 * when the queue is full or does not wait (--queue-ms 0 and no worker free):
 * then j is not queued and finish is not called. */
int wq_submit(work_queue *q, job *j);

/* Runs j on the calling thread (an event loop, for a tiny job) when that
 * keeps the queue's promises: nothing waits (no one is overtaken), a slot of
 * the n_workers is free (it is held while j runs, so no more computations run
 * at once than workers) and j's memory fits. 1: j ran (outcome JOB_RAN,
 * started set; finish is not called); 0: nothing done, submit it instead. */
int wq_run_here(work_queue *q, job *j);

/* Every queued job (not the running ones) finishes as JOB_DRAINED. */
void wq_refuse_queued(work_queue *q);

/* Jobs submitted and not yet finished (queued or running). */
unsigned wq_outstanding(work_queue *q);

/* Stops and joins the threads; the queue must be empty (wq_refuse_queued). */
void wq_stop(work_queue *q);

#endif
