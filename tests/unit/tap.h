/* tap.h - a minimal TAP producer for the unit tests: ok(), is_int(), is_str(),
 * then done_testing() prints the plan and returns the exit status; and
 * tap_path() for tests that work on a temporary tree; tap_threads() for
 * tests of a thread contract. */
#pragma once

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

static inline bool tap_ok(bool pass, const char *file, int line, const char *name) {
        tap_n++;
        printf("%sok %d - %s\n", pass ? "" : "not ", tap_n, name);
        if (!pass) {
                tap_failed++;
                printf("#   failed at %s:%d\n", file, line);
        }
        fflush(stdout);
        return pass;
}

#define ok(cond, name) tap_ok(!!(cond), __FILE__, __LINE__, (name))

#define is_int(got, want, name)                                                                          \
        do {                                                                                             \
                long long got_ = (long long) (got), want_ = (long long) (want);                          \
                if (!tap_ok(got_ == want_, __FILE__, __LINE__, (name)))                                  \
                        printf("#   got %lld, want %lld\n", got_, want_);                                \
        } while (0)

#define is_str(got, want, name)                                                                          \
        do {                                                                                             \
                const char *got_ = (got), *want_ = (want);                                               \
                bool same_ = got_ && want_ ? strcmp(got_, want_) == 0 : got_ == want_;                   \
                if (!tap_ok(same_, __FILE__, __LINE__, (name)))                                          \
                        printf("#   got '%s', want '%s'\n", got_ ? got_ : "(null)", want_ ? want_ : "(null)"); \
        } while (0)

static inline int done_testing(void) {
        printf("1..%d\n", tap_n);
        return tap_failed > 0 ? 1 : 0;
}

/* dir/rel, in one of eight buffers used in turn: valid for the next seven calls. */
static inline char *tap_path(const char *dir, const char *rel) {
        static char bufs[8][PATH_MAX];
        static unsigned i;
        char *b = bufs[i++ % 8];

        (void) snprintf(b, PATH_MAX, "%s/%s", dir, rel);
        return b;
}

/* Runs fn on n threads at once (n <= 16), each returning its faults as
 * (void *) (uintptr_t) count. Returns the faults of all, plus one for each
 * thread that could not start. */
static inline uintptr_t tap_threads(size_t n, void *(*fn)(void *)) {
        pthread_t t[16];
        uintptr_t bad = 0;
        size_t started = 0;
        void *ret;

        for (size_t i = 0; i < n && i < 16; i++) {
                if (pthread_create(&t[started], NULL, fn, NULL) == 0)
                        started++;
                else
                        bad++;
        }
        for (size_t i = 0; i < started; i++)
                if (pthread_join(t[i], &ret) == 0)
                        bad += (uintptr_t) ret;
        return bad;
}
