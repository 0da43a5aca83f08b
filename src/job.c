/* job.c - one source file, start to end. Runs on worker threads: touches only
 * its arguments, the config it took a reference to, the atomic counters and
 * (under the context's lock) the retry list.
 *
 * Outputs are written through folder descriptors opened one component at a
 * time with O_NOFOLLOW from the output root, so a symlink planted anywhere in
 * an output tree cannot send a write outside it. */
#include "build-config.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <fcntl.h>
#include <fts.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "freedesktop.h"
#include "job.h"
#include "log.h"
#include "macro.h"
#include "naming.h"
#include "thumbnail.h"
#include "time-util.h"

/* Where failures are remembered, under each output root. */
#define STATE_DIR ".thumbwatch"
#define FAILED_DIR STATE_DIR "/failed"
/* What each worker is decoding, so that a crash points at the file that caused it. */
#define INFLIGHT_DIR STATE_DIR "/inflight"

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
                .follow_symlinks = d ? d->follow_symlinks : false,
                .output_format = d ? (d->layout == LAYOUT_FREEDESKTOP ? THUMBNAIL_PNG : d->output_format) : 0,
                .file_mode = d && d->layout == LAYOUT_FREEDESKTOP ? 0600 : 0644,
                .quality = d ? d->quality : 85,
                .background = d ? d->background : 0xffffff,
                .embedded_previews = d ? d->embedded_previews : false,
        };
}

static void apply_limits(const ThumbwatchConfig *c) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        uint64_t workers = c->workers > 0 ? c->workers : cpus > 0 ? (uint64_t) cpus : 1;
        ThumbnailOptions o;

        job_thumbnail_options(c, NULL, &o);
        /* Every worker may hold an image at the pixel limit (8 bytes a pixel
         * at GraphicsMagick's 16 bits a channel); beyond that, fail rather
         * than swap. */
        o.max_memory = workers * c->max_pixels * 8;
        if (thumbnail_set_limits(&o) < 0)
                log_warning("cannot set GraphicsMagick's resource limits; the header checks still apply");
}

void job_context_init(JobContext *ctx, ThumbwatchConfig *c, bool once) {
        *ctx = (JobContext) { .config = config_ref(c), .once = once };
        (void) pthread_mutex_init(&ctx->lock, NULL);
        apply_limits(c);
}

void job_context_done(JobContext *ctx) {
        while (ctx->retries) {
                Retry *r = ctx->retries;
                ctx->retries = r->next;
                free(r->path);
                free(r);
        }
        ctx->config = config_unref(ctx->config);
        (void) pthread_mutex_destroy(&ctx->lock);
}

void job_context_set_config(JobContext *ctx, ThumbwatchConfig *c) {
        ThumbwatchConfig *old;

        apply_limits(c);
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

const DropConfig *job_find_drop(const ThumbwatchConfig *c, const char *path) {
        /* Sources never overlap (config_validate()), so the first match is the only one. */
        for (size_t i = 0; i < c->n_drops; i++)
                if (naming_path_is_under(path, c->drops[i].source))
                        return &c->drops[i];
        return NULL;
}

int job_mkdir_p(const char *dir, mode_t mode) {
        _cleanup_free_ char *p = strdup(dir);

        if (!p)
                return -ENOMEM;
        if (mkdir(p, mode) == 0 || errno == EEXIST)
                return 0;
        if (errno != ENOENT)
                return -errno;
        for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
                *s = '\0';
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
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

/* "." + 32 hex digits + ".png." + 6 random characters (mkstemp's suffix): a
 * temporary of a freedesktop.org thumbnail of ours, the only kind removed
 * from a cache other programs share. */
static bool is_freedesktop_temporary(const char *name) {
        size_t i;

        if (name[0] != '.' || strlen(name) != 1 + 32 + 5 + 6 || strncmp(name + 33, ".png.", 5) != 0)
                return false;
        for (i = 1; i < 33; i++)
                if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
                        return false;
        return true;
}

long job_clean_temporaries(const DropConfig *d) {
        _cleanup_free_ char *copy = strdup(d->output);
        char *roots[] = { copy, NULL };
        long n = 0;
        FTSENT *e;
        FTS *fts;

        if (!copy)
                return -ENOMEM;
        fts = fts_open(roots, FTS_PHYSICAL | FTS_NOCHDIR | FTS_NOSTAT, NULL);
        if (!fts)
                return -errno;
        while ((e = fts_read(fts))) {
                bool ours;

                if (e->fts_info != FTS_F && e->fts_info != FTS_NSOK)
                        continue;
                ours = d->layout == LAYOUT_FREEDESKTOP ? is_freedesktop_temporary(e->fts_name) :
                       e->fts_name[0] == '.' && naming_is_temporary(e->fts_name);
                if (ours && unlink(e->fts_accpath) == 0)
                        n++;
        }
        (void) fts_close(fts);
        return n;
}

/* Opens the folder rel (a relative path, "" for the root itself) under
 * root, creating what is missing, and never through a symlink: each
 * component is opened with O_NOFOLLOW. Returns a descriptor or -errno. */
static int open_output_dir_mode(const char *root, const char *rel, bool create, mode_t mode) {
        _cleanup_free_ char *copy = strdup(rel);
        char *save = NULL;
        int fd;

        if (!copy)
                return -ENOMEM;
        fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                int next;

                if (create && mkdirat(fd, c, mode) < 0 && errno != EEXIST) {
                        int r = -errno;
                        (void) close(fd);
                        return r;
                }
                next = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                (void) close(fd);
                if (next < 0)
                        return errno == ELOOP ? -ENOTDIR : -errno;
                fd = next;
        }
        return fd;
}

static int open_output_dir(const char *root, const char *rel, bool create) {
        return open_output_dir_mode(root, rel, create, 0755);
}

/* The folder part and the name part of a path under root ("a/b", "x.jpg"). */
static int split_under(const char *root, const char *path, char **ret_dir, const char **ret_name) {
        const char *rel = path + strlen(root) + (strcmp(root, "/") == 0 ? 0 : 1);
        const char *slash = strrchr(rel, '/');

        *ret_dir = strndup(rel, slash ? (size_t) (slash - rel) : 0);
        *ret_name = slash ? slash + 1 : rel;
        return *ret_dir ? 0 : -ENOMEM;
}

/* Failure memory: OUTPUT/.thumbwatch/failed/<folders>/<source name> holds the
 * source's size and mtime and the class of its failure. A source that failed
 * is not tried again until its size or mtime changes. */
typedef struct FailureRecord {
        long long size, sec, nsec;
        char class[32];
} FailureRecord;

static int failure_dir(const DropConfig *d, const char *src, bool create, const char **ret_name) {
        _cleanup_free_ char *dir = NULL, *rel = NULL;
        int r;

        r = split_under(d->source, src, &dir, ret_name);
        if (r < 0)
                return r;
        if (asprintf(&rel, "%s%s%s", FAILED_DIR, dir[0] ? "/" : "", dir) < 0)
                return -ENOMEM;
        return open_output_dir(d->output, rel, create);
}

/* Is there a record for src's current size and mtime? Its class goes to class. */
bool job_failed_before(const DropConfig *d, const char *src, const struct stat *st, char *class, size_t size) {
        FailureRecord rec = {};
        const char *name;
        bool same = false;
        int dfd, fd;
        FILE *f;

        dfd = failure_dir(d, src, false, &name);
        if (dfd < 0)
                return false;
        fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        (void) close(dfd);
        if (fd < 0)
                return false;
        f = fdopen(fd, "r");
        if (!f) {
                (void) close(fd);
                return false;
        }
        if (fscanf(f, "%lld %lld.%lld %31s", &rec.size, &rec.sec, &rec.nsec, rec.class) == 4)
                same = rec.size == (long long) st->st_size && rec.sec == (long long) st->st_mtim.tv_sec &&
                       rec.nsec == (long long) st->st_mtim.tv_nsec;
        (void) fclose(f);
        if (same)
                (void) snprintf(class, size, "%s", rec.class);
        return same;
}

static void remember_failure(const DropConfig *d, const char *src, const struct stat *st, const char *class) {
        char line[128];
        const char *name;
        int dfd, fd;

        dfd = failure_dir(d, src, true, &name);
        if (dfd < 0)
                return;
        fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd >= 0) {
                int n = snprintf(line, sizeof line, "%lld %lld.%09ld %s\n", (long long) st->st_size,
                                 (long long) st->st_mtim.tv_sec, st->st_mtim.tv_nsec, class);
                if (write(fd, line, (size_t) n) != n)
                        (void) ftruncate(fd, 0);
                (void) close(fd);
        }
        (void) close(dfd);
}

static void forget_failure(const DropConfig *d, const char *src) {
        const char *name;
        int dfd = failure_dir(d, src, false, &name);

        if (dfd < 0)
                return;
        (void) unlinkat(dfd, name, 0);
        (void) close(dfd);
}

/* In-flight records: OUTPUT/.thumbwatch/inflight/worker-TID holds the path the
 * thread TID is decoding, from before the decode to after it. If the thread
 * crashes, the fatal-signal handler renames its record to crashed-TID: that
 * file caused it. A record left as worker-TID was interrupted from outside
 * (a kill, a power cut) and is innocent until it happens again. */
static __thread int inflight_dfd = -1;          /* open while this thread decodes */
static __thread char inflight_file[32];         /* "worker-TID" */
static __thread char crashed_file[32];          /* "crashed-TID" */

static void inflight_begin(const DropConfig *d, const char *path) {
        int fd;

        (void) snprintf(inflight_file, sizeof inflight_file, "worker-%ld", (long) gettid());
        (void) snprintf(crashed_file, sizeof crashed_file, "crashed-%ld", (long) gettid());
        inflight_dfd = open_output_dir(d->output, INFLIGHT_DIR, true);
        if (inflight_dfd < 0)
                return;
        fd = openat(inflight_dfd, inflight_file, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd >= 0) {
                size_t len = strlen(path);
                if (write(fd, path, len) != (ssize_t) len)
                        (void) unlinkat(inflight_dfd, inflight_file, 0);
                (void) close(fd);
        }
}

static void inflight_end(void) {
        if (inflight_dfd < 0)
                return;
        (void) unlinkat(inflight_dfd, inflight_file, 0);
        (void) close(inflight_dfd);
        inflight_dfd = -1;
}

/* A fatal signal on a thread that is decoding: the file it decodes is the
 * likely cause. Only signals the kernel raised (a fault) or the process
 * raised itself (abort()) count: a kill from outside, such as systemd's
 * watchdog, blames no file. Async-signal-safe: renameat() and raise() only. */
static void crash_handler(int sig, siginfo_t *si, void *ucontext) {
        (void) ucontext;
        if (inflight_dfd >= 0 && (si->si_code > 0 || si->si_pid == getpid()))
                (void) renameat(inflight_dfd, inflight_file, inflight_dfd, crashed_file);
        (void) raise(sig);      /* SA_RESETHAND: now the default action */
}

void job_install_crash_handler(void) {
        static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
        struct sigaction sa = { .sa_sigaction = crash_handler, .sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER };

        (void) sigemptyset(&sa.sa_mask);
        for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
                (void) sigaction(sigs[i], &sa, NULL);
}

static void log_failure(const char *path, const char *out, const char *class, const char *duration, int r,
                        const char *reason);

long job_recover_inflight(const DropConfig *d) {
        struct dirent *e;
        long n = 0;
        DIR *dp;
        int dfd;

        dfd = open_output_dir(d->output, INFLIGHT_DIR, false);
        if (dfd < 0)
                return 0;
        dp = fdopendir(dfd);
        if (!dp) {
                (void) close(dfd);
                return -errno;
        }
        while ((e = readdir(dp))) {
                char path[PATH_MAX + 1], class[32];
                struct stat st;
                ssize_t len;
                int fd;

                if (e->d_name[0] == '.')
                        continue;
                fd = openat(dfd, e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                len = fd >= 0 ? read(fd, path, PATH_MAX) : -1;
                if (fd >= 0)
                        (void) close(fd);
                (void) unlinkat(dfd, e->d_name, 0);
                if (len <= 0)
                        continue;
                path[len] = '\0';
                if (!naming_path_is_under(path, d->source) || lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
                        continue;
                n++;
                /* Crashed on it: its fault. Interrupted from outside: once may be
                 * chance, twice in a row is the file (a hang the watchdog ends). */
                if (strncmp(e->d_name, "crashed-", 8) == 0) {
                        remember_failure(d, path, &st, "crashed");
                        log_failure(path, d->output, "crashed", "0", 0,
                                    "thumbwatch crashed while decoding it: not tried again until it changes");
                } else if (job_failed_before(d, path, &st, class, sizeof class) && strcmp(class, "suspect") == 0) {
                        remember_failure(d, path, &st, "crashed");
                        log_failure(path, d->output, "crashed", "0", 0,
                                    "thumbwatch stopped abruptly while decoding it, twice: not tried again until it changes");
                } else {
                        remember_failure(d, path, &st, "suspect");
                        log_warning("'%s' was being decoded when thumbwatch stopped abruptly: trying it once more", path);
                }
        }
        (void) closedir(dp);
        return n;
}

int job_thumbnail_name(const DropConfig *d, const char *src_name, size_t i, char **ret) {
        return naming_expand_ext(d->name_template, src_name, thumbnail_format_extension(d->output_format),
                                 d->sizes[i].width, d->sizes[i].height, ret);
}

const char *job_freedesktop_dir(const DropConfig *d, size_t i) {
        return i < d->n_sizes ? freedesktop_flavour(d->sizes[i].width) : FREEDESKTOP_FAIL_DIR;
}

/* layout = freedesktop: path's thumbnails in every flavour and its failure marker. */
static void remove_freedesktop(const DropConfig *d, const char *path) {
        _cleanup_free_ char *uri = NULL;
        char name[FREEDESKTOP_NAME_MAX];

        if (freedesktop_uri(path, &uri) < 0)
                return;
        freedesktop_name(uri, name);
        for (size_t i = 0; i <= d->n_sizes; i++) {
                const char *sub = job_freedesktop_dir(d, i);
                int dfd = sub ? open_output_dir(d->output, sub, false) : -1;

                if (dfd < 0)
                        continue;
                if (unlinkat(dfd, name, 0) == 0)
                        log_debug("'%s' is gone: removed '%s/%s/%s'", path, d->output, sub, name);
                (void) close(dfd);
        }
}

/* The source is gone: so are its thumbnails (when the drop says so), its
 * failure record, and the thumbnails' folder if the source's folder went too. */
void job_remove_thumbnails(const DropConfig *d, const char *path) {
        _cleanup_free_ char *src_dir = strdup(path), *out_dir = NULL;
        const char *src_name;
        int dfd;

        forget_failure(d, path);
        if (d->layout == LAYOUT_FREEDESKTOP) {
                remove_freedesktop(d, path);
                return;
        }
        if (!src_dir || split_under(d->source, path, &out_dir, &src_name) < 0)
                return;
        dfd = open_output_dir(d->output, out_dir, false);
        if (dfd < 0)
                return;
        for (size_t i = 0; i < d->n_sizes; i++) {
                _cleanup_free_ char *name = NULL;

                if (job_thumbnail_name(d, src_name, i, &name) < 0)
                        continue;
                if (unlinkat(dfd, name, 0) == 0)
                        log_debug("'%s' is gone: removed its thumbnail '%s/%s'", path, d->output, name);
        }
        (void) close(dfd);
        *strrchr(src_dir, '/') = '\0';
        if (out_dir[0] && access(src_dir, F_OK) < 0 && errno == ENOENT) {
                _cleanup_free_ char *full = NULL;
                if (asprintf(&full, "%s/%s", d->output, out_dir) >= 0)
                        (void) rmdir(full);
        }
}

/* Up to date: exists, not empty, not older than the source (design.md, invariant 6). */
static bool is_up_to_date(int dirfd, const char *thumb, const struct stat *src) {
        struct stat st;

        return fstatat(dirfd, thumb, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
               !timespec_before(&st.st_mtim, &src->st_mtim);
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

static void process(JobContext *ctx, const ThumbwatchConfig *config, const char *path);

#ifdef THUMBWATCH_TEST_HOOKS
/* Test builds only (--enable-test-hooks): a worker hangs on the file whose
 * base name $THUMBWATCH_TEST_HANG names, or the process crashes (SIGABRT) on
 * the one $THUMBWATCH_TEST_CRASH names, as a decoder bug would. */
static void test_hooks(const char *path) {
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        const char *hang = getenv("THUMBWATCH_TEST_HANG"), *crash = getenv("THUMBWATCH_TEST_CRASH");

        if (crash && strcmp(base, crash) == 0)
                abort();
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
        config = get_config(ctx);
        process(ctx, config, path);
        config_unref(config);
}

/* thumbnail_make() with path recorded as in flight (and the test hooks);
 * its time in microseconds goes to duration. */
static int make(const DropConfig *d, const char *path, const ThumbnailTarget *targets, size_t n,
                const ThumbnailOptions *opts, char **reterr_reason, char *duration, size_t size) {
        uint64_t start;
        int r;

        inflight_begin(d, path);
#ifdef THUMBWATCH_TEST_HOOKS
        test_hooks(path);
#endif
        start = now_usec();
        r = thumbnail_make(path, targets, n, opts, reterr_reason);
        inflight_end();
        (void) snprintf(duration, size, "%" PRIu64, now_usec() - start);
        return r;
}

/* A thumbnail made: counted, its failure record (if any) dropped, logged. */
static void made(JobContext *ctx, const DropConfig *d, const char *path, const char *out_dir, const char *name,
                 const char *duration) {
        forget_failure(d, path);
        atomic_fetch_add(&ctx->stats.made, 1);
        log_full_errno_fields(LOG_DEBUG, 0,
                              ((const LogField[]) { { "MESSAGE_ID", LOG_MESSAGE_MADE },
                                                    { "THUMBWATCH_SOURCE", path },
                                                    { "THUMBWATCH_OUTPUT", out_dir },
                                                    { "THUMBWATCH_DURATION_US", duration } }),
                              4, "'%s' -> '%s/%s' (%s us)", path, out_dir, name, duration);
}

/* layout = freedesktop: the standard's failure marker, OUTPUT/fail/thumbwatch/NAME. */
static void write_failure_marker(const DropConfig *d, const char *path, const char *name,
                                 const ThumbnailOptions *opts) {
        _cleanup_free_ char *reason = NULL;
        int fdir = open_output_dir_mode(d->output, FREEDESKTOP_FAIL_DIR, true, 0700);
        int r = fdir < 0 ? fdir : thumbnail_write_failure_marker(fdir, name, opts, &reason);

        if (r < 0)
                log_warning_errno(r, "'%s': cannot record the failure in '%s/%s': %s", path, d->output,
                                  FREEDESKTOP_FAIL_DIR, reason ? reason : "%m");
        if (fdir >= 0)
                (void) close(fdir);
}

/* A thumbnail_make() failure r: a young truncated file is tried again after
 * truncated_grace; otherwise it is counted and logged, and a fault of the
 * file is remembered (with layout = freedesktop also by the marker NAME,
 * when given) while one of ours (io) is retried. */
static void handle_failure(JobContext *ctx, const ThumbwatchConfig *config, const DropConfig *d, const char *path,
                           const struct stat *st, const char *out_path, const char *duration, int r,
                           const char *reason, const char *marker_name, const ThumbnailOptions *marker_opts) {
        const char *class;

        if (r == -ENODATA && !ctx->once) {
                struct timespec now;
                uint64_t age;

                /* Cut short, and young: its writer may still be at work (a copy
                 * that closes and reopens, a download that pauses). Try again
                 * when the grace period is over; a close or rename sooner wins. */
                (void) clock_gettime(CLOCK_REALTIME, &now);
                age = now.tv_sec > st->st_mtim.tv_sec ? (uint64_t) (now.tv_sec - st->st_mtim.tv_sec) * 1000000 : 0;
                if (age < config->truncated_grace_usec) {
                        log_info("'%s' looks truncated (%s), perhaps still arriving: trying again in %.1f s", path,
                                 reason ? reason : "", (double) (config->truncated_grace_usec - age) / 1e6);
                        schedule_retry(ctx, path, now_usec() + config->truncated_grace_usec - age);
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
                remember_failure(d, path, st, class);
                if (marker_name)
                        write_failure_marker(d, path, marker_name, marker_opts);
                log_failure(path, out_path, class, duration, r, reason);
                return;
        }
        log_failure(path, out_path, class, duration, r, reason);
        if (!ctx->once && config->retry_io_usec > 0) {
                log_info("'%s': trying again in %.1f s", path, (double) config->retry_io_usec / 1e6);
                schedule_retry(ctx, path, now_usec() + config->retry_io_usec);
        }
}

/* layout = freedesktop: OUTPUT/FLAVOUR/MD5(URI).png, 0600 in 0700 folders,
 * up to date when its Thumb::MTime is the source's; a failure also leaves
 * the standard's marker in OUTPUT/fail/thumbwatch/. */
static void process_freedesktop(JobContext *ctx, const ThumbwatchConfig *config, const DropConfig *d,
                                const char *path, const struct stat *st) {
        ThumbnailTarget targets[CONFIG_SIZES_MAX] = {};
        int dirs[CONFIG_SIZES_MAX];
        _cleanup_free_ char *uri = NULL, *reason = NULL;
        char name[FREEDESKTOP_NAME_MAX], class_before[32], duration[32] = "0";
        ThumbnailOptions opts;
        bool current = true;
        size_t n = d->n_sizes;
        int r;

        for (size_t i = 0; i < n; i++)
                dirs[i] = -1;
        r = freedesktop_uri(path, &uri);
        if (r < 0) {
                atomic_fetch_add(&ctx->stats.failed, 1);
                log_error_errno(r, "'%s': cannot make its URI: %m", path);
                return;
        }
        freedesktop_name(uri, name);
        /* Up to date or not, without creating anything: a no-op pass stays a
         * read-only one. */
        for (size_t i = 0; i < n; i++) {
                dirs[i] = open_output_dir(d->output, job_freedesktop_dir(d, i), false);
                current = current && dirs[i] >= 0 && freedesktop_is_current(dirs[i], name, (long long) st->st_mtim.tv_sec);
        }
        if (current) {
                atomic_fetch_add(&ctx->stats.up_to_date, 1);
                goto out;
        }
        if (job_failed_before(d, path, st, class_before, sizeof class_before) && strcmp(class_before, "suspect") != 0) {
                atomic_fetch_add(&ctx->stats.failed, 1);
                log_debug("'%s' failed before (%s) and has not changed, skipping", path, class_before);
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                if (dirs[i] < 0)
                        dirs[i] = open_output_dir_mode(d->output, job_freedesktop_dir(d, i), true, 0700);
                if (dirs[i] < 0) {
                        atomic_fetch_add(&ctx->stats.failed, 1);
                        log_failure(path, d->output, "io", duration, dirs[i], NULL);
                        goto out;
                }
                targets[i] = (ThumbnailTarget) { dirs[i], name, d->sizes[i].width, d->sizes[i].height, THUMBNAIL_FIT };
        }
        job_thumbnail_options(config, d, &opts);
        opts.thumb_uri = uri;
        opts.thumb_mtime = (long long) st->st_mtim.tv_sec;
        opts.thumb_size = (unsigned long long) st->st_size;
        r = make(d, path, targets, n, &opts, &reason, duration, sizeof duration);
        if (r == -ENOENT) {
                atomic_fetch_add(&ctx->stats.vanished, 1);
                goto out;
        }
        if (r < 0) {
                handle_failure(ctx, config, d, path, st, d->output, duration, r, reason, name, &opts);
                goto out;
        }
        /* Gone while it was made: its thumbnail has no source. */
        if (access(path, F_OK) < 0 && errno == ENOENT) {
                atomic_fetch_add(&ctx->stats.vanished, 1);
                remove_freedesktop(d, path);
                goto out;
        }
        {
                _cleanup_free_ char *out = NULL;

                if (asprintf(&out, "%s/%s", d->output, job_freedesktop_dir(d, 0)) >= 0)
                        made(ctx, d, path, out, name, duration);
        }
out:
        for (size_t i = 0; i < n; i++)
                if (dirs[i] >= 0)
                        (void) close(dirs[i]);
}

static void process(JobContext *ctx, const ThumbwatchConfig *config, const char *path) {
        ThumbnailTarget targets[CONFIG_SIZES_MAX] = {};
        char *names[CONFIG_SIZES_MAX] = {};
        _cleanup_free_ char *reason = NULL, *out_dir = NULL, *out_path = NULL;
        char duration[32] = "0", class_before[32];
        const char *src_name;
        ThumbnailOptions opts;
        const DropConfig *d;
        struct stat st;
        bool current = true;
        int dfd = -1, src_dfd = -1, r;
        size_t n;

        d = job_find_drop(config, path);
        if (!d) {
                log_debug("'%s' is in no drop folder, skipping", path);
                return;
        }
        if ((d->follow_symlinks ? stat(path, &st) : lstat(path, &st)) < 0) {
                if (errno == ENOENT) {
                        atomic_fetch_add(&ctx->stats.vanished, 1);
                        log_debug("'%s' is gone, skipping", path);
                        if (d->delete_with_source)
                                job_remove_thumbnails(d, path);
                } else {
                        atomic_fetch_add(&ctx->stats.failed, 1);
                        log_error_errno(errno, "'%s': cannot stat: %m", path);
                }
                return;
        }
        if (!S_ISREG(st.st_mode)) {
                log_debug("'%s' is %s, skipping", path, S_ISLNK(st.st_mode) ? "a symlink (not followed)" : "not a regular file");
                return;
        }
        if (d->layout == LAYOUT_FREEDESKTOP) {
                process_freedesktop(ctx, config, d, path, &st);
                return;
        }

        r = split_under(d->source, path, &out_dir, &src_name);
        if (r >= 0 && asprintf(&out_path, "%s%s%s", d->output, out_dir[0] ? "/" : "", out_dir) < 0)
                r = -ENOMEM;
        if (r < 0)
                goto out;
        /* Every size goes into the same folder, the mirror of the source's. */
        dfd = open_output_dir(d->output, out_dir, false);
        for (n = 0; n < d->n_sizes; n++) {
                r = job_thumbnail_name(d, src_name, n, &names[n]);
                if (r < 0) {
                        atomic_fetch_add(&ctx->stats.failed, 1);
                        log_error_errno(r, "'%s': cannot name its thumbnail: %m", path);
                        goto out;
                }
                current = current && dfd >= 0 && is_up_to_date(dfd, names[n], &st);
        }
        if (current) {
                atomic_fetch_add(&ctx->stats.up_to_date, 1);
                goto out;
        }
        /* Failed before and unchanged since: it would fail again. Logged once, when it failed. */
        if (job_failed_before(d, path, &st, class_before, sizeof class_before) && strcmp(class_before, "suspect") != 0) {
                atomic_fetch_add(&ctx->stats.failed, 1);
                log_debug("'%s' failed before (%s) and has not changed, skipping", path, class_before);
                goto out;
        }

        if (dfd < 0)
                dfd = open_output_dir(d->output, out_dir, true);
        if (dfd < 0) {
                r = dfd;
                atomic_fetch_add(&ctx->stats.failed, 1);
                log_failure(path, out_path, "io", duration, r, NULL);
                goto out;
        }
        for (size_t i = 0; i < n; i++)
                targets[i] = (ThumbnailTarget) { dfd, names[i], d->sizes[i].width, d->sizes[i].height,
                                                 d->sizes[i].mode };
        /* The source's folder, to see afterwards whether the file left it. */
        {
                _cleanup_free_ char *src_dir = strndup(path, (size_t) (src_name - path));

                src_dfd = src_dir ? open(src_dir[0] ? src_dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
        }

        job_thumbnail_options(config, d, &opts);
        r = make(d, path, targets, n, &opts, &reason, duration, sizeof duration);
        if (r == -ENOENT) {
                atomic_fetch_add(&ctx->stats.vanished, 1);
                log_debug("'%s' is gone, skipping", path);
                goto out;
        }
        if (r < 0) {
                handle_failure(ctx, config, d, path, &st, out_path, duration, r, reason, NULL, NULL);
                goto out;
        }

        /* A source stamped in the future (a camera's clock, a copy that kept
         * times) would make its thumbnail look stale forever: give the
         * thumbnail the source's time instead. */
        {
                struct timespec now;

                (void) clock_gettime(CLOCK_REALTIME, &now);
                if (timespec_before(&now, &st.st_mtim)) {
                        struct timespec times[2] = { st.st_mtim, st.st_mtim };
                        for (size_t i = 0; i < n; i++)
                                (void) utimensat(dfd, names[i], times, AT_SYMLINK_NOFOLLOW);
                }
        }
        /* Its folder may have been renamed, moved out or deleted while the
         * thumbnail was made. The watcher has moved or removed the mirror
         * already or will; but a thumbnail written after that, into a mirror
         * made anew under the old name, has no source: take it back, by
         * path (dfd may be the moved mirror, where the thumbnails are right). */
        if (access(path, F_OK) < 0 && errno == ENOENT) {
                atomic_fetch_add(&ctx->stats.vanished, 1);
                log_debug("'%s' went away while its thumbnail was made: removing it", path);
                job_remove_thumbnails(d, path);
                /* Gone from its folder too (deleted, or renamed within it), not
                 * moved along with it: the thumbnail is wrong wherever its
                 * mirror folder is now. */
                if (src_dfd >= 0 && faccessat(src_dfd, src_name, F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
                        for (size_t i = 0; i < n; i++)
                                (void) unlinkat(dfd, names[i], 0);
                goto out;
        }
        made(ctx, d, path, out_path, names[0], duration);
out:
        if (dfd >= 0)
                (void) close(dfd);
        if (src_dfd >= 0)
                (void) close(src_dfd);
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                free(names[i]);
}
