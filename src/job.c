/* job.c - one source file, start to end. Runs on worker threads: touches only
 * its arguments, the immutable config and the atomic counters. */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <fts.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "job.h"
#include "log.h"
#include "macro.h"
#include "naming.h"
#include "thumbnail.h"
#include "time-util.h"

void job_context_init(JobContext *ctx, ThumbwatchConfig *c) {
        *ctx = (JobContext) { .config = config_ref(c) };
        (void) pthread_mutex_init(&ctx->lock, NULL);
}

void job_context_done(JobContext *ctx) {
        ctx->config = config_unref(ctx->config);
        (void) pthread_mutex_destroy(&ctx->lock);
}

void job_context_set_config(JobContext *ctx, ThumbwatchConfig *c) {
        ThumbwatchConfig *old;

        (void) pthread_mutex_lock(&ctx->lock);
        old = ctx->config;
        ctx->config = config_ref(c);
        (void) pthread_mutex_unlock(&ctx->lock);
        config_unref(old);
}

static ThumbwatchConfig *get_config(JobContext *ctx) {
        ThumbwatchConfig *c;

        (void) pthread_mutex_lock(&ctx->lock);
        c = config_ref(ctx->config);
        (void) pthread_mutex_unlock(&ctx->lock);
        return c;
}

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

void job_remove_tree(const char *dir) {
        _cleanup_free_ char *copy = strdup(dir);
        char *roots[] = { copy, NULL };
        FTSENT *e;
        FTS *fts;

        if (!copy)
                return;
        fts = fts_open(roots, FTS_PHYSICAL | FTS_NOCHDIR, NULL);
        if (!fts)
                return;
        while ((e = fts_read(fts)))
                if (e->fts_info == FTS_DP)
                        (void) rmdir(e->fts_accpath);
                else if (e->fts_info != FTS_D)
                        (void) unlink(e->fts_accpath);
        (void) fts_close(fts);
}

long job_clean_temporaries(const char *output) {
        _cleanup_free_ char *copy = strdup(output);
        char *roots[] = { copy, NULL };
        long n = 0;
        FTSENT *e;
        FTS *fts;

        if (!copy)
                return -ENOMEM;
        fts = fts_open(roots, FTS_PHYSICAL | FTS_NOCHDIR | FTS_NOSTAT, NULL);
        if (!fts)
                return -errno;
        while ((e = fts_read(fts)))
                if ((e->fts_info == FTS_F || e->fts_info == FTS_NSOK) && e->fts_name[0] == '.' &&
                    naming_is_temporary(e->fts_name) && unlink(e->fts_accpath) == 0)
                        n++;
        (void) fts_close(fts);
        return n;
}

/* The source is gone: so are its thumbnails (when the drop says so), and
 * their folder if the source's folder went too. */
static void remove_thumbnails(const DropConfig *d, const char *path) {
        _cleanup_free_ char *src_dir = strdup(path);
        char *out = NULL;

        if (!src_dir)
                return;
        for (size_t i = 0; i < d->n_sizes; i++) {
                free(out);
                out = NULL;
                if (naming_output_path(d->source, d->output, path, d->name_template, d->sizes[i].width,
                                       d->sizes[i].height, &out) < 0)
                        continue;
                if (unlink(out) == 0)
                        log_debug("'%s' is gone: removed '%s'", path, out);
        }
        *strrchr(src_dir, '/') = '\0';
        if (out && access(src_dir, F_OK) < 0 && errno == ENOENT) {
                *strrchr(out, '/') = '\0';
                if (strcmp(out, d->output) != 0)
                        (void) rmdir(out);
        }
        free(out);
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

static void process(JobContext *ctx, const ThumbwatchConfig *config, const char *path);

#if THUMBWATCH_TEST_HOOKS
/* Test builds only (--enable-test-hooks): a worker hangs on the file whose
 * base name $THUMBWATCH_TEST_HANG names. */
static void test_hooks(const char *path) {
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        const char *hang = getenv("THUMBWATCH_TEST_HANG");

        if (hang && strcmp(base, hang) == 0)
                for (;;)
                        (void) sleep(3600);
}
#endif

void job_process(const char *path, void *userdata) {
        JobContext *ctx = userdata;
        ThumbwatchConfig *config;

        if (atomic_load(&ctx->stopping))
                return;
#if THUMBWATCH_TEST_HOOKS
        test_hooks(path);
#endif
        config = get_config(ctx);
        process(ctx, config, path);
        config_unref(config);
}

static void process(JobContext *ctx, const ThumbwatchConfig *config, const char *path) {
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

        d = job_find_drop(config, path);
        if (!d) {
                log_debug("'%s' is in no drop folder, skipping", path);
                return;
        }
        if (lstat(path, &st) < 0) {
                if (errno == ENOENT) {
                        atomic_fetch_add(&ctx->stats.vanished, 1);
                        log_debug("'%s' is gone, skipping", path);
                        if (d->delete_with_source)
                                remove_thumbnails(d, path);
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
