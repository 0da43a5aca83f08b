/* job.h - what a worker does with one source path: find its drop, skip it when
 * its thumbnails are current (by the source's identity, output-tree.h), else
 * make them, count and log.
 * This is the process callback main hands to the worker pool. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "config-file.h"
#include "metrics.h"

#include "path-queue.h"
#include "thumbnail.h"

typedef struct JobStats {
        atomic_uint_fast64_t made;              /* sources thumbnailed */
        atomic_uint_fast64_t up_to_date;        /* sources skipped: thumbnails current */
        atomic_uint_fast64_t failed;            /* sources that could not be thumbnailed */
        atomic_uint_fast64_t vanished;          /* sources gone before a worker got to them */
        atomic_uint_fast64_t retrying;          /* on the retry list, waiting to be tried again */
} JobStats;

typedef struct Retry Retry;

typedef struct JobContext {
        pthread_mutex_t lock;
        ThumbwatchConfig *config;               /* guarded by lock; one reference owned */
        Retry *retries;                         /* guarded by lock; owned: due for another try */
        struct IoFailure {                      /* guarded by lock; owned: paths failing as io now */
                char *path;
                unsigned count;
                struct IoFailure *next;
        } *io_failing;
        JobStats stats;
        MetricsCounters metrics;                /* per drop, for metrics_file (metrics.h: lock-free) */
        atomic_bool stopping;                   /* set: skip what is still queued */
        atomic_bool rescan_wanted;              /* set by a worker: every drop wants a rescan (an output
                                                 * folder made again); the main loop asks the scanner */
        bool once;                              /* immutable: no later, so no grace for truncated files */
        MemoryBudget *budget;                   /* owned; max_memory, for every decode (thread-safe) */
} JobContext;

/* The bytes max_memory gives: itself, or for auto (0) memory_budget_auto(). */
uint64_t job_memory_budget(const ThumbwatchConfig *c);

/* Takes a reference to c and applies its limits to the decoder. Returns 0
 * or -ENOMEM. */
int job_context_init(JobContext *ctx, ThumbwatchConfig *c, bool once);
void job_context_done(JobContext *ctx);

/* Swaps in a new config (taking a reference); jobs already running finish
 * with the one they started with. Thread-safe. */
void job_context_set_config(JobContext *ctx, ThumbwatchConfig *c);

/* Hands every retry that is due by now to queue (without blocking; what
 * does not fit waits for the next call). Returns how many are still waiting. */
size_t job_push_due_retries(JobContext *ctx, PathQueue *queue, uint64_t now);

/* The decoder options for a drop (or, with d NULL, the global limits); the
 * layout's part (format, file mode, text chunks) is its make_options(). */
void job_thumbnail_options(const ThumbwatchConfig *c, const DropConfig *d, ThumbnailOptions *ret);

/* What became of one source path. job_run() counts each job once, by its
 * outcome, in JobStats, and per drop in metrics: made, up to date, failed
 * by class; a thumbnail made in the decode and latency histograms. */
typedef enum JobOutcome {
        JOB_MADE,               /* its thumbnails made: stats.made */
        JOB_CURRENT,            /* its thumbnails current already: stats.up_to_date */
        JOB_FAILED,             /* failed, now or before and unchanged since: stats.failed */
        JOB_IO_FAILED,          /* failed as io (ours, not the file's): stats.failed; tried again after retry_io */
        JOB_GONE,               /* gone, or no source (a symlink not followed, a FIFO): stats.vanished */
        JOB_RETRY,              /* to be tried again (young and truncated, still changing): stats.retrying
                                 * counts it while it waits */
        JOB_SKIPPED,            /* no job: in no drop, named like the state folder, a thumbnail itself, or
                                 * stopping; not counted */
        JOB_NEXT,               /* within a job only: a stage found nothing against going on */
        JOB_CHANGED,            /* within a job only: the source changed while it was made: made again */
} JobOutcome;

/* Makes the thumbnails of path, or finds it need not or cannot be: locate
 * its drop, plan its thumbnails, check they are current, check its failure
 * memory, open it below the drop, prepare the output folders, make, settle
 * (look at the source again). Counts and returns the outcome (never
 * JOB_NEXT or JOB_CHANGED). Thread-safe. */
JobOutcome job_run(JobContext *ctx, const char *path);

/* As job_run(), and a thumbnail made is counted in the latency histogram
 * of its drop: from queued_usec (now_usec()'s clock: when the path was
 * queued, or its job published) to now. 0: not known, not counted. */
JobOutcome job_run_queued(JobContext *ctx, const char *path, uint64_t queued_usec);

/* A worker_process_fn: job_run_queued() with when the path was queued
 * (path_queue_popped_queued_at()); userdata is a JobContext. */
void job_process(const char *path, void *userdata);

/* The failure class of a thumbnail_make() error: "unsupported", "corrupt",
 * "truncated", "too-large", "timeout" or "io". */
const char *job_error_class(int r);

/* Does a failure of this class ("unsupported", "too-large", "timeout")
 * depend on the config as much as on the file? Such a failure is remembered
 * with job_config_fingerprint(), and forgotten when that changes. */
bool job_class_depends_on_config(const char *class);

/* The fingerprint of what decides those failures: the formats allowed, the
 * limits and job_timeout. Never 0. */
uint64_t job_config_fingerprint(const ThumbwatchConfig *c, const DropConfig *d);
