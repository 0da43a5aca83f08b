/* fleet-config.c - the fleet's config values and the job <-> path mapping.
 * Pure: see fleet-config.h. */
#include "build-config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet-config.h"
#include "macro.h"
#include "naming.h"

#define REDIS_PREFIX "redis://"
#define UNIX_PREFIX "unix://"

bool fleet_supported(void) {
#if HAVE_REDIS
        return true;
#else
        return false;
#endif
}

void fleet_queue_done(FleetQueue *q) {
        free(q->host);
        free(q->socket);
        *q = (FleetQueue) {};
}

bool fleet_queue_is_redis(const char *s) {
        return s && (strncmp(s, REDIS_PREFIX, strlen(REDIS_PREFIX)) == 0 ||
                     strncmp(s, UNIX_PREFIX, strlen(UNIX_PREFIX)) == 0);
}

/* HOST[:PORT]: a name or an IPv4 address (letters, digits, '.', '-', '_'),
 * or an IPv6 address in brackets; PORT from 1 to 65535. */
static int parse_host_port(const char *s, FleetQueue *ret, const char **reterr_reason) {
        const char *colon, *host_end;
        unsigned long port = FLEET_DEFAULT_PORT;
        size_t host_len;

        if (strchr(s, '@')) {
                *reterr_reason = "no user or password in the URL: the password goes in queue_password_file, or "
                                 "in the systemd credential redis-password";
                return -EINVAL;
        }
        if (s[0] == '[') {
                host_end = strchr(s, ']');
                if (!host_end || host_end == s + 1) {
                        *reterr_reason = "expected an IPv6 address in brackets, like redis://[::1]:6379";
                        return -EINVAL;
                }
                if (strspn(s + 1, "0123456789abcdefABCDEF:.") != (size_t) (host_end - s - 1)) {
                        *reterr_reason = "expected an IPv6 address in brackets, like redis://[::1]:6379";
                        return -EINVAL;
                }
                colon = host_end[1] == ':' ? host_end + 1 : NULL;
                if (host_end[1] != '\0' && !colon) {
                        *reterr_reason = "expected :PORT or nothing after the host";
                        return -EINVAL;
                }
                s++;
                host_len = (size_t) (host_end - s);
        } else {
                colon = strchr(s, ':');
                host_len = colon ? (size_t) (colon - s) : strlen(s);
                if (host_len == 0) {
                        *reterr_reason = "expected a host after redis://, like redis://redis.example.org:6379";
                        return -EINVAL;
                }
                if (strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") != host_len) {
                        *reterr_reason = "the host may use only letters, digits, '.', '-' and '_' (no user, "
                                         "password, path or database: the password goes in queue_password_file)";
                        return -EINVAL;
                }
        }
        if (colon) {
                char *end;

                if (colon[1] < '0' || colon[1] > '9') {
                        *reterr_reason = "expected a port from 1 to 65535 after ':'";
                        return -EINVAL;
                }
                errno = 0;
                port = strtoul(colon + 1, &end, 10);
                if (errno || *end || port == 0 || port > 65535) {
                        *reterr_reason = "expected a port from 1 to 65535 after ':'";
                        return -EINVAL;
                }
        }
        ret->host = strndup(s, host_len);
        if (!ret->host)
                return -ENOMEM;
        ret->port = (unsigned) port;
        return 0;
}

int fleet_queue_parse(const char *s, FleetQueue *ret, const char **reterr_reason) {
        FleetQueue q = {};
        int r;

        if (strcmp(s, "local") == 0) {
                *ret = (FleetQueue) { .kind = FLEET_QUEUE_LOCAL };
                return 0;
        }
        if (strncmp(s, REDIS_PREFIX, strlen(REDIS_PREFIX)) == 0) {
                q.kind = FLEET_QUEUE_TCP;
                r = parse_host_port(s + strlen(REDIS_PREFIX), &q, reterr_reason);
                if (r < 0)
                        return r;
        } else if (strncmp(s, UNIX_PREFIX, strlen(UNIX_PREFIX)) == 0) {
                const char *path = s + strlen(UNIX_PREFIX);

                q.kind = FLEET_QUEUE_UNIX;
                if (path[0] != '/') {
                        *reterr_reason = "expected an absolute socket path after unix://, like "
                                         "unix:///run/redis/redis.sock";
                        return -EINVAL;
                }
                /* sun_path holds 108 bytes with its NUL. */
                if (strlen(path) >= 108) {
                        *reterr_reason = "the socket path is longer than a unix socket's 107 bytes";
                        return -EINVAL;
                }
                r = naming_normalize_path(path, &q.socket);
                if (r < 0)
                        return r == -ENOMEM ? r : -EINVAL;
                if (strcmp(q.socket, "/") == 0) {
                        fleet_queue_done(&q);
                        *reterr_reason = "expected a socket path after unix://";
                        return -EINVAL;
                }
        } else {
                *reterr_reason = "expected local, redis://HOST[:PORT] or unix:///PATH";
                return -EINVAL;
        }
        if (!fleet_supported()) {
                fleet_queue_done(&q);
                *reterr_reason = "this thumbwatch was built without Redis support (configure --with-redis "
                                 "and libhiredis-dev): only queue = local works";
                return -EOPNOTSUPP;
        }
        *ret = q;
        return 0;
}

static const char *const role_names[_FLEET_ROLE_MAX] = {
        [FLEET_ROLE_ALL] = "all",
        [FLEET_ROLE_WATCHER] = "watcher",
        [FLEET_ROLE_WORKER] = "worker",
};

int fleet_role_from_string(const char *s) {
        for (size_t i = 0; i < ELEMENTSOF(role_names); i++)
                if (strcmp(s, role_names[i]) == 0)
                        return (int) i;
        return -EINVAL;
}

const char *fleet_role_to_string(FleetRole role) {
        return (unsigned) role < _FLEET_ROLE_MAX ? role_names[role] : NULL;
}

int fleet_queue_name_check(const char *s, const char **reterr_reason) {
        size_t l = strlen(s);

        if (l == 0 || l > FLEET_QUEUE_NAME_MAX) {
                *reterr_reason = "expected 1 to " STRINGIFY(FLEET_QUEUE_NAME_MAX) " characters";
                return -EINVAL;
        }
        if (strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-:") != l) {
                *reterr_reason = "a queue name may use only letters, digits, '_', '.', '-' and ':'";
                return -EINVAL;
        }
        return 0;
}

bool fleet_job_path_valid(const char *rel) {
        const char *p = rel;

        if (!rel[0] || rel[0] == '/' || strlen(rel) >= PATH_MAX)
                return false;
        for (const unsigned char *c = (const unsigned char *) rel; *c; c++)
                if (*c < 0x20 || *c == 0x7f)
                        return false;
        for (;;) {
                size_t l = strcspn(p, "/");

                if (l == 0 || (l == 1 && p[0] == '.') || (l == 2 && p[0] == '.' && p[1] == '.'))
                        return false;
                if (p[l] == '\0')
                        return true;
                p += l + 1;
        }
}

int fleet_job_from_path(const ThumbwatchConfig *c, const char *path, const DropConfig **ret_drop,
                        const char **ret_rel) {
        const DropConfig *d = config_find_drop(c, path);
        const char *rel;

        if (!d)
                return -ENOENT;
        rel = naming_path_below(path, d->source);
        if (!fleet_job_path_valid(rel))
                return -EINVAL;
        *ret_drop = d;
        *ret_rel = rel;
        return 0;
}

int fleet_path_from_job(const ThumbwatchConfig *c, const char *drop, const char *rel, const DropConfig **ret_drop,
                        char **ret, const char **reterr_reason) {
        const DropConfig *d = NULL;
        char *p;

        for (size_t i = 0; i < c->n_drops; i++)
                if (strcmp(c->drops[i].name, drop) == 0)
                        d = &c->drops[i];
        if (!d) {
                *reterr_reason = "no drop of that name on this host";
                return -ENOENT;
        }
        if (!fleet_job_path_valid(rel)) {
                *reterr_reason = "not a path relative to a drop's source";
                return -EINVAL;
        }
        if (asprintf(&p, "%s/%s", strcmp(d->source, "/") == 0 ? "" : d->source, rel) < 0)
                return -ENOMEM;
        *ret_drop = d;
        *ret = p;
        return 0;
}
