/* main.c - command line, config, and wiring: config -> scan/queue -> workers
 * -> thumbnail. Only main() decides the exit status.
 *
 * Threads (--once): the main thread handles signals and draws the progress
 * bar; the feeder thread walks the trees, pushes paths (blocking when the
 * queue is full), closes the queue and joins the workers; N workers run
 * job_process(). Shutdown: SIGINT/SIGTERM set job.stopping, the feeder stops
 * pushing, the workers skip what is queued and finish the file in hand. */
#include "build-config.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "job.h"
#include "log.h"
#include "macro.h"
#include "path-queue.h"
#include "scan.h"
#include "thumbnail.h"
#include "worker-pool.h"

#define DEFAULT_CONFIG_FILE SYSCONFDIR "/thumbwatch/thumbwatch.conf"

enum {
        EXIT_OK = 0,
        EXIT_SOME_FAILED = 1,
        EXIT_USAGE = 2,
        EXIT_INTERRUPTED = 130,
};

static const char *arg_config;
static bool arg_once;
static bool arg_check_config;
static const char *arg_source, *arg_output;
static const char *arg_workers, *arg_queue_size, *arg_log_level;

static void help(void) {
        printf("Usage:\n"
               "  thumbwatch [--config FILE]                  watch the drop folders of FILE\n"
               "  thumbwatch [--config FILE] SRC OUT          watch one drop folder, no config file needed\n"
               "  thumbwatch [--config FILE] --once [SRC OUT] thumbnail what is there now, then exit\n"
               "  thumbwatch --check-config [FILE]            validate and print the effective config\n"
               "\n"
               "Makes a thumbnail of every image in a drop folder: SRC/a/photo.jpg becomes\n"
               "OUT/a/photo_thumbnail.jpg, at most 128x128, unless the config says otherwise.\n"
               "\n"
               "Options:\n"
               "  -c, --config FILE     config file (default: %s)\n"
               "  -1, --once            process what is there now and exit: 0 all made or up to date,\n"
               "                        1 some failed, 2 usage or config error, 130 interrupted\n"
               "      --check-config    validate the config and print it, exit 0 or 2\n"
               "  -w, --workers N|auto  worker threads (overrides [thumbwatch] workers)\n"
               "  -q, --queue-size N    paths waiting for a worker (overrides queue_size)\n"
               "  -l, --log-level L     err, warning, notice, info or debug (overrides log_level)\n"
               "  -h, --help            show this help\n"
               "  -V, --version         show the version\n",
               DEFAULT_CONFIG_FILE);
}

/* Returns 1 to go on, 0 to exit successfully, -EINVAL for a usage error. */
static int parse_argv(int argc, char *argv[]) {
        enum { ARG_CHECK_CONFIG = 0x100 };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "once", no_argument, NULL, '1' },
                { "check-config", no_argument, NULL, ARG_CHECK_CONFIG },
                { "workers", required_argument, NULL, 'w' },
                { "queue-size", required_argument, NULL, 'q' },
                { "log-level", required_argument, NULL, 'l' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {},
        };
        int c, n;

        while ((c = getopt_long(argc, argv, "c:1w:q:l:hV", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        arg_config = optarg;
                        break;
                case '1':
                        arg_once = true;
                        break;
                case ARG_CHECK_CONFIG:
                        arg_check_config = true;
                        break;
                case 'w':
                        arg_workers = optarg;
                        break;
                case 'q':
                        arg_queue_size = optarg;
                        break;
                case 'l':
                        arg_log_level = optarg;
                        break;
                case 'h':
                        help();
                        return 0;
                case 'V':
                        printf("thumbwatch %s\n", PACKAGE_VERSION);
                        return 0;
                default:
                        fprintf(stderr, "Try 'thumbwatch --help'.\n");
                        return -EINVAL;
                }

        n = argc - optind;
        if (arg_check_config && n == 1 && !arg_config) {
                arg_config = argv[optind];
                return 1;
        }
        if (n == 2) {
                arg_source = argv[optind];
                arg_output = argv[optind + 1];
        } else if (n != 0) {
                fprintf(stderr, "thumbwatch: expected SRC and OUT, or neither. Try 'thumbwatch --help'.\n");
                return -EINVAL;
        }
        return 1;
}

/* The config from the file (if any) and the command line, validated. */
static int load_config(ThumbwatchConfig **ret) {
        ThumbwatchConfig *c = NULL;
        _cleanup_free_ char *msg = NULL;
        const char *overrides[][2] = {
                { "workers", arg_workers }, { "queue_size", arg_queue_size }, { "log_level", arg_log_level },
        };
        const char *path = arg_config;
        int r;

        r = config_new(&c);
        if (r < 0)
                return log_error_errno(r, "cannot allocate the config: %m");
        /* With SRC and OUT the file is optional: read only the one named. */
        if (!path && !arg_source)
                path = DEFAULT_CONFIG_FILE;
        if (path) {
                r = config_load(c, path, &msg);
                if (r < 0)
                        goto fail;
        }
        for (size_t i = 0; i < ELEMENTSOF(overrides); i++) {
                if (!overrides[i][1])
                        continue;
                r = config_set_global(c, overrides[i][0], overrides[i][1], &msg);
                if (r < 0)
                        goto fail;
        }
        if (arg_source) {
                r = config_set_single_drop(c, arg_source, arg_output, &msg);
                if (r < 0)
                        goto fail;
        }
        r = config_validate(c, &msg);
        if (r < 0)
                goto fail;
        *ret = c;
        return 0;
fail:
        config_free(c);
        if (msg)
                return log_error_errno(r, "%s", msg);
        return log_error_errno(r, "cannot load the config: %m");
}

/* Where a drop was defined, for messages. */
static void drop_where(const ThumbwatchConfig *c, const DropConfig *d, char *buf, size_t size) {
        if (d->line > 0)
                (void) snprintf(buf, size, "%s:%u: [drop:%s] ", c->path, d->line, d->name);
        else
                buf[0] = '\0';
}

/* Checks that every source is a readable folder and creates every output. */
static int prepare_drops(const ThumbwatchConfig *c) {
        char where[4352];

        for (size_t i = 0; i < c->n_drops; i++) {
                const DropConfig *d = &c->drops[i];
                struct stat st;
                int r;

                drop_where(c, d, where, sizeof where);
                if (stat(d->source, &st) < 0)
                        return log_error_errno(errno, "%ssource '%s': %m", where, d->source);
                if (!S_ISDIR(st.st_mode))
                        return log_error_errno(ENOTDIR, "%ssource '%s': %m", where, d->source);
                if (access(d->source, R_OK | X_OK) < 0)
                        return log_error_errno(errno, "%ssource '%s' cannot be read: %m", where, d->source);
                r = job_mkdir_p(d->output);
                if (r < 0)
                        return log_error_errno(r, "%scannot create output folder '%s': %m", where, d->output);
                if (stat(d->output, &st) < 0 || !S_ISDIR(st.st_mode))
                        return log_error_errno(ENOTDIR, "%soutput '%s': %m", where, d->output);
                if (access(d->output, W_OK | X_OK) < 0)
                        return log_error_errno(errno, "%soutput folder '%s' is not writable: %m", where, d->output);
        }
        return 0;
}

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

static void *feeder_thread(void *arg) {
        Feeder *f = arg;

        for (size_t i = 0; i < f->config->n_drops; i++) {
                const DropConfig *d = &f->config->drops[i];
                long r = scan_drop(f->config, d, feed, f);

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

static double now_sec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static uint64_t done_count(const JobStats *s) {
        return atomic_load(&s->made) + atomic_load(&s->up_to_date) + atomic_load(&s->failed) +
               atomic_load(&s->vanished);
}

static void draw_progress(const JobStats *s, long total, double elapsed) {
        uint64_t done = done_count(s);
        int width = 30, filled = total > 0 ? (int) ((double) width * (double) done / (double) total) : 0;

        if (filled > width)
                filled = width;
        fprintf(stderr, "\r\033[K[%.*s%*s] %llu/%ld  %.1f/s", filled, "##############################",
                width - filled, "", (unsigned long long) done, total,
                elapsed > 0 ? (double) atomic_load(&s->made) / elapsed : 0.0);
        fflush(stderr);
}

static int run_once(const ThumbwatchConfig *c) {
        _cleanup_(path_queue_freep) PathQueue *queue = NULL;
        bool progress = isatty(STDERR_FILENO) && !log_to_journal();
        JobContext job = { .config = c };
        WorkerPool *pool = NULL;
        Feeder feeder = {};
        pthread_t feeder_tid;
        bool interrupted = false;
        double start = now_sec(), elapsed;
        long total = 0;
        size_t workers = c->workers > 0 ? c->workers : worker_pool_default_size();
        sigset_t mask;
        int r;

        r = prepare_drops(c);
        if (r < 0)
                return EXIT_USAGE;
        if (progress)
                for (size_t i = 0; i < c->n_drops; i++)
                        (void) scan_drop(c, &c->drops[i], count_one, &total);

        /* Signals are taken synchronously by the main thread; every thread
         * started from here inherits the blocked mask. */
        (void) sigemptyset(&mask);
        (void) sigaddset(&mask, SIGINT);
        (void) sigaddset(&mask, SIGTERM);
        (void) sigaddset(&mask, SIGUSR1);
        (void) pthread_sigmask(SIG_BLOCK, &mask, NULL);

        r = path_queue_new(c->queue_size, &queue);
        if (r >= 0)
                r = worker_pool_new(workers, queue, job_process, &job, &pool);
        if (r < 0) {
                log_error_errno(r, "cannot set up the workers: %m");
                return EXIT_SOME_FAILED;
        }
        feeder = (Feeder) { .config = c, .queue = queue, .pool = pool, .job = &job, .main_thread = pthread_self() };
        r = worker_pool_start(pool);
        if (r >= 0) {
                r = -pthread_create(&feeder_tid, NULL, feeder_thread, &feeder);
        }
        if (r < 0) {
                log_error_errno(r, "cannot start threads: %m");
                path_queue_close(queue);
                worker_pool_join(pool);
                worker_pool_free(pool);
                return EXIT_SOME_FAILED;
        }

        while (!atomic_load(&feeder.finished)) {
                struct timespec tick = { 0, 100 * 1000 * 1000 };
                int sig = sigtimedwait(&mask, NULL, &tick);

                if ((sig == SIGINT || sig == SIGTERM) && !interrupted) {
                        interrupted = true;
                        atomic_store(&job.stopping, true);
                        log_notice("interrupted: finishing the files in hand, then stopping");
                }
                if (progress)
                        draw_progress(&job.stats, total > feeder.found ? total : atomic_load(&feeder.found),
                                      now_sec() - start);
        }
        (void) pthread_join(feeder_tid, NULL);
        worker_pool_free(pool);
        if (progress)
                fprintf(stderr, "\r\033[K");

        elapsed = now_sec() - start;
        printf("made %llu, up to date %llu, failed %llu, gone %llu in %.2f s, %.1f images/s\n",
               (unsigned long long) atomic_load(&job.stats.made),
               (unsigned long long) atomic_load(&job.stats.up_to_date),
               (unsigned long long) atomic_load(&job.stats.failed),
               (unsigned long long) atomic_load(&job.stats.vanished), elapsed,
               elapsed > 0 ? (double) atomic_load(&job.stats.made) / elapsed : 0.0);
        (void) fflush(stdout);
        if (interrupted)
                return EXIT_INTERRUPTED;
        if (atomic_load(&job.stats.failed) > 0 || atomic_load(&feeder.scan_failed))
                return EXIT_SOME_FAILED;
        return EXIT_OK;
}

int main(int argc, char *argv[]) {
        ThumbwatchConfig *config = NULL;
        int r, status;

        log_setup(LOG_TARGET_AUTO);
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_USAGE : EXIT_OK;
        if (arg_log_level) {
                r = log_level_from_string(arg_log_level);
                if (r >= 0)
                        log_set_max_level(r);
        }

        r = load_config(&config);
        if (r < 0 || !config)
                return EXIT_USAGE;
        log_set_max_level(config->log_level);

        if (arg_check_config) {
                config_print(config, stdout);
                config_free(config);
                return EXIT_OK;
        }
        if (!arg_once) {
                log_error("watching drop folders is not in this build yet; use --once");
                config_free(config);
                return EXIT_USAGE;
        }

        r = thumbnail_init(argv[0]);
        if (r < 0) {
                log_error_errno(r, "cannot initialise GraphicsMagick: %m");
                config_free(config);
                return EXIT_SOME_FAILED;
        }
        status = run_once(config);
        thumbnail_shutdown();
        config_free(config);
        return status;
}
