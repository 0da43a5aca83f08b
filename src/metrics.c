/* metrics.c - the Prometheus text of a MetricsSample, written atomically;
 * and the per-drop counters the workers count into. */
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

const char *const metrics_classes[METRICS_CLASSES] = {
        "unsupported", "corrupt", "truncated", "too-large", "timeout", "crashed", "collision", "io",
};

const uint64_t metrics_bucket_usec[METRICS_BUCKETS] = {
        5000, 10000, 25000, 50000, 100000, 250000, 500000,
        1000000, 2500000, 5000000, 10000000, 30000000, 60000000,
};

unsigned metrics_class_index(const char *class) {
        for (unsigned i = 0; i < METRICS_CLASSES; i++)
                if (class && strcmp(class, metrics_classes[i]) == 0)
                        return i;
        return METRICS_CLASSES - 1;     /* io */
}

MetricsDrop *metrics_drop(MetricsCounters *m, const char *name) {
        MetricsDrop *head = atomic_load(&m->drops), *d;

        for (d = head; d; d = d->next)
                if (strcmp(d->name, name) == 0)
                        return d;
        d = calloc(1, sizeof *d);
        if (!d || !(d->name = strdup(name))) {
                free(d);
                return NULL;
        }
        /* Another thread may add slots meanwhile: the new ones (those
         * before the head seen last) are searched before trying again. */
        for (;;) {
                MetricsDrop *seen = head;

                d->next = head;
                if (atomic_compare_exchange_weak(&m->drops, &head, d))
                        return d;
                for (MetricsDrop *o = head; o && o != seen; o = o->next)
                        if (strcmp(o->name, name) == 0) {
                                free(d->name);
                                free(d);
                                return o;
                        }
        }
}

void metrics_counters_done(MetricsCounters *m) {
        MetricsDrop *d = atomic_exchange(&m->drops, NULL);

        while (d) {
                MetricsDrop *next = d->next;

                free(d->name);
                free(d);
                d = next;
        }
}

void metrics_count_failed(MetricsDrop *d, const char *class) {
        atomic_fetch_add_explicit(&d->failed[metrics_class_index(class)], 1, memory_order_relaxed);
}

void metrics_observe(MetricsHistogram *h, uint64_t usec) {
        unsigned i = 0;

        while (i < METRICS_BUCKETS && usec > metrics_bucket_usec[i])
                i++;
        atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&h->sum_usec, usec, memory_order_relaxed);
}

static void metric(FILE *f, const char *name, const char *type, const char *help, uint64_t value) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help, name, type, name, value);
}

static void header(FILE *f, const char *name, const char *type, const char *help) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value as the text format wants it: backslash, double quote and
 * newline escaped; anything else as it is. */
static void label_value(FILE *f, const char *v) {
        for (; *v; v++)
                if (*v == '\\')
                        fputs("\\\\", f);
                else if (*v == '"')
                        fputs("\\\"", f);
                else if (*v == '\n')
                        fputs("\\n", f);
                else
                        fputc(*v, f);
}

static void drop_label(FILE *f, const char *name, const MetricsDrop *d) {
        fprintf(f, "%s{drop=\"", name);
        label_value(f, d->name);
        fputc('"', f);
}

/* Seconds with microseconds, as Prometheus wants le and _sum. */
static void seconds(FILE *f, uint64_t usec) {
        fprintf(f, "%" PRIu64 ".%06" PRIu64, usec / 1000000, usec % 1000000);
}

/* A bucket's bound as Prometheus's own clients write it: 0.005, 1, 60. */
static void bound(FILE *f, uint64_t usec) {
        char buf[32];
        size_t n = (size_t) snprintf(buf, sizeof buf, "%" PRIu64 ".%06" PRIu64, usec / 1000000, usec % 1000000);

        while (n > 0 && buf[n - 1] == '0')
                n--;
        if (n > 0 && buf[n - 1] == '.')
                n--;
        fprintf(f, "%.*s", (int) n, buf);
}

/* One drop's histogram: each bucket read once, then summed, so that the
 * buckets are cumulative and +Inf is _count in the text, whatever the
 * workers add meanwhile. */
static void histogram(FILE *f, const char *name, const MetricsDrop *d, MetricsHistogram *h) {
        uint64_t n = 0, sum = atomic_load_explicit(&h->sum_usec, memory_order_relaxed);

        for (unsigned i = 0; i <= METRICS_BUCKETS; i++) {
                n += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
                fprintf(f, "%s_bucket{drop=\"", name);
                label_value(f, d->name);
                fputs("\",le=\"", f);
                if (i < METRICS_BUCKETS)
                        bound(f, metrics_bucket_usec[i]);
                else
                        fputs("+Inf", f);
                fprintf(f, "\"} %" PRIu64 "\n", n);
        }
        fprintf(f, "%s_sum{drop=\"", name);
        label_value(f, d->name);
        fputs("\"} ", f);
        seconds(f, sum);
        fprintf(f, "\n%s_count{drop=\"", name);
        label_value(f, d->name);
        fprintf(f, "\"} %" PRIu64 "\n", n);
}

/* The drops oldest first, as they were added (a stable order). */
static size_t drops_in_order(MetricsCounters *m, MetricsDrop ***ret) {
        MetricsDrop **v, *head;
        size_t n = 0, i;

        *ret = NULL;
        if (!m)
                return 0;
        head = atomic_load(&m->drops);          /* once: slots added meanwhile wait for the next sample */
        for (MetricsDrop *d = head; d; d = d->next)
                n++;
        v = calloc(n ? n : 1, sizeof *v);
        if (!v)
                return 0;
        i = n;
        for (MetricsDrop *d = head; d && i > 0; d = d->next)
                v[--i] = d;
        *ret = v;
        return n;
}

static void per_drop(FILE *f, const MetricsSample *s) {
        _cleanup_free_ MetricsDrop **v = NULL;
        size_t n = drops_in_order(s->drops, &v);

        header(f, "thumbwatch_made_total", "counter", "Sources thumbnailed since the start, per drop.");
        for (size_t i = 0; i < n; i++) {
                drop_label(f, "thumbwatch_made_total", v[i]);
                fprintf(f, "} %" PRIu64 "\n", (uint64_t) atomic_load(&v[i]->made));
        }
        header(f, "thumbwatch_failed_total", "counter",
               "Sources that failed since the start, per drop and failure class.");
        for (size_t i = 0; i < n; i++)
                for (unsigned c = 0; c < METRICS_CLASSES; c++) {
                        drop_label(f, "thumbwatch_failed_total", v[i]);
                        fprintf(f, ",class=\"%s\"} %" PRIu64 "\n", metrics_classes[c],
                                (uint64_t) atomic_load(&v[i]->failed[c]));
                }
        header(f, "thumbwatch_up_to_date_total", "counter",
               "Sources whose thumbnails were current already, per drop.");
        for (size_t i = 0; i < n; i++) {
                drop_label(f, "thumbwatch_up_to_date_total", v[i]);
                fprintf(f, "} %" PRIu64 "\n", (uint64_t) atomic_load(&v[i]->up_to_date));
        }
        header(f, "thumbwatch_latency_seconds", "histogram",
               "From a source queued (queue = local) or its job published (Redis) to its thumbnails made.");
        for (size_t i = 0; i < n; i++)
                histogram(f, "thumbwatch_latency_seconds", v[i], &v[i]->latency);
        header(f, "thumbwatch_decode_seconds", "histogram", "The decode and write of the thumbnails made.");
        for (size_t i = 0; i < n; i++)
                histogram(f, "thumbwatch_decode_seconds", v[i], &v[i]->decode);
}

void metrics_format(FILE *f, const MetricsSample *s) {
        per_drop(f, s);
        metric(f, "thumbwatch_vanished_total", "counter", "Sources gone before a worker got to them.", s->vanished);
        metric(f, "thumbwatch_retrying", "gauge", "Truncated or failing files waiting to be tried again.",
               s->retrying);
        metric(f, "thumbwatch_queued", "gauge", "Paths waiting in the local queue.", s->queued);
        metric(f, "thumbwatch_watches", "gauge", "Folders watched with inotify, or file systems marked with watcher = fanotify.", s->watches);
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
