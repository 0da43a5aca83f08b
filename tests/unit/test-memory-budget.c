/* test-memory-budget.c - reservations that fit, wait, are refused and are
 * cancelled; a waiter woken by a release. */
#include "build-config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "memory-budget.h"
#include "tap.h"

typedef struct Waiter {
        MemoryBudget *b;
        uint64_t bytes;
        atomic_bool cancel;
        atomic_int result;
        atomic_bool done;
} Waiter;

static void *wait_thread(void *arg) {
        Waiter *w = arg;

        atomic_store(&w->result, memory_budget_reserve(w->b, w->bytes, &w->cancel));
        atomic_store(&w->done, true);
        return NULL;
}

/* Polls for w to finish, for at most 10 s. */
static bool finished(Waiter *w) {
        for (int i = 0; i < 1000 && !atomic_load(&w->done); i++)
                (void) usleep(10000);
        return atomic_load(&w->done);
}

int main(void) {
        MemoryBudget *b = NULL;
        pthread_t t;
        Waiter w;

        is_int(memory_budget_new(0, &b), -EINVAL, "a budget of 0 is refused");
        is_int(memory_budget_new(100, &b), 0, "a budget of 100");
        is_int(memory_budget_reserve(b, 60, NULL), 0, "60 fit");
        is_int((long long) memory_budget_used(b), 60, "... 60 in use");
        is_int(memory_budget_reserve(b, 101, NULL), -EFBIG, "more than the whole budget: refused at once");
        is_int(memory_budget_reserve(b, 40, NULL), 0, "40 more fit exactly");

        /* Full: a third reservation waits, and a release wakes it. */
        w = (Waiter) { .b = b, .bytes = 30 };
        (void) pthread_create(&t, NULL, wait_thread, &w);
        (void) usleep(200000);
        ok(!atomic_load(&w.done), "a reservation that does not fit waits");
        memory_budget_release(b, 40);
        ok(finished(&w), "... a release wakes it");
        is_int(atomic_load(&w.result), 0, "... and it fits then");
        (void) pthread_join(t, NULL);
        is_int((long long) memory_budget_used(b), 90, "60 + 30 in use");

        /* Cancelled while it waits. */
        w = (Waiter) { .b = b, .bytes = 50 };
        (void) pthread_create(&t, NULL, wait_thread, &w);
        (void) usleep(200000);
        ok(!atomic_load(&w.done), "another waits");
        atomic_store(&w.cancel, true);
        ok(finished(&w), "... cancelled, it stops waiting");
        is_int(atomic_load(&w.result), -ECANCELED, "... with -ECANCELED");
        (void) pthread_join(t, NULL);
        is_int((long long) memory_budget_used(b), 90, "... and took nothing");

        /* A larger total (a reload) lets a waiter in. */
        w = (Waiter) { .b = b, .bytes = 50 };
        (void) pthread_create(&t, NULL, wait_thread, &w);
        (void) usleep(100000);
        memory_budget_set_total(b, 200);
        ok(finished(&w), "a larger total wakes a waiter");
        (void) pthread_join(t, NULL);
        is_int((long long) memory_budget_total(b), 200, "the total is 200");
        memory_budget_release(b, 140);
        is_int((long long) memory_budget_used(b), 0, "all released");
        ok(memory_budget_auto() >= (1 << 20), "auto gives a budget of at least 1 MB");
        memory_budget_free(b);
        return done_testing();
}
