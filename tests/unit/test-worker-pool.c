/* test-worker-pool.c - the pool with a stub process callback: no images. */
#include "build-config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "worker-pool.h"

#define N_PATHS 5000

typedef struct Counts {
        atomic_int seen[N_PATHS];
        atomic_long calls;
        pthread_mutex_t lock;
        pthread_t threads[64];
        size_t n_threads;
} Counts;

static Counts counts = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void process(const char *path, void *userdata) {
        Counts *c = userdata;
        pthread_t self = pthread_self();
        bool known = false;

        atomic_fetch_add(&c->seen[atoi(path + 1)], 1);
        atomic_fetch_add(&c->calls, 1);
        pthread_mutex_lock(&c->lock);
        for (size_t i = 0; i < c->n_threads; i++)
                known = known || pthread_equal(c->threads[i], self);
        if (!known && c->n_threads < 64)
                c->threads[c->n_threads++] = self;
        pthread_mutex_unlock(&c->lock);
}

int main(void) {
        PathQueue *q = NULL;
        WorkerPool *pool = NULL;
        int missing = 0;
        char buf[32];

        is_int(path_queue_new(8, &q), 0, "queue");
        is_int(worker_pool_new(0, q, process, &counts, &pool), -EINVAL, "zero workers refused");
        is_int(worker_pool_new(4, q, process, &counts, &pool), 0, "pool of 4");
        is_int(worker_pool_start(pool), 0, "start");
        for (int i = 0; i < N_PATHS; i++) {
                char *p;

                (void) snprintf(buf, sizeof buf, "/%d", i);
                p = strdup(buf);
                if (!p || path_queue_push(q, p) < 0)
                        abort();
        }
        path_queue_close(q);
        worker_pool_join(pool);
        for (int i = 0; i < N_PATHS; i++)
                if (atomic_load(&counts.seen[i]) != 1)
                        missing++;
        is_int(missing, 0, "every path was processed exactly once");
        is_int(atomic_load(&counts.calls), N_PATHS, "one call per path");
        ok(counts.n_threads >= 1 && counts.n_threads <= 4, "calls ran on at most 4 threads");
        ok(worker_pool_default_size() >= 1, "auto is at least one worker");
        worker_pool_free(pool);
        path_queue_free(q);
        return done_testing();
}
