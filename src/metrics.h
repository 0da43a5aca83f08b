/* metrics.h - the daemon's counters in the Prometheus text format, for
 * node_exporter's textfile collector (metrics_file). Pure but for the file
 * it writes; no logging: errors come back as a message. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* What the daemon counts at one moment. */
typedef struct MetricsSample {
        uint64_t made, failed, up_to_date, vanished;    /* since the start */
        uint64_t retrying, queued;                       /* now */
        unsigned watches;
        uint64_t memory_used, memory_total;             /* bytes */
        bool fleet;                                      /* a Redis queue: the three below mean something */
        bool queue_connected;
        uint64_t queue_length, queue_pending;
} MetricsSample;

/* Writes s as Prometheus text (HELP and TYPE lines, one sample each). */
void metrics_format(FILE *f, const MetricsSample *s);

/* Writes s to path atomically: a temporary in the same folder (a hidden
 * name that does not end in .prom), mode 0644, renamed into place. Returns
 * 0, or -errno with *reterr_message (caller frees). */
int metrics_write(const char *path, const MetricsSample *s, char **reterr_message);
