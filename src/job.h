/* job.h - what a worker does with one source path: find its drop, skip it when
 * its thumbnails are up to date (by stat alone), else make them, count and log.
 * This is the process callback main hands to the worker pool. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"

typedef struct JobStats {
        atomic_uint_fast64_t made;              /* sources thumbnailed */
        atomic_uint_fast64_t up_to_date;        /* sources skipped: thumbnails current */
        atomic_uint_fast64_t failed;            /* sources that could not be thumbnailed */
        atomic_uint_fast64_t vanished;          /* sources gone before a worker got to them */
} JobStats;

typedef struct JobContext {
        const ThumbwatchConfig *config;         /* borrowed; immutable while workers run */
        JobStats stats;
        atomic_bool stopping;                   /* set: skip what is still queued */
} JobContext;

/* The drop whose source tree holds path, or NULL. */
const DropConfig *job_find_drop(const ThumbwatchConfig *c, const char *path);

/* A worker_process_fn: userdata is a JobContext. */
void job_process(const char *path, void *userdata);

/* Creates dir and its missing parents (mode 0755). Returns 0 or -errno. */
int job_mkdir_p(const char *dir);
