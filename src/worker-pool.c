/* worker-pool.c - the worker threads.
 *
 * Threads: each worker loops pop -> process -> done until pop returns -EPIPE.
 * Nothing here is shared between workers but the queue (which has its own
 * lock) and the immutable pool fields. Shutdown: the owner closes the queue,
 * the workers drain it and exit, the owner joins them. */
#include "build-config.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "worker-pool.h"
#include "time-util.h"

struct WorkerPool {
        PathQueue *queue;               /* borrowed; immutable */
        worker_process_fn process;      /* immutable */
        void *userdata;                 /* borrowed; immutable */
        size_t n_workers;               /* immutable */
        size_t n_started;               /* written by the owner thread only */
        bool *joined;                   /* per worker; written by the owner thread only */
        atomic_uint_fast64_t *busy_since; /* per worker: start of its job, 0 when idle */
        atomic_size_t next_index;       /* hands each thread its slot */
        pthread_t threads[];
};

int worker_pool_new(size_t n_workers, PathQueue *queue, worker_process_fn process, void *userdata,
                    WorkerPool **ret) {
        WorkerPool *p;

        assert(queue && process && ret);
        if (n_workers == 0)
                return -EINVAL;
        p = calloc(1, sizeof *p + n_workers * sizeof p->threads[0]);
        if (!p)
                return -ENOMEM;
        p->busy_since = calloc(n_workers, sizeof *p->busy_since);
        p->joined = calloc(n_workers, sizeof *p->joined);
        if (!p->busy_since || !p->joined) {
                free(p->busy_since);
                free(p->joined);
                free(p);
                return -ENOMEM;
        }
        p->queue = queue;
        p->process = process;
        p->userdata = userdata;
        p->n_workers = n_workers;
        *ret = p;
        return 0;
}

WorkerPool *worker_pool_free(WorkerPool *p) {
        if (p) {
                free(p->busy_since);
                free(p->joined);
        }
        free(p);
        return NULL;
}

static void *worker_thread(void *arg) {
        WorkerPool *p = arg;
        size_t me = atomic_fetch_add(&p->next_index, 1);
        const char *path;

        while (path_queue_pop(p->queue, &path) >= 0) {
                atomic_store(&p->busy_since[me], now_usec());
                p->process(path, p->userdata);
                atomic_store(&p->busy_since[me], 0);
                path_queue_done(p->queue, path);
        }
        return NULL;
}

uint64_t worker_pool_longest_job(WorkerPool *p) {
        uint64_t now = now_usec(), longest = 0;

        for (size_t i = 0; i < p->n_workers; i++) {
                uint64_t since = atomic_load(&p->busy_since[i]);
                if (since > 0 && now > since && now - since > longest)
                        longest = now - since;
        }
        return longest;
}

int worker_pool_join_until(WorkerPool *p, uint64_t deadline) {
        for (;;) {
                size_t waiting;
                uint64_t now, until;
                struct timespec ts;

                /* Reap every worker that has finished, not only the first ones:
                 * one stuck worker must not keep the others unjoined. */
                for (size_t i = 0; i < p->n_started; i++) {
                        if (!p->joined[i] && pthread_tryjoin_np(p->threads[i], NULL) == 0)
                                p->joined[i] = true;
                }
                for (waiting = 0; waiting < p->n_started && p->joined[waiting]; waiting++)
                        ;
                if (waiting == p->n_started) {
                        memset(p->joined, 0, p->n_workers * sizeof *p->joined);
                        p->n_started = 0;
                        return 0;
                }
                now = now_usec();
                if (now >= deadline)
                        return -ETIMEDOUT;
                /* Wait on the first unfinished worker, a little at a time. */
                until = deadline - now < 50000 ? deadline - now : 50000;
                (void) clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_sec += (time_t) (until / 1000000);
                ts.tv_nsec += (long) (until % 1000000) * 1000;
                if (ts.tv_nsec >= 1000000000) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000;
                }
                if (pthread_timedjoin_np(p->threads[waiting], NULL, &ts) == 0)
                        p->joined[waiting] = true;
        }
}

int worker_pool_start(WorkerPool *p) {
        assert(p);
        while (p->n_started < p->n_workers) {
                int r = pthread_create(&p->threads[p->n_started], NULL, worker_thread, p);
                if (r != 0)
                        return -r;
                p->n_started++;
        }
        return 0;
}

void worker_pool_join(WorkerPool *p) {
        assert(p);
        for (size_t i = 0; i < p->n_started; i++)
                if (!p->joined[i])
                        (void) pthread_join(p->threads[i], NULL);
        memset(p->joined, 0, p->n_workers * sizeof *p->joined);
        p->n_started = 0;
}

size_t worker_pool_default_size(void) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        return n > 0 ? (size_t) n : 1;
}
