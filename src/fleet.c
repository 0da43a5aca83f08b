/* fleet.c - the job queue on Redis Streams (hiredis 0.14: RESP2, one
 * connection per thread). See fleet.h for what it does; this file says how.
 *
 * Threads: the publisher thread (the one worker of the watcher side's pool)
 * owns pub and its fields; the consumer thread owns its connection, reads
 * jobs, reclaims those of dead workers and sends the acks the worker
 * threads leave in acks; the main thread owns mon and the run_id. What
 * they share is under lock or atomic, as each field says. Shutdown:
 * fleet_consumer_stop_reading(), the work queue closed and the workers
 * joined, then fleet_consumer_stop() sends the last acks and joins.
 *
 * A message is in hand from its delivery to this consumer (XREADGROUP or
 * XCLAIM) until it is acked (XACK, then XDEL: the stream holds only what is
 * not done) or given up (stopping: another worker reclaims it). Messages in
 * hand are listed by source path; a worker takes the ids of its path when
 * it starts on it, and the acks of the ids it took go out once it is done.
 * A message for a path in flight makes the path queue run it again after
 * (path-queue.h), and that run acks it. */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fleet.h"
#include "log.h"
#include "macro.h"
#include "message.h"
#include "state-dir.h"
#include "time-util.h"

#define GROUP "workers"
#define KEY_MAX (FLEET_QUEUE_NAME_MAX + 16)
/* Stream length above which the publisher waits: queue_size times this. */
#define HIGH_WATER_FACTOR 16
#define TICK_USEC (1000 * 1000ULL)
#define BACKOFF_MIN_USEC (100 * 1000ULL)
#define BACKOFF_MAX_USEC (1000 * 1000ULL)
/* The consumer's XREADGROUP BLOCK, and how often it looks for dead workers' jobs. */
#define READ_BLOCK_MS 500
#define RECLAIM_USEC (1000 * 1000ULL)
#define RECLAIM_BATCH 64
#define DEAD_LIST_MAX 1000
/* A consumer with nothing pending, silent this long, is a worker that is
 * gone: it is forgotten (a live one reads every READ_BLOCK_MS). */
#define CONSUMER_FORGET_MS 600000
#define FORGET_USEC (60 * 1000000ULL)
/* The publish-to-thumbnail latencies kept for STATUS=: the last this many,
 * of the last LATENCY_WINDOW_MS. */
#define LATENCY_MAX 4096
#define LATENCY_WINDOW_MS (5 * 60 * 1000ULL)

typedef struct InHand {
        char *path;             /* owned: this host's absolute source path */
        char **ids;             /* owned: the stream ids of its messages */
        size_t n_ids;
} InHand;

struct Fleet {
        FleetQueue where;               /* immutable */
        FleetRole role;                 /* immutable */
        char *password;                 /* immutable; owned; NULL: none */
        char consumer[HOST_NAME_MAX + 32]; /* immutable: host-pid */
        char stream[KEY_MAX], dead[KEY_MAX]; /* immutable */
        unsigned max_deliveries;        /* immutable */
        uint64_t reclaim_idle_ms;       /* immutable: a message idle this long in another consumer is taken */
        size_t high_water;              /* immutable: stream length the publisher waits at */
        JobContext *job;                /* borrowed */

        pthread_mutex_t lock;
        pthread_cond_t wake;            /* signalled (under lock) on new acks and on stop */
        ThumbwatchConfig *config;       /* guarded by lock; one reference */
        InHand *hand;                   /* guarded by lock; owned */
        size_t n_hand, n_hand_alloc;    /* guarded by lock */
        char **acks;                    /* guarded by lock; owned: ids done, to ack */
        size_t n_acks, n_acks_alloc;    /* guarded by lock */
        size_t n_unacked;               /* guarded by lock: messages in hand or to ack */
        size_t limit;                   /* guarded by lock: the most messages in hand */
        struct {
                uint64_t at_ms;         /* wall clock */
                uint64_t ms;
        } latency[LATENCY_MAX];         /* guarded by lock: a ring */
        size_t n_latency, next_latency; /* guarded by lock */

        atomic_bool stop_reading, stop;
        atomic_bool rescan_wanted;
        atomic_bool connected;          /* the main thread's view */
        atomic_uint_fast64_t length, pending; /* likewise */

        /* The publisher thread's. */
        PathQueue *outbox;
        redisContext *pub;
        bool pub_failed;                /* a publish failed: rescan once it works again */
        bool over_high_water;
        uint64_t pub_backoff;

        /* The consumer thread's (and the owner's, to start and join). */
        PathQueue *work;
        pthread_t consumer_thread;
        bool consumer_started;

        /* The main thread's. */
        redisContext *mon;
        uint64_t last_tick;
        bool mon_reported;
        char run_id[64];
};

static ThumbwatchConfig *config_get(Fleet *f) {
        ThumbwatchConfig *c;

        (void) pthread_mutex_lock(&f->lock);
        c = config_ref(f->config);
        (void) pthread_mutex_unlock(&f->lock);
        return c;
}

static void sleep_usec(uint64_t usec) {
        struct timespec ts = { (time_t) (usec / 1000000), (long) (usec % 1000000) * 1000 };

        (void) nanosleep(&ts, NULL);
}

static const char *where_text(const FleetQueue *q, char *buf, size_t size) {
        if (q->kind == FLEET_QUEUE_UNIX)
                (void) snprintf(buf, size, "unix://%s", q->socket);
        else
                (void) snprintf(buf, size, "redis://%s:%u", q->host, q->port);
        return buf;
}

/* Connections */

/* hiredis writes with write(2): a Redis that went away would kill the
 * process with SIGPIPE instead of failing the command with EPIPE. */
static void ignore_sigpipe(void) {
        struct sigaction sa = { .sa_handler = SIG_IGN };

        (void) sigaction(SIGPIPE, &sa, NULL);
}

static redisReply *command(redisContext *c, int argc, const char **argv) {
        return redisCommandArgv(c, argc, argv, NULL);
}

static bool reply_is_error(const redisReply *r, const char *prefix) {
        return r && r->type == REDIS_REPLY_ERROR && (!prefix || strncmp(r->str, prefix, strlen(prefix)) == 0);
}

/* A connection to the queue, authenticated; timeout_ms for each command.
 * Returns NULL with *reterr_message. */
static redisContext *connect_queue(const FleetQueue *q, const char *password, unsigned timeout_ms,
                                   char **reterr_message) {
        struct timeval connect_tv = { 2, 0 }, tv = { timeout_ms / 1000, (long) (timeout_ms % 1000) * 1000 };
        redisContext *c;
        char where[PATH_MAX + 32];

        c = q->kind == FLEET_QUEUE_UNIX ? redisConnectUnixWithTimeout(q->socket, connect_tv)
                                        : redisConnectWithTimeout(q->host, (int) q->port, connect_tv);
        if (!c) {
                message_put(reterr_message, "cannot connect to %s: out of memory", where_text(q, where, sizeof where));
                return NULL;
        }
        if (c->err) {
                message_put(reterr_message, "cannot connect to %s: %s", where_text(q, where, sizeof where), c->errstr);
                redisFree(c);
                return NULL;
        }
        (void) redisSetTimeout(c, tv);
        if (password) {
                const char *argv[] = { "AUTH", password };
                redisReply *r = command(c, 2, argv);

                if (!r || r->type == REDIS_REPLY_ERROR) {
                        message_put(reterr_message, "%s refused the password: %s", where_text(q, where, sizeof where),
                                    r ? r->str : c->errstr);
                        if (r)
                                freeReplyObject(r);
                        redisFree(c);
                        return NULL;
                }
                freeReplyObject(r);
        }
        return c;
}

/* The group the workers read with, from the first message on. */
static int ensure_group(Fleet *f, redisContext *c) {
        const char *argv[] = { "XGROUP", "CREATE", f->stream, GROUP, "0", "MKSTREAM" };
        redisReply *r = command(c, ELEMENTSOF(argv), argv);
        int ret = 0;

        if (!r)
                return -EIO;
        if (r->type == REDIS_REPLY_ERROR && !reply_is_error(r, "BUSYGROUP")) {
                log_error("cannot create the consumer group of '%s': %s", f->stream, r->str);
                ret = -EIO;
        }
        freeReplyObject(r);
        return ret;
}

/* The password: the systemd credential, else queue_password_file; the
 * first line, without its newline. */
static int read_password(const ThumbwatchConfig *c, char **ret, char **reterr_message) {
        _cleanup_free_ char *cred = NULL;
        const char *dir = getenv("CREDENTIALS_DIRECTORY"), *path = NULL;
        char buf[1024];
        FILE *file;
        size_t l;

        *ret = NULL;
        if (dir && asprintf(&cred, "%s/redis-password", dir) >= 0 && access(cred, F_OK) == 0)
                path = cred;
        else if (c->queue_password_file)
                path = c->queue_password_file;
        if (!path)
                return 0;
        file = fopen(path, "re");
        if (!file)
                return message_set(reterr_message, -errno, "cannot read the queue password from '%s': %s", path,
                                   strerror(errno));
        if (!fgets(buf, sizeof buf, file))
                buf[0] = '\0';
        (void) fclose(file);
        l = strcspn(buf, "\r\n");
        buf[l] = '\0';
        if (l == 0)
                return message_set(reterr_message, -EINVAL, "the queue password file '%s' is empty", path);
        *ret = strdup(buf);
        explicit_bzero(buf, sizeof buf);
        return *ret ? 0 : -ENOMEM;
}

int fleet_new(ThumbwatchConfig *c, FleetRole role, JobContext *job, Fleet **ret, char **reterr_message) {
        const char *reason = NULL;
        char host[HOST_NAME_MAX + 1] = "localhost";
        Fleet *f;
        int r;

        f = calloc(1, sizeof *f);
        if (!f)
                return -ENOMEM;
        ignore_sigpipe();
        r = fleet_queue_parse(c->queue, &f->where, &reason);
        if (r >= 0 && f->where.kind == FLEET_QUEUE_LOCAL)
                r = -EINVAL, reason = "not a Redis queue";
        if (r < 0) {
                free(f);
                return message_set(reterr_message, r, "queue '%s': %s", c->queue, reason ? reason : "invalid");
        }
        r = read_password(c, &f->password, reterr_message);
        if (r < 0) {
                fleet_queue_done(&f->where);
                free(f);
                return r;
        }
        (void) gethostname(host, sizeof host - 1);
        host[sizeof host - 1] = '\0';
        (void) snprintf(f->consumer, sizeof f->consumer, "%s-%d", host, (int) getpid());
        (void) snprintf(f->stream, sizeof f->stream, "%s:jobs", c->queue_name);
        (void) snprintf(f->dead, sizeof f->dead, "%s:dead", c->queue_name);
        f->role = role;
        f->max_deliveries = c->max_deliveries;
        /* A job waits in a worker's hand behind at most two others, and none
         * takes longer than job_timeout: one idle three times that is in
         * the hand of a worker that died. */
        f->reclaim_idle_ms = 3 * c->job_timeout_usec / 1000 + 1000;
        f->high_water = c->queue_size * HIGH_WATER_FACTOR;
        f->job = job;
        f->config = config_ref(c);
        f->limit = config_workers(c);
        f->pub_backoff = BACKOFF_MIN_USEC;
        (void) pthread_mutex_init(&f->lock, NULL);
        (void) pthread_cond_init(&f->wake, NULL);
        *ret = f;
        return 0;
}

static void hand_free(InHand *h) {
        free(h->path);
        for (size_t i = 0; i < h->n_ids; i++)
                free(h->ids[i]);
        free(h->ids);
}

Fleet *fleet_free(Fleet *f) {
        if (!f)
                return NULL;
        for (size_t i = 0; i < f->n_hand; i++)
                hand_free(&f->hand[i]);
        free(f->hand);
        for (size_t i = 0; i < f->n_acks; i++)
                free(f->acks[i]);
        free(f->acks);
        if (f->pub)
                redisFree(f->pub);
        if (f->mon)
                redisFree(f->mon);
        if (f->password) {
                explicit_bzero(f->password, strlen(f->password));
                free(f->password);
        }
        fleet_queue_done(&f->where);
        config_unref(f->config);
        (void) pthread_cond_destroy(&f->wake);
        (void) pthread_mutex_destroy(&f->lock);
        free(f);
        return NULL;
}

void fleet_set_config(Fleet *f, ThumbwatchConfig *c) {
        ThumbwatchConfig *old;

        (void) pthread_mutex_lock(&f->lock);
        old = f->config;
        if (strcmp(old->queue, c->queue) != 0 || strcmp(old->queue_name, c->queue_name) != 0 || old->role != c->role)
                log_warning("queue, queue_name and role keep their values until thumbwatch is restarted");
        f->config = config_ref(c);
        f->limit = config_workers(c);
        (void) pthread_cond_broadcast(&f->wake);
        (void) pthread_mutex_unlock(&f->lock);
        config_unref(old);
}

/* The publisher */

void fleet_set_outbox(Fleet *f, PathQueue *outbox) {
        f->outbox = outbox;
}

static void pub_drop(Fleet *f) {
        if (f->pub)
                redisFree(f->pub);
        f->pub = NULL;
}

/* Waits, then puts path back on the outbox, to be published later. */
static void pub_later(Fleet *f, const char *path, uint64_t wait) {
        char *p;

        sleep_usec(wait);
        if (atomic_load(&f->job->stopping))
                return;         /* the next start's catch-up scan publishes it */
        p = strdup(path);
        if (p && path_queue_push(f->outbox, p) < 0)
                free(p);        /* closed: stopping, as above */
}

/* Publishing failed for a reason that passes: back off. */
static void pub_failed(Fleet *f, const char *path, const char *why) {
        if (!f->pub_failed)
                log_warning("cannot publish jobs to the queue: %s; retrying, then scanning every drop again", why);
        f->pub_failed = true;
        pub_drop(f);
        pub_later(f, path, f->pub_backoff);
        f->pub_backoff = f->pub_backoff * 2 > BACKOFF_MAX_USEC ? BACKOFF_MAX_USEC : f->pub_backoff * 2;
}

/* A publisher's command whose reply must be of type: the reply, or NULL
 * after pub_failed() (the reply, if any, freed). */
static redisReply *pub_command(Fleet *f, const char *path, int type, int argc, const char **argv) {
        redisReply *r = command(f->pub, argc, argv);

        if (r && r->type == type)
                return r;
        pub_failed(f, path, r ? r->str : f->pub->errstr);
        if (r)
                freeReplyObject(r);
        return NULL;
}

void fleet_publish(const char *path, void *userdata) {
        Fleet *f = userdata;
        ThumbwatchConfig *c = config_get(f);
        const DropConfig *d;
        const char *rel;
        redisReply *r;
        int k;

        k = fleet_job_from_path(c, path, &d, &rel);
        if (k < 0) {
                log_warning("'%s' is in no drop, or not a path a job can name: not published", path);
                goto out;
        }
        if (!f->pub) {
                _cleanup_free_ char *msg = NULL;

                f->pub = connect_queue(&f->where, f->password, 2000, &msg);
                if (!f->pub) {
                        pub_failed(f, path, msg ? msg : "out of memory");
                        goto out;
                }
        }
        /* The stream's length before each job: above the high-water mark
         * the outbox fills, and the watcher falls back on folder rescans. */
        {
                const char *argv[] = { "XLEN", f->stream };

                r = pub_command(f, path, REDIS_REPLY_INTEGER, ELEMENTSOF(argv), argv);
        }
        if (!r)
                goto out;
        if ((size_t) r->integer >= f->high_water) {
                if (!f->over_high_water)
                        log_notice("the queue holds %lld jobs (high-water mark %zu): waiting for the workers",
                                   r->integer, f->high_water);
                f->over_high_water = true;
                freeReplyObject(r);
                pub_later(f, path, BACKOFF_MIN_USEC);
                goto out;
        }
        freeReplyObject(r);
        if (f->over_high_water)
                log_notice("the queue is below its high-water mark again: publishing");
        f->over_high_water = false;
        {
                const char *argv[] = { "XADD", f->stream, "*", "drop", d->name, "path", rel, "host", f->consumer };

                r = pub_command(f, path, REDIS_REPLY_STRING, ELEMENTSOF(argv), argv);
        }
        if (!r)
                goto out;
        freeReplyObject(r);
        log_debug("published '%s' as [drop:%s] '%s'", path, d->name, rel);
        if (f->pub_failed) {
                log_notice("publishing jobs again; scanning every drop for what was missed");
                atomic_store(&f->rescan_wanted, true);
        }
        f->pub_failed = false;
        f->pub_backoff = BACKOFF_MIN_USEC;
out:
        config_unref(c);
}

/* The messages in hand */

static InHand *hand_find(Fleet *f, const char *path) {
        for (size_t i = 0; i < f->n_hand; i++)
                if (strcmp(f->hand[i].path, path) == 0)
                        return &f->hand[i];
        return NULL;
}

/* Adds id (taking ownership) for path. Under lock. Returns 0 or -ENOMEM
 * (id still the caller's). */
static int hand_add(Fleet *f, const char *path, char *id) {
        InHand *h = hand_find(f, path);
        char **ids;

        if (!h) {
                if (f->n_hand == f->n_hand_alloc) {
                        size_t n = f->n_hand_alloc ? 2 * f->n_hand_alloc : 16;
                        InHand *a = realloc(f->hand, n * sizeof *a);

                        if (!a)
                                return -ENOMEM;
                        f->hand = a;
                        f->n_hand_alloc = n;
                }
                h = &f->hand[f->n_hand];
                *h = (InHand) { .path = strdup(path) };
                if (!h->path)
                        return -ENOMEM;
                f->n_hand++;
        }
        ids = realloc(h->ids, (h->n_ids + 1) * sizeof *ids);
        if (!ids)
                return -ENOMEM;
        h->ids = ids;
        h->ids[h->n_ids++] = id;
        f->n_unacked++;
        return 0;
}

/* Takes path's entry out of the hand. Under lock. */
static InHand hand_take(Fleet *f, const char *path) {
        InHand *h = hand_find(f, path), taken = {};

        if (h) {
                taken = *h;
                *h = f->hand[--f->n_hand];
        }
        return taken;
}

/* Moves the ids of h to the acks (or forgets them), and frees h. Under lock. */
static void hand_done(Fleet *f, InHand *h, bool ack) {
        for (size_t i = 0; i < h->n_ids; i++) {
                if (ack && f->n_acks == f->n_acks_alloc) {
                        size_t n = f->n_acks_alloc ? 2 * f->n_acks_alloc : 16;
                        char **a = realloc(f->acks, n * sizeof *a);

                        if (a) {
                                f->acks = a;
                                f->n_acks_alloc = n;
                        }
                }
                if (ack && f->n_acks < f->n_acks_alloc) {
                        f->acks[f->n_acks++] = h->ids[i];
                        h->ids[i] = NULL;
                } else
                        f->n_unacked--; /* not acked: another worker takes it over */
        }
        hand_free(h);
        (void) pthread_cond_broadcast(&f->wake);
}

static uint64_t wall_ms(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* From the job's publication (its stream id is Redis's clock in ms when it
 * was added) to its thumbnails made. Under lock. */
static void latency_add(Fleet *f, const InHand *h) {
        uint64_t now = wall_ms(), added = UINT64_MAX;

        for (size_t i = 0; i < h->n_ids; i++) {
                uint64_t t = strtoull(h->ids[i], NULL, 10);

                if (t > 0 && t < added)
                        added = t;
        }
        if (added == UINT64_MAX || added > now)
                return;         /* no id, or clocks apart */
        f->latency[f->next_latency].at_ms = now;
        f->latency[f->next_latency].ms = now - added;
        f->next_latency = (f->next_latency + 1) % LATENCY_MAX;
        if (f->n_latency < LATENCY_MAX)
                f->n_latency++;
}

/* When h's job was published (its oldest stream id), on now_usec()'s
 * clock, for the latency histogram; 0 when not known. */
static uint64_t published_usec(const InHand *h) {
        uint64_t now = wall_ms(), added = UINT64_MAX, mono = now_usec();

        for (size_t i = 0; i < h->n_ids; i++) {
                uint64_t t = strtoull(h->ids[i], NULL, 10);

                if (t > 0 && t < added)
                        added = t;
        }
        if (added == UINT64_MAX || added > now || (now - added) * 1000 >= mono)
                return 0;       /* no id, or clocks apart */
        return mono - (now - added) * 1000;
}

void fleet_process(const char *path, void *userdata) {
        Fleet *f = userdata;
        InHand h;
        JobOutcome o;

        (void) pthread_mutex_lock(&f->lock);
        h = hand_take(f, path);
        (void) pthread_mutex_unlock(&f->lock);
        o = job_run_queued(f->job, path, published_usec(&h));
        (void) pthread_mutex_lock(&f->lock);
        if (o == JOB_MADE)
                latency_add(f, &h);
        hand_done(f, &h, !(o == JOB_SKIPPED && atomic_load(&f->job->stopping)));
        (void) pthread_mutex_unlock(&f->lock);
}

/* The consumer */

/* The value of field name in a message's flat [name, value, ...] array. */
static const char *field(const redisReply *fields, const char *name) {
        if (!fields || fields->type != REDIS_REPLY_ARRAY)
                return NULL;
        for (size_t i = 0; i + 1 < fields->elements; i += 2)
                if (fields->element[i]->type == REDIS_REPLY_STRING && strcmp(fields->element[i]->str, name) == 0 &&
                    fields->element[i + 1]->type == REDIS_REPLY_STRING)
                        return fields->element[i + 1]->str;
        return NULL;
}

/* XACK and XDEL of ids, pipelined. Returns 0, or -EIO when the connection failed. */
static int send_acks(Fleet *f, redisContext *c, char **ids, size_t n) {
        int ret = 0;

        for (size_t i = 0; i < n; i++) {
                const char *ack[] = { "XACK", f->stream, GROUP, ids[i] }, *del[] = { "XDEL", f->stream, ids[i] };

                (void) redisAppendCommandArgv(c, ELEMENTSOF(ack), ack, NULL);
                (void) redisAppendCommandArgv(c, ELEMENTSOF(del), del, NULL);
        }
        for (size_t i = 0; i < 2 * n; i++) {
                void *r = NULL;

                if (redisGetReply(c, &r) != REDIS_OK) {
                        ret = -EIO;
                        break;
                }
                freeReplyObject(r);
        }
        return ret;
}

/* Sends the acks waiting. The ids are forgotten whatever happens: a
 * message whose ack is lost is done again, which costs a stat. */
static int flush_acks(Fleet *f, redisContext *c) {
        char **ids;
        size_t n;
        int r;

        (void) pthread_mutex_lock(&f->lock);
        ids = f->acks;
        n = f->n_acks;
        f->acks = NULL;
        f->n_acks = f->n_acks_alloc = 0;
        f->n_unacked -= n;
        (void) pthread_cond_broadcast(&f->wake);
        (void) pthread_mutex_unlock(&f->lock);
        if (n == 0)
                return 0;
        r = c ? send_acks(f, c, ids, n) : -EIO;
        for (size_t i = 0; i < n; i++)
                free(ids[i]);
        free(ids);
        return r;
}

/* A message that cannot or must not be done: to the dead letters, acked and
 * deleted. Logged with its class; remembered in the failure memory when its
 * file is here, so that a scan does not send it round again. */
static void dead_letter(Fleet *f, redisContext *c, const char *id, const char *drop, const char *rel,
                        const char *class, long long deliveries) {
        ThumbwatchConfig *cfg = config_get(f);
        _cleanup_free_ char *abs = NULL;
        const char *reason = NULL;
        const DropConfig *d;
        char when[32], count[32];
        time_t now = time(NULL);
        struct tm tm;
        redisReply *r;

        (void) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
        (void) snprintf(count, sizeof count, "%lld", deliveries);
        {
                const char *argv[] = { "XADD", f->dead, "MAXLEN", "~", STRINGIFY(DEAD_LIST_MAX), "*", "drop",
                                       drop ? drop : "", "path", rel ? rel : "", "class", class, "host", f->consumer,
                                       "when", when, "deliveries", count };

                r = command(c, ELEMENTSOF(argv), argv);
                if (r)
                        freeReplyObject(r);
        }
        {
                const char *ack[] = { "XACK", f->stream, GROUP, id }, *del[] = { "XDEL", f->stream, id };

                r = command(c, ELEMENTSOF(ack), ack);
                if (r)
                        freeReplyObject(r);
                r = command(c, ELEMENTSOF(del), del);
                if (r)
                        freeReplyObject(r);
        }
        log_full_errno_fields(LOG_ERR, 0,
                              ((const LogField[]) { { "MESSAGE_ID", LOG_MESSAGE_FAILED },
                                                    { "THUMBWATCH_SOURCE", rel ? rel : "" },
                                                    { "THUMBWATCH_ERROR", class } }),
                              3, "job [drop:%s] '%s' (%s) is a dead letter (%s): delivered %lld times without an ack",
                              drop ? drop : "?", rel ? rel : "?", id, class, deliveries);
        if (drop && rel && fleet_path_from_job(cfg, drop, rel, &d, &abs, &reason) >= 0) {
                struct stat st;

                if ((d->follow_symlinks ? stat(abs, &st) : lstat(abs, &st)) >= 0 && S_ISREG(st.st_mode))
                        state_remember_failure(d, abs, &st, -1, class, 0);
        }
        config_unref(cfg);
}

/* One delivered message ([id, [fields]]): into the hand and onto work. */
static void deliver(Fleet *f, redisContext *c, const redisReply *msg) {
        ThumbwatchConfig *cfg;
        const char *drop, *rel, *reason = NULL;
        const DropConfig *d;
        char *path = NULL, *id;
        int r;

        if (!msg || msg->type != REDIS_REPLY_ARRAY || msg->elements < 2 ||
            msg->element[0]->type != REDIS_REPLY_STRING)
                return;         /* deleted meanwhile */
        drop = field(msg->element[1], "drop");
        rel = field(msg->element[1], "path");
        cfg = config_get(f);
        r = drop && rel ? fleet_path_from_job(cfg, drop, rel, &d, &path, &reason) : -EINVAL;
        config_unref(cfg);
        if (r == -ENOMEM)
                return;         /* taken over later */
        if (r < 0) {
                dead_letter(f, c, msg->element[0]->str, drop, rel, r == -ENOENT ? "no-such-drop" : "invalid", 1);
                return;
        }
        id = strdup(msg->element[0]->str);
        (void) pthread_mutex_lock(&f->lock);
        r = id ? hand_add(f, path, id) : -ENOMEM;
        (void) pthread_mutex_unlock(&f->lock);
        if (r < 0) {
                free(id);
                free(path);
                return;
        }
        log_debug("job [drop:%s] '%s' (%s) taken", drop, rel, msg->element[0]->str);
        r = path_queue_push_cancellable(f->work, path, &f->stop_reading);
        if (r < 0) {
                InHand h;

                (void) pthread_mutex_lock(&f->lock);
                h = hand_take(f, path);
                hand_done(f, &h, false);
                (void) pthread_mutex_unlock(&f->lock);
                free(path);
        }
}

/* The messages of other consumers idle past reclaim_idle_ms: delivered
 * max_deliveries times, to the dead letters; else claimed and delivered
 * here. Returns 0, or -EIO when the connection failed. */
static int reclaim(Fleet *f, redisContext *c) {
        char idle[32];
        const char *claim[3 + 2 + RECLAIM_BATCH] = { "XCLAIM", f->stream, GROUP, f->consumer, idle };
        int n_claim = 5;
        redisReply *r, *got;

        (void) snprintf(idle, sizeof idle, "%" PRIu64, f->reclaim_idle_ms);
        {
                const char *argv[] = { "XPENDING", f->stream, GROUP, "IDLE", idle, "-", "+", STRINGIFY(RECLAIM_BATCH) };

                r = command(c, ELEMENTSOF(argv), argv);
        }
        if (!r)
                return -EIO;
        if (r->type != REDIS_REPLY_ARRAY) {
                if (reply_is_error(r, "NOGROUP"))
                        (void) ensure_group(f, c);
                freeReplyObject(r);
                return 0;
        }
        for (size_t i = 0; i < r->elements; i++) {
                redisReply *e = r->element[i];
                const char *id, *owner;
                long long deliveries;

                if (e->type != REDIS_REPLY_ARRAY || e->elements < 4)
                        continue;
                id = e->element[0]->str;
                owner = e->element[1]->str;
                deliveries = e->element[3]->integer;
                if (!id || !owner || strcmp(owner, f->consumer) == 0)
                        continue;       /* ours: in the hand of a live worker */
                if (deliveries >= (long long) f->max_deliveries) {
                        /* Claimed first, so that one worker alone moves it. */
                        const char *one[] = { "XCLAIM", f->stream, GROUP, f->consumer, idle, id };

                        got = command(c, ELEMENTSOF(one), one);
                        if (!got) {
                                freeReplyObject(r);
                                return -EIO;
                        }
                        if (got->type == REDIS_REPLY_ARRAY && got->elements == 1 &&
                            got->element[0]->type == REDIS_REPLY_ARRAY && got->element[0]->elements >= 2)
                                dead_letter(f, c, id, field(got->element[0]->element[1], "drop"),
                                            field(got->element[0]->element[1], "path"), "crashed", deliveries);
                        freeReplyObject(got);
                        continue;
                }
                log_info("taking over job %s from '%s' (idle %lld ms, delivered %lld times)", id, owner,
                         e->element[2]->integer, deliveries);
                claim[n_claim++] = id;
        }
        if (n_claim > 5) {
                got = command(c, n_claim, claim);
                if (!got) {
                        freeReplyObject(r);
                        return -EIO;
                }
                if (got->type == REDIS_REPLY_ARRAY)
                        for (size_t i = 0; i < got->elements; i++)
                                deliver(f, c, got->element[i]);
                freeReplyObject(got);
        }
        freeReplyObject(r);
        return 0;
}

/* Forgets the consumers of workers that are gone, so that --queue-status
 * lists the live ones. Best effort. */
static void forget_consumers(Fleet *f, redisContext *c) {
        const char *argv[] = { "XINFO", "CONSUMERS", f->stream, GROUP };
        redisReply *r = command(c, ELEMENTSOF(argv), argv);

        for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
                redisReply *e = r->element[i];
                const char *name;
                long long pending = -1, idle = 0;

                if (!e || e->type != REDIS_REPLY_ARRAY)
                        continue;
                name = field(e, "name");
                for (size_t j = 0; j + 1 < e->elements; j += 2)
                        if (e->element[j]->type == REDIS_REPLY_STRING && e->element[j + 1]->type == REDIS_REPLY_INTEGER) {
                                if (strcmp(e->element[j]->str, "pending") == 0)
                                        pending = e->element[j + 1]->integer;
                                else if (strcmp(e->element[j]->str, "idle") == 0)
                                        idle = e->element[j + 1]->integer;
                        }
                if (name && strcmp(name, f->consumer) != 0 && pending == 0 && idle > CONSUMER_FORGET_MS) {
                        const char *del[] = { "XGROUP", "DELCONSUMER", f->stream, GROUP, name };
                        redisReply *d = command(c, ELEMENTSOF(del), del);

                        if (d)
                                freeReplyObject(d);
                        log_info("forgot the consumer '%s': nothing pending, silent for %lld s", name, idle / 1000);
                }
        }
        if (r)
                freeReplyObject(r);
}

/* How many more messages may be read now. Waits (up to READ_BLOCK_MS) for
 * acks when none may. */
static size_t room(Fleet *f) {
        size_t n;

        (void) pthread_mutex_lock(&f->lock);
        if (f->n_unacked >= f->limit && f->n_acks == 0 && !atomic_load(&f->stop)) {
                struct timespec ts;

                (void) clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += READ_BLOCK_MS * 1000000L;
                ts.tv_sec += ts.tv_nsec / 1000000000L;
                ts.tv_nsec %= 1000000000L;
                (void) pthread_cond_timedwait(&f->wake, &f->lock, &ts);
        }
        n = f->n_unacked < f->limit ? f->limit - f->n_unacked : 0;
        (void) pthread_mutex_unlock(&f->lock);
        return n;
}

/* Reads up to n new messages (blocking up to READ_BLOCK_MS). Returns 0, or
 * -EIO when the connection failed. */
static int read_jobs(Fleet *f, redisContext *c, size_t n) {
        char count[32];
        const char *argv[] = { "XREADGROUP", "GROUP", GROUP, f->consumer, "COUNT", count, "BLOCK",
                               STRINGIFY(READ_BLOCK_MS), "STREAMS", f->stream, ">" };
        redisReply *r;

        (void) snprintf(count, sizeof count, "%zu", n);
        r = command(c, ELEMENTSOF(argv), argv);
        if (!r)
                return -EIO;
        if (reply_is_error(r, "NOGROUP")) {
                /* A Redis that restarted empty: the watchers scan again. */
                log_notice("the queue's consumer group is gone (Redis restarted?): creating it again");
                (void) ensure_group(f, c);
        } else if (r->type == REDIS_REPLY_ERROR)
                log_warning("reading jobs failed: %s", r->str);
        else if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->type == REDIS_REPLY_ARRAY &&
                 r->element[0]->elements == 2 && r->element[0]->element[1]->type == REDIS_REPLY_ARRAY) {
                redisReply *msgs = r->element[0]->element[1];

                for (size_t i = 0; i < msgs->elements && !atomic_load(&f->stop_reading); i++)
                        deliver(f, c, msgs->element[i]);
        }
        freeReplyObject(r);
        return 0;
}

static void *consumer_thread(void *arg) {
        Fleet *f = arg;
        redisContext *c = NULL;
        uint64_t backoff = BACKOFF_MIN_USEC, last_reclaim = 0, last_forget = 0;
        bool reported = false;

        while (!atomic_load(&f->stop)) {
                int r = 0;

                if (!c) {
                        _cleanup_free_ char *msg = NULL;

                        /* Past XREADGROUP's BLOCK. */
                        c = connect_queue(&f->where, f->password, READ_BLOCK_MS + 2000, &msg);
                        if (c && ensure_group(f, c) < 0) {
                                redisFree(c);
                                c = NULL;
                        }
                        if (!c) {
                                if (!reported)
                                        log_warning("%s; retrying", msg ? msg : "cannot reach the queue");
                                reported = true;
                                (void) flush_acks(f, NULL);     /* lost with their Redis, or taken over */
                                sleep_usec(backoff);
                                backoff = backoff * 2 > BACKOFF_MAX_USEC ? BACKOFF_MAX_USEC : backoff * 2;
                                continue;
                        }
                        if (reported)
                                log_notice("connected to the queue again");
                        else
                                log_info("consuming jobs from '%s' as '%s'", f->stream, f->consumer);
                        reported = false;
                        backoff = BACKOFF_MIN_USEC;
                }
                r = flush_acks(f, c);
                if (r >= 0 && !atomic_load(&f->stop_reading) && now_usec() - last_reclaim >= RECLAIM_USEC) {
                        last_reclaim = now_usec();
                        r = reclaim(f, c);
                }
                if (r >= 0 && now_usec() - last_forget >= FORGET_USEC) {
                        last_forget = now_usec();
                        forget_consumers(f, c);
                }
                if (r >= 0) {
                        size_t n = atomic_load(&f->stop_reading) ? 0 : room(f);

                        if (n > 0)
                                r = read_jobs(f, c, n);
                        else if (atomic_load(&f->stop_reading)) {
                                (void) pthread_mutex_lock(&f->lock);
                                if (f->n_acks == 0 && !atomic_load(&f->stop))
                                        (void) pthread_cond_wait(&f->wake, &f->lock);
                                (void) pthread_mutex_unlock(&f->lock);
                        }
                }
                if (r < 0) {
                        log_warning("lost the connection to the queue: %s; reconnecting", c->errstr);
                        reported = true;
                        redisFree(c);
                        c = NULL;
                }
        }
        if (c) {
                (void) flush_acks(f, c);
                redisFree(c);
        }
        return NULL;
}

int fleet_consumer_start(Fleet *f, PathQueue *work) {
        int r;

        f->work = work;
        r = -pthread_create(&f->consumer_thread, NULL, consumer_thread, f);
        if (r < 0)
                return r;
        f->consumer_started = true;
        return 0;
}

void fleet_consumer_stop_reading(Fleet *f) {
        atomic_store(&f->stop_reading, true);
        (void) pthread_mutex_lock(&f->lock);
        (void) pthread_cond_broadcast(&f->wake);
        (void) pthread_mutex_unlock(&f->lock);
}

void fleet_consumer_stop(Fleet *f) {
        fleet_consumer_stop_reading(f);
        atomic_store(&f->stop, true);
        (void) pthread_mutex_lock(&f->lock);
        (void) pthread_cond_broadcast(&f->wake);
        (void) pthread_mutex_unlock(&f->lock);
        if (f->consumer_started)
                (void) pthread_join(f->consumer_thread, NULL);
        f->consumer_started = false;
}

/* The main thread */

static void mon_drop(Fleet *f) {
        if (f->mon)
                redisFree(f->mon);
        f->mon = NULL;
        atomic_store(&f->connected, false);
}

/* The server's run_id: another one means a Redis that restarted, and the
 * jobs it held may be gone. */
static int mon_run_id(Fleet *f, char *buf, size_t size) {
        const char *argv[] = { "INFO", "server" };
        redisReply *r = command(f->mon, ELEMENTSOF(argv), argv);
        const char *p;

        if (!r)
                return -EIO;
        buf[0] = '\0';
        if (r->type == REDIS_REPLY_STRING && (p = strstr(r->str, "run_id:"))) {
                p += strlen("run_id:");
                (void) snprintf(buf, size, "%.*s", (int) strcspn(p, "\r\n"), p);
        }
        freeReplyObject(r);
        return 0;
}

bool fleet_tick(Fleet *f) {
        uint64_t now = now_usec();
        char run_id[sizeof f->run_id];
        redisReply *r;

        if (now - f->last_tick < TICK_USEC && f->last_tick != 0)
                return atomic_exchange(&f->rescan_wanted, false);
        f->last_tick = now;
        if (!f->mon) {
                _cleanup_free_ char *msg = NULL;

                f->mon = connect_queue(&f->where, f->password, 1000, &msg);
                if (!f->mon) {
                        if (!f->mon_reported)
                                log_warning("%s; retrying", msg ? msg : "cannot reach the queue");
                        f->mon_reported = true;
                        return atomic_exchange(&f->rescan_wanted, false);
                }
                if (f->mon_reported)
                        log_notice("the queue is reachable again");
                f->mon_reported = false;
        }
        if (mon_run_id(f, run_id, sizeof run_id) < 0) {
                mon_drop(f);
                return atomic_exchange(&f->rescan_wanted, false);
        }
        if (f->run_id[0] && run_id[0] && strcmp(run_id, f->run_id) != 0 && f->role != FLEET_ROLE_WORKER) {
                log_notice("Redis restarted: its jobs may be lost; scanning every drop again");
                atomic_store(&f->rescan_wanted, true);
        }
        if (run_id[0])
                memcpy(f->run_id, run_id, sizeof run_id);
        {
                const char *argv[] = { "XLEN", f->stream };

                r = command(f->mon, ELEMENTSOF(argv), argv);
        }
        if (!r) {
                mon_drop(f);
                return atomic_exchange(&f->rescan_wanted, false);
        }
        if (r->type == REDIS_REPLY_INTEGER)
                atomic_store(&f->length, (uint64_t) r->integer);
        freeReplyObject(r);
        {
                const char *argv[] = { "XPENDING", f->stream, GROUP };

                r = command(f->mon, ELEMENTSOF(argv), argv);
        }
        if (!r) {
                mon_drop(f);
                return atomic_exchange(&f->rescan_wanted, false);
        }
        atomic_store(&f->pending, r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
                                                  r->element[0]->type == REDIS_REPLY_INTEGER
                                          ? (uint64_t) r->element[0]->integer
                                          : 0);
        freeReplyObject(r);
        atomic_store(&f->connected, true);
        return atomic_exchange(&f->rescan_wanted, false);
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

/* p50 and p99 of the latencies of the last LATENCY_WINDOW_MS; false when
 * there are none. */
static bool latency_percentiles(Fleet *f, uint64_t *ret_p50, uint64_t *ret_p99) {
        uint64_t *v, now = wall_ms();
        size_t n = 0;

        v = malloc(LATENCY_MAX * sizeof *v);
        if (!v)
                return false;
        (void) pthread_mutex_lock(&f->lock);
        for (size_t i = 0; i < f->n_latency; i++)
                if (now - f->latency[i].at_ms <= LATENCY_WINDOW_MS)
                        v[n++] = f->latency[i].ms;
        (void) pthread_mutex_unlock(&f->lock);
        if (n > 0) {
                qsort(v, n, sizeof *v, cmp_u64);
                *ret_p50 = v[(n - 1) * 50 / 100];
                *ret_p99 = v[(n - 1) * 99 / 100];
        }
        free(v);
        return n > 0;
}

void fleet_status(Fleet *f, char *buf, size_t size) {
        uint64_t p50, p99;
        int l;

        if (!atomic_load(&f->connected))
                l = snprintf(buf, size, "queue redis unreachable");
        else
                l = snprintf(buf, size, "queue redis connected, length %" PRIu64 ", pending %" PRIu64,
                             (uint64_t) atomic_load(&f->length), (uint64_t) atomic_load(&f->pending));
        if (l > 0 && (size_t) l < size && latency_percentiles(f, &p50, &p99))
                (void) snprintf(buf + l, size - (size_t) l, ", latency p50 %" PRIu64 " ms, p99 %" PRIu64 " ms",
                                p50, p99);
}

void fleet_state(Fleet *f, bool *ret_connected, uint64_t *ret_length, uint64_t *ret_pending) {
        *ret_connected = atomic_load(&f->connected);
        *ret_length = atomic_load(&f->length);
        *ret_pending = atomic_load(&f->pending);
}

/* --queue-status */

static void print_value(FILE *out, const char *s) {
        _cleanup_free_ char *e = log_escape(s ? s : "");

        fputs(e ? e : "?", out);
}

int fleet_print_status(const ThumbwatchConfig *c, FILE *out, char **reterr_message) {
        _cleanup_free_ char *password = NULL;
        const char *reason = NULL;
        char stream[KEY_MAX], dead[KEY_MAX], where[PATH_MAX + 32];
        FleetQueue q = {};
        redisContext *ctx;
        redisReply *r;
        int k;

        k = fleet_queue_parse(c->queue, &q, &reason);
        if (k < 0)
                return message_set(reterr_message, k, "queue '%s': %s", c->queue, reason ? reason : "invalid");
        if (q.kind == FLEET_QUEUE_LOCAL)
                return message_set(reterr_message, -EINVAL, "queue = local: there is no shared queue to show "
                                   "(--queue-status is for queue = redis://... or unix://...)");
        k = read_password(c, &password, reterr_message);
        if (k < 0) {
                fleet_queue_done(&q);
                return k;
        }
        ignore_sigpipe();
        ctx = connect_queue(&q, password, 2000, reterr_message);
        if (!ctx) {
                fleet_queue_done(&q);
                return -EHOSTUNREACH;
        }
        (void) snprintf(stream, sizeof stream, "%s:jobs", c->queue_name);
        (void) snprintf(dead, sizeof dead, "%s:dead", c->queue_name);
        fprintf(out, "queue: %s\nstream: %s\n", where_text(&q, where, sizeof where), stream);
        {
                const char *argv[] = { "XLEN", stream };

                r = command(ctx, ELEMENTSOF(argv), argv);
        }
        fprintf(out, "length: %lld\n", r && r->type == REDIS_REPLY_INTEGER ? r->integer : 0);
        if (r)
                freeReplyObject(r);
        {
                const char *argv[] = { "XINFO", "CONSUMERS", stream, GROUP };

                r = command(ctx, ELEMENTSOF(argv), argv);
        }
        if (r && r->type == REDIS_REPLY_ARRAY) {
                long long pending = 0;

                for (size_t i = 0; i < r->elements; i++) {
                        redisReply *e = r->element[i];
                        const char *name = field(e, "name");
                        long long n = 0, idle = 0;

                        for (size_t j = 0; e->type == REDIS_REPLY_ARRAY && j + 1 < e->elements; j += 2)
                                if (e->element[j + 1]->type == REDIS_REPLY_INTEGER) {
                                        if (strcmp(e->element[j]->str, "pending") == 0)
                                                n = e->element[j + 1]->integer;
                                        else if (strcmp(e->element[j]->str, "idle") == 0)
                                                idle = e->element[j + 1]->integer;
                                }
                        pending += n;
                        fprintf(out, "consumer: ");
                        print_value(out, name);
                        fprintf(out, " pending %lld idle %lld.%03llds\n", n, idle / 1000, idle % 1000);
                }
                fprintf(out, "pending: %lld\nconsumers: %zu\n", pending, r->elements);
        } else
                fprintf(out, "pending: 0\nconsumers: 0\n");
        if (r)
                freeReplyObject(r);
        {
                const char *argv[] = { "XLEN", dead };

                r = command(ctx, ELEMENTSOF(argv), argv);
        }
        fprintf(out, "dead letters: %lld\n", r && r->type == REDIS_REPLY_INTEGER ? r->integer : 0);
        if (r)
                freeReplyObject(r);
        {
                const char *argv[] = { "XRANGE", dead, "-", "+", "COUNT", "100" };

                r = command(ctx, ELEMENTSOF(argv), argv);
        }
        for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
                static const char *const names[] = { "drop", "path", "class", "host", "when", "deliveries" };
                redisReply *m = r->element[i];
                const redisReply *fields = m->type == REDIS_REPLY_ARRAY && m->elements >= 2 ? m->element[1] : NULL;

                fprintf(out, "dead:");
                for (size_t j = 0; j < ELEMENTSOF(names); j++) {
                        fprintf(out, " %s ", names[j]);
                        print_value(out, field(fields, names[j]));
                }
                fputc('\n', out);
        }
        if (r)
                freeReplyObject(r);
        k = ctx->err ? message_set(reterr_message, -EIO, "the queue failed: %s", ctx->errstr) : 0;
        redisFree(ctx);
        fleet_queue_done(&q);
        return k;
}
