/* test-worker-pool.c - the pool with a stub process callback: no images. */
#include "build-config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

static char *path_of(const char *prefix, int i) {
        char buf[32], *p;

        (void) snprintf(buf, sizeof buf, "%s%d", prefix, i);
        p = strdup(buf);
        if (!p)
                abort();
        return p;
}

/* Resized while busy: a stub that takes a little time, a small queue, and
 * the pool grown and shrunk four times while the paths go through it. */
#define N_RESIZED 4000

typedef struct Busy {
        atomic_int seen[N_RESIZED];
        atomic_int running, most;       /* calls at once, and the most seen */
} Busy;

static Busy busy;

static void process_busy(const char *path, void *userdata) {
        Busy *b = userdata;
        int now = atomic_fetch_add(&b->running, 1) + 1, most = atomic_load(&b->most);

        while (now > most && !atomic_compare_exchange_weak(&b->most, &most, now))
                ;
        atomic_fetch_add(&b->seen[atoi(path + 1)], 1);
        usleep(20);
        atomic_fetch_sub(&b->running, 1);
}

static void test_resize_while_busy(void) {
        PathQueue *q = NULL;
        WorkerPool *pool = NULL;
        int once = 0, results = 0;

        (void) path_queue_new(8, &q);
        (void) worker_pool_new(2, q, process_busy, &busy, &pool);
        is_int(worker_pool_resize(pool, 0), -EINVAL, "resize to 0 is refused");
        is_int(worker_pool_resize(pool, 3), 0, "resize before start");
        is_int(worker_pool_size(pool), 3, "... sets the size start starts");
        (void) worker_pool_start(pool);
        for (int i = 0; i < N_RESIZED; i++) {
                if (i == N_RESIZED / 5)
                        results += worker_pool_resize(pool, 8) == 0;
                else if (i == 2 * N_RESIZED / 5)
                        results += worker_pool_resize(pool, 1) == 0;
                else if (i == 3 * N_RESIZED / 5)
                        results += worker_pool_resize(pool, 5) == 0;
                else if (i == 4 * N_RESIZED / 5)
                        results += worker_pool_resize(pool, 2) == 0;
                if (path_queue_push(q, path_of("/", i)) < 0)
                        abort();
        }
        is_int(results, 4, "grown to 8, shrunk to 1, grown to 5, shrunk to 2 while busy");
        is_int(worker_pool_size(pool), 2, "the size is 2");
        path_queue_close(q);
        worker_pool_join(pool);
        for (int i = 0; i < N_RESIZED; i++)
                once += atomic_load(&busy.seen[i]) == 1;
        is_int(once, N_RESIZED, "every path was processed exactly once");
        ok(atomic_load(&busy.most) <= 8, "never more calls at once than the largest size");
        worker_pool_free(pool);
        path_queue_free(q);
}

/* Retiring and growing, watched one path at a time: "/gate" paths hold their
 * worker until the gate opens. */
typedef struct Gate {
        pthread_mutex_t lock;
        pthread_cond_t changed;
        bool open;
        int holding;                    /* workers held at the gate */
        atomic_int seen[16];
        pthread_t others[16];           /* threads that ran the paths not at the gate */
        size_t n_others;
} Gate;

static Gate gate = { .lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER };

static void process_gated(const char *path, void *userdata) {
        Gate *g = userdata;
        bool known = false;

        (void) pthread_mutex_lock(&g->lock);
        if (strncmp(path, "/gate", 5) == 0) {
                atomic_fetch_add(&g->seen[atoi(path + 5)], 1);
                g->holding++;
                (void) pthread_cond_broadcast(&g->changed);
                while (!g->open)
                        (void) pthread_cond_wait(&g->changed, &g->lock);
                g->holding--;
        } else {
                atomic_fetch_add(&g->seen[8 + atoi(path + 1)], 1);
                for (size_t i = 0; i < g->n_others; i++)
                        known = known || pthread_equal(g->others[i], pthread_self());
                if (!known)
                        g->others[g->n_others++] = pthread_self();
                (void) pthread_cond_broadcast(&g->changed);
        }
        (void) pthread_mutex_unlock(&g->lock);
}

/* Waits (at most 5 s) until *count reaches want; returns whether it did. */
static bool gate_wait(const int *count, int want) {
        struct timespec ts;
        bool reached;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 5;
        (void) pthread_mutex_lock(&gate.lock);
        while (*count < want && pthread_cond_timedwait(&gate.changed, &gate.lock, &ts) == 0)
                ;
        reached = *count >= want;
        (void) pthread_mutex_unlock(&gate.lock);
        return reached;
}

static int seen_others(void) {
        int n = 0;

        for (int i = 8; i < 16; i++)
                n += atomic_load(&gate.seen[i]);
        return n;
}

static bool others_wait(int want) {
        for (int i = 0; i < 500 && seen_others() < want; i++)
                usleep(10 * 1000);
        return seen_others() >= want;
}

static size_t n_others(void) {
        size_t n;

        (void) pthread_mutex_lock(&gate.lock);
        n = gate.n_others;
        (void) pthread_mutex_unlock(&gate.lock);
        return n;
}

static void gate_set(bool open) {
        (void) pthread_mutex_lock(&gate.lock);
        gate.open = open;
        (void) pthread_cond_broadcast(&gate.changed);
        (void) pthread_mutex_unlock(&gate.lock);
}

static void test_retire_and_grow(void) {
        PathQueue *q = NULL;
        WorkerPool *pool = NULL;
        int once = 0;

        (void) path_queue_new(16, &q);
        (void) worker_pool_new(3, q, process_gated, &gate, &pool);
        (void) worker_pool_start(pool);
        for (int i = 0; i < 3; i++)
                (void) path_queue_push(q, path_of("/gate", i));
        ok(gate_wait(&gate.holding, 3), "three workers, each on a file");
        is_int(worker_pool_resize(pool, 1), 0, "shrink to 1 while all three are busy: it does not wait");
        ok(worker_pool_longest_job(pool) > 0, "retired workers still on a file count in longest_job");
        for (int i = 0; i < 4; i++)
                (void) path_queue_push(q, path_of("/", i));
        usleep(50 * 1000);
        is_int(seen_others(), 0, "nothing else runs while the three files are in hand");
        gate_set(true);
        ok(others_wait(4), "the gate opens: the retired finish their files, the queue drains");
        is_int(n_others(), 1, "... on the one worker left: the retired took no more");

        /* Grow while the only worker is held: the new ones take the queue at once. */
        gate_set(false);
        (void) path_queue_push(q, path_of("/gate", 3));
        ok(gate_wait(&gate.holding, 1), "the one worker is held");
        (void) path_queue_push(q, path_of("/", 4));
        (void) path_queue_push(q, path_of("/", 5));
        usleep(50 * 1000);
        is_int(seen_others(), 4, "nothing else runs meanwhile");
        is_int(worker_pool_resize(pool, 3), 0, "grow to 3");
        ok(others_wait(6), "the new workers take what is queued while the first is still held");
        gate_set(true);
        path_queue_close(q);
        worker_pool_join(pool);
        for (int i = 0; i < 4; i++)
                once += atomic_load(&gate.seen[i]) == 1;
        for (int i = 8; i < 14; i++)
                once += atomic_load(&gate.seen[i]) == 1;
        is_int(once, 10, "every path was processed exactly once");
        is_int(worker_pool_longest_job(pool), 0, "joined: no job");
        worker_pool_free(pool);
        path_queue_free(q);
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
        worker_pool_free(pool);
        path_queue_free(q);

        test_resize_while_busy();
        test_retire_and_grow();
        return done_testing();
}
