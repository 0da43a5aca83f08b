/* path-queue.c - a FIFO (singly linked through the entries) plus a hash table
 * of the same entries, for coalescing. One mutex guards all of it.
 *
 * Threads: any number of producers call push, any number of consumers call
 * pop/done. Producers wait on not_full, consumers on not_empty. The capacity
 * may change at any time (set_capacity): growing wakes every producer,
 * shrinking keeps what is queued and lets pops bring the length down.
 * interrupt() wakes the consumers to look at their cancel flags. Shutdown:
 * close() wakes everyone; consumers drain what is queued, then get -EPIPE. */
#include "build-config.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "path-queue.h"
#include "time-util.h"

typedef struct Entry Entry;
struct Entry {
        char *path;             /* owned */
        uint64_t hash;
        Entry *hash_next;       /* next in the same bucket */
        Entry *fifo_next;       /* next in the FIFO, when queued */
        bool queued;            /* in the FIFO */
        bool in_flight;         /* popped, not yet done */
        bool again;             /* pushed while in flight: queue it again when done */
        uint64_t queued_at;     /* now_usec() when queued (coalescing keeps the first) */
        uint64_t again_at;      /* now_usec() when again was set */
};

/* What the last pop on this thread popped: when it was queued. */
static __thread uint64_t popped_queued_at;

struct PathQueue {
        pthread_mutex_t lock;
        pthread_cond_t not_empty;       /* signalled on push, re-queue, close and interrupt */
        pthread_cond_t not_full;        /* signalled on pop, close and a larger capacity */
        size_t capacity;                /* guarded by lock */
        size_t n_buckets;               /* guarded by lock; a power of two, never shrinks */
        Entry *head, *tail;             /* guarded by lock: the FIFO */
        size_t len;                     /* guarded by lock: entries in the FIFO */
        size_t pending_again;           /* guarded by lock: in flight with again set */
        size_t in_flight;               /* guarded by lock: popped, not yet done */
        bool closed;                    /* guarded by lock */
        Entry **buckets;                /* guarded by lock; owns every entry */
};

static uint64_t hash_path(const char *s) {
        uint64_t h = 1469598103934665603ULL;   /* FNV-1a */

        for (; *s; s++) {
                h ^= (unsigned char) *s;
                h *= 1099511628211ULL;
        }
        return h;
}

/* Buckets for a capacity: twice as many, so chains stay short when full. */
static size_t n_buckets_for(size_t capacity) {
        size_t n = 64;

        while (n < capacity * 2 && n < ((size_t) 1 << 24))
                n <<= 1;
        return n;
}

int path_queue_new(size_t capacity, PathQueue **ret) {
        PathQueue *q;
        size_t n;

        assert(ret);
        if (capacity == 0)
                return -EINVAL;
        n = n_buckets_for(capacity);

        q = calloc(1, sizeof *q);
        if (!q)
                return -ENOMEM;
        q->buckets = calloc(n, sizeof *q->buckets);
        if (!q->buckets) {
                free(q);
                return -ENOMEM;
        }
        q->n_buckets = n;
        q->capacity = capacity;
        (void) pthread_mutex_init(&q->lock, NULL);
        (void) pthread_cond_init(&q->not_empty, NULL);
        (void) pthread_cond_init(&q->not_full, NULL);
        *ret = q;
        return 0;
}

PathQueue *path_queue_free(PathQueue *q) {
        if (!q)
                return NULL;
        for (size_t i = 0; i < q->n_buckets; i++)
                for (Entry *e = q->buckets[i], *next; e; e = next) {
                        next = e->hash_next;
                        free(e->path);
                        free(e);
                }
        free(q->buckets);
        (void) pthread_cond_destroy(&q->not_full);
        (void) pthread_cond_destroy(&q->not_empty);
        (void) pthread_mutex_destroy(&q->lock);
        free(q);
        return NULL;
}

/* Called with the lock held. */
static Entry *find(PathQueue *q, const char *path, uint64_t hash) {
        for (Entry *e = q->buckets[hash & (q->n_buckets - 1)]; e; e = e->hash_next)
                if (e->hash == hash && strcmp(e->path, path) == 0)
                        return e;
        return NULL;
}

/* Called with the lock held. */
static void remove_entry(PathQueue *q, Entry *entry) {
        Entry **p = &q->buckets[entry->hash & (q->n_buckets - 1)];

        while (*p != entry)
                p = &(*p)->hash_next;
        *p = entry->hash_next;
        free(entry->path);
        free(entry);
}

/* Called with the lock held. */
static void append(PathQueue *q, Entry *e) {
        e->queued = true;
        e->fifo_next = NULL;
        if (q->tail)
                q->tail->fifo_next = e;
        else
                q->head = e;
        q->tail = e;
        q->len++;
        (void) pthread_cond_signal(&q->not_empty);
}

static int push(PathQueue *q, char *path, bool block, const atomic_bool *cancel) {
        uint64_t hash = hash_path(path);
        bool waited = false;
        Entry *e;
        int r;

        (void) pthread_mutex_lock(&q->lock);
        for (;;) {
                if (q->closed) {
                        r = -EPIPE;
                        goto out;
                }
                e = find(q, path, hash);
                if (e) {
                        /* Queued: the queued copy will see the file as it is then.
                         * In flight: the worker may have read an older version. */
                        if (e->in_flight && !e->again) {
                                e->again = true;
                                e->again_at = now_usec();
                                q->pending_again++;
                        }
                        free(path);
                        r = 1;
                        goto out;
                }
                if (q->len < q->capacity)
                        break;
                if (!block) {
                        r = -EAGAIN;
                        goto out;
                }
                /* Waiting releases the lock: look the path up again afterwards. */
                waited = true;
                if (!cancel)
                        (void) pthread_cond_wait(&q->not_full, &q->lock);
                else {
                        struct timespec ts;

                        if (atomic_load(cancel)) {
                                r = -ECANCELED;
                                goto out;
                        }
                        (void) clock_gettime(CLOCK_REALTIME, &ts);
                        ts.tv_nsec += 100 * 1000000L;
                        if (ts.tv_nsec >= 1000000000L) {
                                ts.tv_sec++;
                                ts.tv_nsec -= 1000000000L;
                        }
                        (void) pthread_cond_timedwait(&q->not_full, &q->lock, &ts);
                }
        }

        e = calloc(1, sizeof *e);
        if (!e) {
                r = -ENOMEM;
                goto out;
        }
        e->path = path;
        e->hash = hash;
        e->queued_at = now_usec();
        e->hash_next = q->buckets[hash & (q->n_buckets - 1)];
        q->buckets[hash & (q->n_buckets - 1)] = e;
        append(q, e);
        r = 0;
out:
        /* A pop wakes one producer. If this one was woken but took no room
         * (coalesced, cancelled) or room is left, pass the wake-up on, or
         * another producer could sleep while the queue has room. */
        if (waited && q->len < q->capacity)
                (void) pthread_cond_signal(&q->not_full);
        (void) pthread_mutex_unlock(&q->lock);
        return r;
}

int path_queue_push(PathQueue *q, char *path) {
        assert(q && path);
        return push(q, path, true, NULL);
}

int path_queue_push_cancellable(PathQueue *q, char *path, const atomic_bool *cancel) {
        assert(q && path && cancel);
        return push(q, path, true, cancel);
}

int path_queue_try_push(PathQueue *q, char *path) {
        assert(q && path);
        return push(q, path, false, NULL);
}

static int pop(PathQueue *q, const char **ret_path, const atomic_bool *cancel) {
        Entry *e;

        (void) pthread_mutex_lock(&q->lock);
        /* After close, paths in flight that were pushed again still come back:
         * wait for them too, so nothing pushed before close() is lost. The
         * cancel flag is read under the lock, and path_queue_interrupt()
         * broadcasts under it, so a flag set before the interrupt is seen
         * either here or after the wait: no wake-up is lost. */
        for (;;) {
                if (cancel && atomic_load(cancel)) {
                        (void) pthread_mutex_unlock(&q->lock);
                        return -ECANCELED;
                }
                if (q->len > 0 || (q->closed && q->pending_again == 0))
                        break;
                (void) pthread_cond_wait(&q->not_empty, &q->lock);
        }
        if (q->len == 0) {
                (void) pthread_mutex_unlock(&q->lock);
                return -EPIPE;
        }
        e = q->head;
        q->head = e->fifo_next;
        if (!q->head)
                q->tail = NULL;
        q->len--;
        e->queued = false;
        e->in_flight = true;
        q->in_flight++;
        *ret_path = e->path;
        popped_queued_at = e->queued_at;
        /* After a shrink the queue may still hold more than its capacity:
         * then this pop makes no room, and waking a producer would be in vain. */
        if (q->len < q->capacity)
                (void) pthread_cond_signal(&q->not_full);
        (void) pthread_mutex_unlock(&q->lock);
        return 0;
}

int path_queue_pop(PathQueue *q, const char **ret_path) {
        assert(q && ret_path);
        return pop(q, ret_path, NULL);
}

int path_queue_pop_cancellable(PathQueue *q, const char **ret_path, const atomic_bool *cancel) {
        assert(q && ret_path && cancel);
        return pop(q, ret_path, cancel);
}

void path_queue_interrupt(PathQueue *q) {
        assert(q);
        (void) pthread_mutex_lock(&q->lock);
        (void) pthread_cond_broadcast(&q->not_empty);
        (void) pthread_mutex_unlock(&q->lock);
}

/* Called with the lock held: moves every entry to buckets, n of them. */
static void rehash(PathQueue *q, Entry **buckets, size_t n) {
        for (size_t i = 0; i < q->n_buckets; i++)
                for (Entry *e = q->buckets[i], *next; e; e = next) {
                        next = e->hash_next;
                        e->hash_next = buckets[e->hash & (n - 1)];
                        buckets[e->hash & (n - 1)] = e;
                }
        free(q->buckets);
        q->buckets = buckets;
        q->n_buckets = n;
}

int path_queue_set_capacity(PathQueue *q, size_t capacity) {
        size_t n = n_buckets_for(capacity), have;
        Entry **buckets = NULL;

        assert(q);
        if (capacity == 0)
                return -EINVAL;
        (void) pthread_mutex_lock(&q->lock);
        have = q->n_buckets;
        (void) pthread_mutex_unlock(&q->lock);
        /* A larger table is allocated outside the lock: producers and
         * consumers go on meanwhile. */
        if (n > have) {
                buckets = calloc(n, sizeof *buckets);
                if (!buckets)
                        return -ENOMEM;
        }

        (void) pthread_mutex_lock(&q->lock);
        if (buckets && n > q->n_buckets) {
                rehash(q, buckets, n);
                buckets = NULL;
        }
        /* Smaller: nothing queued is dropped; pushes wait (or try_push fails)
         * until pops bring the length below the new capacity. */
        if (capacity > q->capacity)
                (void) pthread_cond_broadcast(&q->not_full);
        q->capacity = capacity;
        (void) pthread_mutex_unlock(&q->lock);
        free(buckets);          /* another call grew the table meanwhile */
        return 0;
}

size_t path_queue_capacity(PathQueue *q) {
        size_t n;

        assert(q);
        (void) pthread_mutex_lock(&q->lock);
        n = q->capacity;
        (void) pthread_mutex_unlock(&q->lock);
        return n;
}

void path_queue_done(PathQueue *q, const char *path) {
        Entry *e;

        assert(q && path);
        (void) pthread_mutex_lock(&q->lock);
        e = find(q, path, hash_path(path));
        assert(e && e->in_flight);
        if (e) {
                e->in_flight = false;
                q->in_flight--;
                if (e->again) {
                        e->again = false;
                        q->pending_again--;
                        e->queued_at = e->again_at;
                        append(q, e);
                } else
                        remove_entry(q, e);
        }
        /* A consumer may be waiting for pending_again to reach zero after close(). */
        if (q->closed)
                (void) pthread_cond_broadcast(&q->not_empty);
        (void) pthread_mutex_unlock(&q->lock);
}

uint64_t path_queue_popped_queued_at(void) {
        return popped_queued_at;
}

void path_queue_close(PathQueue *q) {
        assert(q);
        (void) pthread_mutex_lock(&q->lock);
        q->closed = true;
        (void) pthread_cond_broadcast(&q->not_empty);
        (void) pthread_cond_broadcast(&q->not_full);
        (void) pthread_mutex_unlock(&q->lock);
}

size_t path_queue_length(PathQueue *q) {
        size_t n;

        assert(q);
        (void) pthread_mutex_lock(&q->lock);
        n = q->len;
        (void) pthread_mutex_unlock(&q->lock);
        return n;
}

bool path_queue_idle(PathQueue *q) {
        bool idle;

        assert(q);
        (void) pthread_mutex_lock(&q->lock);
        idle = q->len == 0 && q->in_flight == 0;
        (void) pthread_mutex_unlock(&q->lock);
        return idle;
}
