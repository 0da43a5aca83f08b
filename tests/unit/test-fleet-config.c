/* test-fleet-config.c - the fleet's config values (queue URLs, roles,
 * queue names), their errors in a config file, and the job <-> path
 * mapping that keeps a job inside its drop. */
#include "build-config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config-file.h"
#include "fleet-config.h"
#include "tap.h"

static char dir[] = "/tmp/thumbwatch-test-fleet-config.XXXXXX";
static char path[256];

/* Loads text and validates; returns the error message (caller frees) or NULL. */
static char *load(const char *text, ThumbwatchConfig **ret) {
        ThumbwatchConfig *c = NULL;
        char *msg = NULL;
        FILE *f = fopen(path, "w");

        if (!f || fputs(text, f) < 0 || fclose(f) != 0)
                abort();
        if (config_new(&c) < 0)
                abort();
        if (config_load(c, path, &msg) < 0 || config_validate(c, &msg) < 0) {
                config_free(c);
                return msg ? msg : strdup("(no message)");
        }
        if (ret)
                *ret = c;
        else
                config_free(c);
        return NULL;
}

#define DROP "[drop:photos]\nsource = /srv/in\noutput = /srv/out\n"

/* text fails with "FILE:LINE: " and needle in its message. */
static void fails_at(const char *text, unsigned line, const char *needle, const char *name) {
        char *msg = load(text, NULL), prefix[300];

        (void) snprintf(prefix, sizeof prefix, "%s:%u: ", path, line);
        if (!tap_ok(msg && strncmp(msg, prefix, strlen(prefix)) == 0 && strstr(msg, needle), __FILE__, __LINE__, name))
                printf("#   got '%s', want '%s...%s'\n", msg ? msg : "(none)", prefix, needle);
        free(msg);
}

static void parses(const char *s, FleetQueueKind kind, const char *host, unsigned port, const char *sock) {
        FleetQueue q = {};
        const char *reason = NULL;
        char name[300];
        int r = fleet_queue_parse(s, &q, &reason);

        (void) snprintf(name, sizeof name, "queue '%s' parses", s);
        if (!fleet_supported() && kind != FLEET_QUEUE_LOCAL) {
                is_int(r, -EOPNOTSUPP, name);
                ok(reason && strstr(reason, "without Redis support"), "... and says the build has no Redis");
                return;
        }
        is_int(r, 0, name);
        is_int(q.kind, kind, "... its kind");
        is_str(q.host, host, "... its host");
        is_int(q.port, port, "... its port");
        is_str(q.socket, sock, "... its socket");
        fleet_queue_done(&q);
}

static void refused(const char *s, const char *needle) {
        FleetQueue q = {};
        const char *reason = NULL;
        char name[300];
        int r = fleet_queue_parse(s, &q, &reason);

        (void) snprintf(name, sizeof name, "queue '%s' is refused: %s", s, needle);
        if (!tap_ok(r == -EINVAL && reason && strstr(reason, needle), __FILE__, __LINE__, name))
                printf("#   got %d '%s'\n", r, reason ? reason : "(none)");
}

static void test_queue(void) {
        parses("local", FLEET_QUEUE_LOCAL, NULL, 0, NULL);
        parses("redis://redis.example.org", FLEET_QUEUE_TCP, "redis.example.org", 6379, NULL);
        parses("redis://10.0.0.7:6380", FLEET_QUEUE_TCP, "10.0.0.7", 6380, NULL);
        parses("redis://[::1]:7000", FLEET_QUEUE_TCP, "::1", 7000, NULL);
        parses("redis://[fe80::1]", FLEET_QUEUE_TCP, "fe80::1", 6379, NULL);
        parses("unix:///run/redis/redis.sock", FLEET_QUEUE_UNIX, NULL, 0, "/run/redis/redis.sock");
        parses("unix:///run//redis/./redis.sock", FLEET_QUEUE_UNIX, NULL, 0, "/run/redis/redis.sock");

        refused("", "expected local, redis://HOST[:PORT] or unix:///PATH");
        refused("Local", "expected local");
        refused("redis:/host", "expected local");
        refused("rediss://host", "expected local");
        refused("http://host", "expected local");
        refused("redis://", "expected a host");
        refused("redis://:6379", "expected a host");
        refused("redis://host:", "expected a port");
        refused("redis://host:0", "expected a port");
        refused("redis://host:65536", "expected a port");
        refused("redis://host:63x", "expected a port");
        refused("redis://host:-1", "expected a port");
        refused("redis://user:pw@host", "password");
        refused("redis://host/0", "only letters");
        refused("redis://[::1", "IPv6");
        refused("redis://[]:1", "IPv6");
        refused("redis://[::1]x", "after the host");
        refused("unix://run/redis.sock", "absolute socket path");
        refused("unix://", "absolute socket path");
        refused("unix:///", "socket path");
        {
                char longer[200] = "unix:///";

                memset(longer + 8, 'a', 150);
                longer[158] = '\0';
                refused(longer, "107 bytes");
        }
        ok(fleet_queue_is_redis("redis://h") && fleet_queue_is_redis("unix:///s") && !fleet_queue_is_redis("local"),
           "fleet_queue_is_redis() tells Redis queues from local");
}

static void test_role_and_name(void) {
        const char *reason = NULL;

        is_int(fleet_role_from_string("all"), FLEET_ROLE_ALL, "role all");
        is_int(fleet_role_from_string("watcher"), FLEET_ROLE_WATCHER, "role watcher");
        is_int(fleet_role_from_string("worker"), FLEET_ROLE_WORKER, "role worker");
        is_int(fleet_role_from_string("workers"), -EINVAL, "role workers is refused");
        is_int(fleet_role_from_string(""), -EINVAL, "an empty role is refused");
        is_str(fleet_role_to_string(FLEET_ROLE_WORKER), "worker", "a role prints as its name");

        is_int(fleet_queue_name_check("thumbwatch", &reason), 0, "queue_name thumbwatch");
        is_int(fleet_queue_name_check("site-1:photos.v2", &reason), 0, "queue_name with '-', ':' and '.'");
        is_int(fleet_queue_name_check("", &reason), -EINVAL, "an empty queue_name is refused");
        is_int(fleet_queue_name_check("a b", &reason), -EINVAL, "a queue_name with a space is refused");
        ok(reason && strstr(reason, "only letters"), "... saying what it may hold");
        is_int(fleet_queue_name_check("0123456789012345678901234567890123456789012345678901234567890123456789",
                                      &reason),
               -EINVAL, "a queue_name of 70 characters is refused");
}

static void test_config_file(void) {
        ThumbwatchConfig *c = NULL;
        char *msg;

        msg = load("[thumbwatch]\n" DROP, &c);
        ok(!msg && c, "a config without the fleet's keys loads");
        if (c) {
                is_str(c->queue, "local", "queue defaults to local");
                is_int(c->role, FLEET_ROLE_ALL, "role defaults to all");
                is_str(c->queue_name, "thumbwatch", "queue_name defaults to thumbwatch");
                is_int(c->max_deliveries, 3, "max_deliveries defaults to 3");
                ok(!c->metrics_file, "metrics_file defaults to nothing");
                ok(!c->queue_password_file, "queue_password_file defaults to nothing");
                config_free(c);
                c = NULL;
        }
        free(msg);

        if (fleet_supported()) {
                msg = load("[thumbwatch]\nqueue = unix:///run/r.sock\nrole = worker\nqueue_name = f1\n"
                           "max_deliveries = 5\nqueue_password_file = /etc/tw/pw\nmetrics_file =\n" DROP,
                           &c);
                ok(!msg && c, "a worker's config loads");
                if (c) {
                        is_str(c->queue, "unix:///run/r.sock", "... its queue");
                        is_int(c->role, FLEET_ROLE_WORKER, "... its role");
                        is_str(c->queue_name, "f1", "... its queue_name");
                        is_int(c->max_deliveries, 5, "... its max_deliveries");
                        is_str(c->queue_password_file, "/etc/tw/pw", "... its password file");
                        ok(!c->metrics_file, "... an empty metrics_file is none");
                        config_free(c);
                }
                free(msg);
                fails_at("[thumbwatch]\nqueue = redis://host:99999\n" DROP, 2,
                         "[thumbwatch] queue 'redis://host:99999': expected a port", "a bad port: file, line, key, why");
        } else
                fails_at("[thumbwatch]\nworkers = 2\nqueue = redis://host\n" DROP, 3,
                         "[thumbwatch] queue 'redis://host': this thumbwatch was built without Redis support",
                         "a Redis queue in a build without Redis: file, line, key, why");
        fails_at("[thumbwatch]\nqueue = tcp://host\n" DROP, 2, "[thumbwatch] queue 'tcp://host': expected local",
                 "an unknown queue scheme: file, line, key, why");
        fails_at("[thumbwatch]\n\nrole = both\n" DROP, 3, "[thumbwatch] role 'both': expected all, watcher or worker",
                 "a bad role: file, line, key, why");
        fails_at("[thumbwatch]\nrole = worker\n" DROP, 2, "[thumbwatch] role 'worker': needs a Redis queue",
                 "role worker with queue = local: file, line, why");
        fails_at("[thumbwatch]\nqueue_name = a/b\n" DROP, 2, "[thumbwatch] queue_name 'a/b': a queue name may use",
                 "a bad queue_name: file, line, key, why");
        fails_at("[thumbwatch]\nmax_deliveries = 0\n" DROP, 2, "[thumbwatch] max_deliveries '0': expected a whole",
                 "max_deliveries 0: file, line, key, why");
        fails_at("[thumbwatch]\nmetrics_file = metrics.prom\n" DROP, 2,
                 "[thumbwatch] metrics_file 'metrics.prom': expected an absolute path",
                 "a relative metrics_file: file, line, key, why");
        fails_at("[thumbwatch]\nqueue_password_file = pw\n" DROP, 2,
                 "[thumbwatch] queue_password_file 'pw': expected an absolute path",
                 "a relative queue_password_file: file, line, key, why");
        fails_at("[thumbwatch]\nqueue_password = secret\n" DROP, 2, "unknown key",
                 "a password in the config file itself is an unknown key");
}

static void test_paths(void) {
        ThumbwatchConfig *c = NULL;
        const DropConfig *d = NULL;
        const char *rel = NULL, *reason = NULL;
        char *p = NULL, *msg;

        ok(fleet_job_path_valid("a.jpg") && fleet_job_path_valid("2024/05/a b.jpg") && fleet_job_path_valid(".x/a"),
           "relative paths are job paths");
        ok(!fleet_job_path_valid(""), "an empty path is not");
        ok(!fleet_job_path_valid("/etc/passwd"), "an absolute path is not");
        ok(!fleet_job_path_valid("../etc/passwd") && !fleet_job_path_valid("a/../../b") && !fleet_job_path_valid(".."),
           "a path with '..' is not");
        ok(!fleet_job_path_valid("a//b") && !fleet_job_path_valid("a/") && !fleet_job_path_valid("./a"),
           "a path with an empty or '.' component is not");
        ok(!fleet_job_path_valid("a\nb.jpg") && !fleet_job_path_valid("a\x7f"), "a path with a control character is not");

        msg = load("[drop:photos]\nsource = /srv/in\noutput = /srv/out\n[drop:scans]\nsource = /mnt/scans\n"
                   "output = /mnt/thumbs\n",
                   &c);
        ok(!msg && c, "a config of two drops loads");
        free(msg);
        if (!c)
                return;
        is_int(fleet_job_from_path(c, "/mnt/scans/2024/a.jpg", &d, &rel), 0, "a source path is a job");
        is_str(d ? d->name : NULL, "scans", "... of its drop");
        is_str(rel, "2024/a.jpg", "... with the path below its source");
        is_int(fleet_job_from_path(c, "/srv/other/a.jpg", &d, &rel), -ENOENT, "a path in no drop is no job");
        is_int(fleet_job_from_path(c, "/srv/in", &d, &rel), -EINVAL, "a drop's root is no job");

        is_int(fleet_path_from_job(c, "photos", "a/b.jpg", &d, &p, &reason), 0, "a job maps to this host's path");
        is_str(p, "/srv/in/a/b.jpg", "... below this host's source");
        free(p);
        p = NULL;
        is_int(fleet_path_from_job(c, "faces", "a.jpg", &d, &p, &reason), -ENOENT, "a job of a drop not here");
        ok(!p && reason && strstr(reason, "no drop"), "... says so");
        is_int(fleet_path_from_job(c, "photos", "../../etc/shadow", &d, &p, &reason), -EINVAL,
               "a job naming a file outside its drop is refused");
        ok(!p, "... and maps to nothing");
        config_free(c);
}

int main(void) {
        if (!mkdtemp(dir))
                return 99;
        (void) snprintf(path, sizeof path, "%s/thumbwatch.conf", dir);
        test_queue();
        test_role_and_name();
        test_config_file();
        test_paths();
        (void) unlink(path);
        (void) rmdir(dir);
        return done_testing();
}
