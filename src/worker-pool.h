/* worker-pool.h - N threads that pop paths from a PathQueue and hand each to a
 * process callback. Knows nothing of images or inotify. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "path-queue.h"

typedef struct WorkerPool WorkerPool;

/* Called on a worker thread for every path popped; path is borrowed for the
 * duration of the call. Must be thread-safe: up to n_workers calls run at once
 * (for a while after a shrink, also the calls of retired workers finishing
 * theirs), never two with the same path. */
typedef void (*worker_process_fn)(const char *path, void *userdata);

/* queue and userdata are borrowed until worker_pool_join() returns.
 * Returns 0, -EINVAL (n_workers 0) or -ENOMEM. new, start, resize, join,
 * join_until and free are called from one thread, the pool's owner. */
int worker_pool_new(size_t n_workers, PathQueue *queue, worker_process_fn process, void *userdata,
                    WorkerPool **ret);
WorkerPool *worker_pool_free(WorkerPool *p);   /* NULL-safe; returns NULL; the pool must be joined */

/* Starts the threads. They inherit the caller's signal mask: block signals first.
 * Returns 0 or -errno; on failure the threads already started keep running
 * until the queue is closed, and worker_pool_join() must still be called. */
int worker_pool_start(WorkerPool *p);

/* Sets the number of workers, without waiting for any. Growing starts the
 * new threads at once (they inherit the caller's signal mask, as in
 * worker_pool_start()). Shrinking retires the surplus: an idle worker exits at
 * once, a busy one when the file in hand is done; none abandons a file, and
 * what is queued stays queued for the others. Retired threads are joined by
 * a later resize or by the join. Before worker_pool_start() it only sets the
 * number that start starts. Returns 0, -EINVAL (n_workers 0) or -errno when a
 * thread could not be started: then the threads that did start keep running,
 * and worker_pool_size() says how many that is. */
int worker_pool_resize(WorkerPool *p, size_t n_workers);

/* The number of workers asked for (by new or resize), and running once
 * started. Thread-safe. */
size_t worker_pool_size(WorkerPool *p);

/* Waits until every worker has exited, which they do once the queue is closed
 * and drained; retired workers are joined too. */
void worker_pool_join(WorkerPool *p);

/* Microseconds (CLOCK_MONOTONIC) the longest-running current job has taken
 * so far, or 0 when every worker is idle. Retired workers still on a file
 * count. Thread-safe. */
uint64_t worker_pool_longest_job(WorkerPool *p);

/* As worker_pool_join(), but gives up at deadline (CLOCK_MONOTONIC
 * microseconds) with -ETIMEDOUT, leaving the remaining workers running. */
int worker_pool_join_until(WorkerPool *p, uint64_t deadline);
