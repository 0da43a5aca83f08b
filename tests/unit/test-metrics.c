/* test-metrics.c - the Prometheus text of the daemon's counters, and the
 * atomic write of metrics_file. */
#include "build-config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "metrics.h"
#include "tap.h"

static char dir[] = "/tmp/thumbwatch-test-metrics.XXXXXX";

static char *format(const MetricsSample *s) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        if (!f)
                abort();
        metrics_format(f, s);
        if (fclose(f) != 0)
                abort();
        return buf;
}

static size_t count_lines(const char *text, const char *prefix) {
        size_t n = 0;

        for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                if (strncmp(l, prefix, strlen(prefix)) == 0)
                        n++;
        return n;
}

static size_t entries(const char *path) {
        DIR *d = opendir(path);
        struct dirent *e;
        size_t n = 0;

        if (!d)
                return 0;
        while ((e = readdir(d)))
                if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                        n++;
        closedir(d);
        return n;
}

/* The value of the sample line that starts with prefix (name and labels,
 * then a space), or -1. */
static double value_of(const char *text, const char *prefix) {
        size_t n = strlen(prefix);

        for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                if (strncmp(l, prefix, n) == 0 && l[n] == ' ')
                        return strtod(l + n + 1, NULL);
        return -1;
}

/* Each line of the text format, checked: a comment is "# HELP name text" or
 * "# TYPE name counter|gauge|histogram", every metric is typed before its
 * samples, and a sample is name{label="value",...} value, with only \\,
 * \" and \n escapes in a label value. Returns the first bad line's
 * number, or 0. */
static int parse_check(const char *text) {
        char typed[64][80];
        size_t n_typed = 0;
        int line = 0;

        for (const char *l = text; *l;) {
                const char *end = strchr(l, '\n'), *p = l;
                char name[80];
                size_t k = 0;

                line++;
                if (!end)
                        return line;    /* the last line ends in a newline */
                if (strncmp(l, "# HELP ", 7) == 0 || strncmp(l, "# TYPE ", 7) == 0) {
                        bool type = l[2] == 'T';

                        p = l + 7;
                        while (p < end && *p != ' ' && k < sizeof name - 1)
                                name[k++] = *p++;
                        name[k] = 0;
                        if (p >= end || k == 0)
                                return line;
                        if (type) {
                                size_t t = (size_t) (end - p - 1);

                                if (!((t == 7 && strncmp(p + 1, "counter", 7) == 0) ||
                                      (t == 5 && strncmp(p + 1, "gauge", 5) == 0) ||
                                      (t == 9 && strncmp(p + 1, "histogram", 9) == 0)) || n_typed == 64)
                                        return line;
                                (void) snprintf(typed[n_typed++], sizeof typed[0], "%s", name);
                        }
                        l = end + 1;
                        continue;
                }
                while (p < end && (isalnum((unsigned char) *p) || *p == '_') && k < sizeof name - 1)
                        name[k++] = *p++;
                name[k] = 0;
                if (k == 0)
                        return line;
                {
                        bool found = false;

                        for (size_t i = 0; i < n_typed && !found; i++) {
                                size_t m = strlen(typed[i]);

                                found = strcmp(name, typed[i]) == 0 ||
                                        (strncmp(name, typed[i], m) == 0 &&
                                         (strcmp(name + m, "_bucket") == 0 || strcmp(name + m, "_sum") == 0 ||
                                          strcmp(name + m, "_count") == 0));
                        }
                        if (!found)
                                return line;
                }
                if (*p == '{') {
                        p++;
                        for (;;) {
                                if (!isalpha((unsigned char) *p) && *p != '_')
                                        return line;
                                while (isalnum((unsigned char) *p) || *p == '_')
                                        p++;
                                if (p[0] != '=' || p[1] != '"')
                                        return line;
                                for (p += 2; p < end && *p != '"'; p++)
                                        if (*p == '\\') {
                                                p++;
                                                if (*p != '\\' && *p != '"' && *p != 'n')
                                                        return line;
                                        }
                                if (p >= end)
                                        return line;
                                p++;
                                if (*p == ',') {
                                        p++;
                                        continue;
                                }
                                if (*p != '}')
                                        return line;
                                p++;
                                break;
                        }
                }
                if (*p != ' ')
                        return line;
                {
                        char *e;

                        (void) strtod(p + 1, &e);
                        if (e != end || e == p + 1)
                                return line;
                }
                l = end + 1;
        }
        return 0;
}

/* Threads that add and count the same drops at once, as workers do: each
 * name gets one slot, and no count is lost. */
#define THREADS 4
#define ROUNDS 20000
static MetricsCounters shared;
static const char *const names[] = { "a", "b", "c", "d", "e", "f" };

static void *counter_thread(void *arg) {
        (void) arg;
        for (int i = 0; i < ROUNDS; i++) {
                MetricsDrop *d = metrics_drop(&shared, names[i % ELEMENTSOF(names)]);

                if (!d)
                        abort();
                atomic_fetch_add_explicit(&d->made, 1, memory_order_relaxed);
                metrics_observe(&d->decode, (uint64_t) i);
                metrics_count_failed(d, "corrupt");
        }
        return NULL;
}

static void test_threads(void) {
        pthread_t t[THREADS];
        size_t slots = 0;
        uint64_t made = 0, observed = 0, failed = 0;
        bool unique = true;

        for (int i = 0; i < THREADS; i++)
                if (pthread_create(&t[i], NULL, counter_thread, NULL) != 0)
                        abort();
        for (int i = 0; i < THREADS; i++)
                (void) pthread_join(t[i], NULL);
        for (MetricsDrop *d = atomic_load(&shared.drops); d; d = d->next) {
                slots++;
                made += d->made;
                failed += d->failed[metrics_class_index("corrupt")];
                for (unsigned b = 0; b <= METRICS_BUCKETS; b++)
                        observed += d->decode.bucket[b];
                for (MetricsDrop *o = d->next; o; o = o->next)
                        unique = unique && strcmp(o->name, d->name) != 0;
        }
        is_int(slots, ELEMENTSOF(names), "threads adding the same drops at once: one slot per drop");
        ok(unique, "... no name twice");
        is_int(made, THREADS * ROUNDS, "... and no count lost");
        is_int(observed, THREADS * ROUNDS, "... nor an observation");
        is_int(failed, THREADS * ROUNDS, "... nor a failure");
        metrics_counters_done(&shared);
}

int main(void) {
        MetricsCounters counters = {};
        MetricsSample s = { .vanished = 1, .retrying = 2, .queued = 7, .watches = 5, .memory_used = 1 << 20,
                            .memory_total = 1 << 30, .drops = &counters };
        MetricsDrop *photos, *odd;
        char path[300], *text, *msg = NULL;
        struct stat st;

        text = format(&s);
        is_int(parse_check(text), 0, "no drop counted yet: the text parses");
        ok(strstr(text, "# TYPE thumbwatch_made_total counter\n# HELP thumbwatch_failed_total"),
           "... and made has no sample yet");
        free(text);

        photos = metrics_drop(&counters, "photos");
        odd = metrics_drop(&counters, "a \"b\" c\\d\ne");
        ok(photos && odd && photos != odd, "two drops, two slots");
        ok(metrics_drop(&counters, "photos") == photos, "... a name found again is the same slot");
        for (int i = 0; i < 12; i++)
                atomic_fetch_add(&photos->made, 1);
        atomic_fetch_add(&photos->up_to_date, 40);
        metrics_count_failed(photos, "corrupt");
        metrics_count_failed(photos, "corrupt");
        metrics_count_failed(odd, "timeout");
        metrics_count_failed(odd, "no-such-class");
        is_int(metrics_class_index("collision"), 6, "collision is a class");
        is_int(metrics_class_index("crashed"), 5, "... and crashed");
        /* 3 ms, 5 ms (on a bound: le is inclusive), 7 ms, 2 s, 61 s (only +Inf) */
        metrics_observe(&photos->decode, 3000);
        metrics_observe(&photos->decode, 5000);
        metrics_observe(&photos->decode, 7000);
        metrics_observe(&photos->decode, 2000000);
        metrics_observe(&photos->decode, 61000000);
        metrics_observe(&photos->latency, 20000);

        text = format(&s);
        is_int(parse_check(text), 0, "the text parses: HELP, TYPE, every sample typed, labels well formed");
        ok(value_of(text, "thumbwatch_made_total{drop=\"photos\"}") == 12, "made per drop");
        ok(value_of(text, "thumbwatch_up_to_date_total{drop=\"photos\"}") == 40, "up to date per drop");
        ok(value_of(text, "thumbwatch_failed_total{drop=\"photos\",class=\"corrupt\"}") == 2,
           "failed per drop and class");
        ok(value_of(text, "thumbwatch_failed_total{drop=\"photos\",class=\"io\"}") == 0,
           "... every class has a sample, 0 too");
        is_int(count_lines(text, "thumbwatch_failed_total{"), 2 * METRICS_CLASSES, "... one per class and drop");
        ok(value_of(text, "thumbwatch_failed_total{drop=\"a \\\"b\\\" c\\\\d\\ne\",class=\"timeout\"}") == 1,
           "a drop name with a quote, a backslash and a newline: escaped");
        ok(value_of(text, "thumbwatch_failed_total{drop=\"a \\\"b\\\" c\\\\d\\ne\",class=\"io\"}") == 1,
           "an unknown class counts as io");
        ok(value_of(text, "thumbwatch_decode_seconds_bucket{drop=\"photos\",le=\"0.005\"}") == 2,
           "histogram: a bucket counts what is at or below its bound");
        ok(value_of(text, "thumbwatch_decode_seconds_bucket{drop=\"photos\",le=\"0.01\"}") == 3,
           "... cumulative");
        ok(value_of(text, "thumbwatch_decode_seconds_bucket{drop=\"photos\",le=\"2.5\"}") == 4,
           "... up the buckets");
        ok(value_of(text, "thumbwatch_decode_seconds_bucket{drop=\"photos\",le=\"60\"}") == 4,
           "... the last bound is 60 s");
        ok(value_of(text, "thumbwatch_decode_seconds_bucket{drop=\"photos\",le=\"+Inf\"}") == 5 &&
           value_of(text, "thumbwatch_decode_seconds_count{drop=\"photos\"}") == 5,
           "... +Inf is _count");
        ok(value_of(text, "thumbwatch_decode_seconds_sum{drop=\"photos\"}") == 63.015,
           "... _sum in seconds");
        ok(value_of(text, "thumbwatch_latency_seconds_count{drop=\"photos\"}") == 1 &&
           value_of(text, "thumbwatch_latency_seconds_bucket{drop=\"photos\",le=\"0.025\"}") == 1 &&
           value_of(text, "thumbwatch_latency_seconds_bucket{drop=\"photos\",le=\"0.01\"}") == 0,
           "the latency histogram");
        is_int(count_lines(text, "thumbwatch_latency_seconds_bucket{drop=\"photos\""), METRICS_BUCKETS + 1,
               "... a dozen buckets and +Inf");
        ok(value_of(text, "thumbwatch_decode_seconds_count{drop=\"a \\\"b\\\" c\\\\d\\ne\"}") == 0,
           "a drop with nothing made: its histograms are 0");
        ok(strstr(text, "thumbwatch_made_total{drop=\"photos\"}") <
                   strstr(text, "thumbwatch_made_total{drop=\"a \\\"b"),
           "drops in the order they were first counted");
        ok(strstr(text, "# TYPE thumbwatch_queued gauge\nthumbwatch_queued 7\n"), "the local queue is a gauge");
        ok(strstr(text, "\nthumbwatch_memory_budget_bytes 1073741824\n"), "the memory budget in bytes");
        is_int(count_lines(text, "# HELP "), count_lines(text, "# TYPE "), "every metric has HELP and TYPE");
        ok(!strstr(text, "thumbwatch_queue_"), "no queue metrics without a Redis queue");
        free(text);
        s.fleet = true;
        s.queue_connected = true;
        s.queue_length = 9;
        s.queue_pending = 4;
        text = format(&s);
        ok(strstr(text, "\nthumbwatch_queue_connected 1\n") && strstr(text, "\nthumbwatch_queue_length 9\n") &&
           strstr(text, "\nthumbwatch_queue_pending 4\n"),
           "with a Redis queue: connected, length and pending");
        is_int(parse_check(text), 0, "... and the text parses");
        free(text);
        ok(parse_check("thumbwatch_x 1\n") == 1 && parse_check("# TYPE a gauge\na{l=\"x\\y\"} 1\n") == 2 &&
           parse_check("# TYPE a gauge\na 1") == 2,
           "the parse check fails on an untyped sample, a bad escape, a last line cut short");

        if (!mkdtemp(dir))
                return 99;
        (void) snprintf(path, sizeof path, "%s/thumbwatch.prom", dir);
        is_int(metrics_write(path, &s, &msg), 0, "metrics_write() writes the file");
        ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644, "... mode 0644, readable by node_exporter");
        atomic_fetch_add(&photos->made, 1);
        is_int(metrics_write(path, &s, &msg), 0, "... and replaces it");
        is_int(entries(dir), 1, "... leaving no temporary behind");
        {
                FILE *f = fopen(path, "r");
                char line[200];
                bool found = false;

                while (f && fgets(line, sizeof line, f))
                        found = found || strcmp(line, "thumbwatch_made_total{drop=\"photos\"} 13\n") == 0;
                if (f)
                        fclose(f);
                ok(found, "... with the new values");
        }
        (void) snprintf(path, sizeof path, "%s/missing/thumbwatch.prom", dir);
        is_int(metrics_write(path, &s, &msg), -ENOENT, "a folder that is not there: -ENOENT");
        ok(msg && strstr(msg, "cannot write the metrics file") && strstr(msg, "/missing/"), "... saying where");
        free(msg);
        (void) snprintf(path, sizeof path, "%s/thumbwatch.prom", dir);
        (void) unlink(path);
        (void) rmdir(dir);
        metrics_counters_done(&counters);
        test_threads();
        return done_testing();
}
