/* macro.h - cleanup attributes and array helpers, nothing else. */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _unused_ __attribute__((unused))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

/* Hands a pointer out of a _cleanup_ variable: returns it and leaves NULL behind. */
#define TAKE_PTR(p)                                  \
        ({                                           \
                __typeof__(p) *_pp_ = &(p);          \
                __typeof__(p) _ptr_ = *_pp_;         \
                *_pp_ = NULL;                        \
                _ptr_;                               \
        })

/* Hands a descriptor out of a _cleanup_close_ variable: returns it and leaves -1 behind. */
#define TAKE_FD(fd)                                  \
        ({                                           \
                int *_pfd_ = &(fd);                  \
                int _fd_ = *_pfd_;                   \
                *_pfd_ = -1;                         \
                _fd_;                                \
        })

static inline void freep(void *p) {
        free(*(void **) p);
}

/* Closes a descriptor that is >= 0, keeping errno: cleanups run on error paths. */
static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;

                (void) close(*fd);
                errno = saved;
        }
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f) {
        if (*f) {
                int saved = errno;

                (void) fclose(*f);
                errno = saved;
        }
}
#define _cleanup_fclose_ _cleanup_(fclosep)
