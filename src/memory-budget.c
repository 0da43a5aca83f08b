/* memory-budget.c - a counter under a lock, and a condition to wait on.
 *
 * Threads: any thread reserves and releases; the lock guards used and
 * total; freed is broadcast on every release and on a new total. Waiting
 * reservations are served in no particular order: a large one may wait
 * while small ones pass, but every release wakes it to try again, and
 * decodes are short, so it is not starved for long. */
#include "build-config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "memory-budget.h"

struct MemoryBudget {
        pthread_mutex_t lock;
        pthread_cond_t freed;           /* broadcast on release and on a new total */
        uint64_t total;                 /* guarded by lock */
        uint64_t used;                  /* guarded by lock */
};

int memory_budget_new(uint64_t total, MemoryBudget **ret) {
        MemoryBudget *b;

        if (total == 0)
                return -EINVAL;
        b = calloc(1, sizeof *b);
        if (!b)
                return -ENOMEM;
        (void) pthread_mutex_init(&b->lock, NULL);
        (void) pthread_cond_init(&b->freed, NULL);
        b->total = total;
        *ret = b;
        return 0;
}

MemoryBudget *memory_budget_free(MemoryBudget *b) {
        if (!b)
                return NULL;
        (void) pthread_cond_destroy(&b->freed);
        (void) pthread_mutex_destroy(&b->lock);
        free(b);
        return NULL;
}

void memory_budget_set_total(MemoryBudget *b, uint64_t total) {
        (void) pthread_mutex_lock(&b->lock);
        b->total = total > 0 ? total : 1;
        (void) pthread_cond_broadcast(&b->freed);
        (void) pthread_mutex_unlock(&b->lock);
}

int memory_budget_reserve(MemoryBudget *b, uint64_t bytes, const atomic_bool *cancel) {
        int r = 0;

        (void) pthread_mutex_lock(&b->lock);
        for (;;) {
                struct timespec ts;

                if (bytes > b->total) {
                        r = -EFBIG;
                        break;
                }
                if (b->used + bytes <= b->total) {
                        b->used += bytes;
                        break;
                }
                if (cancel && atomic_load(cancel)) {
                        r = -ECANCELED;
                        break;
                }
                (void) clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 100 * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000L;
                }
                (void) pthread_cond_timedwait(&b->freed, &b->lock, &ts);
        }
        (void) pthread_mutex_unlock(&b->lock);
        return r;
}

void memory_budget_release(MemoryBudget *b, uint64_t bytes) {
        (void) pthread_mutex_lock(&b->lock);
        b->used = bytes > b->used ? 0 : b->used - bytes;
        (void) pthread_cond_broadcast(&b->freed);
        (void) pthread_mutex_unlock(&b->lock);
}

uint64_t memory_budget_used(MemoryBudget *b) {
        uint64_t v;

        (void) pthread_mutex_lock(&b->lock);
        v = b->used;
        (void) pthread_mutex_unlock(&b->lock);
        return v;
}

uint64_t memory_budget_total(MemoryBudget *b) {
        uint64_t v;

        (void) pthread_mutex_lock(&b->lock);
        v = b->total;
        (void) pthread_mutex_unlock(&b->lock);
        return v;
}

/* The memory.max of our cgroup (v2), or 0 when there is none. */
static uint64_t cgroup_limit(void) {
        char line[4096], path[4200 + 32];
        unsigned long long v = 0;
        FILE *f = fopen("/proc/self/cgroup", "re");
        bool found = false;

        if (!f)
                return 0;
        while (fgets(line, sizeof line, f))
                if (strncmp(line, "0::", 3) == 0) {
                        line[strcspn(line, "\n")] = '\0';
                        (void) snprintf(path, sizeof path, "/sys/fs/cgroup%s/memory.max", line + 3);
                        found = true;
                        break;
                }
        (void) fclose(f);
        if (!found)
                return 0;
        f = fopen(path, "re");
        if (!f)
                return 0;
        if (fscanf(f, "%llu", &v) != 1)     /* "max": no limit */
                v = 0;
        (void) fclose(f);
        return v;
}

uint64_t memory_budget_auto(void) {
        long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        uint64_t ram = pages > 0 && page > 0 ? (uint64_t) pages * (uint64_t) page : 1ULL << 30;
        uint64_t budget = ram / 2, cg = cgroup_limit();

        if (cg > 0 && cg / 4 * 3 < budget)
                budget = cg / 4 * 3;
        return budget > 0 ? budget : 1;
}
