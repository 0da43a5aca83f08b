/* job.c - one source file, start to end. Runs on worker threads: touches only
 * its arguments, the immutable config and the atomic counters. */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "job.h"
#include "log.h"
#include "macro.h"
#include "naming.h"
#include "thumbnail.h"

const DropConfig *job_find_drop(const ThumbwatchConfig *c, const char *path) {
        /* Sources never overlap (config_validate()), so the first match is the only one. */
        for (size_t i = 0; i < c->n_drops; i++)
                if (naming_path_is_under(path, c->drops[i].source))
                        return &c->drops[i];
        return NULL;
}

int job_mkdir_p(const char *dir) {
        _cleanup_free_ char *p = strdup(dir);

        if (!p)
                return -ENOMEM;
        if (mkdir(p, 0755) == 0 || errno == EEXIST)
                return 0;
        if (errno != ENOENT)
                return -errno;
        for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
                *s = '\0';
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static bool timespec_before(const struct timespec *a, const struct timespec *b) {
        return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Up to date: exists, not empty, not older than the source (design.md, invariant 6). */
static bool is_up_to_date(const char *thumb, const struct stat *src) {
        struct stat st;

        return stat(thumb, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
               !timespec_before(&st.st_mtim, &src->st_mtim);
}

static const char *error_class(int r) {
        switch (r) {
        case -EMEDIUMTYPE:
                return "unsupported";
        case -EBADMSG:
                return "corrupt";
        case -ENOMEM:
                return "too-large";
        default:
                return "io";
        }
}

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

void job_process(const char *path, void *userdata) {
        JobContext *ctx = userdata;
        ThumbnailTarget targets[CONFIG_SIZES_MAX] = {};
        char *outputs[CONFIG_SIZES_MAX] = {};
        _cleanup_free_ char *reason = NULL;
        char duration[32];
        const DropConfig *d;
        struct stat st;
        bool current = true;
        uint64_t start;
        size_t n = 0;
        int r;

        if (atomic_load(&ctx->stopping))
                return;
        d = job_find_drop(ctx->config, path);
        if (!d) {
                log_debug("'%s' is in no drop folder, skipping", path);
                return;
        }
        if (lstat(path, &st) < 0) {
                if (errno == ENOENT) {
                        atomic_fetch_add(&ctx->stats.vanished, 1);
                        log_debug("'%s' is gone, skipping", path);
                } else {
                        atomic_fetch_add(&ctx->stats.failed, 1);
                        log_error_errno(errno, "'%s': cannot stat: %m", path);
                }
                return;
        }
        if (!S_ISREG(st.st_mode)) {
                log_debug("'%s' is not a regular file, skipping", path);
                return;
        }

        for (n = 0; n < d->n_sizes; n++) {
                r = naming_output_path(d->source, d->output, path, d->name_template, d->sizes[n].width,
                                       d->sizes[n].height, &outputs[n]);
                if (r < 0) {
                        atomic_fetch_add(&ctx->stats.failed, 1);
                        log_error_errno(r, "'%s': cannot name its thumbnail: %m", path);
                        goto out;
                }
                targets[n] = (ThumbnailTarget) { outputs[n], d->sizes[n].width, d->sizes[n].height };
                current = current && is_up_to_date(outputs[n], &st);
        }
        if (current) {
                atomic_fetch_add(&ctx->stats.up_to_date, 1);
                goto out;
        }

        /* Every size goes into the same folder, the mirror of the source's. */
        *strrchr(outputs[0], '/') = '\0';
        r = job_mkdir_p(outputs[0]);
        if (r < 0) {
                atomic_fetch_add(&ctx->stats.failed, 1);
                log_full_errno_fields(LOG_ERR, r,
                                      ((const LogField[]) { { "MESSAGE_ID", LOG_MESSAGE_FAILED },
                                                            { "THUMBWATCH_SOURCE", path },
                                                            { "THUMBWATCH_ERROR", "io" } }),
                                      3, "'%s' failed (io): cannot create folder '%s': %m", path, outputs[0]);
                goto out;
        }
        outputs[0][strlen(outputs[0])] = '/';

        start = now_usec();
        r = thumbnail_make(path, targets, n, &reason);
        (void) snprintf(duration, sizeof duration, "%llu", (unsigned long long) (now_usec() - start));
        if (r == -ENOENT) {
                atomic_fetch_add(&ctx->stats.vanished, 1);
                log_debug("'%s' is gone, skipping", path);
                goto out;
        }
        if (r < 0) {
                const char *class = error_class(r);

                atomic_fetch_add(&ctx->stats.failed, 1);
                log_full_errno_fields(LOG_ERR, r,
                                      ((const LogField[]) { { "MESSAGE_ID", LOG_MESSAGE_FAILED },
                                                            { "THUMBWATCH_SOURCE", path },
                                                            { "THUMBWATCH_OUTPUT", outputs[0] },
                                                            { "THUMBWATCH_ERROR", class },
                                                            { "THUMBWATCH_DURATION_US", duration } }),
                                      5, "'%s' failed (%s): %s", path, class, reason ? reason : strerror(-r));
                goto out;
        }

        /* A source stamped in the future (a camera's clock, a copy that kept
         * times) would make its thumbnail look stale forever: give the
         * thumbnail the source's time instead. */
        for (size_t i = 0; i < n; i++) {
                struct timespec now;

                (void) clock_gettime(CLOCK_REALTIME, &now);
                if (timespec_before(&now, &st.st_mtim)) {
                        struct timespec times[2] = { st.st_mtim, st.st_mtim };
                        (void) utimensat(AT_FDCWD, outputs[i], times, AT_SYMLINK_NOFOLLOW);
                }
        }
        atomic_fetch_add(&ctx->stats.made, 1);
        log_full_errno_fields(LOG_DEBUG, 0,
                              ((const LogField[]) { { "MESSAGE_ID", LOG_MESSAGE_MADE },
                                                    { "THUMBWATCH_SOURCE", path },
                                                    { "THUMBWATCH_OUTPUT", outputs[0] },
                                                    { "THUMBWATCH_DURATION_US", duration } }),
                              4, "'%s' -> '%s' (%s us)", path, outputs[0], duration);
out:
        for (size_t i = 0; i < ELEMENTSOF(outputs); i++)
                free(outputs[i]);
}
