/* fleet-config.h - the fleet's config values (queue, role, queue_name,
 * max_deliveries) and the mapping between a host's paths and a job's
 * (drop name, path relative to the drop's source). Pure: no I/O, no
 * logging, no Redis; every error comes back as a reason for the caller. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config-file.h"

/* What the config's queue key says. */
typedef enum FleetQueueKind {
        FLEET_QUEUE_LOCAL,              /* "local": the in-process queue */
        FLEET_QUEUE_TCP,                /* "redis://HOST[:PORT]" */
        FLEET_QUEUE_UNIX,               /* "unix:///path/redis.sock" */
} FleetQueueKind;

typedef struct FleetQueue {
        FleetQueueKind kind;
        char *host;                     /* TCP: the host; owned */
        unsigned port;                  /* TCP: 6379 unless given */
        char *socket;                   /* UNIX: the socket's absolute path; owned */
} FleetQueue;

#define FLEET_DEFAULT_PORT 6379
#define FLEET_QUEUE_NAME_MAX 64

/* Parses a queue value. Returns 0, -ENOMEM, or -EINVAL with a static
 * *reterr_reason saying why. A Redis queue in a build without Redis support
 * is -EOPNOTSUPP with a reason. */
int fleet_queue_parse(const char *s, FleetQueue *ret, const char **reterr_reason);
void fleet_queue_done(FleetQueue *q);

/* Is the queue a Redis one (after the config parsed it)? */
bool fleet_queue_is_redis(const char *s);

/* Was this thumbwatch built with Redis support? */
bool fleet_supported(void);

/* The roles: which parts of the daemon run. */
typedef enum FleetRole {
        FLEET_ROLE_ALL,                 /* watcher and workers */
        FLEET_ROLE_WATCHER,             /* watch and scan, publish jobs; thumbnail nothing */
        FLEET_ROLE_WORKER,              /* consume jobs; watch nothing */
        _FLEET_ROLE_MAX,
} FleetRole;

/* "all", "watcher" or "worker" to the role; -EINVAL otherwise. */
int fleet_role_from_string(const char *s);
const char *fleet_role_to_string(FleetRole role);

/* A queue_name: 1 to FLEET_QUEUE_NAME_MAX letters, digits, '_', '.', '-' or ':'.
 * Returns 0 or -EINVAL with a static reason. */
int fleet_queue_name_check(const char *s, const char **reterr_reason);

/* Is rel a job's path: relative, not empty, no "", "." or ".." component, no
 * control character? A job is never trusted to name a file outside its drop. */
bool fleet_job_path_valid(const char *rel);

/* The job for an absolute source path: its drop in c and the path relative
 * to the drop's source (pointing into path). Returns 0, or -ENOENT when no
 * drop holds path, or -EINVAL when the relative path is not valid. */
int fleet_job_from_path(const ThumbwatchConfig *c, const char *path, const DropConfig **ret_drop,
                        const char **ret_rel);

/* This host's absolute path of a job: the source of the drop named drop in
 * c, then rel. Returns 0 and *ret (caller frees), -ENOENT (no such drop
 * here; *ret_reason says so), -EINVAL (rel is not a valid job path) or
 * -ENOMEM. */
int fleet_path_from_job(const ThumbwatchConfig *c, const char *drop, const char *rel, const DropConfig **ret_drop,
                        char **ret, const char **reterr_reason);
