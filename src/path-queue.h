/* path-queue.h - bounded FIFO of file paths from the producers (scanner, watcher)
 * to the workers. Knows nothing of images or inotify. Every function is thread-safe.
 *
 * A path is in at most one of three states: queued, in flight (popped, not yet
 * done), or absent. Pushing a queued path coalesces it with the queued one;
 * pushing a path in flight marks it to be queued again once it is done, so a
 * file that changed while being processed is processed again, and never by two
 * workers at once. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct PathQueue PathQueue;

/* capacity: how many paths may wait; pushes block (or fail with -EAGAIN) beyond it.
 * Returns 0 or -ENOMEM / -EINVAL (capacity 0). */
int path_queue_new(size_t capacity, PathQueue **ret);
PathQueue *path_queue_free(PathQueue *q);     /* NULL-safe; returns NULL */

/* Blocks while the queue is full. Takes ownership of path on success: returns 0
 * when it was queued, 1 when it was coalesced with a queued or in-flight copy
 * (and freed). Returns -EPIPE after path_queue_close(); on failure the caller
 * still owns path. */
int path_queue_push(PathQueue *q, char *path);

/* As path_queue_push(), but gives up with -ECANCELED (caller still owns
 * path) within 100 ms of *cancel becoming true while it waits. */
int path_queue_push_cancellable(PathQueue *q, char *path, const atomic_bool *cancel);

/* As path_queue_push(), but returns -EAGAIN at once when full (caller still owns path). */
int path_queue_try_push(PathQueue *q, char *path);

/* Blocks until a path is available. On success *ret_path is borrowed until
 * path_queue_done() is called with it, which the caller must do exactly once.
 * Returns -EPIPE once the queue is closed and drained: the worker's cue to exit. */
int path_queue_pop(PathQueue *q, const char **ret_path);

/* As path_queue_pop(), but returns -ECANCELED, taking nothing, once *cancel
 * is true: at once when it is true on entry, and while waiting as soon as
 * path_queue_interrupt() is called after it was set. */
int path_queue_pop_cancellable(PathQueue *q, const char **ret_path, const atomic_bool *cancel);

/* Wakes every waiting path_queue_pop_cancellable() to look at its flag. */
void path_queue_interrupt(PathQueue *q);

/* When the path this thread popped last was queued (now_usec()'s clock; a
 * path pushed again while in flight: when it was pushed again), or 0 before
 * any pop on this thread. For the latency metric. */
uint64_t path_queue_popped_queued_at(void);

/* Ends the processing of a path returned by path_queue_pop(). If it was pushed
 * again meanwhile, it goes back on the queue at once; this never blocks, so the
 * queue may exceed its capacity by the number of paths in flight (and by more
 * after path_queue_set_capacity() shrank it). */
void path_queue_done(PathQueue *q, const char *path);

/* Refuses further pushes and wakes every waiter. Queued paths are still popped. */
void path_queue_close(PathQueue *q);

/* Sets how many paths may wait. Larger: blocked pushes wake and go on. Smaller
 * than what is queued: every queued path stays (none is dropped); pushes block,
 * and try_push fails with -EAGAIN, until pops bring the length below it.
 * Returns 0, -EINVAL (capacity 0) or -ENOMEM (capacity unchanged). */
int path_queue_set_capacity(PathQueue *q, size_t capacity);
size_t path_queue_capacity(PathQueue *q);

/* Paths queued (not counting those in flight). */
size_t path_queue_length(PathQueue *q);

/* Nothing queued and nothing in flight: every path pushed has been done. */
bool path_queue_idle(PathQueue *q);

static inline void path_queue_freep(PathQueue **q) {
        path_queue_free(*q);
}
