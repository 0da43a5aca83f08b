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
 * asynchronous handlers) and sends STATUS= and WATCHDOG=; the watcher
 * thread turns events into paths; the scanner thread turns folder requests
 * into paths; N workers make thumbnails. Shutdown order: STOPPING=1, stop
 * the watcher and the scanner, close the queue, let the workers drain it
 * for up to stop_timeout, then skip the rest. A reload stops the watcher and
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

#include "job.h"
#include "log.h"
#include "macro.h"
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

/* What a crash left behind: temporaries (invariant 5) and the files the
 * workers were decoding. Only before any worker runs: on a reload these are
 * the live ones. */
static void recover_output(const DropConfig *d, const char *where) {
        long n;

        if (!output_keeps_stamps(d))
                log_warning("%s: output '%s' keeps no extended attributes: a thumbnail's identity there is "
                            "its mtime alone, two sources giving one name are not told apart, and "
                            "thumbwatch removes no file there but its own temporaries (--gc included)",
                            where, d->output);
        n = output_clean_temporaries(d);
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
                        recover_output(d, where);
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

static bool services_ready(Services *s) {
        return watcher_ready(s->watcher);
}

static bool services_exited(Services *s) {
        return (!s->watcher || !watcher_running(s->watcher)) && (!s->scanner || !scanner_running(s->scanner));
}

/* Waits until done(s), taking signals meanwhile: SIGTERM or SIGINT ends the
 * wait and is returned; a SIGHUP is remembered in *hup (a reload after this
 * one). Returns 0 when done. */
static int wait_services(Services *s, bool (*done)(Services *s), const sigset_t *mask, bool *hup) {
        while (!done(s)) {
                int sig = wait_signal(mask, 50 * 1000);

                if (sig == SIGTERM || sig == SIGINT)
                        return sig;
                if (sig == SIGHUP)
                        *hup = true;
        }
        return 0;
}

static void send_status(JobContext *job, PathQueue *queue, Services *s) {
        const JobStats *st = &job->stats;

        notify_status("queued %zu, made %llu, failed %llu, up to date %llu, retrying %llu, watches %u, "
                      "memory %llu of %llu MB",
                      path_queue_length(queue), (unsigned long long) atomic_load(&st->made),
                      (unsigned long long) atomic_load(&st->failed), (unsigned long long) atomic_load(&st->up_to_date),
                      (unsigned long long) atomic_load(&st->retrying), watcher_watches(s->watcher),
                      (unsigned long long) (memory_budget_used(job->budget) >> 20),
                      (unsigned long long) (memory_budget_total(job->budget) >> 20));
}

/* WATCHDOG=1 only while the watcher loops and no worker is stuck on one
 * file. Logs when that changes, not at every tick. */
static bool healthy(const ThumbwatchConfig *c, WorkerPool *pool, Services *s, bool *was_healthy) {
        uint64_t now = now_usec(), longest = worker_pool_longest_job(pool), beat = watcher_heartbeat(s->watcher);
        bool ok = true;

        /* A decode is abandoned at job_timeout; a worker still busy at twice
         * that is stuck where the abandoning cannot reach it. */
        if (longest > 2 * c->job_timeout_usec) {
                if (*was_healthy)
                        log_warning("a worker has been on one file for %.1f s (twice job_timeout is %.1f s): "
                                    "not pinging the watchdog", (double) longest / 1e6,
                                    2 * (double) c->job_timeout_usec / 1e6);
                ok = false;
        } else if (now > beat && now - beat > WATCHER_STALL_USEC) {
                if (*was_healthy)
                        log_warning("the watcher has not made progress for %llu s: not pinging the watchdog",
                                    (unsigned long long) ((now - beat) / 1000000));
                ok = false;
        } else if (!*was_healthy)
                log_notice("workers and watcher make progress again: pinging the watchdog");
        *was_healthy = ok;
        return ok;
}

/* A reload's workers and queue_size, applied to the running pool and queue.
 * Neither waits: workers beyond the new count finish the file in hand and
 * exit, and a queue longer than its new capacity keeps every path. */
static void resize_workers(const ThumbwatchConfig *c, WorkerPool *pool, PathQueue *queue) {
        size_t workers = worker_pool_size(pool), capacity = path_queue_capacity(queue);
        int r;

        if (workers == config_workers(c) && capacity == c->queue_size)
                return;
        r = path_queue_set_capacity(queue, c->queue_size);
        if (r < 0)
                log_warning_errno(r, "cannot resize the queue to %zu, keeping %zu: %m", c->queue_size, capacity);
        r = worker_pool_resize(pool, config_workers(c));
        if (r < 0)
                log_warning_errno(r, "cannot start %zu workers, running %zu: %m", config_workers(c),
                                  worker_pool_size(pool));
        log_info("workers %zu -> %zu, queue_size %zu -> %zu", workers, worker_pool_size(pool), capacity,
                 path_queue_capacity(queue));
}

/* SIGHUP: the config read again, the worker pool and the queue resized,
 * and the watcher and scanner restarted on it. Signals are taken all the
 * while: a SIGTERM or SIGINT is returned at once, for the caller to stop (the
 * services may be half stopped; stopping them again is safe); a SIGHUP that
 * arrives meanwhile is returned too, for another reload after this one.
 * Returns 0 otherwise. */
static int reload(ThumbwatchConfig **config, JobContext *job, PathQueue *queue, WorkerPool *pool, Services *s,
                  run_reload_fn fn, const sigset_t *mask) {
        ThumbwatchConfig *next = NULL;
        bool hup = false;
        int r, sig;

        notify_reloading();
        log_info("reloading the config");
        r = fn(&next);
        if (r >= 0 && run_prepare_drops(next, false, false) < 0)
                r = -EINVAL;
        if (r < 0) {
                config_unref(next);
                log_full_errno_fields(LOG_ERR, r, ((const LogField[]) { { "MESSAGE_ID", LOG_MESSAGE_RELOAD } }), 1,
                                      "reload failed, still running the previous config");
                notify_ready();
                return 0;
        }
        services_stop(s);
        sig = wait_services(s, services_exited, mask, &hup);
        if (sig != 0) {
                config_unref(next);
                return sig;
        }
        services_join(s);
        log_set_max_level(next->log_level);
        job_context_set_config(job, next);
        config_unref(*config);
        *config = next;
        resize_workers(next, pool, queue);
        r = services_start(s, next, queue);
        if (r < 0) {
                /* Nothing watches now; the supervisor's restart is the way back. */
                log_error_errno(r, "cannot restart the watcher after a reload: %m");
                return 0;
        }
        /* READY=1 and the line saying so once the folders are watched. */
        sig = wait_services(s, services_ready, mask, &hup);
        if (sig != 0)
                return sig;
        log_full_errno_fields(LOG_INFO, 0, ((const LogField[]) { { "MESSAGE_ID", LOG_MESSAGE_RELOAD } }), 1,
                              "reloaded: drops %zu, folders watched %u", next->n_drops, watcher_watches(s->watcher));
        notify_ready();
        return hup ? SIGHUP : 0;
}

int run_daemon(ThumbwatchConfig *config, run_reload_fn reload_fn) {
        uint64_t watchdog = notify_watchdog_usec(), tick, last_status = 0, catch_up_start = now_usec();
        bool catching_up = true, idle, was_idle = false;
        PathQueue *queue = NULL;
        WorkerPool *pool = NULL;
        Services services = {};
        bool was_healthy = true, hup = false;
        JobContext job;
        sigset_t mask;
        int r, sig;

        config = config_ref(config);
        if (run_prepare_drops(config, false, true) < 0) {
                config_unref(config);
                return EXIT_USAGE;
        }
        block_signals(&mask, true);
        r = workers_start(config, false, &job, &queue, &pool);
        if (r < 0) {
                log_error_errno(r, "cannot start the workers: %m");
                config_unref(config);
                return EXIT_SOME_FAILED;
        }
        r = services_start(&services, config, queue);
        if (r < 0) {
                log_error_errno(r, "cannot start the watcher: %m");
                path_queue_close(queue);
                worker_pool_join(pool);
                workers_free(&job, queue, pool);
                config_unref(config);
                return EXIT_SOME_FAILED;
        }

        /* READY=1 once every root is watched (or known to be missing). A
         * SIGHUP meanwhile is a reload after that. */
        sig = wait_services(&services, services_ready, &mask, &hup);
        if (sig == 0) {
                notify_ready();
                log_info("ready: drops %zu, folders watched %u, workers %zu, max_memory %llu MB", config->n_drops,
                         watcher_watches(services.watcher), config_workers(config),
                         (unsigned long long) (memory_budget_total(job.budget) >> 20));
        }

        tick = watchdog > 0 && watchdog / 2 < STATUS_INTERVAL_USEC ? watchdog / 2 : STATUS_INTERVAL_USEC;
        while (sig != SIGTERM && sig != SIGINT) {
                uint64_t now;

                /* Look often while catching up, so that its end is logged on time. */
                sig = hup ? SIGHUP : wait_signal(&mask, catching_up ? CATCH_UP_POLL_USEC : tick);
                hup = false;
                if (sig == SIGHUP) {
                        int next = reload(&config, &job, queue, pool, &services, reload_fn, &mask);

                        catching_up = true;
                        catch_up_start = now_usec();
                        if (next == SIGTERM || next == SIGINT)
                                break;
                        hup = next == SIGHUP;
                }
                now = now_usec();
                idle = !(services.scanner && scanner_busy(services.scanner)) && path_queue_idle(queue);
                if (idle && !was_idle)
                        thumbnail_release_memory();
                was_idle = idle;
                if (catching_up && idle) {
                        catching_up = false;
                        log_info("caught up in %.2f s: made %llu, up to date %llu, failed %llu",
                                 (double) (now - catch_up_start) / 1e6,
                                 (unsigned long long) atomic_load(&job.stats.made),
                                 (unsigned long long) atomic_load(&job.stats.up_to_date),
                                 (unsigned long long) atomic_load(&job.stats.failed));
                }
                (void) job_push_due_retries(&job, queue, now);
                if (atomic_exchange(&job.rescan_wanted, false) && services.scanner)
                        scanner_request_all(services.scanner);
                if (now - last_status >= STATUS_INTERVAL_USEC || sig == SIGHUP) {
                        send_status(&job, queue, &services);
                        last_status = now;
                }
                if (watchdog > 0 && healthy(config, pool, &services, &was_healthy))
                        notify_watchdog();
        }

        notify_stopping();
        log_info("stopping: finishing %zu queued files (at most %u s)", path_queue_length(queue),
                 config->stop_timeout);
        services_stop(&services);
        if (services.watcher)
                watcher_join(services.watcher);
        path_queue_close(queue);
        services_join(&services);
        r = worker_pool_join_until(pool, now_usec() + (uint64_t) config->stop_timeout * 1000000);
        if (r == -ETIMEDOUT) {
                atomic_store(&job.stopping, true);
                log_warning("stop_timeout (%u s) passed: skipping %zu queued files (the next start catches up)",
                            config->stop_timeout, path_queue_length(queue));
                r = worker_pool_join_until(pool, now_usec() + 2 * config->job_timeout_usec);
                if (r == -ETIMEDOUT) {
                        log_error("a worker is stuck on one file; exiting without waiting for it");
                        _exit(EXIT_SOME_FAILED);
                }
        }
        log_info("stopped: made %llu, failed %llu, up to date %llu",
                 (unsigned long long) atomic_load(&job.stats.made),
                 (unsigned long long) atomic_load(&job.stats.failed),
                 (unsigned long long) atomic_load(&job.stats.up_to_date));
        workers_free(&job, queue, pool);
        config_unref(config);
        return EXIT_OK;
}
