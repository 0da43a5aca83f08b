/* worker-pool.c - the worker threads.
 *
 * Threads: each worker loops pop -> process -> done until pop returns -EPIPE
 * (the queue is closed and drained) or -ECANCELED (it was retired). Workers
 * share nothing with each other but the queue (which has its own lock) and
 * the immutable pool fields; each has its own Worker, which it reads (retire)
 * and writes (busy_since) through atomics only. One owner thread calls new,
 * start, resize, join, join_until and free; it alone writes the list of
 * workers, taking lock to do so, and other threads (longest_job, size) read
 * it under lock. No thread is joined with lock held.
 *
 * Resizing: growing starts threads at once. Shrinking sets retire on the
 * surplus workers and interrupts the queue: an idle one exits at once, a busy
 * one after the file in hand, so no file is abandoned and no path is lost
 * (what it has not popped stays queued for the others). Retired threads are
 * joined later, by the next resize or by the join at shutdown, and count in
 * longest_job until then.
 *
 * Shutdown: the owner closes the queue, the workers (retired ones included)
 * drain it and exit, the owner joins them. */
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

typedef struct Worker {
        WorkerPool *pool;               /* immutable */
        pthread_t thread;               /* written by the owner thread only, before the list holds it */
        atomic_uint_fast64_t busy_since; /* start of its job, 0 when idle */
        atomic_bool retire;             /* set by the owner: exit before the next pop */
} Worker;

struct WorkerPool {
        PathQueue *queue;               /* borrowed; immutable */
        worker_process_fn process;      /* immutable */
        void *userdata;                 /* borrowed; immutable */
        pthread_mutex_t lock;           /* guards the fields below against readers off the owner thread */
        size_t n_workers;               /* guarded by lock: the size asked for */
        bool started;                   /* guarded by lock: between start and join */
        Worker **workers;               /* guarded by lock: every thread not yet joined, retired ones too */
        size_t n_threads, n_allocated;  /* guarded by lock */
};

int worker_pool_new(size_t n_workers, PathQueue *queue, worker_process_fn process, void *userdata,
                    WorkerPool **ret) {
        WorkerPool *p;

        assert(queue && process && ret);
        if (n_workers == 0)
                return -EINVAL;
        p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        p->queue = queue;
        p->process = process;
        p->userdata = userdata;
        p->n_workers = n_workers;
        (void) pthread_mutex_init(&p->lock, NULL);
        *ret = p;
        return 0;
}

WorkerPool *worker_pool_free(WorkerPool *p) {
        if (!p)
                return NULL;
        assert(p->n_threads == 0);
        free(p->workers);
        (void) pthread_mutex_destroy(&p->lock);
        free(p);
        return NULL;
}

static void *worker_thread(void *arg) {
        Worker *w = arg;
        WorkerPool *p = w->pool;
        const char *path;

        while (path_queue_pop_cancellable(p->queue, &path, &w->retire) >= 0) {
                atomic_store(&w->busy_since, now_usec());
                p->process(path, p->userdata);
                atomic_store(&w->busy_since, 0);
                path_queue_done(p->queue, path);
        }
        return NULL;
}

/* Owner thread: starts one more worker. */
static int add_worker(WorkerPool *p) {
        Worker *w;
        int r;

        if (p->n_threads == p->n_allocated) {
                size_t n = p->n_allocated > 0 ? 2 * p->n_allocated : 8;
                Worker **a = malloc(n * sizeof *a);

                if (!a)
                        return -ENOMEM;
                if (p->n_threads > 0)
                        memcpy(a, p->workers, p->n_threads * sizeof *a);
                (void) pthread_mutex_lock(&p->lock);
                free(p->workers);
                p->workers = a;
                p->n_allocated = n;
                (void) pthread_mutex_unlock(&p->lock);
        }
        w = calloc(1, sizeof *w);
        if (!w)
                return -ENOMEM;
        w->pool = p;
        r = pthread_create(&w->thread, NULL, worker_thread, w);
        if (r != 0) {
                free(w);
                return -r;
        }
        (void) pthread_mutex_lock(&p->lock);
        p->workers[p->n_threads++] = w;
        (void) pthread_mutex_unlock(&p->lock);
        return 0;
}

/* Owner thread: drops worker i, whose thread has been joined, from the list. */
static void forget_worker(WorkerPool *p, size_t i) {
        Worker *w = p->workers[i];

        (void) pthread_mutex_lock(&p->lock);
        memmove(&p->workers[i], &p->workers[i + 1], (p->n_threads - i - 1) * sizeof p->workers[0]);
        p->n_threads--;
        (void) pthread_mutex_unlock(&p->lock);
        free(w);
}

/* Owner thread: the workers not retired. */
static size_t n_active(WorkerPool *p) {
        size_t n = 0;

        for (size_t i = 0; i < p->n_threads; i++)
                if (!atomic_load(&p->workers[i]->retire))
                        n++;
        return n;
}

/* Owner thread: joins the retired workers that have exited, without waiting. */
static void reap_retired(WorkerPool *p) {
        for (size_t i = 0; i < p->n_threads;) {
                if (atomic_load(&p->workers[i]->retire) && pthread_tryjoin_np(p->workers[i]->thread, NULL) == 0)
                        forget_worker(p, i);
                else
                        i++;
        }
}

int worker_pool_start(WorkerPool *p) {
        assert(p);
        (void) pthread_mutex_lock(&p->lock);
        p->started = true;
        (void) pthread_mutex_unlock(&p->lock);
        while (n_active(p) < p->n_workers) {
                int r = add_worker(p);
                if (r < 0)
                        return r;
        }
        return 0;
}

int worker_pool_resize(WorkerPool *p, size_t n_workers) {
        size_t active, retiring = 0;
        int r = 0;

        assert(p);
        if (n_workers == 0)
                return -EINVAL;
        reap_retired(p);
        (void) pthread_mutex_lock(&p->lock);
        p->n_workers = n_workers;
        (void) pthread_mutex_unlock(&p->lock);
        if (!p->started)
                return 0;       /* worker_pool_start() starts them */

        active = n_active(p);
        /* The newest go first; any would do. */
        for (size_t i = p->n_threads; i > 0 && active - retiring > n_workers; i--)
                if (!atomic_load(&p->workers[i - 1]->retire)) {
                        atomic_store(&p->workers[i - 1]->retire, true);
                        retiring++;
                }
        if (retiring > 0)
                path_queue_interrupt(p->queue);
        while (r >= 0 && active < n_workers) {
                r = add_worker(p);
                if (r >= 0)
                        active++;
        }
        if (r < 0) {
                /* Say what runs, not what was asked for. */
                (void) pthread_mutex_lock(&p->lock);
                p->n_workers = active;
                (void) pthread_mutex_unlock(&p->lock);
        }
        /* The idle ones among the retired are likely gone already. */
        reap_retired(p);
        return r;
}

size_t worker_pool_size(WorkerPool *p) {
        size_t n;

        assert(p);
        (void) pthread_mutex_lock(&p->lock);
        n = p->n_workers;
        (void) pthread_mutex_unlock(&p->lock);
        return n;
}

uint64_t worker_pool_longest_job(WorkerPool *p) {
        uint64_t now = now_usec(), longest = 0;

        (void) pthread_mutex_lock(&p->lock);
        for (size_t i = 0; i < p->n_threads; i++) {
                uint64_t since = atomic_load(&p->workers[i]->busy_since);
                if (since > 0 && now > since && now - since > longest)
                        longest = now - since;
        }
        (void) pthread_mutex_unlock(&p->lock);
        return longest;
}

/* Owner thread: after the last worker is joined. */
static void joined_all(WorkerPool *p) {
        (void) pthread_mutex_lock(&p->lock);
        p->started = false;
        (void) pthread_mutex_unlock(&p->lock);
}

int worker_pool_join_until(WorkerPool *p, uint64_t deadline) {
        for (;;) {
                uint64_t now, until;
                struct timespec ts;

                /* Reap every worker that has finished, not only the first ones:
                 * one stuck worker must not keep the others unjoined. */
                for (size_t i = 0; i < p->n_threads;) {
                        if (pthread_tryjoin_np(p->workers[i]->thread, NULL) == 0)
                                forget_worker(p, i);
                        else
                                i++;
                }
                if (p->n_threads == 0) {
                        joined_all(p);
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
                if (pthread_timedjoin_np(p->workers[0]->thread, NULL, &ts) == 0)
                        forget_worker(p, 0);
        }
}

void worker_pool_join(WorkerPool *p) {
        assert(p);
        while (p->n_threads > 0) {
                (void) pthread_join(p->workers[p->n_threads - 1]->thread, NULL);
                forget_worker(p, p->n_threads - 1);
        }
        joined_all(p);
}
