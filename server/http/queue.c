#include "http/queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"

/* A job whose working set is at least RELEASE_MIN bytes has freed big blocks
 * into alloc.c's cache of freed mappings (alloc.h): once the queue has been
 * idle for RELEASE_IDLE seconds after it, the keeper empties that cache
 * (srv_alloc_release unmaps every cached mapping). malloc_trim is not called:
 * it added nothing (RSS 16.3 MB without it, 16.4 MB with it, after the same
 * load in test_api_concurrency; the malloc arenas hold small blocks only).
 * The delay lets the event loop free the answers first, and spares a burst
 * the cost of faulting its pages in again between requests (a cached mapping
 * is reused as it is). */
#define RELEASE_MIN SRV_MAP_MIN
#define RELEASE_IDLE 1.0 /* seconds */

static double mono_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static struct timespec mono_at(double seconds)
{
    struct timespec t;
    t.tv_sec = (time_t)seconds;
    t.tv_nsec = (long)((seconds - (double)t.tv_sec) * 1e9);
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

static job *pop_head(work_queue *q)
{
    job *j = q->head;
    q->head = j->next;
    if (!q->head) q->tail = NULL;
    j->next = NULL;
    q->length--;
    atomic_store(&q->m->queued, q->length);
    return j;
}

/* A job of this size may start now: a slot of --max-concurrent is free (a
 * worker, or an event loop running a tiny job, holds one while it computes)
 * and its working set fits beside the running jobs', or nothing runs. */
static int fits(const work_queue *q, size_t memory)
{
    return q->busy < q->n_workers && (q->in_use == 0 || memory <= q->budget - q->in_use);
}

/* Bookkeeping of a job that starts now (lock held). */
static void start_job(work_queue *q, job *j, double now)
{
    j->outcome = JOB_RAN;
    j->started = now;
    q->in_use += j->memory;
    q->busy++;
    atomic_store(&q->m->memory_in_use, q->in_use);
    metrics_queue_wait(q->m, now - j->enqueued);
}

/* ... and of one that is done (lock held): the head may start now. */
static void end_job(work_queue *q, size_t memory)
{
    q->outstanding--;
    q->in_use -= memory;
    q->busy--;
    q->last_done = mono_now();
    if (memory >= RELEASE_MIN) q->release_pending = 1;
    if (q->release_pending && !q->busy && !q->head)
        pthread_cond_signal(&q->expiry); /* idle now: the keeper releases later */
    atomic_store(&q->m->memory_in_use, q->in_use);
    /* a slot and memory came back: the head may start, on another worker too */
    if (q->head) pthread_cond_broadcast(&q->work);
}

/* Called with the lock held; returns with it held. Finishes j outside it. */
static void finish_unlocked(work_queue *q, job *j)
{
    pthread_mutex_unlock(&q->lock);
    j->finish(j);
    pthread_mutex_lock(&q->lock);
    q->outstanding--;
}

static void *worker_main(void *arg)
{
    work_queue *q = arg;
    pthread_mutex_lock(&q->lock);
    for (;;) {
        if (q->stopping) break;
        if (!q->head || !fits(q, q->head->memory)) {
            if (q->head && q->busy < q->n_workers && !q->head->waited_for_memory) {
                /* counted once per job */
                q->head->waited_for_memory = 1;
                atomic_fetch_add(&q->m->memory_waits, 1);
            }
            pthread_cond_wait(&q->work, &q->lock);
            continue;
        }
        job *j = pop_head(q);
        double now = mono_now();
        if (q->max_wait > 0 && now - j->enqueued > q->max_wait) {
            j->outcome = JOB_EXPIRED;
            j->started = 0;
            finish_unlocked(q, j);
            continue;
        }
        start_job(q, j, now);
        pthread_cond_signal(&q->expiry); /* the head changed */
        pthread_mutex_unlock(&q->lock);
        j->run(j);
        size_t memory = j->memory;
        j->finish(j); /* j may be freed from here on */
        pthread_mutex_lock(&q->lock);
        end_job(q, memory);
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

/* While every worker is busy (a long /train), nobody else looks at the
 * queue: the keeper answers the waits that run out, in order (the head is
 * always the oldest, so the first to expire). It also empties alloc.c's
 * cache of freed mappings once the queue has been idle RELEASE_IDLE seconds
 * after a big job. */
static void *keeper_main(void *arg)
{
    work_queue *q = arg;
    pthread_mutex_lock(&q->lock);
    while (!q->stopping) {
        double now = mono_now(), wake = 0; /* 0: nothing timed */
        if (q->head && q->max_wait > 0) {
            double deadline = q->head->enqueued + q->max_wait;
            if (now > deadline) {
                job *j = pop_head(q);
                j->outcome = JOB_EXPIRED;
                j->started = 0;
                finish_unlocked(q, j);
                continue;
            }
            wake = deadline;
        }
        if (q->release_pending && !q->head && !q->busy) {
            double release_at = q->last_done + RELEASE_IDLE;
            if (now >= release_at) {
                q->release_pending = 0;
                pthread_mutex_unlock(&q->lock);
                srv_alloc_release();
                pthread_mutex_lock(&q->lock);
                continue;
            }
            if (!wake || release_at < wake) wake = release_at;
        }
        if (!wake) {
            pthread_cond_wait(&q->expiry, &q->lock);
        } else {
            struct timespec t = mono_at(wake);
            pthread_cond_clockwait(&q->expiry, &q->lock, CLOCK_MONOTONIC, &t);
        }
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

int wq_start(work_queue *q, unsigned n_workers, size_t max_length, double max_wait,
             size_t budget, metrics *m)
{
    memset(q, 0, sizeof *q);
    q->max_length = max_length;
    q->max_wait = max_wait;
    q->budget = budget;
    q->m = m;
    atomic_store(&m->memory_budget, budget);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (pthread_mutex_init(&q->lock, NULL) || pthread_cond_init(&q->work, &ca) ||
        pthread_cond_init(&q->expiry, &ca))
        return -1;
    pthread_condattr_destroy(&ca);
    if (!(q->workers = srv_calloc(n_workers, sizeof *q->workers))) return -1;
    for (; q->n_workers < n_workers; q->n_workers++)
        if (pthread_create(&q->workers[q->n_workers], NULL, worker_main, q) != 0) break;
    if (q->n_workers < n_workers || pthread_create(&q->keeper, NULL, keeper_main, q) != 0) {
        pthread_mutex_lock(&q->lock);
        q->stopping = 1;
        pthread_cond_broadcast(&q->work);
        pthread_mutex_unlock(&q->lock);
        for (unsigned i = 0; i < q->n_workers; i++) pthread_join(q->workers[i], NULL);
        srv_free(q->workers);
        q->workers = NULL;
        return -1;
    }
    return 0;
}

int wq_submit(work_queue *q, job *j)
{
    pthread_mutex_lock(&q->lock);
    int idle_worker = q->busy + q->length < q->n_workers;
    if (q->stopping || q->length >= q->max_length || (q->max_wait <= 0 && !idle_worker)) {
        pthread_mutex_unlock(&q->lock);
        return -1;
    }
    j->next = NULL;
    j->enqueued = mono_now();
    j->started = 0;
    j->waited_for_memory = 0;
    if (q->tail) q->tail->next = j;
    else q->head = j;
    q->tail = j;
    q->length++;
    q->outstanding++;
    atomic_store(&q->m->queued, q->length);
    pthread_cond_signal(&q->work);
    if (q->head == j) pthread_cond_signal(&q->expiry);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

int wq_run_here(work_queue *q, job *j)
{
    pthread_mutex_lock(&q->lock);
    if (q->stopping || q->head || !fits(q, j->memory)) {
        pthread_mutex_unlock(&q->lock);
        return 0;
    }
    j->next = NULL;
    j->enqueued = mono_now();
    j->waited_for_memory = 0;
    q->outstanding++;
    start_job(q, j, j->enqueued);
    pthread_mutex_unlock(&q->lock);
    j->run(j);
    pthread_mutex_lock(&q->lock);
    end_job(q, j->memory);
    pthread_mutex_unlock(&q->lock);
    return 1;
}

void wq_refuse_queued(work_queue *q)
{
    pthread_mutex_lock(&q->lock);
    while (q->head) {
        job *j = pop_head(q);
        j->outcome = JOB_DRAINED;
        j->started = 0;
        finish_unlocked(q, j);
    }
    pthread_mutex_unlock(&q->lock);
}

unsigned wq_outstanding(work_queue *q)
{
    pthread_mutex_lock(&q->lock);
    unsigned n = q->outstanding;
    pthread_mutex_unlock(&q->lock);
    return n;
}

void wq_stop(work_queue *q)
{
    if (!q->workers) return;
    pthread_mutex_lock(&q->lock);
    q->stopping = 1;
    pthread_cond_broadcast(&q->work);
    pthread_cond_broadcast(&q->expiry);
    pthread_mutex_unlock(&q->lock);
    for (unsigned i = 0; i < q->n_workers; i++) pthread_join(q->workers[i], NULL);
    pthread_join(q->keeper, NULL);
    srv_free(q->workers);
    q->workers = NULL;
    pthread_cond_destroy(&q->work);
    pthread_cond_destroy(&q->expiry);
    pthread_mutex_destroy(&q->lock);
}
