/* metrics.h - the daemon's counters in the Prometheus text format, for
 * node_exporter's textfile collector (metrics_file). Pure but for the file
 * it writes; no logging: errors come back as a message.
 *
 * The per-drop counters (MetricsCounters) are counted by the workers with
 * atomics, without a lock: a drop's slot is found (or added, once) in a
 * list that only grows, by compare-and-swap; the sampler reads them with
 * atomic loads. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* The failure classes, as thumbwatch_failed_total's class label says them
 * (and the journal's THUMBWATCH_ERROR). */
#define METRICS_CLASSES 8
extern const char *const metrics_classes[METRICS_CLASSES];

/* The index of a failure class in metrics_classes; an unknown one is io's. */
unsigned metrics_class_index(const char *class);

/* The histograms' upper bounds, in microseconds (5 ms .. 60 s); one more
 * bucket, +Inf, follows. */
#define METRICS_BUCKETS 13
extern const uint64_t metrics_bucket_usec[METRICS_BUCKETS];

typedef struct MetricsHistogram {
        atomic_uint_fast64_t bucket[METRICS_BUCKETS + 1];       /* per bucket, not cumulative; the last +Inf */
        atomic_uint_fast64_t sum_usec;
} MetricsHistogram;

/* One drop's counters, since the start. */
typedef struct MetricsDrop {
        char *name;                                     /* immutable; owned */
        atomic_uint_fast64_t made, up_to_date;
        atomic_uint_fast64_t failed[METRICS_CLASSES];
        MetricsHistogram latency;                       /* queued (or published) to thumbnail made */
        MetricsHistogram decode;                        /* the decode of a thumbnail made */
        struct MetricsDrop *next;                       /* immutable once in the list */
} MetricsDrop;

typedef struct MetricsCounters {
        _Atomic(MetricsDrop *) drops;                   /* the newest first; never shrinks */
} MetricsCounters;

/* The slot of the drop named name, added when there is none. Thread-safe
 * and lock-free. Returns NULL only when out of memory (not counted then). */
MetricsDrop *metrics_drop(MetricsCounters *m, const char *name);
/* Frees every slot; no thread may be counting. */
void metrics_counters_done(MetricsCounters *m);

void metrics_count_failed(MetricsDrop *d, const char *class);
void metrics_observe(MetricsHistogram *h, uint64_t usec);

/* What the daemon counts at one moment. */
typedef struct MetricsSample {
        uint64_t vanished;                               /* since the start */
        uint64_t retrying, queued;                       /* now */
        unsigned watches;
        uint64_t memory_used, memory_total;             /* bytes */
        bool fleet;                                      /* a Redis queue: the three below mean something */
        bool queue_connected;
        uint64_t queue_length, queue_pending;
        MetricsCounters *drops;                          /* per drop; borrowed; NULL: none */
} MetricsSample;

/* Writes s as Prometheus text (HELP and TYPE lines; per drop, the made, up
 * to date and failed counters and the latency and decode histograms, labels
 * escaped). */
void metrics_format(FILE *f, const MetricsSample *s);

/* Writes s to path atomically: a temporary in the same folder (a hidden
 * name that does not end in .prom), mode 0644, renamed into place. Returns
 * 0, or -errno with *reterr_message (caller frees). */
int metrics_write(const char *path, const MetricsSample *s, char **reterr_message);
