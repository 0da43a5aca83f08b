/* test-path-queue.c - the sentences of path-queue.h, one by one, then a
 * many-producer, many-consumer stress with every count checked. */
#include "build-config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "path-queue.h"
#include "tap.h"
#include "time-util.h"

static char *dup_path(const char *s) {
        char *p = strdup(s);
        if (!p)
                abort();
        return p;
}

static void test_fifo_and_capacity(void) {
        PathQueue *q = NULL;
        const char *p;
        char *extra = dup_path("/d");

        is_int(path_queue_new(0, &q), -EINVAL, "capacity 0 is refused");
        is_int(path_queue_new(3, &q), 0, "new");
        is_int(path_queue_push(q, dup_path("/a")), 0, "push a");
        is_int(path_queue_push(q, dup_path("/b")), 0, "push b");
        is_int(path_queue_push(q, dup_path("/c")), 0, "push c");
        is_int(path_queue_length(q), 3, "length is 3");
        is_int(path_queue_try_push(q, extra), -EAGAIN, "try_push on a full queue: -EAGAIN");
        is_str(extra, "/d", "the caller still owns the refused path");
        is_int(path_queue_pop(q, &p), 0, "pop");
        is_str(p, "/a", "first in, first out");
        path_queue_done(q, p);
        is_int(path_queue_try_push(q, extra), 0, "try_push succeeds once there is room");
        is_int(path_queue_pop(q, &p), 0, "pop");
        is_str(p, "/b", "second");
        path_queue_done(q, p);
        is_int(path_queue_pop(q, &p), 0, "pop");
        is_str(p, "/c", "third");
        path_queue_done(q, p);
        is_int(path_queue_pop(q, &p), 0, "pop");
        is_str(p, "/d", "fourth");
        path_queue_done(q, p);
        is_int(path_queue_length(q), 0, "empty again");
        path_queue_free(q);
}

static void test_coalescing(void) {
        PathQueue *q = NULL;
        const char *p, *p2;

        (void) path_queue_new(4, &q);
        is_int(path_queue_push(q, dup_path("/x")), 0, "push x");
        is_int(path_queue_push(q, dup_path("/x")), 1, "push x again: coalesced");
        is_int(path_queue_try_push(q, dup_path("/x")), 1, "try_push x again: coalesced");
        is_int(path_queue_length(q), 1, "one x queued");

        is_int(path_queue_pop(q, &p), 0, "pop x: in flight");
        is_int(path_queue_length(q), 0, "nothing queued while x is in flight");
        is_int(path_queue_push(q, dup_path("/x")), 1, "push x while in flight: marked to run again");
        is_int(path_queue_length(q), 0, "... but not queued while in flight (never twice at once)");
        is_int(path_queue_push(q, dup_path("/x")), 1, "push x once more: still one re-run");
        path_queue_done(q, p);
        is_int(path_queue_length(q), 1, "done: x is queued again");
        is_int(path_queue_pop(q, &p2), 0, "pop x again");
        is_str(p2, "/x", "it is x");
        path_queue_done(q, p2);
        is_int(path_queue_length(q), 0, "done without re-push: x is gone");
        is_int(path_queue_push(q, dup_path("/x")), 0, "x can be queued anew");
        path_queue_free(q);
}

typedef struct Blocked {
        PathQueue *q;
        atomic_int result;
        atomic_bool returned;
} Blocked;

static void *blocked_push_thread(void *arg) {
        Blocked *b = arg;
        char *path = dup_path("/blocked");
        int r = path_queue_push(b->q, path);

        if (r < 0)
                free(path);
        atomic_store(&b->result, r);
        atomic_store(&b->returned, true);
        return NULL;
}

static bool wait_returned(Blocked *b) {
        for (int i = 0; i < 500 && !atomic_load(&b->returned); i++)
                usleep(10 * 1000);
        return atomic_load(&b->returned);
}

static void test_blocking(void) {
        Blocked b = {};
        pthread_t t;
        const char *p;

        /* A push blocks on a full queue and wakes on pop. */
        (void) path_queue_new(1, &b.q);
        (void) path_queue_push(b.q, dup_path("/first"));
        (void) pthread_create(&t, NULL, blocked_push_thread, &b);
        usleep(50 * 1000);
        ok(!atomic_load(&b.returned), "push blocks while the queue is full");
        (void) path_queue_pop(b.q, &p);
        ok(wait_returned(&b), "a blocked push wakes when a path is popped");
        is_int(atomic_load(&b.result), 0, "... and succeeds");
        path_queue_done(b.q, p);
        (void) pthread_join(t, NULL);
        path_queue_free(b.q);

        /* A push blocks on a full queue and wakes on close with -EPIPE. */
        b = (Blocked) {};
        (void) path_queue_new(1, &b.q);
        (void) path_queue_push(b.q, dup_path("/first"));
        (void) pthread_create(&t, NULL, blocked_push_thread, &b);
        usleep(50 * 1000);
        path_queue_close(b.q);
        ok(wait_returned(&b), "a blocked push wakes on close");
        is_int(atomic_load(&b.result), -EPIPE, "... with -EPIPE");
        (void) pthread_join(t, NULL);

        /* Closed: queued paths still come out, then -EPIPE. */
        char *late = dup_path("/late");
        is_int(path_queue_push(b.q, late), -EPIPE, "push after close: -EPIPE");
        free(late);
        is_int(path_queue_pop(b.q, &p), 0, "pop after close drains what is queued");
        is_str(p, "/first", "the queued path");
        path_queue_done(b.q, p);
        is_int(path_queue_pop(b.q, &p), -EPIPE, "pop after close and drain: -EPIPE");
        path_queue_free(b.q);
}

typedef struct Popper {
        PathQueue *q;
        atomic_int result;
        atomic_bool returned;
} Popper;

static void *blocked_pop_thread(void *arg) {
        Popper *b = arg;
        const char *p;
        int r = path_queue_pop(b->q, &p);

        if (r >= 0)
                path_queue_done(b->q, p);
        atomic_store(&b->result, r);
        atomic_store(&b->returned, true);
        return NULL;
}

static void test_pop_wakes_on_close(void) {
        Popper b = {};
        pthread_t t;

        (void) path_queue_new(2, &b.q);
        (void) pthread_create(&t, NULL, blocked_pop_thread, &b);
        usleep(50 * 1000);
        ok(!atomic_load(&b.returned), "pop blocks on an empty queue");
        path_queue_close(b.q);
        for (int i = 0; i < 500 && !atomic_load(&b.returned); i++)
                usleep(10 * 1000);
        ok(atomic_load(&b.returned), "a blocked pop wakes on close");
        is_int(atomic_load(&b.result), -EPIPE, "... with -EPIPE");
        (void) pthread_join(t, NULL);
        path_queue_free(b.q);
}

static void test_again_after_close(void) {
        PathQueue *q = NULL;
        const char *p, *p2;

        /* A path pushed while in flight must not be lost by a close that comes before done. */
        (void) path_queue_new(2, &q);
        (void) path_queue_push(q, dup_path("/y"));
        (void) path_queue_pop(q, &p);
        (void) path_queue_push(q, dup_path("/y"));
        path_queue_close(q);
        path_queue_done(q, p);
        is_int(path_queue_pop(q, &p2), 0, "a re-run requested before close still comes out");
        is_str(p2, "/y", "it is y");
        path_queue_done(q, p2);
        is_int(path_queue_pop(q, &p2), -EPIPE, "then -EPIPE");
        path_queue_free(q);
}

static void test_grow_wakes_pushers(void) {
        Blocked b = {};
        pthread_t t;

        (void) path_queue_new(1, &b.q);
        is_int(path_queue_set_capacity(b.q, 0), -EINVAL, "set_capacity 0 is refused");
        is_int(path_queue_capacity(b.q), 1, "... and the capacity is unchanged");
        (void) path_queue_push(b.q, dup_path("/first"));
        (void) pthread_create(&t, NULL, blocked_push_thread, &b);
        usleep(50 * 1000);
        ok(!atomic_load(&b.returned), "push blocks while the queue is full");
        is_int(path_queue_set_capacity(b.q, 2), 0, "set_capacity 2");
        ok(wait_returned(&b), "a blocked push wakes when the capacity grows, with nothing popped");
        is_int(atomic_load(&b.result), 0, "... and succeeds");
        is_int(path_queue_length(b.q), 2, "both paths are queued");
        (void) pthread_join(t, NULL);
        path_queue_free(b.q);
}

static void test_shrink_keeps_paths(void) {
        Blocked b = {};
        pthread_t t;
        const char *p;
        char *extra = dup_path("/extra"), buf[16];
        int in_order = 0;

        (void) path_queue_new(8, &b.q);
        for (int i = 0; i < 6; i++) {
                (void) snprintf(buf, sizeof buf, "/s%d", i);
                (void) path_queue_push(b.q, dup_path(buf));
        }
        is_int(path_queue_set_capacity(b.q, 2), 0, "shrink from 8 to 2 with 6 queued");
        is_int(path_queue_capacity(b.q), 2, "the capacity is 2");
        is_int(path_queue_length(b.q), 6, "... and all 6 paths are still queued");
        is_int(path_queue_try_push(b.q, extra), -EAGAIN, "try_push over the new capacity: -EAGAIN");
        is_str(extra, "/extra", "the caller still owns the refused path");
        is_int(path_queue_push(b.q, dup_path("/s3")), 1, "a queued path still coalesces");
        (void) pthread_create(&t, NULL, blocked_push_thread, &b);
        for (int i = 0; i < 4; i++) {
                (void) path_queue_pop(b.q, &p);
                (void) snprintf(buf, sizeof buf, "/s%d", i);
                in_order += strcmp(p, buf) == 0;
                path_queue_done(b.q, p);
        }
        usleep(50 * 1000);
        ok(!atomic_load(&b.returned), "a push blocks until the length is below the new capacity");
        (void) path_queue_pop(b.q, &p);
        in_order += strcmp(p, "/s4") == 0;
        path_queue_done(b.q, p);
        ok(wait_returned(&b), "... and wakes once it is");
        is_int(atomic_load(&b.result), 0, "... and succeeds");
        (void) pthread_join(t, NULL);
        (void) path_queue_pop(b.q, &p);
        in_order += strcmp(p, "/s5") == 0;
        path_queue_done(b.q, p);
        is_int(in_order, 6, "every path queued before the shrink came out, in order");
        (void) path_queue_pop(b.q, &p);
        is_str(p, "/blocked", "then the one pushed after it");
        path_queue_done(b.q, p);
        is_int(path_queue_try_push(b.q, extra), 0, "try_push succeeds once there is room");
        is_int(path_queue_length(b.q), 1, "one queued");
        path_queue_free(b.q);
}

static void test_grow_rehashes(void) {
        PathQueue *q = NULL;
        const char *p;
        char buf[32];
        int coalesced = 0;

        /* Entries queued and in flight move to the larger table on a grow. */
        (void) path_queue_new(2, &q);
        (void) path_queue_push(q, dup_path("/in-flight"));
        (void) path_queue_push(q, dup_path("/queued"));
        (void) path_queue_pop(q, &p);
        is_int(path_queue_set_capacity(q, 5000), 0, "grow from 2 to 5000");
        is_int(path_queue_push(q, dup_path("/queued")), 1, "a path queued before the grow coalesces");
        is_int(path_queue_push(q, dup_path("/in-flight")), 1, "a path in flight before the grow is marked again");
        path_queue_done(q, p);
        for (int i = 0; i < 4000; i++) {
                (void) snprintf(buf, sizeof buf, "/r/%d", i);
                (void) path_queue_push(q, dup_path(buf));
        }
        for (int i = 0; i < 4000; i++) {
                (void) snprintf(buf, sizeof buf, "/r/%d", i);
                coalesced += path_queue_try_push(q, dup_path(buf)) == 1;
        }
        is_int(coalesced, 4000, "4000 paths over the old capacity: each found again");
        is_int(path_queue_length(q), 4002, "4002 queued");
        path_queue_free(q);
}

typedef struct Cancelled {
        PathQueue *q;
        atomic_bool cancel;
        atomic_int result;
        atomic_bool returned;
} Cancelled;

static void *cancellable_pop_thread(void *arg) {
        Cancelled *c = arg;
        const char *p;
        int r = path_queue_pop_cancellable(c->q, &p, &c->cancel);

        if (r >= 0)
                path_queue_done(c->q, p);
        atomic_store(&c->result, r);
        atomic_store(&c->returned, true);
        return NULL;
}

static void test_pop_cancellable(void) {
        Cancelled c = {};
        pthread_t t;
        const char *p;

        (void) path_queue_new(2, &c.q);
        (void) path_queue_push(c.q, dup_path("/kept"));
        atomic_store(&c.cancel, true);
        is_int(path_queue_pop_cancellable(c.q, &p, &c.cancel), -ECANCELED,
               "pop_cancellable with the flag set: -ECANCELED");
        is_int(path_queue_length(c.q), 1, "... and the path stays queued");
        atomic_store(&c.cancel, false);
        is_int(path_queue_pop_cancellable(c.q, &p, &c.cancel), 0, "with the flag clear it pops");
        is_str(p, "/kept", "the queued path");
        path_queue_done(c.q, p);

        (void) pthread_create(&t, NULL, cancellable_pop_thread, &c);
        usleep(50 * 1000);
        ok(!atomic_load(&c.returned), "pop_cancellable blocks on an empty queue");
        atomic_store(&c.cancel, true);
        path_queue_interrupt(c.q);
        for (int i = 0; i < 500 && !atomic_load(&c.returned); i++)
                usleep(10 * 1000);
        ok(atomic_load(&c.returned), "flag set, then interrupt: it wakes");
        is_int(atomic_load(&c.result), -ECANCELED, "... with -ECANCELED");
        (void) pthread_join(t, NULL);
        path_queue_free(c.q);
}

#define PRODUCERS 4
#define CONSUMERS 4
#define PER_PRODUCER 20000
#define DISTINCT (PRODUCERS * PER_PRODUCER)

typedef struct Stress {
        PathQueue *q;
        atomic_int seen[DISTINCT];      /* how often each path was processed */
        atomic_int in_flight[DISTINCT]; /* how many workers hold it right now */
        atomic_int overlap;             /* times a path was held by two at once */
        atomic_long pushed, coalesced;
        int producer_id[PRODUCERS];
} Stress;

static Stress stress;

static void *producer_thread(void *arg) {
        int id = *(int *) arg;
        char buf[64];

        for (int i = 0; i < PER_PRODUCER; i++) {
                int r;

                /* Every producer also pushes a neighbour's path: coalescing under contention. */
                (void) snprintf(buf, sizeof buf, "/p/%d", id * PER_PRODUCER + i);
                r = path_queue_push(stress.q, dup_path(buf));
                atomic_fetch_add(r == 1 ? &stress.coalesced : &stress.pushed, 1);
                (void) snprintf(buf, sizeof buf, "/p/%d", ((id + 1) % PRODUCERS) * PER_PRODUCER + i);
                r = path_queue_push(stress.q, dup_path(buf));
                atomic_fetch_add(r == 1 ? &stress.coalesced : &stress.pushed, 1);
        }
        return NULL;
}

static void *consumer_thread(void *arg) {
        const char *p;

        (void) arg;
        while (path_queue_pop(stress.q, &p) >= 0) {
                int i = atoi(p + 3);

                if (atomic_fetch_add(&stress.in_flight[i], 1) != 0)
                        atomic_fetch_add(&stress.overlap, 1);
                atomic_fetch_add(&stress.seen[i], 1);
                atomic_fetch_sub(&stress.in_flight[i], 1);
                path_queue_done(stress.q, p);
        }
        return NULL;
}

static void test_stress(void) {
        pthread_t producers[PRODUCERS], consumers[CONSUMERS];
        long processed = 0;
        int missing = 0;

        (void) path_queue_new(16, &stress.q);
        for (int i = 0; i < CONSUMERS; i++)
                (void) pthread_create(&consumers[i], NULL, consumer_thread, NULL);
        for (int i = 0; i < PRODUCERS; i++) {
                stress.producer_id[i] = i;
                (void) pthread_create(&producers[i], NULL, producer_thread, &stress.producer_id[i]);
        }
        for (int i = 0; i < PRODUCERS; i++)
                (void) pthread_join(producers[i], NULL);
        path_queue_close(stress.q);
        for (int i = 0; i < CONSUMERS; i++)
                (void) pthread_join(consumers[i], NULL);

        for (int i = 0; i < DISTINCT; i++) {
                processed += atomic_load(&stress.seen[i]);
                if (atomic_load(&stress.seen[i]) == 0)
                        missing++;
        }
        is_int(missing, 0, "stress: every distinct path was processed at least once");
        is_int(atomic_load(&stress.pushed) + atomic_load(&stress.coalesced), 2 * DISTINCT,
               "stress: every push was either queued or coalesced");
        ok(processed >= DISTINCT && processed <= atomic_load(&stress.pushed) + atomic_load(&stress.coalesced),
           "stress: processed between distinct paths and pushes");
        is_int(atomic_load(&stress.overlap), 0, "stress: no path was processed by two workers at once");
        is_int(path_queue_length(stress.q), 0, "stress: the queue is empty at the end");
        path_queue_free(stress.q);
}

/* For the latency metric: a popped path says when it was queued; a
 * coalesced push keeps the first time, a push while in flight starts anew. */
static void test_queued_at(void) {
        PathQueue *q = NULL;
        const char *p;
        uint64_t before, between, after;
        struct timespec ms = { 0, 2 * 1000000L };

        is_int(path_queue_new(4, &q), 0, "queued_at: new");
        before = now_usec();
        is_int(path_queue_push(q, strdup("/a")), 0, "queued_at: pushed");
        (void) nanosleep(&ms, NULL);
        between = now_usec();
        is_int(path_queue_push(q, strdup("/a")), 1, "... pushed again: coalesced");
        is_int(path_queue_pop(q, &p), 0, "... popped");
        ok(path_queue_popped_queued_at() >= before && path_queue_popped_queued_at() < between,
           "... its queued time is the first push's");
        (void) nanosleep(&ms, NULL);
        after = now_usec();
        is_int(path_queue_push(q, strdup("/a")), 1, "... pushed while in flight");
        path_queue_done(q, p);
        is_int(path_queue_pop(q, &p), 0, "... popped again");
        ok(path_queue_popped_queued_at() >= after, "... queued at the push made while it was in flight");
        path_queue_done(q, p);
        path_queue_free(q);
}

int main(void) {
        test_queued_at();
        test_fifo_and_capacity();
        test_coalescing();
        test_blocking();
        test_pop_wakes_on_close();
        test_again_after_close();
        test_grow_wakes_pushers();
        test_shrink_keeps_paths();
        test_grow_rehashes();
        test_pop_cancellable();
        test_stress();
        return done_testing();
}
