/* job.h - what a worker does with one source path: find its drop, skip it when
 * its thumbnails are up to date (by stat alone), else make them, count and log.
 * This is the process callback main hands to the worker pool. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "config-file.h"

#include "path-queue.h"
#include "thumbnail.h"

typedef struct JobStats {
        atomic_uint_fast64_t made;              /* sources thumbnailed */
        atomic_uint_fast64_t up_to_date;        /* sources skipped: thumbnails current */
        atomic_uint_fast64_t failed;            /* sources that could not be thumbnailed */
        atomic_uint_fast64_t vanished;          /* sources gone before a worker got to them */
        atomic_uint_fast64_t retrying;          /* truncated, young: waiting to be tried again */
} JobStats;

typedef struct Retry Retry;

typedef struct JobContext {
        pthread_mutex_t lock;
        ThumbwatchConfig *config;               /* guarded by lock; one reference owned */
        Retry *retries;                         /* guarded by lock; owned: due for another try */
        JobStats stats;
        atomic_bool stopping;                   /* set: skip what is still queued */
        bool once;                              /* immutable: no later, so no grace for truncated files */
} JobContext;

/* Takes a reference to c and applies its limits to the decoder. */
void job_context_init(JobContext *ctx, ThumbwatchConfig *c, bool once);
void job_context_done(JobContext *ctx);

/* Swaps in a new config (taking a reference); jobs already running finish
 * with the one they started with. Thread-safe. */
void job_context_set_config(JobContext *ctx, ThumbwatchConfig *c);

/* Hands every retry that is due by now to queue (without blocking; what
 * does not fit waits for the next call). Returns how many are still waiting. */
size_t job_push_due_retries(JobContext *ctx, PathQueue *queue, uint64_t now);

/* The decoder options for a drop (or, with d NULL, the global limits). */
void job_thumbnail_options(const ThumbwatchConfig *c, const DropConfig *d, ThumbnailOptions *ret);

/* The drop whose source tree holds path, or NULL. */
const DropConfig *job_find_drop(const ThumbwatchConfig *c, const char *path);

/* A worker_process_fn: userdata is a JobContext. */
void job_process(const char *path, void *userdata);

/* Creates dir and its missing parents with mode (less the umask). Returns 0
 * or -errno. */
int job_mkdir_p(const char *dir, mode_t mode);

/* layout = mirror: the name of source file src_name's thumbnail of size i
 * (d->sizes[i]), from the drop's name template. Returns 0 or -errno. */
int job_thumbnail_name(const DropConfig *d, const char *src_name, size_t i, char **ret);

/* layout = freedesktop: the folder under the output for size i ("normal",
 * "large", ...), or for the failure markers when i == d->n_sizes. */
const char *job_freedesktop_dir(const DropConfig *d, size_t i);

/* Removes thumbwatch's own temporaries (".NAME." and mkstemp's 6 random
 * characters) left under d's output tree by a crash; with layout =
 * freedesktop, only those of its MD5-named PNGs. Call before any worker
 * starts. Returns how many. */
long job_clean_temporaries(const DropConfig *d);

/* Installs the handler that, when a worker thread crashes (SIGSEGV, SIGBUS,
 * SIGILL, SIGFPE, SIGABRT), marks the file it was decoding before the
 * process dies as the signal says. Call once from main. */
void job_install_crash_handler(void);

/* Reads the in-flight records a crash left under d's output: a file a
 * worker crashed on fails as "crashed" and is not tried until it changes; a
 * file interrupted from outside (a kill) is tried once more, and fails as
 * "crashed" only if it is interrupted again. Call at start-up
 * before any worker runs. Returns how many files were in flight. */
long job_recover_inflight(const DropConfig *d);

/* Removes dir and everything below it, without following symlinks. Errors
 * are ignored: what remains is found by the next --gc. */
void job_remove_tree(const char *dir);

/* The failure class of a thumbnail_make() error: "unsupported", "corrupt",
 * "truncated", "too-large", "timeout" or "io". */
const char *job_error_class(int r);

/* Has src failed before, as it is now (same size and mtime)? Its class
 * ("corrupt", ...) goes to class. */
bool job_failed_before(const DropConfig *d, const char *src, const struct stat *st, char *class, size_t size);

/* Removes the thumbnails of path, a source file of d that is gone (deleted
 * or renamed), forgets its failure record, and drops its mirror folder if
 * the source folder is gone too. Thread-safe. */
void job_remove_thumbnails(const DropConfig *d, const char *path);
