/* test-metrics.c - the Prometheus text of the daemon's counters, and the
 * atomic write of metrics_file. */
#include "build-config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

int main(void) {
        MetricsSample s = { .made = 12, .failed = 3, .up_to_date = 40, .vanished = 1, .retrying = 2, .queued = 7,
                            .watches = 5, .memory_used = 1 << 20, .memory_total = 1 << 30 };
        char path[300], *text, *msg = NULL;
        struct stat st;

        text = format(&s);
        ok(strstr(text, "\nthumbwatch_made_total 12\n"), "made is a counter sample");
        ok(strstr(text, "# TYPE thumbwatch_made_total counter\n"), "... typed counter");
        ok(strstr(text, "\nthumbwatch_failed_total 3\n") && strstr(text, "\nthumbwatch_up_to_date_total 40\n"),
           "failed and up to date");
        ok(strstr(text, "# TYPE thumbwatch_queued gauge\nthumbwatch_queued 7\n"), "the local queue is a gauge");
        ok(strstr(text, "\nthumbwatch_memory_budget_bytes 1073741824\n"), "the memory budget in bytes");
        is_int(count_lines(text, "# HELP "), count_lines(text, "# TYPE "), "every metric has HELP and TYPE");
        is_int(count_lines(text, "thumbwatch_"), count_lines(text, "# TYPE "), "... and one sample");
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
        free(text);

        if (!mkdtemp(dir))
                return 99;
        (void) snprintf(path, sizeof path, "%s/thumbwatch.prom", dir);
        is_int(metrics_write(path, &s, &msg), 0, "metrics_write() writes the file");
        ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644, "... mode 0644, readable by node_exporter");
        s.made = 13;
        is_int(metrics_write(path, &s, &msg), 0, "... and replaces it");
        is_int(entries(dir), 1, "... leaving no temporary behind");
        {
                FILE *f = fopen(path, "r");
                char line[200];
                bool found = false;

                while (f && fgets(line, sizeof line, f))
                        found = found || strcmp(line, "thumbwatch_made_total 13\n") == 0;
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
        return done_testing();
}
