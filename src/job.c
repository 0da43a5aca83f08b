/* job.c - one source file, start to end: locate its thumbnails, check them,
 * check the failure memory, open the source below its drop, make, check the
 * source again, settle. Runs on worker threads: touches only its arguments,
 * the config it took a reference to, the atomic counters and (under the
 * context's lock) the retry list.
 *
 * The identity stamped on the thumbnails is taken from the descriptor that
 * is decoded, and the source is looked at again once they are written: a
 * file replaced or rewritten meanwhile is made again, so no thumbnail is
 * ever settled with another version's pixels (output-tree.h). */
#include "build-config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
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
#include "output-tree.h"
#include "source.h"
#include "state-dir.h"
#include "thumbnail.h"
#include "time-util.h"

/* A source that changes while its thumbnail is made is made again at once,
 * this many times; then (daemon) after CHANGING_RETRY_USEC. */
#define CHANGING_ATTEMPTS 3
#define CHANGING_RETRY_USEC (1000000ULL)

/* This thread's file, in its last attempt: it failed as io; it was made. */
static __thread bool io_failed_now, made_now;

struct Retry {
        char *path;             /* owned */
        uint64_t due;           /* CLOCK_MONOTONIC us */
        Retry *next;
};

void job_thumbnail_options(const ThumbwatchConfig *c, const DropConfig *d, ThumbnailOptions *ret) {
        *ret = (ThumbnailOptions) {
                .formats = d ? d->formats : THUMBNAIL_ALL_FORMATS,
                .max_file_size = c->max_file_size,
                .max_pixels = c->max_pixels,
                .max_width = c->max_width,
                .max_height = c->max_height,
                .timeout_usec = c->job_timeout_usec,
                .strip = d ? d->strip : true,
                .output_format = d ? d->output_format : 0,
                .quality = d ? d->quality : 85,
                .background = d ? d->background : 0xffffff,
                .embedded_previews = d ? d->embedded_previews : false,
        };
}

uint64_t job_memory_budget(const ThumbwatchConfig *c) {
        return c->max_memory > 0 ? c->max_memory : memory_budget_auto();
}

static void apply_limits(JobContext *ctx, const ThumbwatchConfig *c) {
        uint64_t budget = job_memory_budget(c);
        ThumbnailOptions o;

        job_thumbnail_options(c, NULL, &o);
        /* Decodes reserve their estimates from the budget before they start:
         * that is the bound. GraphicsMagick's own memory limit is not set to
         * it: its JPEG reader hands libjpeg what is left of that limit, so a
         * 24-megapixel progressive JPEG failed with "Backing store not
         * supported" under a budget that held its estimate, and a reload that
         * lowered the limit failed decodes in flight. It keeps the ceiling
         * every worker at the pixel limit would need, as before. */
        o.max_memory = (uint64_t) config_workers(c) *
                       c->max_pixels * 8;
        if (o.max_memory < budget)
                o.max_memory = budget;
        if (thumbnail_set_limits(&o) < 0)
                log_warning("cannot set GraphicsMagick's resource limits; the header checks still apply");
        memory_budget_set_total(ctx->budget, budget);
}

int job_context_init(JobContext *ctx, ThumbwatchConfig *c, bool once) {
        int r;

        *ctx = (JobContext) { .once = once };
        r = memory_budget_new(job_memory_budget(c), &ctx->budget);
        if (r < 0)
                return r;
        ctx->config = config_ref(c);
        (void) pthread_mutex_init(&ctx->lock, NULL);
        apply_limits(ctx, c);
        return 0;
}

void job_context_done(JobContext *ctx) {
        while (ctx->retries) {
                Retry *r = ctx->retries;
                ctx->retries = r->next;
                free(r->path);
                free(r);
        }
        while (ctx->io_failing) {
                struct IoFailure *f = ctx->io_failing;
                ctx->io_failing = f->next;
                free(f->path);
                free(f);
        }
        ctx->config = config_unref(ctx->config);
        ctx->budget = memory_budget_free(ctx->budget);
        (void) pthread_mutex_destroy(&ctx->lock);
}

void job_context_set_config(JobContext *ctx, ThumbwatchConfig *c) {
        ThumbwatchConfig *old;

        apply_limits(ctx, c);
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

static void schedule_retry(JobContext *ctx, const char *path, uint64_t due) {
        Retry *r = calloc(1, sizeof *r);

        if (!r || !(r->path = strdup(path))) {
                free(r);
                return;
        }
        r->due = due;
        (void) pthread_mutex_lock(&ctx->lock);
        r->next = ctx->retries;
        ctx->retries = r;
        (void) pthread_mutex_unlock(&ctx->lock);
        atomic_fetch_add(&ctx->stats.retrying, 1);
}

size_t job_push_due_retries(JobContext *ctx, PathQueue *queue, uint64_t now) {
        size_t waiting = 0;

        (void) pthread_mutex_lock(&ctx->lock);
        for (Retry **p = &ctx->retries; *p;) {
                Retry *r = *p;

                if (r->due <= now && path_queue_try_push(queue, r->path) >= 0) {
                        *p = r->next;
                        free(r);        /* the queue owns the path now */
                        atomic_fetch_sub(&ctx->stats.retrying, 1);
                        continue;
                }
                waiting++;
                p = &r->next;
        }
        (void) pthread_mutex_unlock(&ctx->lock);
        return waiting;
}


const char *job_error_class(int r) {
        switch (r) {
        case -EMEDIUMTYPE:
                return "unsupported";
        case -EBADMSG:
                return "corrupt";
        case -ENODATA:
                return "truncated";
        case -EFBIG:
        case -ENOMEM:
                return "too-large";
        case -ETIMEDOUT:
                return "timeout";
        default:
                return "io";
        }
}

bool job_class_depends_on_config(const char *class) {
        return strcmp(class, "unsupported") == 0 || strcmp(class, "too-large") == 0 || strcmp(class, "timeout") == 0;
}

uint64_t job_config_fingerprint(const ThumbwatchConfig *c, const DropConfig *d) {
        uint64_t v[] = { d->formats, c->max_file_size, c->max_pixels, c->max_width, c->max_height,
                         c->job_timeout_usec, job_memory_budget(c) };
        uint64_t h = 14695981039346656037ULL;   /* FNV-1a */

        for (size_t i = 0; i < ELEMENTSOF(v); i++)
                for (size_t b = 0; b < 8; b++)
                        h = (h ^ ((v[i] >> (8 * b)) & 0xff)) * 1099511628211ULL;
        return h ? h : 1;
}

static void log_failure(const char *path, const char *out, const char *class, const char *duration, int r,
                        const char *reason) {
        log_full_errno_fields(LOG_ERR, r,
                              ((const LogField[]) { { "MESSAGE_ID", LOG_MESSAGE_FAILED },
                                                    { "THUMBWATCH_SOURCE", path },
                                                    { "THUMBWATCH_OUTPUT", out },
                                                    { "THUMBWATCH_ERROR", class },
                                                    { "THUMBWATCH_DURATION_US", duration } }),
                              5, "'%s' failed (%s): %s", path, class, reason ? reason : strerror(-r));
}

#ifdef THUMBWATCH_TEST_HOOKS
/* Test builds only (--enable-test-hooks): a worker hangs on the file whose
 * base name $THUMBWATCH_TEST_HANG names, or the process crashes (SIGABRT) on
 * the one $THUMBWATCH_TEST_CRASH names, as a decoder bug would; a worker
 * sleeps $THUMBWATCH_TEST_SLOW_MS before decoding the one
 * $THUMBWATCH_TEST_SLOW names (a large image, without the large image). */
static void test_hooks(const char *path) {
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        const char *hang = getenv("THUMBWATCH_TEST_HANG"), *crash = getenv("THUMBWATCH_TEST_CRASH");
        const char *slow = getenv("THUMBWATCH_TEST_SLOW"), *slow_ms = getenv("THUMBWATCH_TEST_SLOW_MS");

        if (crash && strcmp(base, crash) == 0)
                abort();
        if (hang && strcmp(base, hang) == 0)
                for (;;)
                        (void) sleep(3600);
        if (slow && strcmp(base, slow) == 0) {
                long ms = slow_ms ? strtol(slow_ms, NULL, 10) : 1000;
                struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

                (void) nanosleep(&ts, NULL);
        }
}
#endif

/* thumbnail_make() with path recorded as in flight (and the test hooks);
 * its time in microseconds goes to duration. */
static int make(const DropConfig *d, const char *path, int fd, const ThumbnailTarget *targets, size_t n,
                const ThumbnailOptions *opts, char **reterr_reason, char *duration, size_t size) {
        uint64_t start;
        int r;

        state_inflight_begin(d, path);
#ifdef THUMBWATCH_TEST_HOOKS
        test_hooks(path);
#endif
        start = now_usec();
        r = thumbnail_make(fd, targets, n, opts, reterr_reason);
        state_inflight_end();
        (void) snprintf(duration, size, "%" PRIu64, now_usec() - start);
        return r;
}

/* The folder the thumbnails go to, for messages and the journal. */
static const char *out_dir_of(const Outputs *o, char *buf, size_t size) {
        const char *slash = o->n > 0 ? strrchr(o->path[0], '/') : NULL;

        if (!slash)
                return o->drop->output;
        (void) snprintf(buf, size, "%.*s", (int) (slash - o->path[0]), o->path[0]);
        return buf;
}

/* A thumbnail made: counted, its failure record and marker (if any) dropped, logged. */
static void made(JobContext *ctx, const Outputs *o, const char *path, const struct stat *st, const char *duration) {
        char out[PATH_MAX];

        state_forget_failure(o->drop, st);
        outputs_unmark_failed(o);
        atomic_fetch_add(&ctx->stats.made, 1);
        made_now = true;
        log_full_errno_fields(LOG_DEBUG, 0,
                              ((const LogField[]) { { "MESSAGE_ID", LOG_MESSAGE_MADE },
                                                    { "THUMBWATCH_SOURCE", path },
                                                    { "THUMBWATCH_OUTPUT", out_dir_of(o, out, sizeof out) },
                                                    { "THUMBWATCH_DURATION_US", duration } }),
                              4, "'%s' -> '%s' (%s us)", path, o->path[0], duration);
}

/* Is a file whose last change was at ctime young enough to be still
 * arriving? By ctime, which no writer can set: a copy that kept an old
 * mtime is young all the same, and a future mtime (a camera clock, a
 * touch -d) cannot keep a file young for ever. A ctime in the future (the
 * clock was set back) counts as old. Returns the microseconds left. */
static uint64_t young_for(const struct stat *st, uint64_t grace) {
        struct timespec now;
        uint64_t age;

        (void) clock_gettime(CLOCK_REALTIME, &now);
        if (timespec_before(&now, &st->st_ctim))
                return 0;
        age = (uint64_t) (now.tv_sec - st->st_ctim.tv_sec) * 1000000 +
              (uint64_t) (now.tv_nsec - st->st_ctim.tv_nsec) / 1000;
        return age < grace ? grace - age : 0;
}

/* An io failure (not the file's: a permission, a full disk, an output folder
 * missing): logged at err the first time, then at debug while it lasts (a
 * retry every retry_io would be 8,640 lines a day); tried again after
 * retry_io. Its recovery is logged too (process()). */
static void io_failure(JobContext *ctx, const ThumbwatchConfig *config, const char *path, const char *out,
                       const char *duration, int r, const char *reason) {
        struct IoFailure *f;
        unsigned count = 0;

        io_failed_now = true;
        (void) pthread_mutex_lock(&ctx->lock);
        for (f = ctx->io_failing; f && strcmp(f->path, path) != 0; f = f->next)
                ;
        if (f)
                count = ++f->count;
        else if ((f = calloc(1, sizeof *f)) && (f->path = strdup(path))) {
                f->count = 1;
                f->next = ctx->io_failing;
                ctx->io_failing = f;
        } else
                free(f);
        (void) pthread_mutex_unlock(&ctx->lock);
        if (count <= 1)
                log_failure(path, out, "io", duration, r, reason);
        else
                log_debug("'%s' still fails (io, %u times): %s", path, count, reason ? reason : strerror(-r));
        if (!ctx->once && config->retry_io_usec > 0) {
                if (count <= 1)
                        log_info("'%s': trying again every %.1f s", path, (double) config->retry_io_usec / 1e6);
                schedule_retry(ctx, path, now_usec() + config->retry_io_usec);
        }
}

/* How many times path failed as io before this attempt, forgotten now. */
static unsigned io_failure_forget(JobContext *ctx, const char *path) {
        unsigned count = 0;

        (void) pthread_mutex_lock(&ctx->lock);
        for (struct IoFailure **p = &ctx->io_failing; *p; p = &(*p)->next)
                if (strcmp((*p)->path, path) == 0) {
                        struct IoFailure *f = *p;

                        *p = f->next;
                        count = f->count;
                        free(f->path);
                        free(f);
                        break;
                }
        (void) pthread_mutex_unlock(&ctx->lock);
        return count;
}

/* A failure r of the source st describes: a young truncated file is tried
 * again after truncated_grace; otherwise it is counted and logged, and a
 * fault of the file is remembered (and marked, in the freedesktop layout)
 * while one of ours (io) is retried. */
static void handle_failure(JobContext *ctx, const ThumbwatchConfig *config, const Outputs *o, const char *path,
                           const struct stat *st, int fd, const char *duration, int r, const char *reason,
                           const ThumbnailOptions *opts) {
        const DropConfig *d = o->drop;
        char out[PATH_MAX];
        const char *class;

        if (r == -ENODATA && !ctx->once) {
                uint64_t left = young_for(st, config->truncated_grace_usec);

                /* Cut short, and young: its writer may still be at work (a copy
                 * that closes and reopens, a download that pauses). Try again
                 * when the grace period is over; a close or rename sooner wins. */
                if (left > 0) {
                        log_info("'%s' looks truncated (%s), perhaps still arriving: trying again in %.1f s", path,
                                 reason ? reason : "", (double) left / 1e6);
                        schedule_retry(ctx, path, now_usec() + left);
                        return;
                }
        }
        class = job_error_class(r);
        atomic_fetch_add(&ctx->stats.failed, 1);
        /* A fault of the file is remembered; one of ours (io: a full or
         * read-only disk, a permission) is not: the file is tried again
         * after retry_io, and at every rescan. Remembered before it is
         * logged, so that whoever reads the log finds the record. */
        if (strcmp(class, "io") != 0) {
                _cleanup_free_ char *marker_reason = NULL;

                state_remember_failure(d, path, st, fd, class,
                                       job_class_depends_on_config(class) ? job_config_fingerprint(config, d) : 0);
                if (opts && outputs_mark_failed(o, opts, &marker_reason) < 0)
                        log_warning("'%s': cannot record the failure in '%s/%s': %s", path, d->output,
                                    o->layout->fail_dir, marker_reason ? marker_reason : "io error");
                log_failure(path, out_dir_of(o, out, sizeof out), class, duration, r, reason);
                return;
        }
        io_failure(ctx, config, path, out_dir_of(o, out, sizeof out), duration, r, reason);
}

/* The source at path is gone, or is no source any more (a symlink not
 * followed, a FIFO): its own thumbnails go, when the drop says so. */
static void not_a_source(JobContext *ctx, Outputs *o, const char *path, const char *what) {
        long n;

        atomic_fetch_add(&ctx->stats.vanished, 1);
        n = o->drop->delete_with_source ? outputs_remove(o) : 0;
        log_debug("'%s' is %s, skipping%s", path, what, n > 0 ? "; its thumbnails are removed" : "");
}

/* A thumbnail's name is another source's (stamped by it, and that source is
 * still there): never overwritten. Returns true when that is so. */
static bool name_taken(JobContext *ctx, const Outputs *o, const char *path, const SourceIdentity *id) {
        for (size_t i = 0; i < o->n; i++) {
                _cleanup_free_ char *other_path = NULL;
                char other[NAME_MAX + 1];
                struct stat st;

                if (outputs_state(o, i, id, other) != THUMB_TAKEN)
                        continue;
                if (asprintf(&other_path, "%.*s%s", (int) (strlen(path) - strlen(o->name)), path, other) < 0)
                        return false;
                if (lstat(other_path, &st) < 0)
                        continue;               /* that source is gone: the name is free */
                atomic_fetch_add(&ctx->stats.failed, 1);
                log_failure(path, o->path[i], "collision", "0", -EEXIST, NULL);
                log_warning("'%s': its thumbnail '%s' is the thumbnail of '%s' (the name template gives both the "
                            "same name): not overwriting it; add {ext} of the source to name = or use format = same",
                            path, o->path[i], other_path);
                return true;
        }
        return false;
}

typedef enum Outcome {
        OUTCOME_DONE,           /* made, failed, skipped: counted and logged */
        OUTCOME_CHANGED,        /* the source changed while it was made: make it again */
} Outcome;

/* The source at path, gone while its thumbnails were made (deleted,
 * renamed, its folder moved): its thumbnails have no source here. If its
 * folder moved, the mirror moved with it and the thumbnails just written are
 * where they should be; what may stand under the old name is a mirror made
 * anew by outputs_open() after the move, which goes. Otherwise the
 * thumbnails go, through the folders they were written to. Returns false
 * when the source is still there. */
static bool went_away(JobContext *ctx, Outputs *o, const char *path, int fd, struct stat *ret_now,
                      SourceIdentity *ret_id) {
        const DropConfig *d = o->drop;
        SourceIdentity unused;
        struct stat decoded;
        Outputs by_name;

        if (output_stat_source(AT_FDCWD, path, d->follow_symlinks ? 0 : AT_SYMLINK_NOFOLLOW, ret_now, ret_id) !=
            -ENOENT)
                return false;
        atomic_fetch_add(&ctx->stats.vanished, 1);
        log_debug("'%s' went away while its thumbnail was made: removing it", path);
        if (output_stat_source(fd, "", AT_EMPTY_PATH, &decoded, &unused) == 0 && decoded.st_nlink > 0 &&
            outputs_init(&by_name, d, path) >= 0) {
                (void) outputs_remove(&by_name);
                outputs_done(&by_name);
        } else
                (void) outputs_remove(o);
        return true;
}

/* Hard links: the other names of this file in its folder show the same
 * content, and a write through one name is seen (IN_CLOSE_WRITE) under that
 * name only; the others are looked at again. */
static void queue_other_names(JobContext *ctx, const Outputs *o, const char *path, const struct stat *st) {
        _cleanup_free_ char *dir = strndup(path, strlen(path) - strlen(o->name));
        struct dirent *e;
        DIR *dp;

        if (ctx->once || st->st_nlink < 2 || !dir)
                return;
        dp = opendir(dir);
        if (!dp)
                return;
        while ((e = readdir(dp))) {
                _cleanup_free_ char *other = NULL;

                if ((uint64_t) e->d_ino != (uint64_t) st->st_ino || strcmp(e->d_name, o->name) == 0 ||
                    !naming_is_image(e->d_name) || asprintf(&other, "%s%s", dir, e->d_name) < 0)
                        continue;
                schedule_retry(ctx, other, now_usec());
        }
        (void) closedir(dp);
}

/* Makes the thumbnails of the source open as fd (st and id: its identity),
 * then looks at the source again. */
static Outcome make_and_settle(JobContext *ctx, const ThumbwatchConfig *config, Outputs *o, const char *path, int fd,
                               const struct stat *st, const SourceIdentity *id) {
        ThumbnailTarget targets[CONFIG_SIZES_MAX] = {};
        _cleanup_free_ char *reason = NULL, *failed_dir = NULL;
        const DropConfig *d = o->drop;
        char duration[32] = "0";
        ThumbnailOptions opts;
        SourceIdentity is, fd_now;
        OutputStamp stamp;
        struct stat now, decoded;
        int r;

        r = outputs_open(o, true, &failed_dir);
        if (o->root_made) {
                /* Every thumbnail went with it: the drops are scanned again. */
                log_notice("output folder '%s' was gone: made it again, and catching up", d->output);
                atomic_store(&ctx->rescan_wanted, true);
        }
        if (r < 0) {
                _cleanup_free_ char *why = NULL;

                if (asprintf(&why, "cannot open or create the output folder '%s': %s%s",
                             failed_dir ? failed_dir : d->output, strerror(-r),
                             r == -ENODEV ? " (it is not the folder it was when thumbwatch started: a disk not "
                                            "mounted? restart thumbwatch if it moved on purpose)" : "") < 0)
                        why = NULL;
                handle_failure(ctx, config, o, path, st, fd, duration, r < 0 && r != -ENOMEM ? -EIO : r, why, NULL);
                return OUTCOME_DONE;
        }
        job_thumbnail_options(config, d, &opts);
        o->layout->make_options(o, st, targets, &opts);
        stamp = (OutputStamp) { .id = *id, .recipe = o->recipe, .name = o->name };
        opts.finish = output_stamp_fd;
        opts.finish_userdata = &stamp;
        opts.budget = ctx->budget;
        opts.cancel = &ctx->stopping;
        r = make(d, path, fd, targets, o->n, &opts, &reason, duration, sizeof duration);
        if (r == -ECANCELED)
                return OUTCOME_DONE;    /* stopping while it waited for the memory budget */
        /* Gone meanwhile, made or not (its folder deleted under the output's
         * temporary is an io error that is nobody's fault). */
        if (went_away(ctx, o, path, fd, &now, &is))
                return OUTCOME_DONE;
        if (r < 0) {
                handle_failure(ctx, config, o, path, st, fd, duration, r, reason, &opts);
                return OUTCOME_DONE;
        }
        /* Replaced (mv, rsync, tar x) or written in place meanwhile: the
         * thumbnails carry the identity of what was decoded, which is not the
         * file's any more, so they are stale; made again. */
        if (output_stat_source(fd, "", AT_EMPTY_PATH, &decoded, &fd_now) < 0)
                fd_now = *id;
        if (!output_identity_equal(id, &is) || !output_identity_equal(id, &fd_now)) {
                log_debug("'%s' changed while its thumbnail was made: making it again", path);
                return OUTCOME_CHANGED;
        }
        made(ctx, o, path, st, duration);
        queue_other_names(ctx, o, path, st);
        return OUTCOME_DONE;
}

/* One attempt at path: returns OUTCOME_CHANGED when it must be made again. */
static Outcome process_once(JobContext *ctx, const ThumbwatchConfig *config, const DropConfig *d, const char *path) {
        _cleanup_(outputs_done) Outputs o = {};
        char class_before[STATE_CLASS_MAX], digest[STATE_DIGEST_MAX];
        FailedBefore failed;
        SourceIdentity id;
        struct stat st;
        Outcome outcome;
        int fd, r;

        r = outputs_init(&o, d, path);
        if (r < 0) {
                if (r == -EPERM)
                        log_debug("'%s' would be mirrored onto the state folder '%s/" OUTPUT_STATE_DIR "': skipping",
                                  path, d->output);
                else {
                        atomic_fetch_add(&ctx->stats.failed, 1);
                        log_error_errno(r, "'%s': cannot name its thumbnails: %m", path);
                }
                return OUTCOME_DONE;
        }
        r = output_stat_source(AT_FDCWD, path, d->follow_symlinks ? 0 : AT_SYMLINK_NOFOLLOW, &st, &id);
        if (r < 0) {
                if (r == -ENOENT || r == -ENOTDIR)
                        not_a_source(ctx, &o, path, "gone");
                else {
                        atomic_fetch_add(&ctx->stats.failed, 1);
                        log_error_errno(r, "'%s': cannot stat: %m", path);
                }
                return OUTCOME_DONE;
        }
        if (!S_ISREG(st.st_mode)) {
                not_a_source(ctx, &o, path, S_ISLNK(st.st_mode) ? "a symlink (follow_symlinks = no)" :
                                                                   "not a regular file");
                return OUTCOME_DONE;
        }
        if (outputs_current(&o, &id)) {
                atomic_fetch_add(&ctx->stats.up_to_date, 1);
                return OUTCOME_DONE;
        }
        if (name_taken(ctx, &o, path, &id))
                return OUTCOME_DONE;
        /* Failed before and unchanged since: it would fail again. Logged once, when it failed. */
        failed = state_failed_before(d, &st, job_config_fingerprint(config, d), class_before, digest);
        if (failed != FAILED_NO && strcmp(class_before, "suspect") == 0)
                failed = FAILED_NO;     /* interrupted once: tried once more */
        if (failed == FAILED_YES) {
                atomic_fetch_add(&ctx->stats.failed, 1);
                log_debug("'%s' failed before (%s) and has not changed, skipping", path, class_before);
                return OUTCOME_DONE;
        }

        fd = source_open(d, path);
        if (fd < 0) {
                if (fd == -ENOENT)
                        not_a_source(ctx, &o, path, "gone");
                else if (fd == -ELOOP || fd == -EXDEV) {
                        /* A folder on its path was swapped for a symlink (or the file
                         * for one): what is there now is not in the drop. */
                        log_notice("'%s' is reached through a symlink%s: not read", path,
                                   fd == -EXDEV ? " that leads out of the drop" : "");
                        not_a_source(ctx, &o, path, "behind a symlink");
                } else {
                        char out[PATH_MAX];

                        _cleanup_free_ char *why = NULL;

                        if (asprintf(&why, "cannot open: %s", strerror(-fd)) < 0)
                                why = NULL;
                        atomic_fetch_add(&ctx->stats.failed, 1);
                        io_failure(ctx, config, path, out_dir_of(&o, out, sizeof out), "0", fd, why);
                }
                return OUTCOME_DONE;
        }
        /* The identity of what is decoded: this descriptor's. */
        if (output_stat_source(fd, "", AT_EMPTY_PATH, &st, &id) < 0 || !S_ISREG(st.st_mode)) {
                (void) close(fd);
                not_a_source(ctx, &o, path, "not a regular file");
                return OUTCOME_DONE;
        }
        /* Failed before, and only its ctime changed (a chmod; or a repair
         * with cp -p, which keeps size and mtime): the same content still
         * fails, without a decode or a log line. */
        if (failed == FAILED_IF_SAME) {
                char now[STATE_DIGEST_MAX];

                if (state_digest_fd(fd, (uint64_t) st.st_size, now) == 0 && strcmp(now, digest) == 0) {
                        state_remember_failure(d, path, &st, fd, class_before,
                                               job_class_depends_on_config(class_before) ?
                                                       job_config_fingerprint(config, d) : 0);
                        (void) close(fd);
                        atomic_fetch_add(&ctx->stats.failed, 1);
                        log_debug("'%s' failed before (%s); its content has not changed, skipping", path,
                                  class_before);
                        return OUTCOME_DONE;
                }
        }
        /* A thumbnail is never a source: an output folder moved into the
         * drop (or its files copied in) would be thumbnailed over and over. */
        if (output_read_stamp(fd, NULL, NULL) > 0) {
                (void) close(fd);
                log_notice("'%s' is a thumbnail thumbwatch made (an output folder moved into the drop?): "
                           "not thumbnailed", path);
                return OUTCOME_DONE;
        }
        outcome = make_and_settle(ctx, config, &o, path, fd, &st, &id);
        (void) close(fd);
        return outcome;
}

static void process(JobContext *ctx, const ThumbwatchConfig *config, const char *path) {
        const DropConfig *d = config_find_drop(config, path);

        if (!d) {
                log_debug("'%s' is in no drop folder, skipping", path);
                return;
        }
        io_failed_now = made_now = false;
        for (int attempt = 0; attempt < CHANGING_ATTEMPTS; attempt++)
                if (process_once(ctx, config, d, path) == OUTCOME_DONE) {
                        /* An io failure that is over: said once, as it was. */
                        unsigned n = io_failed_now ? 0 : io_failure_forget(ctx, path);

                        if (n > 0 && made_now)
                                log_notice("'%s' made, after %u io failure%s", path, n, n == 1 ? "" : "s");
                        return;
                }
        /* Still changing: a writer at work in place. Its close will queue it
         * again; the retry is for a writer that never closes. */
        if (!ctx->once) {
                log_info("'%s' keeps changing while its thumbnail is made: trying again in %.1f s", path,
                         (double) CHANGING_RETRY_USEC / 1e6);
                schedule_retry(ctx, path, now_usec() + CHANGING_RETRY_USEC);
                return;
        }
        atomic_fetch_add(&ctx->stats.failed, 1);
        log_error("'%s' failed: it kept changing while its thumbnail was made", path);
}

void job_process(const char *path, void *userdata) {
        JobContext *ctx = userdata;
        ThumbwatchConfig *config;

        if (atomic_load(&ctx->stopping))
                return;
        config = get_config(ctx);
        process(ctx, config, path);
        config_unref(config);
}
