/* job.c - one source file, start to end, in named stages (attempt()): plan
 * its thumbnails, locate the source, check they are current, check the
 * failure memory, open the source below its drop, check its content,
 * prepare the output folders, make, settle (look at the source again). Each
 * stage returns an outcome; count() counts it, once per job. Runs on worker
 * threads: touches only its arguments, the config it took a reference to,
 * the atomic counters and (under the context's lock) the retry list.
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
#include "path-queue.h"
#include "source.h"
#include "state-dir.h"
#include "thumbnail.h"
#include "time-util.h"

/* A source that changes while its thumbnail is made is made again at once,
 * this many times; then (daemon) after CHANGING_RETRY_USEC. */
#define CHANGING_ATTEMPTS 3
#define CHANGING_RETRY_USEC (1000000ULL)

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
                .colour = d ? d->colour : c->colour,
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
        metrics_counters_done(&ctx->metrics);
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
        case -ENOTRECOVERABLE:
                return "crashed";       /* a decoder's process died on the file (decode-raw) */
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

/* One attempt at one source: what the stages found so far. Each stage
 * reads what the ones before it left here and returns JOB_NEXT, or the
 * outcome the attempt ends with. */
typedef struct Job {
        JobContext *ctx;
        const ThumbwatchConfig *config;         /* borrowed for the job */
        const DropConfig *drop;                 /* in config */
        const char *path;                       /* the source; borrowed */
        Outputs o;                              /* plan: its thumbnails */
        struct stat st;                         /* locate: the path's; open: the descriptor's */
        SourceIdentity id;                      /* likewise: what is stamped on the thumbnails */
        FailedBefore failed;                    /* check_failed: the failure memory's word */
        char class_before[STATE_CLASS_MAX];     /* ... its class */
        char digest[STATE_DIGEST_MAX];          /* ... and the digest of what failed */
        int fd;                                 /* open: the source, read from here on; owned; else -1 */
        ThumbnailOptions opts;                  /* make */
        OutputStamp stamp;                      /* make: opts.finish_userdata */
        int r;                                  /* make: thumbnail_make()'s result */
        char *reason;                           /* make: why it failed, or NULL; owned */
        char duration[32];                      /* make: its microseconds, for the log */
        uint64_t duration_usec;                 /* ... and for the decode histogram */
        const char *class;                      /* a failure's class (metrics_classes); NULL: io */
        const char *pixels_from;                /* make: where the pixels came from (thumbnail.h) */
} Job;

typedef JobOutcome (*JobStage)(Job *j);

/* What count() needs of a job besides its outcome. */
typedef struct JobResult {
        const char *drop;                       /* its drop's name (borrowed from the config); NULL: none */
        const char *class;                      /* a failure's class; NULL: io */
        uint64_t decode_usec;                   /* a thumbnail made: its decode and write */
} JobResult;

/* The folder the thumbnails go to, for messages and the journal. */
static const char *out_dir_of(const Outputs *o, char *buf, size_t size) {
        const char *slash = o->n > 0 ? strrchr(o->path[0], '/') : NULL;

        if (!slash)
                return o->drop->output;
        (void) snprintf(buf, size, "%.*s", (int) (slash - o->path[0]), o->path[0]);
        return buf;
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
 * retry_io. Its recovery is logged too (run()). */
static JobOutcome io_failure(Job *j, const char *out, int r, const char *reason) {
        JobContext *ctx = j->ctx;
        struct IoFailure *f;
        unsigned count = 0;

        j->class = "io";
        (void) pthread_mutex_lock(&ctx->lock);
        for (f = ctx->io_failing; f && strcmp(f->path, j->path) != 0; f = f->next)
                ;
        if (f)
                count = ++f->count;
        else if ((f = calloc(1, sizeof *f)) && (f->path = strdup(j->path))) {
                f->count = 1;
                f->next = ctx->io_failing;
                ctx->io_failing = f;
        } else
                free(f);
        (void) pthread_mutex_unlock(&ctx->lock);
        if (count <= 1)
                log_failure(j->path, out, "io", j->duration, r, reason);
        else
                log_debug("'%s' still fails (io, %u times): %s", j->path, count, reason ? reason : strerror(-r));
        if (!ctx->once && j->config->retry_io_usec > 0) {
                if (count <= 1)
                        log_info("'%s': trying again every %.1f s", j->path, (double) j->config->retry_io_usec / 1e6);
                schedule_retry(ctx, j->path, now_usec() + j->config->retry_io_usec);
        }
        return JOB_IO_FAILED;
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

/* A failure r of the source (j->st): a young truncated file is tried again
 * after truncated_grace; otherwise it is logged, and a fault of the file is
 * remembered (and marked where the layout marks failures) while one of ours
 * (io) is retried. opts: those of the thumbnails, for the marker; NULL when
 * nothing was made. */
static JobOutcome handle_failure(Job *j, int r, const char *reason, const ThumbnailOptions *opts) {
        const DropConfig *d = j->drop;
        char out[PATH_MAX];
        const char *class;

        if (r == -ENODATA && !j->ctx->once) {
                uint64_t left = young_for(&j->st, j->config->truncated_grace_usec);

                /* Cut short, and young: its writer may still be at work (a copy
                 * that closes and reopens, a download that pauses). Try again
                 * when the grace period is over; a close or rename sooner wins. */
                if (left > 0) {
                        log_info("'%s' looks truncated (%s), perhaps still arriving: trying again in %.1f s",
                                 j->path, reason ? reason : "", (double) left / 1e6);
                        schedule_retry(j->ctx, j->path, now_usec() + left);
                        return JOB_RETRY;
                }
        }
        class = job_error_class(r);
        j->class = class;
        /* A fault of the file is remembered; one of ours (io: a full or
         * read-only disk, a permission) is not: the file is tried again
         * after retry_io, and at every rescan. Remembered before it is
         * logged, so that whoever reads the log finds the record. */
        if (strcmp(class, "io") == 0)
                return io_failure(j, out_dir_of(&j->o, out, sizeof out), r, reason);
        state_remember_failure(d, j->path, &j->st, j->fd, class,
                               job_class_depends_on_config(class) ? job_config_fingerprint(j->config, d) : 0);
        if (opts) {
                _cleanup_free_ char *marker_reason = NULL;

                if (outputs_mark_failed(&j->o, opts, &marker_reason) < 0)
                        log_warning("'%s': cannot record the failure in '%s/%s': %s", j->path, d->output,
                                    j->o.layout->fail_dir, marker_reason ? marker_reason : "io error");
        }
        log_failure(j->path, out_dir_of(&j->o, out, sizeof out), class, j->duration, r, reason);
        return JOB_FAILED;
}

/* The source at path is gone, or is no source any more (a symlink not
 * followed, a FIFO): its own thumbnails go, when the drop says so. */
static JobOutcome not_a_source(Job *j, const char *what) {
        long n = j->drop->delete_with_source ? outputs_remove(&j->o) : 0;

        log_debug("'%s' is %s, skipping%s", j->path, what, n > 0 ? "; its thumbnails are removed" : "");
        return JOB_GONE;
}

/* A thumbnail's name is another source's (stamped by it, and that source is
 * still there): never overwritten. Returns true when that is so. */
static bool name_taken(const Outputs *o, const char *path, const SourceIdentity *id) {
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
                log_failure(path, o->path[i], "collision", "0", -EEXIST, NULL);
                log_warning("'%s': its thumbnail '%s' is the thumbnail of '%s' (the name template gives both the "
                            "same name): not overwriting it; add {ext} of the source to name = or use format = same",
                            path, o->path[i], other_path);
                return true;
        }
        return false;
}

/* Plan: where the source's thumbnails go (the drop's layout). */
static JobOutcome stage_plan(Job *j) {
        int r = outputs_init(&j->o, j->drop, j->path);

        if (r == -EPERM) {
                log_debug("'%s' would be mirrored onto the state folder '%s/" OUTPUT_STATE_DIR "': skipping",
                          j->path, j->drop->output);
                return JOB_SKIPPED;
        }
        if (r < 0) {
                log_error_errno(r, "'%s': cannot name its thumbnails: %m", j->path);
                return JOB_FAILED;
        }
        return JOB_NEXT;
}

/* Locate: the source where its path says, by one stat; a regular file (or,
 * as follow_symlinks says, a symlink to one). */
static JobOutcome stage_locate(Job *j) {
        int r = output_stat_source(AT_FDCWD, j->path, j->drop->follow_symlinks ? 0 : AT_SYMLINK_NOFOLLOW, &j->st,
                                   &j->id);

        if (r == -ENOENT || r == -ENOTDIR)
                return not_a_source(j, "gone");
        if (r < 0) {
                log_error_errno(r, "'%s': cannot stat: %m", j->path);
                return JOB_FAILED;
        }
        if (!S_ISREG(j->st.st_mode))
                return not_a_source(j, S_ISLNK(j->st.st_mode) ? "a symlink (follow_symlinks = no)" :
                                                                "not a regular file");
        return JOB_NEXT;
}

/* Check current: its thumbnails were made from it as it is now; or one is
 * another source's, never overwritten. */
static JobOutcome stage_check_current(Job *j) {
        if (outputs_current(&j->o, &j->id))
                return JOB_CURRENT;
        if (name_taken(&j->o, j->path, &j->id)) {
                j->class = "collision";
                return JOB_FAILED;
        }
        return JOB_NEXT;
}

/* Check failed before: failed and unchanged since, it would fail again
 * (logged once, when it failed). Only its ctime changed: decided once it is
 * open, by its content (stage_check_content()). */
static JobOutcome stage_check_failed(Job *j) {
        j->failed = state_failed_before(j->drop, &j->st, job_config_fingerprint(j->config, j->drop),
                                        j->class_before, j->digest);
        if (j->failed != FAILED_NO && strcmp(j->class_before, "suspect") == 0)
                j->failed = FAILED_NO;  /* interrupted once: tried once more */
        if (j->failed == FAILED_YES) {
                log_debug("'%s' failed before (%s) and has not changed, skipping", j->path, j->class_before);
                j->class = metrics_classes[metrics_class_index(j->class_before)];
                return JOB_FAILED;
        }
        return JOB_NEXT;
}

/* Open: the source, below its drop (source.h); from here on what is
 * decoded and stamped is this descriptor's. */
static JobOutcome stage_open(Job *j) {
        j->fd = source_open(j->drop, j->path);
        if (j->fd == -ENOENT)
                return not_a_source(j, "gone");
        if (j->fd == -ELOOP || j->fd == -EXDEV) {
                /* A folder on its path was swapped for a symlink (or the file
                 * for one): what is there now is not in the drop. */
                log_notice("'%s' is reached through a symlink%s: not read", j->path,
                           j->fd == -EXDEV ? " that leads out of the drop" : "");
                return not_a_source(j, "behind a symlink");
        }
        if (j->fd < 0) {
                _cleanup_free_ char *why = NULL;
                char out[PATH_MAX];
                int r = j->fd;

                if (asprintf(&why, "cannot open: %s", strerror(-r)) < 0)
                        why = NULL;
                return io_failure(j, out_dir_of(&j->o, out, sizeof out), r, why);
        }
        if (output_stat_source(j->fd, "", AT_EMPTY_PATH, &j->st, &j->id) < 0 || !S_ISREG(j->st.st_mode))
                return not_a_source(j, "not a regular file");
        return JOB_NEXT;
}

/* Check the content: failed before, and only its ctime changed (a chmod; or
 * a repair with cp -p, which keeps size and mtime): the same content still
 * fails, without a decode or a log line. And a thumbnail is never a source:
 * an output folder moved into the drop (or its files copied in) would be
 * thumbnailed over and over. */
static JobOutcome stage_check_content(Job *j) {
        if (j->failed == FAILED_IF_SAME) {
                char now[STATE_DIGEST_MAX];

                if (state_digest_fd(j->fd, (uint64_t) j->st.st_size, now) == 0 && strcmp(now, j->digest) == 0) {
                        state_remember_failure(j->drop, j->path, &j->st, j->fd, j->class_before,
                                               job_class_depends_on_config(j->class_before) ?
                                                       job_config_fingerprint(j->config, j->drop) : 0);
                        log_debug("'%s' failed before (%s); its content has not changed, skipping", j->path,
                                  j->class_before);
                        j->class = metrics_classes[metrics_class_index(j->class_before)];
                        return JOB_FAILED;
                }
        }
        if (output_read_stamp(j->fd, NULL, NULL) > 0) {
                log_notice("'%s' is a thumbnail thumbwatch made (an output folder moved into the drop?): "
                           "not thumbnailed", j->path);
                return JOB_SKIPPED;
        }
        return JOB_NEXT;
}

/* Prepare: the thumbnails' folders, opened or made (and the output root,
 * if it was removed: then every drop is scanned again). */
static JobOutcome stage_prepare(Job *j) {
        _cleanup_free_ char *failed_dir = NULL, *why = NULL;
        const DropConfig *d = j->drop;
        int r;

        r = outputs_open(&j->o, true, &failed_dir);
        if (j->o.root_made) {
                /* Every thumbnail went with it: the drops are scanned again. */
                log_notice("output folder '%s' was gone: made it again, and catching up", d->output);
                atomic_store(&j->ctx->rescan_wanted, true);
        }
        if (r >= 0)
                return JOB_NEXT;
        if (asprintf(&why, "cannot open or create the output folder '%s': %s%s", failed_dir ? failed_dir : d->output,
                     strerror(-r),
                     r == -ENODEV ? " (it is not the folder it was when thumbwatch started: a disk not "
                                    "mounted? restart thumbwatch if it moved on purpose)" : "") < 0)
                why = NULL;
        return handle_failure(j, r != -ENOMEM ? -EIO : r, why, NULL);
}

/* Make: thumbnail_make() with the source recorded as in flight (state-dir.h),
 * each thumbnail stamped with the identity of the descriptor decoded. Its
 * result is the settling stage's to judge. */
static JobOutcome stage_make(Job *j) {
        ThumbnailTarget targets[CONFIG_SIZES_MAX] = {};
        uint64_t start;

        job_thumbnail_options(j->config, j->drop, &j->opts);
        j->o.layout->make_options(&j->o, &j->st, targets, &j->opts);
        j->stamp = (OutputStamp) { .id = j->id, .recipe = j->o.recipe, .name = j->o.name };
        j->opts.finish = output_stamp_fd;
        j->opts.finish_userdata = &j->stamp;
        j->opts.budget = j->ctx->budget;
        j->opts.cancel = &j->ctx->stopping;
        j->opts.pixels_from = &j->pixels_from;
        state_inflight_begin(j->drop, j->path);
#ifdef THUMBWATCH_TEST_HOOKS
        test_hooks(j->path);
#endif
        start = now_usec();
        j->r = thumbnail_make(j->fd, targets, j->o.n, &j->opts, &j->reason);
        state_inflight_end();
        j->duration_usec = now_usec() - start;
        (void) snprintf(j->duration, sizeof j->duration, "%" PRIu64, j->duration_usec);
        if (j->r == -ECANCELED)
                return JOB_SKIPPED;     /* stopping while it waited for the memory budget */
        return JOB_NEXT;
}

/* The source's path after the write: still the file decoded, or not. When
 * it no longer names that file (deleted, renamed, its folder moved; or
 * another file under the name now: replaced, names swapped), what was
 * written for it may stand where no source explains it: the folder it went
 * to was opened by name before the write, and the watcher may have moved
 * it since, or moved another folder's mirror under that name before
 * (output_folder_moved()), so the path no longer leads to it. It goes
 * through the folders it was written to (only what still carries this
 * job's stamp: a thumbnail of the file under the name now stays), unless
 * its folder followed the file. The file, if still linked, is under a name
 * not known here: the drops are scanned again (coalesced), which makes its
 * thumbnail there and prunes what is left. Returns true when the path
 * names nothing now (what outputs_open() made under it goes too); false
 * otherwise, with the identity of what it names to ret_id. */
static bool went_away(Job *j, SourceIdentity *ret_id) {
        const DropConfig *d = j->drop;
        SourceIdentity unused;
        struct stat now, decoded;
        bool linked;
        long n;
        int r;

        r = output_stat_source(AT_FDCWD, j->path, d->follow_symlinks ? 0 : AT_SYMLINK_NOFOLLOW, &now, ret_id);
        if (r == 0 && now.st_dev == j->st.st_dev && now.st_ino == j->st.st_ino)
                return false;
        if (r < 0 && r != -ENOENT && r != -ENOTDIR) {
                *ret_id = (SourceIdentity) {};  /* cannot tell: made again, and the next try says why */
                return false;
        }
        linked = output_stat_source(j->fd, "", AT_EMPTY_PATH, &decoded, &unused) == 0 && decoded.st_nlink > 0;
        n = outputs_remove_written(&j->o, &j->stamp, linked ? &decoded : NULL);
        if (linked && (r < 0 || n > 0))
                atomic_store(&j->ctx->rescan_wanted, true);
        if (r == 0) {
                log_debug("'%s' is another file now%s", j->path, n > 0 ? ": the thumbnail made of the one before "
                                                                         "is removed" : "");
                return false;
        }
        log_debug("'%s' went away while its thumbnail was made%s", j->path, n > 0 ? ": removing it" : "");
        outputs_remove_gone_dirs(&j->o);
        outputs_unmark_failed(&j->o);
        return true;
}

/* Hard links: the other names of this file in its folder show the same
 * content, and a write through one name is seen (IN_CLOSE_WRITE) under that
 * name only; the others are looked at again. */
static void queue_other_names(Job *j) {
        _cleanup_free_ char *dir = strndup(j->path, strlen(j->path) - strlen(j->o.name));
        struct dirent *e;
        DIR *dp;

        if (j->ctx->once || j->st.st_nlink < 2 || !dir)
                return;
        dp = opendir(dir);
        if (!dp)
                return;
        while ((e = readdir(dp))) {
                _cleanup_free_ char *other = NULL;

                if ((uint64_t) e->d_ino != (uint64_t) j->st.st_ino || strcmp(e->d_name, j->o.name) == 0 ||
                    !naming_is_image(e->d_name) || asprintf(&other, "%s%s", dir, e->d_name) < 0)
                        continue;
                schedule_retry(j->ctx, other, now_usec());
        }
        (void) closedir(dp);
}

/* A thumbnail made: its failure record and marker (if any) dropped, logged. */
static JobOutcome made(Job *j) {
        char out[PATH_MAX];

        state_forget_failure(j->drop, &j->st);
        outputs_unmark_failed(&j->o);
        /* Made, but not quite as asked (thumbnail_make()'s warning): said at
         * warning level, so that an admin sees it without debug. */
        log_full_errno_fields(j->reason ? LOG_WARNING : LOG_DEBUG, 0,
                              ((const LogField[]) { { "MESSAGE_ID", LOG_MESSAGE_MADE },
                                                    { "THUMBWATCH_SOURCE", j->path },
                                                    { "THUMBWATCH_OUTPUT", out_dir_of(&j->o, out, sizeof out) },
                                                    { "THUMBWATCH_DURATION_US", j->duration },
                                                    { "THUMBWATCH_PIXELS_FROM", j->pixels_from } }),
                              5, "'%s' -> '%s' (%s us, pixels from %s)%s%s", j->path, j->o.path[0], j->duration,
                              j->pixels_from ? j->pixels_from : "?", j->reason ? ": " : "", j->reason ? j->reason : "");
        queue_other_names(j);
        return JOB_MADE;
}

/* Settle: the source is looked at again. Gone meanwhile, made or not (its
 * folder deleted under the output's temporary is an io error that is
 * nobody's fault); a failure; replaced (mv, rsync, tar x) or written in
 * place meanwhile: the thumbnails carry the identity of what was decoded,
 * which is not the file's any more, so they are stale and made again. */
static JobOutcome stage_settle(Job *j) {
        SourceIdentity is, fd_now;
        struct stat decoded;

        if (went_away(j, &is))
                return JOB_GONE;
        if (j->r < 0)
                return handle_failure(j, j->r, j->reason, &j->opts);
        if (output_stat_source(j->fd, "", AT_EMPTY_PATH, &decoded, &fd_now) < 0)
                fd_now = j->id;
        if (!output_identity_equal(&j->id, &is) || !output_identity_equal(&j->id, &fd_now)) {
                log_debug("'%s' changed while its thumbnail was made: making it again", j->path);
                return JOB_CHANGED;
        }
        return made(j);
}

/* One attempt at path, stage by stage, in this order: the current check
 * comes before any open (a current source costs one stat and one getxattr
 * per thumbnail), and the plan before the source is looked at (a source
 * that is gone takes its thumbnails along). */
static JobOutcome attempt(JobContext *ctx, const ThumbwatchConfig *config, const DropConfig *d, const char *path,
                          JobResult *ret) {
        static const JobStage stages[] = {
                stage_plan, stage_locate, stage_check_current, stage_check_failed, stage_open,
                stage_check_content, stage_prepare, stage_make, stage_settle,
        };
        Job j = { .ctx = ctx, .config = config, .drop = d, .path = path, .fd = -1, .duration = "0" };
        JobOutcome outcome = JOB_NEXT;

        for (size_t i = 0; i < ELEMENTSOF(stages) && outcome == JOB_NEXT; i++)
                outcome = stages[i](&j);
        ret->class = j.class;
        ret->decode_usec = j.duration_usec;
        if (j.fd >= 0)
                (void) close(j.fd);
        free(j.reason);
        outputs_done(&j.o);
        return outcome;
}

/* Every outcome is counted here, and only here. JOB_RETRY is not: the
 * retry list counts what waits on it (stats.retrying). Per drop too, with
 * atomics and no lock (metrics.h). */
static void count(JobContext *ctx, JobOutcome outcome, const JobResult *res, uint64_t queued_usec) {
        MetricsDrop *m = res->drop && (outcome == JOB_MADE || outcome == JOB_CURRENT || outcome == JOB_FAILED ||
                                       outcome == JOB_IO_FAILED) ?
                                 metrics_drop(&ctx->metrics, res->drop) : NULL;
        uint64_t now;

        switch (outcome) {
        case JOB_MADE:
                atomic_fetch_add(&ctx->stats.made, 1);
                if (!m)
                        break;
                atomic_fetch_add_explicit(&m->made, 1, memory_order_relaxed);
                metrics_observe(&m->decode, res->decode_usec);
                now = now_usec();
                if (queued_usec > 0 && now >= queued_usec)
                        metrics_observe(&m->latency, now - queued_usec);
                break;
        case JOB_CURRENT:
                atomic_fetch_add(&ctx->stats.up_to_date, 1);
                if (m)
                        atomic_fetch_add_explicit(&m->up_to_date, 1, memory_order_relaxed);
                break;
        case JOB_FAILED:
        case JOB_IO_FAILED:
                atomic_fetch_add(&ctx->stats.failed, 1);
                if (m)
                        metrics_count_failed(m, res->class ? res->class : "io");
                break;
        case JOB_GONE:
                atomic_fetch_add(&ctx->stats.vanished, 1);
                break;
        default:
                break;
        }
}

/* Locate the drop, then attempt until the source holds still. */
static JobOutcome run(JobContext *ctx, const ThumbwatchConfig *config, const char *path, JobResult *ret) {
        const DropConfig *d = config_find_drop(config, path);

        if (d)
                ret->drop = d->name;
        if (!d) {
                log_debug("'%s' is in no drop folder, skipping", path);
                return JOB_SKIPPED;
        }
        for (int i = 0; i < CHANGING_ATTEMPTS; i++) {
                JobOutcome outcome = attempt(ctx, config, d, path, ret);
                unsigned n;

                if (outcome == JOB_CHANGED)
                        continue;
                /* An io failure that is over: said once, as it was. */
                n = outcome == JOB_IO_FAILED ? 0 : io_failure_forget(ctx, path);
                if (n > 0 && outcome == JOB_MADE)
                        log_notice("'%s' made, after %u io failure%s", path, n, n == 1 ? "" : "s");
                return outcome;
        }
        /* Still changing: a writer at work in place. Its close will queue it
         * again; the retry is for a writer that never closes. */
        if (!ctx->once) {
                log_info("'%s' keeps changing while its thumbnail is made: trying again in %.1f s", path,
                         (double) CHANGING_RETRY_USEC / 1e6);
                schedule_retry(ctx, path, now_usec() + CHANGING_RETRY_USEC);
                return JOB_RETRY;
        }
        log_error("'%s' failed: it kept changing while its thumbnail was made", path);
        ret->class = "io";      /* --once only: no metrics_file there */
        return JOB_FAILED;
}

JobOutcome job_run_queued(JobContext *ctx, const char *path, uint64_t queued_usec) {
        ThumbwatchConfig *config;
        JobResult res = {};
        JobOutcome outcome;

        if (atomic_load(&ctx->stopping))
                return JOB_SKIPPED;
        config = get_config(ctx);
        outcome = run(ctx, config, path, &res);
        count(ctx, outcome, &res, queued_usec);     /* res.drop is config's: counted before the unref */
        config_unref(config);
        return outcome;
}

JobOutcome job_run(JobContext *ctx, const char *path) {
        return job_run_queued(ctx, path, 0);
}

void job_process(const char *path, void *userdata) {
        (void) job_run_queued(userdata, path, path_queue_popped_queued_at());
}
