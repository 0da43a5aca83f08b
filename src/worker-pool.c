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
#include <stdlib.h>
#include <unistd.h>

#include "worker-pool.h"

struct WorkerPool {
        PathQueue *queue;               /* borrowed; immutable */
        worker_process_fn process;      /* immutable */
        void *userdata;                 /* borrowed; immutable */
        size_t n_workers;               /* immutable */
        size_t n_started;               /* written by the owner thread only */
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
        p->queue = queue;
        p->process = process;
        p->userdata = userdata;
        p->n_workers = n_workers;
        *ret = p;
        return 0;
}

WorkerPool *worker_pool_free(WorkerPool *p) {
        free(p);
        return NULL;
}

static void *worker_thread(void *arg) {
        WorkerPool *p = arg;
        const char *path;

        while (path_queue_pop(p->queue, &path) >= 0) {
                p->process(path, p->userdata);
                path_queue_done(p->queue, path);
        }
        return NULL;
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
                (void) pthread_join(p->threads[i], NULL);
        p->n_started = 0;
}

size_t worker_pool_default_size(void) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        return n > 0 ? (size_t) n : 1;
}
