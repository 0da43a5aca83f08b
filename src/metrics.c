/* metrics.c - the Prometheus text of a MetricsSample, written atomically. */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "message.h"
#include "metrics.h"

static void metric(FILE *f, const char *name, const char *type, const char *help, uint64_t value) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help, name, type, name, value);
}

void metrics_format(FILE *f, const MetricsSample *s) {
        metric(f, "thumbwatch_made_total", "counter", "Sources thumbnailed since the start.", s->made);
        metric(f, "thumbwatch_failed_total", "counter", "Sources that failed since the start.", s->failed);
        metric(f, "thumbwatch_up_to_date_total", "counter", "Sources whose thumbnails were current already.",
               s->up_to_date);
        metric(f, "thumbwatch_vanished_total", "counter", "Sources gone before a worker got to them.", s->vanished);
        metric(f, "thumbwatch_retrying", "gauge", "Truncated or failing files waiting to be tried again.",
               s->retrying);
        metric(f, "thumbwatch_queued", "gauge", "Paths waiting in the local queue.", s->queued);
        metric(f, "thumbwatch_watches", "gauge", "Folders watched with inotify.", s->watches);
        metric(f, "thumbwatch_memory_budget_used_bytes", "gauge", "Bytes of max_memory reserved by decodes now.",
               s->memory_used);
        metric(f, "thumbwatch_memory_budget_bytes", "gauge", "The decodes' memory budget (max_memory).",
               s->memory_total);
        if (!s->fleet)
                return;
        metric(f, "thumbwatch_queue_connected", "gauge", "1 when the Redis queue answers.", s->queue_connected);
        metric(f, "thumbwatch_queue_length", "gauge", "Jobs in the Redis stream, read or not, not yet acked.",
               s->queue_length);
        metric(f, "thumbwatch_queue_pending", "gauge", "Jobs delivered to workers and not yet acked.",
               s->queue_pending);
}

int metrics_write(const char *path, const MetricsSample *s, char **reterr_message) {
        _cleanup_free_ char *tmp = NULL;
        const char *base;
        FILE *f;
        int fd, r;

        base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        if (asprintf(&tmp, "%.*s.%s.XXXXXX", (int) (base - path), path, base) < 0)
                return -ENOMEM;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return message_set(reterr_message, -errno, "cannot write the metrics file '%s': %s", tmp,
                                   strerror(errno));
        (void) fchmod(fd, 0644);
        f = fdopen(fd, "w");
        if (!f) {
                r = -errno;
                (void) close(fd);
                (void) unlink(tmp);
                return message_set(reterr_message, r, "cannot write the metrics file '%s': %s", tmp, strerror(-r));
        }
        metrics_format(f, s);
        r = ferror(f) ? -EIO : 0;
        if (fclose(f) != 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                return message_set(reterr_message, r, "cannot write the metrics file '%s': %s", path, strerror(-r));
        }
        return 0;
}
