/* main.c - the command line and the config; run.c does the rest. */
#include "build-config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config-file.h"
#include "fleet.h"
#include "job.h"
#include "log.h"
#include "macro.h"
#include "run.h"
#include "state-dir.h"
#include "thumbnail.h"
#include "tools.h"
#include "watcher.h"

#define DEFAULT_CONFIG_FILE SYSCONFDIR "/thumbwatch/thumbwatch.conf"

static const char *arg_config;
static bool arg_once;
static bool arg_check_config;
static bool arg_gc, arg_dry_run;
static const char *arg_explain;
static const char *arg_source, *arg_output;
static const char *arg_workers, *arg_queue_size, *arg_log_level, *arg_log_target, *arg_role, *arg_watcher;
static bool arg_queue_status;

static void help(void) {
        printf("Usage:\n"
               "  thumbwatch [--config FILE]                  watch the drop folders of FILE\n"
               "  thumbwatch [--config FILE] SRC OUT          watch one drop folder, no config file needed\n"
               "  thumbwatch [--config FILE] --once [SRC OUT] thumbnail what is there now, then exit\n"
               "  thumbwatch --check-config [FILE]            validate and print the effective config\n"
               "  thumbwatch [--config FILE] --gc [--dry-run] remove thumbnails whose sources are gone\n"
               "  thumbwatch [--config FILE] --explain PATH   what thumbwatch does with PATH, and why\n"
               "  thumbwatch [--config FILE] --queue-status   the shared queue of a fleet: jobs, workers, dead letters\n"
               "\n"
               "Makes a thumbnail of every image in a drop folder: SRC/a/photo.jpg becomes\n"
               "OUT/a/photo_thumbnail.jpg, at most 128x128, unless the config says otherwise.\n"
               "\n"
               "Options:\n"
               "  -c, --config FILE     config file (default: %s)\n"
               "  -1, --once            process what is there now and exit: 0 all made or up to date,\n"
               "                        1 some failed, 2 usage or config error, 130 interrupted\n"
               "      --check-config    validate the config and print it, exit 0 or 2\n"
               "      --gc              remove orphan thumbnails (their sources are gone) and the\n"
               "                        folders of gone source folders; exit 0, or 1 if some remain\n"
               "      --dry-run         with --gc: list what would be removed, remove nothing\n"
               "      --explain PATH    the drop, ignore rule or limit that applies to PATH, where its\n"
               "                        thumbnails are, and whether they are up to date\n"
               "      --queue-status    with queue = redis://... or unix://...: the queue's length, each\n"
               "                        worker's pending jobs and idle time, and the dead letters\n"
               "      --role ROLE       all, watcher or worker: what this host does in a fleet (overrides role)\n"
               "      --watcher W       inotify or fanotify: how the drops are watched (overrides watcher)\n"
               "  -w, --workers N|auto  worker threads (overrides [thumbwatch] workers)\n"
               "  -q, --queue-size N    paths waiting for a worker (overrides queue_size)\n"
               "  -l, --log-level L     err, warning, notice, info or debug (overrides log_level)\n"
               "      --log-target T    auto, journal or stderr (overrides log_target)\n"
               "  -h, --help            show this help\n"
               "  -V, --version         show the version\n",
               DEFAULT_CONFIG_FILE);
}

/* Returns 1 to go on, 0 to exit successfully, -EINVAL for a usage error. */
static int parse_argv(int argc, char *argv[]) {
        enum { ARG_CHECK_CONFIG = 0x100, ARG_LOG_TARGET, ARG_GC, ARG_DRY_RUN, ARG_EXPLAIN, ARG_ROLE, ARG_QUEUE_STATUS, ARG_WATCHER };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "once", no_argument, NULL, '1' },
                { "check-config", no_argument, NULL, ARG_CHECK_CONFIG },
                { "gc", no_argument, NULL, ARG_GC },
                { "dry-run", no_argument, NULL, ARG_DRY_RUN },
                { "explain", required_argument, NULL, ARG_EXPLAIN },
                { "role", required_argument, NULL, ARG_ROLE },
                { "watcher", required_argument, NULL, ARG_WATCHER },
                { "queue-status", no_argument, NULL, ARG_QUEUE_STATUS },
                { "workers", required_argument, NULL, 'w' },
                { "queue-size", required_argument, NULL, 'q' },
                { "log-level", required_argument, NULL, 'l' },
                { "log-target", required_argument, NULL, ARG_LOG_TARGET },
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
                case ARG_GC:
                        arg_gc = true;
                        break;
                case ARG_DRY_RUN:
                        arg_dry_run = true;
                        break;
                case ARG_EXPLAIN:
                        arg_explain = optarg;
                        break;
                case ARG_ROLE:
                        arg_role = optarg;
                        break;
                case ARG_WATCHER:
                        arg_watcher = optarg;
                        break;
                case ARG_QUEUE_STATUS:
                        arg_queue_status = true;
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
                case ARG_LOG_TARGET:
                        arg_log_target = optarg;
                        break;
                case 'h':
                        help();
                        return 0;
                case 'V':
                        /* The optional decoders built in, then test builds' mark. */
                        printf("thumbwatch %s%s%s%s\n", PACKAGE_VERSION,
#ifdef HAVE_HEIF
                               " +heif",
#else
                               " -heif",
#endif
#ifdef HAVE_RAW
                               " +raw",
#else
                               " -raw",
#endif
#ifdef THUMBWATCH_TEST_HOOKS
                               " (test hooks)"
#else
                               ""
#endif
                        );
                        return 0;
                default:
                        fprintf(stderr, "Try 'thumbwatch --help'.\n");
                        return -EINVAL;
                }

        if (arg_dry_run && !arg_gc) {
                fprintf(stderr, "thumbwatch: --dry-run goes with --gc. Try 'thumbwatch --help'.\n");
                return -EINVAL;
        }
        if ((arg_gc || arg_explain) && (arg_once || arg_check_config || (arg_gc && arg_explain))) {
                fprintf(stderr, "thumbwatch: --gc, --explain, --once and --check-config exclude each other. "
                                "Try 'thumbwatch --help'.\n");
                return -EINVAL;
        }
        if (arg_queue_status && (arg_once || arg_check_config || arg_gc || arg_explain || optind < argc)) {
                fprintf(stderr, "thumbwatch: --queue-status goes alone (with --config FILE). "
                                "Try 'thumbwatch --help'.\n");
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
                { "log_target", arg_log_target }, { "role", arg_role },
                { "watcher", arg_watcher },
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

int main(int argc, char *argv[]) {
        ThumbwatchConfig *config = NULL;
        sigset_t mask;
        int r, status;

        /* Signals are taken synchronously (run.c); block them before anything
         * else, so that a SIGTERM during start-up stops us cleanly instead of
         * killing us. Every thread inherits the mask. */
        run_block_signals(&mask);

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
        log_setup(config->log_target);

        if (arg_check_config) {
                config_print(config, stdout);
                /* What the file cannot say: can this host watch that way? */
                r = config->role == FLEET_ROLE_WORKER ? 0 : watcher_check(config);
                config_unref(config);
                return r < 0 ? EXIT_USAGE : EXIT_OK;
        }
        if (arg_queue_status) {
                _cleanup_free_ char *msg = NULL;

                r = fleet_print_status(config, stdout, &msg);
                if (r < 0)
                        log_error_errno(r, "%s", msg ? msg : "cannot show the queue");
                config_unref(config);
                return r >= 0 ? EXIT_OK : r == -EHOSTUNREACH || r == -EIO ? EXIT_SOME_FAILED : EXIT_USAGE;
        }
        if (arg_gc) {
                status = tools_gc(config, arg_dry_run);
                config_unref(config);
                return status;
        }
        /* Before any thread starts, as GraphicsMagick requires. */
        r = thumbnail_init(argv[0]);
        if (r < 0) {
                log_error_errno(r, "cannot initialise GraphicsMagick: %m");
                config_unref(config);
                return EXIT_SOME_FAILED;
        }
        if (arg_explain) {
                status = tools_explain(config, arg_explain);
                thumbnail_shutdown();
                config_unref(config);
                return status;
        }
        state_install_crash_handler();
        status = arg_once ? run_once(config) : run_daemon(config, load_config);
        /* A worker is stuck and still runs: free nothing it may use. */
        if (status < 0)
                _exit(EXIT_SOME_FAILED);
        thumbnail_shutdown();
        config_unref(config);
        return status;
}
