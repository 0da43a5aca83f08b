/* fleet.h - the daemon's job queue on Redis Streams, for a fleet of hosts:
 * watchers publish jobs (a drop name and a path relative to its source),
 * workers consume them, ack them once done, take over the jobs of a worker
 * that died, and move a job delivered max_deliveries times without an ack to
 * the dead letters. The only module that includes hiredis (fleet.c; a build
 * without it has fleet-none.c, where fleet_new() fails with -EOPNOTSUPP).
 *
 * Redis keys, QUEUE from queue_name: the stream QUEUE:jobs (fields drop,
 * path, host) read by the consumer group "workers", and the stream
 * QUEUE:dead (fields drop, path, class, host, when, deliveries).
 *
 * Threads: each thread that talks to Redis has its own connection (hiredis
 * contexts are not thread-safe): the publisher (fleet_publish(), on a
 * one-thread worker pool), the consumer thread (fleet_consumer_start()), and
 * the daemon's main thread (fleet_tick()). fleet_process() runs on the
 * worker threads and talks to Redis only through the consumer thread. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config-file.h"
#include "fleet-config.h"
#include "job.h"
#include "path-queue.h"

typedef struct Fleet Fleet;

/* A fleet for c's queue (which must be a Redis one) in role. Connects
 * nothing yet; reads the password ($CREDENTIALS_DIRECTORY/redis-password,
 * else queue_password_file). c and job are referenced/borrowed until
 * fleet_free(). Returns 0, -EOPNOTSUPP (built without Redis), -ENOMEM, or
 * -errno with *reterr_message (caller frees) saying why. */
int fleet_new(ThumbwatchConfig *c, FleetRole role, JobContext *job, Fleet **ret, char **reterr_message);
Fleet *fleet_free(Fleet *f);            /* NULL-safe; returns NULL; the consumer must be stopped */

/* A reload's config: the drops' sources are mapped through it from now on.
 * A changed queue, queue_name or role needs a restart (logged). */
void fleet_set_config(Fleet *f, ThumbwatchConfig *c);

/* The watcher side: a worker_process_fn (userdata: the Fleet) that
 * publishes path as a job. When Redis cannot take it (unreachable, or the
 * stream above its high-water mark), it waits a little and puts path back
 * on outbox, so that nothing is lost and outbox fills up (the watcher then
 * turns events into folder rescans). outbox is borrowed until the pool is
 * joined. */
void fleet_set_outbox(Fleet *f, PathQueue *outbox);
void fleet_publish(const char *path, void *userdata);

/* The worker side: starts the consumer thread, which reads jobs into work
 * (borrowed until fleet_consumer_stop()), never holding more unacked jobs
 * than there are workers. Returns 0 or -errno. */
int fleet_consumer_start(Fleet *f, PathQueue *work);

/* A worker_process_fn (userdata: the Fleet): job_run(), then the job's
 * messages are acked, unless the daemon is stopping (then another worker
 * takes them over). */
void fleet_process(const char *path, void *userdata);

/* No more jobs are read; acks still go out. Call before closing work. */
void fleet_consumer_stop_reading(Fleet *f);
/* After the workers are joined: sends the last acks and joins the thread. */
void fleet_consumer_stop(Fleet *f);

/* The main thread, at every pass of its loop (it does its work once a
 * second at most): keeps the queue's state for fleet_status(). Returns
 * true when everything should be scanned again: Redis restarted (and may
 * have lost jobs), or a publish failed and Redis is back. */
bool fleet_tick(Fleet *f);

/* "queue redis connected, length N, pending M" or "queue redis
 * unreachable", for STATUS=; then, on a worker that made thumbnails in the
 * last five minutes, ", latency p50 N ms, p99 N ms": from a job's
 * publication (Redis's clock) to its thumbnails (this host's clock). */
void fleet_status(Fleet *f, char *buf, size_t size);

/* The queue's state as the last fleet_tick() saw it. Thread-safe. */
void fleet_state(Fleet *f, bool *ret_connected, uint64_t *ret_length, uint64_t *ret_pending);

/* --queue-status: the queue's length, its consumers with their pending
 * jobs and idle times, and the dead letters, printed to out. Returns 0, or
 * -errno with *reterr_message (caller frees). */
int fleet_print_status(const ThumbwatchConfig *c, FILE *out, char **reterr_message);
