/* run.h - the two ways thumbwatch runs: once over the trees, or as the
 * daemon. Both own their threads from start to end; main only wires. */
#pragma once

#include "config-file.h"

/* Exit statuses. */
enum {
        EXIT_OK = 0,
        EXIT_SOME_FAILED = 1,
        EXIT_USAGE = 2,
        EXIT_INTERRUPTED = 130,
};

/* Creates every output folder. With require_sources, every source must be a
 * readable folder too. When starting (no worker runs yet), also removes the
 * temporaries a crash left and recovers its in-flight records. Logs and
 * returns -errno on the first problem. */
int run_prepare_drops(const ThumbwatchConfig *c, bool require_sources, bool starting);

/* Thumbnails what is there now, prints a summary, returns an exit status. */
int run_once(ThumbwatchConfig *c);

/* Loads the config anew for a reload; returns 0 and a reference, or -errno
 * after logging why. */
typedef int (*run_reload_fn)(ThumbwatchConfig **ret);

/* Runs the daemon until SIGTERM or SIGINT; returns an exit status. */
int run_daemon(ThumbwatchConfig *c, run_reload_fn reload);
