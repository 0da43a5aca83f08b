/* watcher.h - the watcher thread: watches every drop's source tree, with
 * inotify (through libinotifytools) or fanotify as the config's watcher
 * says, and turns events into work: finished files onto the work queue,
 * new folders into scan requests. The only module that includes
 * libinotifytools. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config-file.h"
#include "path-queue.h"
#include "scan.h"

typedef struct Watcher Watcher;

/* Can c's watcher be had here (watcher = fanotify: the capabilities, the
 * kernel, each existing source's file system; either: /proc)? Logs why not,
 * at err, and returns -errno; 0 when it can. */
int watcher_check(const ThumbwatchConfig *c);

/* c, work and scanner are borrowed until watcher_join() returns. Its roots
 * are watched (marked) once it has started: watcher_check() first says
 * whether they can be. */
int watcher_new(const ThumbwatchConfig *c, PathQueue *work, Scanner *scanner, Watcher **ret);
Watcher *watcher_free(Watcher *w);             /* NULL-safe; returns NULL; must be joined */

/* Starts the thread. It watches every root (watch first, then asks the
 * scanner for a catch-up scan), then reports ready. Returns 0 or -errno. */
int watcher_start(Watcher *w);

/* Is the thread still running (started and not yet at its end)? Once
 * false, watcher_join() does not block. */
bool watcher_running(Watcher *w);

/* Has every root been tried once (watched, or logged as unavailable)? */
bool watcher_ready(Watcher *w);

/* Folders watched now; with watcher = fanotify, file systems marked. */
unsigned watcher_watches(Watcher *w);

/* CLOCK_MONOTONIC microseconds of the thread's last pass through its loop,
 * which it makes at least once a second. */
uint64_t watcher_heartbeat(Watcher *w);

/* Asks the thread to stop; it does within about a second. */
void watcher_stop(Watcher *w);
void watcher_join(Watcher *w);
