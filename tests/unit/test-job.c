/* test-job.c - one source file through the job's stages, on a temporary tree
 * with images made by the gm command: what each case's outcome is and what
 * it counts. A --once context: nothing is put off to later. */
#include "build-config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config-file.h"
#include "job.h"
#include "macro.h"
#include "output-tree.h"
#include "tap.h"
#include "thumbnail.h"

static char dir[] = "/tmp/thumbwatch-test-job.XXXXXX";

static char *at(const char *rel) {
        return tap_path(dir, rel);
}

static void bail(const char *what) {
        printf("Bail out! %s\n", what);
        exit(99);
}

static void make_image(const char *rel) {
        char cmd[PATH_MAX + 64];

        (void) snprintf(cmd, sizeof cmd, "gm convert -size 64x48 xc:red '%s'", at(rel));
        if (system(cmd) != 0)
                bail("cannot run gm convert");
}

static void write_file(const char *rel, const char *text) {
        FILE *f = fopen(at(rel), "w");

        if (!f || fputs(text, f) < 0 || fclose(f) != 0)
                bail("cannot write a file");
}

static bool exists(const char *path) {
        struct stat st;

        return lstat(path, &st) == 0;
}

/* The inode of the one failure record, or 0. */
static ino_t failure_record(void) {
        DIR *d = opendir(at("out/" OUTPUT_STATE_DIR "/failed"));
        struct dirent *e;
        ino_t ino = 0;

        if (!d)
                return 0;
        while ((e = readdir(d)))
                if (e->d_name[0] != '.')
                        ino = e->d_ino;
        (void) closedir(d);
        return ino;
}

static ThumbwatchConfig *load_config(void) {
        _cleanup_free_ char *text = NULL, *msg = NULL;
        ThumbwatchConfig *c;

        if (asprintf(&text,
                     "[drop:mirror]\nsource = %s\noutput = %s\n\n"
                     "[drop:cache]\nsource = %s\noutput = %s\nlayout = freedesktop\n",
                     at("in"), at("out"), at("fd-in"), at("fd-out")) < 0)
                bail("out of memory");
        write_file("thumbwatch.conf", text);
        if (config_new(&c) < 0 || config_load(c, at("thumbwatch.conf"), &msg) < 0 || config_validate(c, &msg) < 0)
                bail(msg ? msg : "cannot load the config");
        return c;
}

static void test_mirror(JobContext *ctx) {
        ino_t record;

        make_image("in/a.jpg");
        is_int(job_run(ctx, at("in/a.jpg")), JOB_MADE, "a new file: made");
        ok(exists(at("out/a_thumbnail.jpg")), "... its thumbnail is there");
        is_int(ctx->stats.made, 1, "... counted as made");
        is_int(job_run(ctx, at("in/a.jpg")), JOB_CURRENT, "again: its thumbnail is current");
        is_int(ctx->stats.up_to_date, 1, "... counted as up to date");
        is_int(ctx->stats.made, 1, "... and not as made");

        write_file("in/bad.jpg", "not an image at all, but named like one\n");
        is_int(job_run(ctx, at("in/bad.jpg")), JOB_FAILED, "a file that is no image: failed");
        is_int(ctx->stats.failed, 1, "... counted as failed");
        record = failure_record();
        ok(record != 0, "... and remembered");
        is_int(job_run(ctx, at("in/bad.jpg")), JOB_FAILED, "again: failed before and unchanged, skipped");
        is_int(ctx->stats.failed, 2, "... counted as failed");
        ok(failure_record() == record, "... without a decode: its record is the one written the first time");
        ok(!exists(at("out/bad_thumbnail.jpg")), "... and no thumbnail");
        is_int(chmod(at("in/bad.jpg"), 0640), 0, "a chmod of it: only its ctime changes");
        is_int(job_run(ctx, at("in/bad.jpg")), JOB_FAILED, "... failed before, with the same content: skipped");
        is_int(ctx->stats.failed, 3, "... counted as failed");
        ok(failure_record() != record && failure_record() != 0, "... its record written again, for the new ctime");
        {
                MetricsDrop *m = metrics_drop(&ctx->metrics, "mirror");
                uint64_t decoded = 0, latencies = 0;

                ok(m && m->made == 1 && m->up_to_date == 1, "per drop: made and up to date counted for its metrics");
                ok(m && m->failed[metrics_class_index("unsupported")] == 3,
                   "... and failed by class, the remembered failures under the class they had");
                for (unsigned i = 0; m && i <= METRICS_BUCKETS; i++) {
                        decoded += m->decode.bucket[i];
                        latencies += m->latency.bucket[i];
                }
                ok(decoded == 1 && latencies == 0,
                   "... the decode of the thumbnail made in its histogram; no latency without a queue time");
        }

        is_int(unlink(at("in/a.jpg")), 0, "a source removed");
        is_int(job_run(ctx, at("in/a.jpg")), JOB_GONE, "... is gone");
        is_int(ctx->stats.vanished, 1, "... counted as vanished");
        ok(!exists(at("out/a_thumbnail.jpg")), "... and its thumbnail went with it");

        is_int(mkfifo(at("in/fifo.jpg"), 0600), 0, "a FIFO named like an image");
        is_int(job_run(ctx, at("in/fifo.jpg")), JOB_GONE, "... is no source: gone");
        is_int(ctx->stats.vanished, 2, "... counted as vanished");

        is_int(job_run(ctx, at("elsewhere/x.jpg")), JOB_SKIPPED, "a path in no drop: skipped");
        is_int(ctx->stats.made + ctx->stats.up_to_date + ctx->stats.failed + ctx->stats.vanished, 7,
               "... and not counted: seven jobs counted, one each");
}

static void test_freedesktop(JobContext *ctx) {
        const DropConfig *d = config_find_drop(ctx->config, at("fd-in/b.png"));
        struct stat st;
        Outputs o;

        if (!d || outputs_init(&o, d, at("fd-in/b.png")) < 0)
                bail("cannot name the freedesktop thumbnail");
        make_image("fd-in/b.png");
        is_int(job_run(ctx, at("fd-in/b.png")), JOB_MADE, "freedesktop: made");
        is_str(o.dir[0], "normal", "... 128x128 goes to normal/");
        ok(stat(o.path[0], &st) == 0 && S_ISREG(st.st_mode), "... the PNG is there, named by the URI's MD5");
        is_int(st.st_mode & 07777, 0600, "... private, as the standard asks");
        is_int(job_run(ctx, at("fd-in/b.png")), JOB_CURRENT, "... and current the second time");
        outputs_done(&o);
}

int main(void) {
        JobContext ctx;
        ThumbwatchConfig *c;

        if (!mkdtemp(dir) || thumbnail_init("test-job") < 0)
                bail("cannot set up");
        if (mkdir(at("in"), 0755) < 0 || mkdir(at("out"), 0755) < 0 || mkdir(at("fd-in"), 0755) < 0 ||
            mkdir(at("fd-out"), 0700) < 0 || mkdir(at("elsewhere"), 0755) < 0)
                bail("cannot make the tree");
        c = load_config();
        if (job_context_init(&ctx, c, true) < 0)
                bail("cannot make a job context");
        test_mirror(&ctx);
        test_freedesktop(&ctx);
        job_context_done(&ctx);
        config_unref(c);
        {
                char cmd[PATH_MAX + 16];

                (void) snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
                (void) system(cmd);
        }
        return done_testing();
}
