/* run.h - the two ways thumbwatch runs: once over the trees, or as the
 * daemon. Both own their threads from start to end; main only wires. */
#pragma once

#include <signal.h>

#include "config-file.h"

/* Exit statuses. */
enum {
        EXIT_OK = 0,
        EXIT_SOME_FAILED = 1,
        EXIT_USAGE = 2,
        EXIT_INTERRUPTED = 130,
};

/* Blocks the signals thumbwatch takes synchronously (sigtimedwait, never a
 * handler) in the calling thread and puts them in *ret_mask: SIGINT and
 * SIGTERM (stop), SIGHUP (reload) and SIGUSR1 (a wake-up). Threads started
 * later inherit the mask. main() calls it before anything else, so that a
 * SIGTERM during start-up stops thumbwatch cleanly instead of killing it. */
void run_block_signals(sigset_t *ret_mask);

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

/* Runs the daemon until SIGTERM or SIGINT. It takes a reference to c of its
 * own, and on each reload the one load_config returns.
 * Returns an exit status: EXIT_OK, EXIT_USAGE (a drop cannot be prepared) or
 * EXIT_SOME_FAILED (the threads cannot start). Or returns -ETIMEDOUT when a
 * worker is stuck on one file past stop_timeout and twice job_timeout: that
 * thread still runs and may use what main holds (the config, GraphicsMagick),
 * so the caller frees nothing and ends the process with
 * _exit(EXIT_SOME_FAILED), running no atexit handler. */
int run_daemon(ThumbwatchConfig *c, run_reload_fn load_config);
