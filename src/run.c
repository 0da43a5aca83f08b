/* run.c - once mode and the daemon: threads, signals, progress and
 * sd_notify. The only place (with main) that decides an exit status.
 *
 * Threads (--once): the main thread takes signals and draws the progress
 * bar; the feeder thread walks the trees, pushes paths (blocking when the
 * queue is full), closes the queue and joins the workers; N workers run
 * job_process(). SIGINT/SIGTERM set job.stopping: the feeder stops, the
 * workers skip what is queued and finish the file in hand.
 *
 * Threads (daemon): the main thread takes signals (sigtimedwait, no
 * asynchronous handlers) and sends STATUS= and WATCHDOG=, holding all it
 * needs in one Daemon: started, then a tick per wait, then stopped; the
 * watcher thread turns events into paths; the scanner thread turns folder
 * requests into paths; N workers make thumbnails. Shutdown order:
 * STOPPING=1, stop the watcher and the scanner, close the queue, let the
 * workers drain it for up to stop_timeout, then skip the rest; a worker still
 * on one file twice job_timeout later is left running, and main _exit()s
 * without freeing what it may use. A reload stops the watcher and
 * the scanner (taking signals all the while: a SIGTERM stops the daemon, a
 * second SIGHUP is a reload after this one), swaps the config, resizes the
 * worker pool and the queue, and starts both again on the new one: watch
 * first, then a catch-up scan that also prunes what is gone, so nothing that
 * happened meanwhile is lost or left behind. A worker asks for every drop to
 * be scanned again (job.rescan_wanted) when it made a removed output folder
 * again; the main loop passes that on to the scanner. */
#include "build-config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fleet.h"
#include "job.h"
#include "log.h"
#include "macro.h"
#include "metrics.h"
#include "notify.h"
#include "output-tree.h"
#include "path-queue.h"
#include "run.h"
#include "scan.h"
#include "state-dir.h"
#include "thumbnail.h"
#include "time-util.h"
#include "watcher.h"
#include "worker-pool.h"

#define STATUS_INTERVAL_USEC (2 * 1000000ULL)
#define METRICS_INTERVAL_USEC (5 * 1000000ULL)
#define CATCH_UP_POLL_USEC (50 * 1000ULL)
/* The watcher passes through its loop every second; allow for a long walk. */
#define WATCHER_STALL_USEC (30 * 1000000ULL)


/* An output that cannot be prepared for a reason that passes (a full disk,
 * a read-only or failing one): the daemon goes on with the other drops,
 * and this one's files fail as io and are retried. */
static bool passing(int r) {
        return r == -ENOSPC || r == -EDQUOT || r == -EROFS || r == -EIO;
}

/* --once: the source must be a readable folder. */
static int check_source(const DropConfig *d, const char *where) {
        struct stat st;

        if (stat(d->source, &st) < 0)
                return log_error_errno(errno, "%s: source '%s': %m", where, d->source);
        if (!S_ISDIR(st.st_mode))
                return log_error_errno(ENOTDIR, "%s: source '%s': %m", where, d->source);
        if (access(d->source, R_OK | X_OK) < 0)
                return log_error_errno(errno, "%s: source '%s' cannot be read: %m", where, d->source);
        return 0;
}

/* The output folder and its state folder. Returns 1 when the output is in
 * place, 0 when the drop goes on without it for now, or -errno; logs. */
static int prepare_output(const DropConfig *d, bool require_sources, const char *where) {
        struct stat st;
        int r;

        /* The Thumbnail Managing Standard's cache is private: 0700, as
         * are its sub-folders. */
        r = output_prepare(d);
        if (r < 0 && !require_sources && passing(r)) {
                log_error_errno(r, "%s: cannot create output folder '%s': %m; its files are tried again "
                                "every retry_io", where, d->output);
                return 0;
        }
        if (r < 0)
                return log_error_errno(r, "%s: cannot create output folder '%s': %m", where, d->output);
        if (stat(d->output, &st) < 0 || !S_ISDIR(st.st_mode))
                return log_error_errno(ENOTDIR, "%s: output '%s': %m", where, d->output);
        if (access(d->output, W_OK | X_OK) < 0)
                return log_error_errno(errno, "%s: output folder '%s' is not writable: %m", where, d->output);
        /* A reload while the output's disk is away: nothing is written
         * to the bare mount point, not even the state folder. */
        if (!output_root_in_place(d)) {
                log_warning("%s: output '%s' is not the folder it was when thumbwatch started (a disk not "
                            "mounted?): nothing is written there until it is back", where, d->output);
                return 0;
        }
        r = state_prepare(d);
        if (r < 0 && !require_sources && passing(r))
                log_error_errno(r, "%s: cannot create the state folder '%s/" OUTPUT_STATE_DIR "': %m; "
                                "going on (it is made when there is room)", where, d->output);
        else if (r < 0)
                return log_error_errno(r, "%s: cannot create the state folder '%s/" OUTPUT_STATE_DIR "': %m",
                                       where, d->output);
        return 1;
}

/* A fleet's workers may share an output: a temporary younger than this may
 * be another worker's, being written. */
#define SHARED_TEMPORARY_AGE_SEC 600

/* What a crash left behind: temporaries (invariant 5) and the files the
 * workers were decoding. Only before any worker runs: on a reload these are
 * the live ones. With a Redis queue the output may be shared with other
 * workers: only old temporaries go, and state_recover_inflight() leaves
 * other processes' records alone. */
static void recover_output(const ThumbwatchConfig *c, const DropConfig *d, const char *where) {
        long n;

        if (!output_keeps_stamps(d))
                log_warning("%s: output '%s' keeps no extended attributes: a thumbnail's identity there is "
                            "its mtime alone, two sources giving one name are not told apart, and "
                            "thumbwatch removes no file there but its own temporaries (--gc included)",
                            where, d->output);
        n = fleet_queue_is_redis(c->queue) ? output_clean_old_temporaries(d, SHARED_TEMPORARY_AGE_SEC)
                                           : output_clean_temporaries(d);
        if (n > 0)
                log_notice("removed %ld stale temporary files under '%s'", n, d->output);
        (void) state_recover_inflight(d);
}

int run_prepare_drops(const ThumbwatchConfig *c, bool require_sources, bool starting) {
        char where[CONFIG_DROP_WHERE_MAX];

        for (size_t i = 0; i < c->n_drops; i++) {
                const DropConfig *d = &c->drops[i];
                int r;

                config_drop_where(c, d, where, sizeof where);
                output_remember_source(d);
                if (require_sources) {
                        r = check_source(d, where);
                        if (r < 0)
                                return r;
                }
                r = prepare_output(d, require_sources, where);
                if (r < 0)
                        return r;
                if (r == 0)
                        continue;       /* logged: its files wait for the output */
                /* Without stamps two sources that give one name overwrite each
                 * other at every pass, and nothing can tell which is whose. */
                if (output_names_may_collide(d) && !output_keeps_stamps(d))
                        return log_error_errno(EINVAL,
                                               "%s: name = %s can give two sources one thumbnail name (a.jpg and "
                                               "a.png), and output '%s' keeps no extended attributes to tell them "
                                               "apart: put {name} in the name, or use format = same",
                                               where, d->name_template, d->output);
                if (starting)
                        recover_output(c, d, where);
        }
        return 0;
}

void run_block_signals(sigset_t *ret_mask) {
        (void) sigemptyset(ret_mask);
        (void) sigaddset(ret_mask, SIGINT);
        (void) sigaddset(ret_mask, SIGTERM);
        (void) sigaddset(ret_mask, SIGUSR1);
        (void) sigaddset(ret_mask, SIGHUP);
        (void) pthread_sigmask(SIG_BLOCK, ret_mask, NULL);
}

/* The signals a mode takes. main() blocked them before anything else; block
 * again in case we were called otherwise. Threads started later inherit the
 * mask. */
static void block_signals(sigset_t *mask, bool daemon) {
        run_block_signals(mask);
        /* --once ignores SIGHUP: there is nothing to reload. */
        if (!daemon)
                (void) sigdelset(mask, SIGHUP);
}

/* Waits up to timeout for one of mask's signals; returns it, or 0. */
static int wait_signal(const sigset_t *mask, uint64_t timeout) {
        struct timespec ts = { (time_t) (timeout / 1000000), (long) (timeout % 1000000) * 1000 };
        int sig = sigtimedwait(mask, NULL, &ts);

        return sig > 0 ? sig : 0;
}

/* The queue, the job context and the worker threads both modes share.
 * On failure everything is undone and -errno returned. */
static int workers_start(ThumbwatchConfig *c, bool once, JobContext *job, PathQueue **ret_queue,
                         WorkerPool **ret_pool) {
        PathQueue *queue = NULL;
        WorkerPool *pool = NULL;
        int r;

        r = job_context_init(job, c, once);
        if (r < 0)
                return r;
        r = path_queue_new(c->queue_size, &queue);
        if (r >= 0)
                r = worker_pool_new(config_workers(c), queue, job_process, job, &pool);
        if (r >= 0)
                r = worker_pool_start(pool);
        if (r < 0) {
                if (pool) {
                        path_queue_close(queue);
                        worker_pool_join(pool);
                }
                worker_pool_free(pool);
                path_queue_free(queue);
                job_context_done(job);
                return r;
        }
        *ret_queue = queue;
        *ret_pool = pool;
        return 0;
}

/* After the pool is joined. */
static void workers_free(JobContext *job, PathQueue *queue, WorkerPool *pool) {
        worker_pool_free(pool);
        path_queue_free(queue);
        job_context_done(job);
}

/* --once */

typedef struct Feeder {
        const ThumbwatchConfig *config;
        PathQueue *queue;
        WorkerPool *pool;
        JobContext *job;
        atomic_bool finished;
        atomic_bool scan_failed;
        atomic_long found;
        pthread_t main_thread;          /* woken with SIGUSR1 when all is done */
} Feeder;

static int feed(char *path, void *userdata) {
        Feeder *f = userdata;
        int r;

        if (atomic_load(&f->job->stopping)) {
                free(path);
                return -ECANCELED;
        }
        r = path_queue_push(f->queue, path);
        if (r < 0) {
                free(path);
                return r;
        }
        atomic_fetch_add(&f->found, 1);
        return 0;
}

static void fed_too_deep(void *userdata) {
        atomic_store(&((Feeder *) userdata)->scan_failed, true);
}

static void *feeder_thread(void *arg) {
        static const ScanCallbacks cb = { .file = feed, .too_deep = fed_too_deep };
        Feeder *f = arg;

        for (size_t i = 0; i < f->config->n_drops; i++) {
                const DropConfig *d = &f->config->drops[i];
                long r = scan_tree(f->config, d, d->source, true, &cb, f);

                if (r == -ECANCELED)
                        break;
                if (r < 0) {
                        atomic_store(&f->scan_failed, true);
                        log_error_errno((int) r, "cannot scan '%s': %m", d->source);
                }
        }
        path_queue_close(f->queue);
        worker_pool_join(f->pool);
        atomic_store(&f->finished, true);
        (void) pthread_kill(f->main_thread, SIGUSR1);
        return NULL;
}

static int count_one(char *path, void *userdata) {
        free(path);
        (*(long *) userdata)++;
        return 0;
}

static uint64_t done_count(const JobStats *s) {
        return atomic_load(&s->made) + atomic_load(&s->up_to_date) + atomic_load(&s->failed) +
               atomic_load(&s->vanished);
}

static void draw_progress(const JobStats *s, long total, double elapsed) {
        static const char bar[] = "##############################";
        uint64_t done = done_count(s);
        int width = (int) sizeof bar - 1;
        int filled = total > 0 ? (int) ((double) width * (double) done / (double) total) : 0;

        if (filled > width)
                filled = width;
        fprintf(stderr, "\r\033[K[%.*s%*s] %llu/%ld  %.1f images/s", filled, bar, width - filled, "",
                (unsigned long long) done, total, elapsed > 0 ? (double) atomic_load(&s->made) / elapsed : 0.0);
        fflush(stderr);
}

/* A bar needs a total: count first (names only, no stat). */
static long count_sources(const ThumbwatchConfig *c) {
        static const ScanCallbacks count_cb = { .file = count_one };
        long total = 0;

        for (size_t i = 0; i < c->n_drops; i++)
                (void) scan_tree(c, &c->drops[i], c->drops[i].source, true, &count_cb, &total);
        return total;
}

/* Takes signals, and draws the bar when progress, until the feeder has
 * joined the workers. Returns whether a SIGINT or SIGTERM came meanwhile. */
static bool once_wait(Feeder *f, const sigset_t *mask, bool progress, long total, uint64_t start) {
        bool interrupted = false;

        while (!atomic_load(&f->finished)) {
                int sig = wait_signal(mask, 100 * 1000);
                long found = atomic_load(&f->found);

                if ((sig == SIGINT || sig == SIGTERM) && !interrupted) {
                        interrupted = true;
                        atomic_store(&f->job->stopping, true);
                        log_notice("interrupted: finishing the files in hand, then stopping");
                }
                if (progress)
                        draw_progress(&f->job->stats, total > found ? total : found,
                                      (double) (now_usec() - start) / 1e6);
        }
        return interrupted;
}

static void print_summary(const JobStats *s, uint64_t start) {
        double elapsed = (double) (now_usec() - start) / 1e6;

        printf("made %llu, up to date %llu, failed %llu, gone %llu in %.2f s, %.1f images/s\n",
               (unsigned long long) atomic_load(&s->made), (unsigned long long) atomic_load(&s->up_to_date),
               (unsigned long long) atomic_load(&s->failed), (unsigned long long) atomic_load(&s->vanished), elapsed,
               elapsed > 0 ? (double) atomic_load(&s->made) / elapsed : 0.0);
        (void) fflush(stdout);
}

int run_once(ThumbwatchConfig *c) {
        bool progress = isatty(STDERR_FILENO) && !log_to_journal(), interrupted;
        PathQueue *queue = NULL;
        WorkerPool *pool = NULL;
        JobContext job;
        Feeder feeder;
        pthread_t feeder_tid;
        uint64_t start = now_usec();
        long total = 0;
        sigset_t mask;
        int r, status;

        if (run_prepare_drops(c, true, true) < 0)
                return EXIT_USAGE;
        if (progress)
                total = count_sources(c);

        block_signals(&mask, false);
        r = workers_start(c, true, &job, &queue, &pool);
        if (r < 0) {
                log_error_errno(r, "cannot start the workers: %m");
                return EXIT_SOME_FAILED;
        }
        feeder = (Feeder) { .config = c, .queue = queue, .pool = pool, .job = &job, .main_thread = pthread_self() };
        r = -pthread_create(&feeder_tid, NULL, feeder_thread, &feeder);
        if (r < 0) {
                log_error_errno(r, "cannot start the feeder thread: %m");
                path_queue_close(queue);
                worker_pool_join(pool);
                workers_free(&job, queue, pool);
                return EXIT_SOME_FAILED;
        }

        interrupted = once_wait(&feeder, &mask, progress, total, start);
        (void) pthread_join(feeder_tid, NULL);
        if (progress)
                fprintf(stderr, "\r\033[K");
        print_summary(&job.stats, start);

        if (interrupted)
                status = EXIT_INTERRUPTED;
        else if (atomic_load(&job.stats.failed) > 0 || atomic_load(&feeder.scan_failed))
                status = EXIT_SOME_FAILED;
        else
                status = EXIT_OK;
        workers_free(&job, queue, pool);
        return status;
}

/* The daemon */

typedef struct Services {
        Scanner *scanner;
        Watcher *watcher;
} Services;

/* What the daemon's main thread holds from start to stop. Only the main
 * thread touches it, but for job, which the workers share (job.h says how)
 * until they are joined. */
typedef struct Daemon {
        ThumbwatchConfig *config;       /* one reference; a reload swaps it */
        run_reload_fn load_config;      /* reads the config anew for a reload */
        JobContext job;
        PathQueue *queue;               /* what the workers pop (role watcher on Redis: the publisher) */
        WorkerPool *pool;
        Fleet *fleet;                   /* owned; NULL with queue = local */
        FleetRole role;                 /* FLEET_ROLE_ALL with queue = local */
        PathQueue *outbox;              /* what the watcher and scanner fill: queue, but with role all
                                         * on Redis the publisher's own; owned then */
        WorkerPool *publisher;          /* role all on Redis: publishes outbox; owned */
        Services services;
        sigset_t signals;               /* taken with sigtimedwait() */
        bool hup;                       /* a SIGHUP came during a wait: reload next */
        uint64_t watchdog_usec;         /* from the service manager; 0: no watchdog */
        uint64_t tick;                  /* the longest wait between two passes of the loop */
        uint64_t last_status;           /* when STATUS= was last sent */
        uint64_t last_metrics;          /* when metrics_file was last written */
        bool metrics_failing;           /* the last write failed (logged) */
        bool catching_up;               /* since the start or the last reload, until first idle */
        uint64_t catch_up_start;
        bool was_idle;                  /* at the last pass */
        bool was_healthy;               /* at the last pass: WATCHDOG=1 was sent */
} Daemon;

static void services_stop(Services *s) {
        if (s->watcher)
                watcher_stop(s->watcher);
        if (s->scanner)
                scanner_stop(s->scanner);
}

/* The scanner may be blocked on a full queue: the workers must still be
 * draining it, or the queue closed, for this to return. */
static void services_join(Services *s) {
        if (s->watcher)
                watcher_join(s->watcher);
        if (s->scanner)
                scanner_join(s->scanner);
        s->watcher = watcher_free(s->watcher);
        s->scanner = scanner_free(s->scanner);
}

static int services_start(Services *s, const ThumbwatchConfig *c, PathQueue *queue) {
        int r;

        *s = (Services) {};
        r = scanner_new(c, queue, &s->scanner);
        if (r >= 0)
                r = scanner_start(s->scanner);
        if (r >= 0)
                r = watcher_new(c, queue, s->scanner, &s->watcher);
        if (r >= 0)
                r = watcher_start(s->watcher);
        if (r < 0) {
                services_stop(s);
                services_join(s);
        }
        return r;
}

/* A worker of a fleet runs no watcher: it is ready at once. */
static bool services_ready(Services *s) {
        return !s->watcher || watcher_ready(s->watcher);
}

static bool services_exited(Services *s) {
        return (!s->watcher || !watcher_running(s->watcher)) && (!s->scanner || !scanner_running(s->scanner));
}

/* Waits until done(services), taking signals meanwhile: SIGTERM or SIGINT
 * ends the wait and is returned; a SIGHUP is remembered in *hup (a reload
 * after this one). Returns 0 when done. */
static int wait_services(Daemon *d, bool (*done)(Services *s), bool *hup) {
        while (!done(&d->services)) {
                int sig = wait_signal(&d->signals, 50 * 1000);

                if (sig == SIGTERM || sig == SIGINT)
                        return sig;
                if (sig == SIGHUP)
                        *hup = true;
        }
        return 0;
}

static void send_status(const Daemon *d) {
        const JobStats *st = &d->job.stats;
        char queue[192] = "";

        if (d->fleet) {
                queue[0] = ',';
                queue[1] = ' ';
                fleet_status(d->fleet, queue + 2, sizeof queue - 2);
        }
        notify_status("queued %zu, made %llu, failed %llu, up to date %llu, retrying %llu, watches %u, "
                      "memory %llu of %llu MB%s",
                      path_queue_length(d->queue), (unsigned long long) atomic_load(&st->made),
                      (unsigned long long) atomic_load(&st->failed), (unsigned long long) atomic_load(&st->up_to_date),
                      (unsigned long long) atomic_load(&st->retrying),
                      d->services.watcher ? watcher_watches(d->services.watcher) : 0,
                      (unsigned long long) (memory_budget_used(d->job.budget) >> 20),
                      (unsigned long long) (memory_budget_total(d->job.budget) >> 20), queue);
}

/* metrics_file, if any: what STATUS= says, for Prometheus. A failure is
 * logged when it starts and when it ends. */
static void write_metrics(Daemon *d) {
        const JobStats *st = &d->job.stats;
        _cleanup_free_ char *msg = NULL;
        MetricsSample m = {
                .vanished = atomic_load(&st->vanished),
                .retrying = atomic_load(&st->retrying),
                .queued = path_queue_length(d->queue),
                .watches = d->services.watcher ? watcher_watches(d->services.watcher) : 0,
                .memory_used = memory_budget_used(d->job.budget),
                .memory_total = memory_budget_total(d->job.budget),
                .fleet = d->fleet != NULL,
                .drops = &d->job.metrics,
        };
        int r;

        if (!d->config->metrics_file)
                return;
        if (d->fleet)
                fleet_state(d->fleet, &m.queue_connected, &m.queue_length, &m.queue_pending);
        r = metrics_write(d->config->metrics_file, &m, &msg);
        if (r < 0 && !d->metrics_failing)
                log_warning_errno(r, "%s; trying again every %llu s", msg ? msg : "cannot write the metrics file",
                                  METRICS_INTERVAL_USEC / 1000000);
        else if (r >= 0 && d->metrics_failing)
                log_notice("writing the metrics file '%s' again", d->config->metrics_file);
        d->metrics_failing = r < 0;
}

/* WATCHDOG=1 only while the watcher loops and no worker is stuck on one
 * file. Logs when that changes, not at every tick. */
static bool healthy(Daemon *d) {
        uint64_t now = now_usec(), longest = worker_pool_longest_job(d->pool),
                 beat = d->services.watcher ? watcher_heartbeat(d->services.watcher) : now,
                 job_timeout = d->config->job_timeout_usec;
        bool ok = true;

        /* A decode is abandoned at job_timeout; a worker still busy at twice
         * that is stuck where the abandoning cannot reach it. */
        if (longest > 2 * job_timeout) {
                if (d->was_healthy)
                        log_warning("a worker has been on one file for %.1f s (twice job_timeout is %.1f s): "
                                    "not pinging the watchdog", (double) longest / 1e6, 2 * (double) job_timeout / 1e6);
                ok = false;
        } else if (now > beat && now - beat > WATCHER_STALL_USEC) {
                if (d->was_healthy)
                        log_warning("the watcher has not made progress for %llu s: not pinging the watchdog",
                                    (unsigned long long) ((now - beat) / 1000000));
                ok = false;
        } else if (!d->was_healthy)
                log_notice("workers and watcher make progress again: pinging the watchdog");
        d->was_healthy = ok;
        return ok;
}

/* A reload's workers and queue_size, applied to the running pool and queue.
 * Neither waits: workers beyond the new count finish the file in hand and
 * exit, and a queue longer than its new capacity keeps every path. */
static void resize_workers(const ThumbwatchConfig *c, WorkerPool *pool, PathQueue *queue, bool publisher) {
        size_t workers = worker_pool_size(pool), capacity = path_queue_capacity(queue);
        int r;

        if (publisher)
                workers = config_workers(c);    /* one publisher whatever workers says */
        if (workers == config_workers(c) && capacity == c->queue_size)
                return;
        r = path_queue_set_capacity(queue, c->queue_size);
        if (r < 0)
                log_warning_errno(r, "cannot resize the queue to %zu, keeping %zu: %m", c->queue_size, capacity);
        r = publisher ? 0 : worker_pool_resize(pool, config_workers(c));
        if (r < 0)
                log_warning_errno(r, "cannot start %zu workers, running %zu: %m", config_workers(c),
                                  worker_pool_size(pool));
        log_info("workers %zu -> %zu, queue_size %zu -> %zu", workers, worker_pool_size(pool), capacity,
                 path_queue_capacity(queue));
}

/* What watcher_watches() counts, for the log. */
static const char *watched_what(const ThumbwatchConfig *c) {
        return c->watcher == WATCHER_FANOTIFY ? "file systems marked (fanotify)" : "folders watched";
}

/* SIGHUP: the config read again, the worker pool and the queue resized,
 * and the watcher and scanner restarted on it. Signals are taken all the
 * while: a SIGTERM or SIGINT is returned at once, for the caller to stop (the
 * services may be half stopped; stopping them again is safe); a SIGHUP that
 * arrives meanwhile is returned too, for another reload after this one.
 * Returns 0 otherwise. */
static int reload(Daemon *d) {
        ThumbwatchConfig *next = NULL;
        bool hup = false;
        int r, sig;

        notify_reloading();
        log_info("reloading the config");
        r = d->load_config(&next);
        if (r >= 0 && run_prepare_drops(next, false, false) < 0)
                r = -EINVAL;
        /* watcher = fanotify that cannot be had fails here, not after the
         * watcher that runs has been stopped. */
        if (r >= 0 && d->role != FLEET_ROLE_WORKER)
                r = watcher_check(next);
        if (r < 0) {
                config_unref(next);
                log_full_errno_fields(LOG_ERR, r, ((const LogField[]) { { "MESSAGE_ID", LOG_MESSAGE_RELOAD } }), 1,
                                      "reload failed, still running the previous config");
                notify_ready();
                return 0;
        }
        services_stop(&d->services);
        sig = wait_services(d, services_exited, &hup);
        if (sig != 0) {
                config_unref(next);
                return sig;
        }
        services_join(&d->services);
        log_set_max_level(next->log_level);
        job_context_set_config(&d->job, next);
        config_unref(d->config);
        d->config = next;
        resize_workers(next, d->pool, d->queue, d->role == FLEET_ROLE_WATCHER);
        if (d->fleet)
                fleet_set_config(d->fleet, next);
        r = d->role == FLEET_ROLE_WORKER ? 0 : services_start(&d->services, next, d->outbox);
        if (r < 0) {
                /* Nothing watches now; the supervisor's restart is the way back. */
                log_error_errno(r, "cannot restart the watcher after a reload: %m");
                return 0;
        }
        /* READY=1 and the line saying so once the folders are watched. */
        sig = wait_services(d, services_ready, &hup);
        if (sig != 0)
                return sig;
        log_full_errno_fields(LOG_INFO, 0, ((const LogField[]) { { "MESSAGE_ID", LOG_MESSAGE_RELOAD } }), 1,
                              "reloaded: drops %zu, %s %u", next->n_drops, watched_what(next),
                              d->services.watcher ? watcher_watches(d->services.watcher) : 0);
        notify_ready();
        return hup ? SIGHUP : 0;
}

/* queue = redis: the fleet, and by role the workers fed by its consumer
 * (fleet_process(): job_run() and the acks) and the publisher (one thread:
 * fleet_publish()) that drains the outbox the watcher and scanner fill. With
 * role watcher the publisher is the daemon's pool, on its queue. Returns 0
 * or -errno after logging; what started is for daemon_free_fleet(). */
static int fleet_start(Daemon *d) {
        ThumbwatchConfig *c = d->config;
        _cleanup_free_ char *msg = NULL;
        int r;

        d->role = (FleetRole) c->role;
        r = job_context_init(&d->job, c, false);
        if (r < 0)
                return log_error_errno(r, "cannot start the workers: %m");
        r = fleet_new(c, d->role, &d->job, &d->fleet, &msg);
        if (r < 0) {
                job_context_done(&d->job);
                return msg ? log_error_errno(r, "%s", msg) : log_error_errno(r, "cannot set up the queue: %m");
        }
        if (d->role != FLEET_ROLE_WATCHER) {
                r = path_queue_new(c->queue_size, &d->queue);
                if (r >= 0)
                        r = worker_pool_new(config_workers(c), d->queue, fleet_process, d->fleet, &d->pool);
                if (r >= 0)
                        r = worker_pool_start(d->pool);
                if (r >= 0)
                        r = fleet_consumer_start(d->fleet, d->queue);
                if (r < 0)
                        return log_error_errno(r, "cannot start the workers: %m");
        }
        if (d->role != FLEET_ROLE_WORKER) {
                WorkerPool **publisher = d->role == FLEET_ROLE_WATCHER ? &d->pool : &d->publisher;

                r = path_queue_new(c->queue_size, &d->outbox);
                if (r >= 0) {
                        fleet_set_outbox(d->fleet, d->outbox);
                        if (d->role == FLEET_ROLE_WATCHER)
                                d->queue = d->outbox;
                        r = worker_pool_new(1, d->outbox, fleet_publish, d->fleet, publisher);
                }
                if (r >= 0)
                        r = worker_pool_start(*publisher);
                if (r < 0)
                        return log_error_errno(r, "cannot start the publisher: %m");
        }
        log_info("queue %s, role %s", c->queue, fleet_role_to_string(d->role));
        return 0;
}

/* Role all on Redis, at a stop: the publisher drains the outbox (until
 * deadline; what is left, the next start's catch-up scan publishes), and
 * the consumer reads no more. Before the work queue closes. */
static void fleet_stop_intake(Daemon *d, uint64_t deadline) {
        if (!d->fleet)
                return;
        if (d->publisher) {
                path_queue_close(d->outbox);
                if (worker_pool_join_until(d->publisher, deadline) == -ETIMEDOUT) {
                        atomic_store(&d->job.stopping, true);
                        worker_pool_join(d->publisher);         /* a publish gives up within a second */
                }
        }
        fleet_consumer_stop_reading(d->fleet);
}

/* After the workers are joined (or never started): the last acks sent, and
 * the fleet's parts freed. */
static void daemon_free_fleet(Daemon *d) {
        if (!d->fleet)
                return;
        fleet_consumer_stop(d->fleet);
        if (d->publisher) {
                path_queue_close(d->outbox);
                worker_pool_join(d->publisher);
        }
        d->publisher = worker_pool_free(d->publisher);
        if (d->outbox != d->queue)
                path_queue_free(d->outbox);
        d->outbox = NULL;
        d->fleet = fleet_free(d->fleet);
}

/* A failed fleet_start(): every queue closed, every thread joined, all freed. */
static void fleet_abort(Daemon *d) {
        bool started = d->fleet;        /* else fleet_start() undid its job context */

        if (d->fleet)
                fleet_consumer_stop_reading(d->fleet);
        if (d->outbox)
                path_queue_close(d->outbox);
        if (d->queue)
                path_queue_close(d->queue);
        if (d->pool)
                worker_pool_join(d->pool);
        daemon_free_fleet(d);
        if (started)
                workers_free(&d->job, d->queue, d->pool);
}

/* The config's drops prepared, the workers, the scanner and the watcher
 * started on c (the daemon takes a reference). Returns EXIT_OK and the
 * daemon, or the exit status to end with, after logging why. */
static int daemon_start(ThumbwatchConfig *c, run_reload_fn load_config, Daemon **ret) {
        uint64_t start = now_usec();
        Daemon *d;
        int r;

        /* A watcher mode that cannot be had is said before anything is
         * written: the outputs are not even made. */
        if (c->role != FLEET_ROLE_WORKER && watcher_check(c) < 0)
                return EXIT_SOME_FAILED;
        /* A watcher of a fleet writes no output: it recovers nothing there. */
        if (run_prepare_drops(c, false, !(fleet_queue_is_redis(c->queue) && c->role == FLEET_ROLE_WATCHER)) < 0)
                return EXIT_USAGE;
        d = calloc(1, sizeof *d);
        if (!d) {
                log_error_errno(ENOMEM, "cannot start: %m");
                return EXIT_SOME_FAILED;
        }
        *d = (Daemon) {
                .config = config_ref(c),
                .load_config = load_config,
                .watchdog_usec = notify_watchdog_usec(),
                .catching_up = true,
                .catch_up_start = start,
                .was_healthy = true,
        };
        d->tick = d->watchdog_usec > 0 && d->watchdog_usec / 2 < STATUS_INTERVAL_USEC ? d->watchdog_usec / 2
                                                                                         : STATUS_INTERVAL_USEC;
        block_signals(&d->signals, true);
        if (fleet_queue_is_redis(c->queue)) {
                r = fleet_start(d);
                if (r < 0) {
                        fleet_abort(d);
                        goto fail;
                }
        } else {
                r = workers_start(d->config, false, &d->job, &d->queue, &d->pool);
                if (r < 0) {
                        log_error_errno(r, "cannot start the workers: %m");
                        goto fail;
                }
                d->outbox = d->queue;
        }
        r = d->role == FLEET_ROLE_WORKER ? 0 : services_start(&d->services, d->config, d->outbox);
        if (r < 0) {
                log_error_errno(r, "cannot start the watcher: %m");
                if (d->fleet)
                        fleet_abort(d);
                else {
                        path_queue_close(d->queue);
                        worker_pool_join(d->pool);
                        workers_free(&d->job, d->queue, d->pool);
                }
                goto fail;
        }
        *ret = d;
        return EXIT_OK;
fail:
        config_unref(d->config);
        free(d);
        return EXIT_SOME_FAILED;
}

/* READY=1 once every root is watched (or known to be missing). A SIGHUP
 * meanwhile is a reload after that. Returns 0, or SIGTERM or SIGINT. */
static int daemon_ready(Daemon *d) {
        int sig = wait_services(d, services_ready, &d->hup);

        if (sig != 0)
                return sig;
        notify_ready();
        log_info("ready: drops %zu, %s %u, workers %zu, max_memory %llu MB", d->config->n_drops,
                 watched_what(d->config), d->services.watcher ? watcher_watches(d->services.watcher) : 0, config_workers(d->config),
                 (unsigned long long) (memory_budget_total(d->job.budget) >> 20));
        return 0;
}

/* After every wait: memory back to the system once idle, the end of a
 * catch-up logged, retries that are due queued, a rescan passed on,
 * STATUS= every STATUS_INTERVAL_USEC (and after a reload), WATCHDOG=1 while
 * healthy. */
static void daemon_chores(Daemon *d, bool reloaded) {
        uint64_t now = now_usec();
        bool idle = !(d->services.scanner && scanner_busy(d->services.scanner)) && path_queue_idle(d->queue);

        if (idle && !d->was_idle)
                thumbnail_release_memory();
        d->was_idle = idle;
        if (d->catching_up && idle) {
                d->catching_up = false;
                log_info("caught up in %.2f s: made %llu, up to date %llu, failed %llu",
                         (double) (now - d->catch_up_start) / 1e6, (unsigned long long) atomic_load(&d->job.stats.made),
                         (unsigned long long) atomic_load(&d->job.stats.up_to_date),
                         (unsigned long long) atomic_load(&d->job.stats.failed));
        }
        (void) job_push_due_retries(&d->job, d->queue, now);
        if (atomic_exchange(&d->job.rescan_wanted, false) && d->services.scanner)
                scanner_request_all(d->services.scanner);
        if (d->fleet && fleet_tick(d->fleet) && d->services.scanner)
                scanner_request_all(d->services.scanner);
        if (now - d->last_status >= STATUS_INTERVAL_USEC || reloaded) {
                send_status(d);
                d->last_status = now;
        }
        if (now - d->last_metrics >= METRICS_INTERVAL_USEC || reloaded) {
                write_metrics(d);
                d->last_metrics = now;
        }
        if (d->watchdog_usec > 0 && healthy(d))
                notify_watchdog();
}

/* One pass of the main loop: a wait for a signal or the tick, a reload on
 * SIGHUP, then the chores. Returns SIGTERM or SIGINT to stop, else 0. */
static int daemon_tick(Daemon *d) {
        int sig;

        /* Look often while catching up, so that its end is logged on time. */
        sig = d->hup ? SIGHUP : wait_signal(&d->signals, d->catching_up ? CATCH_UP_POLL_USEC : d->tick);
        d->hup = false;
        if (sig == SIGHUP) {
                int next = reload(d);

                d->catching_up = true;
                d->catch_up_start = now_usec();
                if (next == SIGTERM || next == SIGINT)
                        return next;
                d->hup = next == SIGHUP;
        }
        daemon_chores(d, sig == SIGHUP);
        return sig == SIGTERM || sig == SIGINT ? sig : 0;
}

/* After the workers are joined. */
static void daemon_free(Daemon *d) {
        daemon_free_fleet(d);
        workers_free(&d->job, d->queue, d->pool);
        config_unref(d->config);
        free(d);
}

/* STOPPING=1, then the shutdown order (see the top of this file). Frees d
 * and returns EXIT_OK; or, when a worker is stuck past stop_timeout and
 * twice job_timeout, returns -ETIMEDOUT and leaves d allocated: that worker
 * still reads d->job. */
static int daemon_stop(Daemon *d) {
        const ThumbwatchConfig *c = d->config;
        uint64_t deadline;
        int r;

        notify_stopping();
        log_info("stopping: finishing %zu queued files (at most %u s)", path_queue_length(d->queue), c->stop_timeout);
        services_stop(&d->services);
        if (d->services.watcher)
                watcher_join(d->services.watcher);
        deadline = now_usec() + (uint64_t) c->stop_timeout * 1000000;
        fleet_stop_intake(d, deadline);
        path_queue_close(d->queue);
        services_join(&d->services);
        r = worker_pool_join_until(d->pool, deadline);
        if (r == -ETIMEDOUT) {
                atomic_store(&d->job.stopping, true);
                log_warning("stop_timeout (%u s) passed: skipping %zu queued files (the next start catches up)",
                            c->stop_timeout, path_queue_length(d->queue));
                r = worker_pool_join_until(d->pool, now_usec() + 2 * c->job_timeout_usec);
                if (r == -ETIMEDOUT) {
                        log_error("a worker is stuck on one file; exiting without waiting for it");
                        return -ETIMEDOUT;
                }
        }
        log_info("stopped: made %llu, failed %llu, up to date %llu",
                 (unsigned long long) atomic_load(&d->job.stats.made),
                 (unsigned long long) atomic_load(&d->job.stats.failed),
                 (unsigned long long) atomic_load(&d->job.stats.up_to_date));
        daemon_free(d);
        return EXIT_OK;
}

int run_daemon(ThumbwatchConfig *c, run_reload_fn load_config) {
        Daemon *d = NULL;
        int status, sig;

        status = daemon_start(c, load_config, &d);
        if (status != EXIT_OK)
                return status;
        sig = daemon_ready(d);
        while (sig != SIGTERM && sig != SIGINT)
                sig = daemon_tick(d);
        return daemon_stop(d);
}
