/* output-tree.c - the output tree's one owner: layouts, the identity stamp,
 * removals and moves.
 *
 * Every write and removal goes through folder descriptors opened below the
 * output root without following symlinks (beneath.h), so a link planted in
 * an output tree (which may sit inside a drop) cannot send a write or an
 * unlink elsewhere. Checks read by path (lstat, lgetxattr): they only read a
 * stamp, and a wrong answer costs a thumbnail made again, never a file. */
#include "build-config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fts.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "beneath.h"
#include "freedesktop.h"
#include "macro.h"
#include "naming.h"
#include "output-tree.h"
#include "thumbnail.h"

/* The stamp's format: a version, the identity, the recipe, one space and
 * the source's name (which may itself start with a space). */
#define STAMP_VERSION "2"

void output_identity(const struct stat *st, SourceIdentity *ret) {
        *ret = (SourceIdentity) {
                .size = (uint64_t) st->st_size,
                .ino = (uint64_t) st->st_ino,
                .mtime = st->st_mtim,
                .ctime = st->st_ctim,
        };
}

int output_stat_source(int dirfd, const char *path, int flags, struct stat *ret_st, SourceIdentity *ret_id) {
        struct statx stx;

        if (statx(dirfd, path, flags | AT_STATX_SYNC_AS_STAT, STATX_BASIC_STATS | STATX_BTIME, &stx) < 0)
                return -errno;
        *ret_st = (struct stat) {
                .st_dev = makedev(stx.stx_dev_major, stx.stx_dev_minor),
                .st_ino = stx.stx_ino,
                .st_mode = stx.stx_mode,
                .st_nlink = stx.stx_nlink,
                .st_uid = stx.stx_uid,
                .st_gid = stx.stx_gid,
                .st_size = (off_t) stx.stx_size,
                .st_mtim = { stx.stx_mtime.tv_sec, stx.stx_mtime.tv_nsec },
                .st_ctim = { stx.stx_ctime.tv_sec, stx.stx_ctime.tv_nsec },
                .st_atim = { stx.stx_atime.tv_sec, stx.stx_atime.tv_nsec },
        };
        output_identity(ret_st, ret_id);
        if (stx.stx_mask & STATX_BTIME)
                ret_id->btime = (struct timespec) { stx.stx_btime.tv_sec, stx.stx_btime.tv_nsec };
        return 0;
}

bool output_identity_equal(const SourceIdentity *a, const SourceIdentity *b) {
        return a->size == b->size && a->ino == b->ino && a->mtime.tv_sec == b->mtime.tv_sec &&
               a->mtime.tv_nsec == b->mtime.tv_nsec && a->btime.tv_sec == b->btime.tv_sec &&
               a->btime.tv_nsec == b->btime.tv_nsec;
}

uint64_t output_recipe(const DropConfig *d) {
        uint64_t h = 14695981039346656037ULL;   /* FNV-1a */
        /* color = srgb, the default, is 0 here: thumbnails made before the
         * key existed keep their recipe (and are not all made again after
         * an upgrade); color = keep gives another, so changing the key
         * makes a drop's thumbnails again. */
        uint64_t v[4 + 3 * CONFIG_SIZES_MAX] = { d->output_format, d->quality, d->background,
                                                 (uint64_t) d->colour << 3 | (uint64_t) d->strip << 2 |
                                                         (uint64_t) d->embedded_previews << 1 | (uint64_t) d->layout };

        for (size_t i = 0; i < d->n_sizes; i++) {
                v[4 + 3 * i] = d->sizes[i].width;
                v[5 + 3 * i] = d->sizes[i].height;
                v[6 + 3 * i] = (uint64_t) d->sizes[i].mode + 1;
        }
        for (size_t i = 0; i < ELEMENTSOF(v); i++)
                for (size_t b = 0; b < 8; b++)
                        h = (h ^ ((v[i] >> (8 * b)) & 0xff)) * 1099511628211ULL;
        return h;
}

const char *output_state_name(ThumbState s) {
        static const char *const names[_THUMB_STATE_MAX] = {
                [THUMB_CURRENT] = "up to date",
                [THUMB_MISSING] = "missing",
                [THUMB_STALE] = "stale",
                [THUMB_TAKEN] = "taken by another source",
        };
        return s < _THUMB_STATE_MAX ? names[s] : "?";
}

static bool xattr_unsupported(int e) {
        return e == ENOTSUP || e == EOPNOTSUPP;
}

/* "2 SIZE INO MSEC.MNSEC BSEC.BNSEC RECIPE NAME" */
static int format_stamp(const OutputStamp *s, char *buf, size_t size) {
        int n = snprintf(buf, size, STAMP_VERSION " %" PRIu64 " %" PRIu64 " %lld.%09ld %lld.%09ld %016" PRIx64 " %s",
                         s->id.size, s->id.ino, (long long) s->id.mtime.tv_sec, s->id.mtime.tv_nsec,
                         (long long) s->id.btime.tv_sec, s->id.btime.tv_nsec, s->recipe, s->name);

        return n < 0 || (size_t) n >= size ? -ENAMETOOLONG : n;
}

static bool parse_stamp(const char *buf, SourceIdentity *ret_id, uint64_t *ret_recipe, const char **ret_name) {
        unsigned long long size, ino, recipe;
        long long sec, bsec;
        long nsec, bnsec;
        int end = 0;

        /* %n straight after the recipe, then exactly one space: a name may
         * start with spaces of its own, which a " %n" would swallow. */
        if (sscanf(buf, STAMP_VERSION " %llu %llu %lld.%ld %lld.%ld %llx%n", &size, &ino, &sec, &nsec, &bsec, &bnsec,
                   &recipe, &end) != 7 || end == 0 || buf[end] != ' ' || nsec < 0 || nsec >= 1000000000 ||
            bnsec < 0 || bnsec >= 1000000000)
                return false;
        *ret_id = (SourceIdentity) { .size = size, .ino = ino, .mtime = { (time_t) sec, nsec },
                                     .btime = { (time_t) bsec, bnsec } };
        *ret_recipe = recipe;
        *ret_name = buf + end + 1;
        return true;
}

int output_stamp_fd(int fd, void *userdata) {
        const OutputStamp *s = userdata;
        char buf[NAME_MAX + 128];
        int n = format_stamp(s, buf, sizeof buf);

        if (n < 0)
                return n;
        if (fsetxattr(fd, OUTPUT_XATTR, buf, (size_t) n, 0) == 0)
                return 0;
        if (!xattr_unsupported(errno))
                return -errno;
        /* No extended attributes here: the thumbnail's own mtime carries the
         * source's, the one part of the identity that fits. */
        {
                struct timespec times[2] = { { .tv_nsec = UTIME_OMIT }, s->id.mtime };

                return futimens(fd, times) < 0 ? -errno : 0;
        }
}

bool output_same_time(const struct timespec *t, const struct timespec *s) {
        static const long steps[] = { 100, 1000 };

        if (t->tv_sec == s->tv_sec && t->tv_nsec == s->tv_nsec)
                return true;
        if (t->tv_sec == s->tv_sec) {
                for (size_t i = 0; i < ELEMENTSOF(steps); i++)
                        if (t->tv_nsec == s->tv_nsec - s->tv_nsec % steps[i])
                                return true;
                return t->tv_nsec == 0;
        }
        /* FAT's 2 s: the even second at or below. */
        return t->tv_nsec == 0 && t->tv_sec == s->tv_sec - (((s->tv_sec % 2) + 2) % 2);
}

ThumbState outputs_state(const Outputs *o, size_t i, const SourceIdentity *id, char *ret_other) {
        char buf[NAME_MAX + 128];
        SourceIdentity stamped;
        const char *name;
        uint64_t recipe;
        struct stat st;
        ssize_t n;

        n = lgetxattr(o->path[i], OUTPUT_XATTR, buf, sizeof buf - 1);
        if (n >= 0) {
                buf[n] = '\0';
                if (!parse_stamp(buf, &stamped, &recipe, &name))
                        return THUMB_STALE;
                if (strcmp(name, o->name) != 0) {
                        if (ret_other)
                                (void) snprintf(ret_other, NAME_MAX + 1, "%s", name);
                        return THUMB_TAKEN;
                }
                return output_identity_equal(&stamped, id) && recipe == o->recipe ? THUMB_CURRENT : THUMB_STALE;
        }
        if (errno == ENOENT || errno == ENOTDIR)
                return THUMB_MISSING;
        if (!xattr_unsupported(errno))
                return THUMB_STALE;     /* ENODATA: unstamped; ERANGE: not a stamp of ours */
        if (lstat(o->path[i], &st) < 0)
                return THUMB_MISSING;
        if (!S_ISREG(st.st_mode) || st.st_size == 0)
                return THUMB_STALE;
        return output_same_time(&st.st_mtim, &id->mtime) ? THUMB_CURRENT : THUMB_STALE;
}

long output_source_written(const DropConfig *d, const char *src) {
        Outputs o;
        long n = 0;

        if (outputs_init(&o, d, src) < 0)
                return 0;
        for (size_t i = 0; i < o.n; i++) {
                char buf[NAME_MAX + 128], out[NAME_MAX + 128];
                SourceIdentity id;
                const char *name;
                uint64_t recipe;
                ssize_t len = lgetxattr(o.path[i], OUTPUT_XATTR, buf, sizeof buf - 1);

                if (len >= 0) {
                        OutputStamp s;
                        int m;

                        buf[len] = '\0';
                        if (!parse_stamp(buf, &id, &recipe, &name) || strcmp(name, o.name) != 0)
                                continue;       /* not this source's */
                        /* Still ours (--gc and pruning read the name), but with
                         * the recipe no drop has: stale. */
                        s = (OutputStamp) { .id = id, .recipe = 0, .name = name };
                        m = format_stamp(&s, out, sizeof out);
                        if (m >= 0 && lsetxattr(o.path[i], OUTPUT_XATTR, out, (size_t) m, XATTR_REPLACE) == 0)
                                n++;
                } else if (xattr_unsupported(errno)) {
                        /* The mtime is the stamp: one no source has. */
                        struct timespec times[2] = { { .tv_nsec = UTIME_OMIT }, { 0, 1 } };

                        if (utimensat(AT_FDCWD, o.path[i], times, AT_SYMLINK_NOFOLLOW) == 0)
                                n++;
                }
        }
        outputs_done(&o);
        return n;
}

bool outputs_current(const Outputs *o, const SourceIdentity *id) {
        for (size_t i = 0; i < o->n; i++)
                if (outputs_state(o, i, id, NULL) != THUMB_CURRENT)
                        return false;
        return true;
}

/* Would this folder (relative to the output root) be the state folder or below it? */
static bool is_state_path(const char *rel) {
        size_t l = strlen(OUTPUT_STATE_DIR);

        return strncmp(rel, OUTPUT_STATE_DIR, l) == 0 && (rel[l] == '\0' || rel[l] == '/');
}

static char *join3(const char *a, const char *b, const char *c) {
        char *p;

        if (asprintf(&p, "%s%s%s%s%s", strcmp(a, "/") == 0 ? "" : a, b[0] ? "/" : "", b, c[0] ? "/" : "", c) < 0)
                return NULL;
        return p;
}

/* mirror: the source's folder below the output, a name from the template. */
static int name_mirror(Outputs *o, const char *src) {
        const DropConfig *d = o->drop;
        size_t dir_len = o->name == o->rel ? 0 : (size_t) (o->name - o->rel - 1);

        (void) src;
        if (dir_len > 0 && is_state_path(o->rel))
                return -EPERM;
        for (size_t i = 0; i < o->n; i++) {
                int r;

                o->dir[i] = strndup(o->rel, dir_len);
                if (!o->dir[i])
                        return -ENOMEM;
                r = naming_expand_ext(d->name_template, o->name, image_format_extension(d->output_format),
                                      d->sizes[i].width, d->sizes[i].height, &o->file[i]);
                if (r < 0)
                        return r;
                /* A template such as "{stem}" could name a thumbnail after the state folder. */
                if (o->dir[i][0] == '\0' && strcmp(o->file[i], OUTPUT_STATE_DIR) == 0)
                        return -EPERM;
                if (strcmp(o->file[i], ".") == 0 || strcmp(o->file[i], "..") == 0)
                        return -EINVAL;
        }
        return 0;
}

/* freedesktop: the size's folder (normal/, large/), the MD5 of the URI. */
static int name_freedesktop(Outputs *o, const char *src) {
        char name[FREEDESKTOP_NAME_MAX];
        int r;

        r = freedesktop_uri(src, &o->uri);
        if (r < 0)
                return r;
        freedesktop_name(o->uri, name);
        for (size_t i = 0; i < o->n; i++) {
                o->dir[i] = strdup(freedesktop_flavour(o->drop->sizes[i].width));
                o->file[i] = strdup(name);
                if (!o->dir[i] || !o->file[i])
                        return -ENOMEM;
        }
        return 0;
}

int outputs_init(Outputs *o, const DropConfig *d, const char *src) {
        const char *slash;
        int r;

        *o = (Outputs) { .drop = d, .layout = output_layout(d), .n = d->n_sizes, .recipe = output_recipe(d) };
        for (size_t i = 0; i < ELEMENTSOF(o->dirfd); i++)
                o->dirfd[i] = -1;
        if (!naming_path_is_under(src, d->source) || strcmp(src, d->source) == 0)
                return -EINVAL;
        o->rel = strdup(naming_path_below(src, d->source));
        if (!o->rel)
                return -ENOMEM;
        slash = strrchr(o->rel, '/');
        o->name = slash ? slash + 1 : o->rel;
        /* Names come from readdir() and events: never empty, ".", "..". */
        if (o->name[0] == '\0' || strcmp(o->name, ".") == 0 || strcmp(o->name, "..") == 0)
                r = -EINVAL;
        else
                r = o->layout->name(o, src);
        for (size_t i = 0; i < o->n && r >= 0; i++)
                if (!(o->path[i] = join3(d->output, o->dir[i], o->file[i])))
                        r = -ENOMEM;
        if (r < 0)
                outputs_done(o);
        return r;
}

void outputs_done(Outputs *o) {
        for (size_t i = 0; i < ELEMENTSOF(o->dirfd); i++) {
                if (o->dirfd[i] >= 0)
                        (void) close(o->dirfd[i]);
                o->dirfd[i] = -1;
                free(o->dir[i]);
                free(o->file[i]);
                free(o->path[i]);
                o->dir[i] = o->file[i] = o->path[i] = NULL;
        }
        free(o->rel);
        free(o->uri);
        o->rel = o->uri = NULL;
        o->name = NULL;
}

/* The output root, followed if it is a symlink (the admin's choice). */
static int open_root(const DropConfig *d) {
        return beneath_open_root(d->output);
}

static mode_t dir_mode(const DropConfig *d) {
        return output_layout(d)->dir_mode;
}

/* Each output root and source as thumbwatch first found it: its device and
 * inode, and its parent folder's device. A root removed later is made again
 * only while its parent is still on that device (a root whose disk was
 * unmounted has a parent on another: writing there would fill the wrong
 * disk); a root or a source that is another folder than then (a mount
 * point whose disk went away, a bind mount undone) is not written to, nor
 * pruned. First seen wins: a reload while a disk is away does not make the
 * bare mount point the right place. */
static pthread_mutex_t places_lock = PTHREAD_MUTEX_INITIALIZER;
static struct Place {
        char *path;
        dev_t parent_dev, dev;
        ino_t ino;
} *places;                                      /* guarded by places_lock */
static size_t n_places;                         /* guarded by places_lock */

static char *parent_of(const char *path) {
        const char *slash = strrchr(path, '/');

        return slash == path ? strdup("/") : strndup(path, slash ? (size_t) (slash - path) : 0);
}

/* Records path as it is now; with update, over what was recorded. */
static void remember_place(const char *path, bool update) {
        _cleanup_free_ char *parent = parent_of(path);
        struct Place *a, now;
        struct stat pst, st;

        if (!parent || stat(parent, &pst) < 0 || stat(path, &st) < 0)
                return;
        now = (struct Place) { NULL, pst.st_dev, st.st_dev, st.st_ino };
        (void) pthread_mutex_lock(&places_lock);
        for (size_t i = 0; i < n_places; i++)
                if (strcmp(places[i].path, path) == 0) {
                        if (update) {
                                now.path = places[i].path;
                                places[i] = now;
                        }
                        goto out;
                }
        a = reallocarray(places, n_places + 1, sizeof *a);
        if (a) {
                places = a;
                now.path = strdup(path);
                a[n_places] = now;
                if (now.path)
                        n_places++;
        }
out:
        (void) pthread_mutex_unlock(&places_lock);
}

/* What was recorded of path; false when nothing was. */
static bool recalled_place(const char *path, struct Place *ret) {
        bool known = false;

        (void) pthread_mutex_lock(&places_lock);
        for (size_t i = 0; i < n_places && !known; i++)
                if (strcmp(places[i].path, path) == 0) {
                        *ret = places[i];
                        known = true;
                }
        (void) pthread_mutex_unlock(&places_lock);
        return known;
}

/* Is the folder st describes the one recorded for path (or nothing was)? */
static bool in_place(const char *path, const struct stat *st) {
        struct Place p;

        return !recalled_place(path, &p) || (p.dev == st->st_dev && p.ino == st->st_ino);
}

bool output_root_in_place(const DropConfig *d) {
        struct stat st;

        return stat(d->output, &st) < 0 || in_place(d->output, &st);
}

void output_remember_source(const DropConfig *d) {
        remember_place(d->source, false);
}

bool output_source_in_place(const DropConfig *d) {
        struct stat st;

        return stat(d->source, &st) == 0 && in_place(d->source, &st);
}

/* The output root of d is gone: made again, if it can safely be. */
static int remake_root(const DropConfig *d) {
        _cleanup_free_ char *parent = parent_of(d->output);
        struct stat st;
        struct Place p;

        if (!recalled_place(d->output, &p) || !parent || stat(parent, &st) < 0 || st.st_dev != p.parent_dev)
                return -ENOENT;
        if (mkdir(d->output, dir_mode(d)) < 0 && errno != EEXIST)
                return -errno;
        remember_place(d->output, true);        /* a new inode, made by us */
        return 0;
}

int outputs_open(Outputs *o, bool create, char **reterr_dir) {
        int root, r = 0;

        *reterr_dir = NULL;
        root = open_root(o->drop);
        if (root == -ENOENT && create && remake_root(o->drop) == 0) {
                o->root_made = true;
                root = open_root(o->drop);
        }
        if (root >= 0 && create) {
                struct stat st;

                if (fstat(root, &st) == 0 && !in_place(o->drop->output, &st)) {
                        (void) close(root);
                        root = -ENODEV; /* "No such device": its disk is not mounted */
                }
        }
        if (root < 0) {
                *reterr_dir = strdup(o->drop->output);
                return root;
        }
        for (size_t i = 0; i < o->n; i++) {
                if (o->dirfd[i] >= 0)
                        continue;
                for (size_t j = 0; j < i; j++)
                        if (o->dirfd[j] >= 0 && strcmp(o->dir[j], o->dir[i]) == 0) {
                                o->dirfd[i] = fcntl(o->dirfd[j], F_DUPFD_CLOEXEC, 3);
                                break;
                        }
                if (o->dirfd[i] < 0)
                        o->dirfd[i] = beneath_open(root, o->dir[i], O_PATH | O_DIRECTORY,
                                                   create ? BENEATH_CREATE_DIRS : 0, dir_mode(o->drop));
                if (o->dirfd[i] < 0 && r >= 0) {
                        r = o->dirfd[i] == -ELOOP ? -ENOTDIR : o->dirfd[i];
                        *reterr_dir = join3(o->drop->output, o->dir[i], "");
                }
                if (o->dirfd[i] < 0)
                        o->dirfd[i] = -1;
        }
        (void) close(root);
        return r;
}

/* The stamp of name in dirfd (name NULL: of dirfd itself), NUL-terminated
 * in buf (NAME_MAX + 128 bytes). Returns its length, or -1 with errno. */
static ssize_t get_stamp(int dirfd, const char *name, char *buf, size_t size) {
        char path[64 + NAME_MAX];
        ssize_t n;

        if (name) {
                (void) snprintf(path, sizeof path, "/proc/self/fd/%d/%s", dirfd, name);
                n = lgetxattr(path, OUTPUT_XATTR, buf, size - 1);
        } else
                n = fgetxattr(dirfd, OUTPUT_XATTR, buf, size - 1);
        if (n >= 0)
                buf[n] = '\0';
        return n;
}

int output_read_stamp(int dirfd, const char *name, char *ret_name) {
        char buf[NAME_MAX + 128];
        SourceIdentity id;
        const char *stamped;
        uint64_t recipe;

        if (ret_name)
                ret_name[0] = '\0';
        if (get_stamp(dirfd, name, buf, sizeof buf) < 0)
                return xattr_unsupported(errno) ? -ENOTSUP : errno == ENODATA || errno == ERANGE ? 0 : -errno;
        if (!parse_stamp(buf, &id, &recipe, &stamped))
                return 0;
        if (ret_name)
                (void) snprintf(ret_name, NAME_MAX + 1, "%s", stamped);
        return 1;
}

bool output_is_ours(int dirfd, const char *name) {
        if (naming_is_own_temporary(name))
                return true;
        /* Where the file system keeps no stamps, nothing can be told apart:
         * nothing is ours to remove but our temporaries. */
        return output_read_stamp(dirfd, name, NULL) > 0;
}

/* The parent folder of rel below the output root (opened, created if asked)
 * and rel's last component. */
static int open_parent(int root, const char *rel, bool create, mode_t mode, const char **ret_base) {
        const char *slash = strrchr(rel, '/');
        _cleanup_free_ char *parent = slash ? strndup(rel, (size_t) (slash - rel)) : strdup("");

        if (!parent)
                return -ENOMEM;
        *ret_base = slash ? slash + 1 : rel;
        return beneath_open(root, parent, O_PATH | O_DIRECTORY, create ? BENEATH_CREATE_DIRS : 0, mode);
}

/* The layout's failure folder, opened (created if asked) below the output root. */
static int open_fail_dir(const Outputs *o, bool create) {
        int root = open_root(o->drop), fd;

        if (root < 0)
                return root;
        fd = beneath_open(root, o->layout->fail_dir, O_PATH | O_DIRECTORY, create ? BENEATH_CREATE_DIRS : 0,
                          o->layout->dir_mode);
        (void) close(root);
        return fd;
}

int outputs_mark_failed(const Outputs *o, const ThumbnailOptions *opts, char **reterr_reason) {
        ThumbnailOptions marker = *opts;
        int fd, r;

        *reterr_reason = NULL;
        if (!o->layout->fail_dir || o->n == 0)
                return 0;
        fd = open_fail_dir(o, true);
        if (fd < 0)
                return fd;
        marker.finish = NULL;
        r = thumbnail_write_failure_marker(fd, o->file[0], &marker, reterr_reason);
        (void) close(fd);
        return r;
}

void outputs_unmark_failed(const Outputs *o) {
        int fd;

        if (!o->layout->fail_dir || o->n == 0)
                return;
        fd = open_fail_dir(o, false);
        if (fd < 0)
                return;
        (void) unlinkat(fd, o->file[0], 0);
        (void) close(fd);
}

long outputs_remove(Outputs *o) {
        _cleanup_free_ char *failed_dir = NULL;
        long n = 0;

        (void) outputs_open(o, false, &failed_dir);
        for (size_t i = 0; i < o->n; i++) {
                char other[NAME_MAX + 1];
                int r;

                if (o->dirfd[i] < 0)
                        continue;
                r = output_read_stamp(o->dirfd[i], o->file[i], other);
                /* Another source's thumbnail of the same name stays. */
                if (r > 0 && strcmp(other, o->name) != 0)
                        continue;
                if (r != -ENOENT && unlinkat(o->dirfd[i], o->file[i], 0) == 0)
                        n++;
        }
        outputs_remove_gone_dirs(o);
        outputs_unmark_failed(o);
        return n;
}

void outputs_remove_gone_dirs(const Outputs *o) {
        _cleanup_free_ char *dir = NULL;
        int root;

        if (!o->layout->mirrors_tree || o->n == 0 || !o->dir[0][0] || !(dir = strdup(o->dir[0])))
                return;
        root = open_root(o->drop);
        if (root < 0)
                return;
        /* From the source's folder up: each mirror goes while it is empty
         * and its source folder is gone (outputs_open() may have made the
         * whole chain again under a name that had just been renamed). */
        for (;;) {
                _cleanup_free_ char *src_dir = join3(o->drop->source, dir, "");
                const char *base;
                struct stat st;
                char *slash;
                int parent;

                if (!src_dir || lstat(src_dir, &st) == 0 || (errno != ENOENT && errno != ENOTDIR))
                        break;
                parent = open_parent(root, dir, false, 0, &base);
                if (parent < 0)
                        break;
                if (unlinkat(parent, base, AT_REMOVEDIR) < 0 && errno != ENOENT) {
                        (void) close(parent);
                        break;
                }
                (void) close(parent);
                slash = strrchr(dir, '/');
                if (!slash)
                        break;
                *slash = '\0';
        }
        (void) close(root);
}

/* Does the file name in dirfd carry stamp, exactly (where the file system
 * keeps no stamps: the mtime output_stamp_fd() gave it)? */
static bool stamped_as(int dirfd, const char *name, const OutputStamp *stamp) {
        char buf[NAME_MAX + 128];
        SourceIdentity id;
        const char *stamped;
        uint64_t recipe;
        struct stat st;

        if (get_stamp(dirfd, name, buf, sizeof buf) >= 0)
                return parse_stamp(buf, &id, &recipe, &stamped) && output_identity_equal(&id, &stamp->id) &&
                       recipe == stamp->recipe && strcmp(stamped, stamp->name) == 0;
        return xattr_unsupported(errno) && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
               S_ISREG(st.st_mode) && output_same_time(&st.st_mtim, &stamp->id.mtime);
}

/* Is the folder dirfd, wherever it is now, the mirror of the folder where
 * the source decoded (its stat) is now under o's name? root_now: the
 * output root's path as the kernel names it. */
static bool follows_source(const Outputs *o, int dirfd, const char *root_now, const struct stat *decoded) {
        _cleanup_free_ char *src = NULL;
        char now[PATH_MAX];
        SourceIdentity id;
        const char *rel;
        struct stat st = {};

        if (beneath_fd_path(dirfd, now, sizeof now) <= 0)
                return false;
        if (!naming_path_is_under(now, root_now))
                return false;   /* moved out of the output, or removed ("... (deleted)") */
        rel = naming_path_below(now, root_now);
        if (is_state_path(rel) || !(src = join3(o->drop->source, rel, o->name)))
                return false;
        return output_stat_source(AT_FDCWD, src, o->drop->follow_symlinks ? 0 : AT_SYMLINK_NOFOLLOW, &st, &id) == 0 &&
               st.st_dev == decoded->st_dev && st.st_ino == decoded->st_ino;
}

long outputs_remove_written(Outputs *o, const OutputStamp *stamp, const struct stat *decoded) {
        char root_now[PATH_MAX] = "";
        long n = 0;

        if (decoded && o->layout->mirrors_tree) {
                int root = open_root(o->drop);

                if (root >= 0 && beneath_fd_path(root, root_now, sizeof root_now) <= 0)
                        root_now[0] = '\0';
                if (root >= 0)
                        (void) close(root);
        }
        for (size_t i = 0; i < o->n; i++) {
                if (o->dirfd[i] < 0 || !stamped_as(o->dirfd[i], o->file[i], stamp))
                        continue;
                if (root_now[0] && follows_source(o, o->dirfd[i], root_now, decoded))
                        continue;
                if (unlinkat(o->dirfd[i], o->file[i], 0) == 0)
                        n++;
        }
        return n;
}

bool output_names_may_collide(const DropConfig *d) {
        return output_layout(d)->mirrors_tree && !strstr(d->name_template, "{name}") &&
               (d->output_format != 0 || !strstr(d->name_template, "{ext}"));
}

long output_remove_source(const DropConfig *d, const char *path) {
        Outputs o;
        long n;

        if (outputs_init(&o, d, path) < 0)
                return 0;
        n = outputs_remove(&o);
        outputs_done(&o);
        return n;
}

static bool keep_not_ours(int dirfd, const char *name, void *userdata) {
        (void) userdata;
        return !output_is_ours(dirfd, name);
}

long output_folder_remove(const DropConfig *d, const char *src_dir) {
        const char *rel, *base;
        int root, parent;
        long n;

        if (!output_layout(d)->mirrors_tree || !naming_path_is_under(src_dir, d->source) ||
            strcmp(src_dir, d->source) == 0)
                return 0;
        rel = naming_path_below(src_dir, d->source);
        if (is_state_path(rel))
                return 0;
        root = open_root(d);
        if (root < 0)
                return 0;
        parent = open_parent(root, rel, false, 0, &base);
        (void) close(root);
        if (parent < 0)
                return 0;
        n = beneath_remove_tree(parent, base, keep_not_ours, NULL);
        (void) close(parent);
        return n > 0 ? n : 0;
}

int output_folder_moved(const DropConfig *d, const char *from_dir, const char *to_dir) {
        const char *from, *to, *from_base, *to_base;
        int root, pfrom = -1, pto = -1, r;

        if (!output_layout(d)->mirrors_tree)
                return 0;
        if (!naming_path_is_under(from_dir, d->source) || !naming_path_is_under(to_dir, d->source) ||
            strcmp(from_dir, d->source) == 0 || strcmp(to_dir, d->source) == 0)
                return -EINVAL;
        from = naming_path_below(from_dir, d->source);
        to = naming_path_below(to_dir, d->source);
        if (is_state_path(from) || is_state_path(to))
                return -EPERM;
        root = open_root(d);
        if (root < 0)
                return root;
        pfrom = open_parent(root, from, false, 0, &from_base);
        r = pfrom;
        if (r >= 0) {
                pto = open_parent(root, to, true, dir_mode(d), &to_base);
                r = pto;
        }
        if (r >= 0)
                r = renameat(pfrom, from_base, pto, to_base) == 0 || errno == ENOENT ? 0 : -errno;
                /* ENOENT: no thumbnails there yet, nothing to move */
        if (pfrom >= 0 && r < 0) {
                /* Could not follow (the new name's mirror exists, say): the
                 * old thumbnails go, and the rescan makes the new ones. */
                long n = beneath_remove_tree(pfrom, from_base, keep_not_ours, NULL);

                (void) n;
        }
        if (pfrom >= 0)
                (void) close(pfrom);
        if (pto >= 0)
                (void) close(pto);
        (void) close(root);
        return r == -ENOENT ? 0 : r;
}

bool output_keeps_stamps(const DropConfig *d) {
        int root = open_root(d), state, fd;
        bool keeps = true;

        state = root >= 0 ? beneath_open(root, OUTPUT_STATE_DIR, O_RDONLY | O_DIRECTORY, 0, 0) : -1;
        fd = state >= 0 ? openat(state, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600) : -1;
        if (fd >= 0) {
                keeps = fsetxattr(fd, OUTPUT_XATTR, "probe", 5, 0) == 0 || !xattr_unsupported(errno);
                (void) close(fd);
        }
        if (state >= 0)
                (void) close(state);
        if (root >= 0)
                (void) close(root);
        return keeps;
}

int output_prepare(const DropConfig *d) {
        _cleanup_free_ char *p = strdup(d->output);
        mode_t mode = dir_mode(d);

        if (!p)
                return -ENOMEM;
        if (mkdir(p, mode) == 0 || errno == EEXIST) {
                remember_place(d->output, false);
                return 0;
        }
        if (errno != ENOENT)
                return -errno;
        for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
                *s = '\0';
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        remember_place(d->output, false);
        return 0;
}

/* min_age 0: every temporary, not stat()ed; else those not modified for
 * min_age seconds. */
static long clean_temporaries(const DropConfig *d, time_t min_age) {
        _cleanup_free_ char *copy = strdup(d->output);
        char *roots[] = { copy, NULL };
        time_t now = time(NULL);
        long n = 0;
        FTSENT *e;
        FTS *fts;

        if (!copy)
                return -ENOMEM;
        fts = fts_open(roots, FTS_PHYSICAL | FTS_NOCHDIR | (min_age > 0 ? 0 : FTS_NOSTAT), NULL);
        if (!fts)
                return -errno;
        while ((e = fts_read(fts)))
                if ((e->fts_info == FTS_F || e->fts_info == FTS_NSOK) && naming_is_own_temporary(e->fts_name) &&
                    (min_age == 0 || (e->fts_info == FTS_F && now - e->fts_statp->st_mtime >= min_age)) &&
                    unlink(e->fts_accpath) == 0)
                        n++;
        (void) fts_close(fts);
        return n;
}

long output_clean_temporaries(const DropConfig *d) {
        return clean_temporaries(d, 0);
}

long output_clean_old_temporaries(const DropConfig *d, unsigned min_age_sec) {
        return clean_temporaries(d, min_age_sec > 0 ? (time_t) min_age_sec : 1);
}

/* Pruning */

/* Would a source at src (by its path: the drop's rules, the name template)
 * have thumb in the output folder dir (relative to the output)? */
static bool names_explain(const OutputPrune *p, const DropConfig *d, const char *src, const char *dir,
                          const char *thumb) {
        Outputs o;
        bool found = false;

        if ((p->source_path_ok && !p->source_path_ok(d, src)) || outputs_init(&o, d, src) < 0)
                return false;
        for (size_t i = 0; i < o.n && !found; i++)
                found = strcmp(o.dir[i], dir) == 0 && strcmp(o.file[i], thumb) == 0;
        outputs_done(&o);
        return found;
}

typedef enum SourceState {
        SOURCE_IS,              /* a source file, now */
        SOURCE_GONE,            /* gone, or no source: not a regular file, a symlink not followed (or
                                 * dangling, or leading out of the drop with follow_symlinks = yes), or
                                 * behind a folder that is a symlink now */
        SOURCE_UNKNOWN,         /* cannot be told (a folder that cannot be read, an io error): kept */
} SourceState;

static SourceState state_of_errno(int e) {
        return e == ENOENT || e == ENOTDIR || e == ELOOP || e == EXDEV ? SOURCE_GONE : SOURCE_UNKNOWN;
}

/* The folder rel_dir (relative to d's source) opened below the source
 * without a symlink on the way, or -errno. */
static int open_source_dir(const DropConfig *d, const char *rel_dir, int flags) {
        int root = beneath_open_root(d->source), fd;

        if (root < 0)
                return root == -ENOENT ? -EIO : root;   /* the source itself away: nothing can be told */
        fd = beneath_open(root, rel_dir, flags | O_DIRECTORY, 0, 0);
        (void) close(root);
        return fd;
}

/* Is src (absolute, below d->source) a source now? Looked at now, as the
 * worker would: no symlinked folder on the way, the rules of follow_symlinks. */
static SourceState source_state(const DropConfig *d, const char *src) {
        const char *rel = naming_path_below(src, d->source), *slash = strrchr(rel, '/');
        _cleanup_free_ char *dir = slash ? strndup(rel, (size_t) (slash - rel)) : strdup("");
        const char *name = slash ? slash + 1 : rel;
        SourceState state;
        struct stat st;
        int dfd;

        if (!dir)
                return SOURCE_UNKNOWN;
        dfd = open_source_dir(d, dir, O_PATH);
        if (dfd < 0)
                return state_of_errno(-dfd);
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                state = state_of_errno(errno);
        else if (S_ISLNK(st.st_mode) && d->follow_symlinks) {
                if (fstatat(dfd, name, &st, 0) < 0)
                        state = state_of_errno(errno);          /* dangling: gone */
                else if (!S_ISREG(st.st_mode))
                        state = SOURCE_GONE;
                else if (d->follow_symlinks == FOLLOW_BENEATH) {
                        _cleanup_free_ char *target = realpath(src, NULL), *root = realpath(d->source, NULL);

                        state = !target || !root ? SOURCE_UNKNOWN :
                                naming_path_is_under(target, root) ? SOURCE_IS : SOURCE_GONE;
                } else
                        state = SOURCE_IS;
        } else
                state = S_ISREG(st.st_mode) ? SOURCE_IS : SOURCE_GONE;
        (void) close(dfd);
        return state;
}

/* The names in a source folder, with their types from readdir: what a
 * thumbnail's source is checked against first, so that keeping a thumbnail
 * costs no stat of its source (the catch-up has stat()ed it already). */
typedef struct SourceNames {
        struct SourceName {
                char *name;
                unsigned char type;
        } *v;
        size_t n;
        SourceState state;      /* of the folder: read (IS), gone (or a symlink now), or not readable */
} SourceNames;

static int cmp_source_name(const void *a, const void *b) {
        return strcmp(((const struct SourceName *) a)->name, ((const struct SourceName *) b)->name);
}

static void source_names_done(SourceNames *s) {
        for (size_t i = 0; i < s->n; i++)
                free(s->v[i].name);
        free(s->v);
        *s = (SourceNames) {};
}

/* Appends name (of type, a d_type) to s, whose array holds *size. */
static bool source_names_add(SourceNames *s, size_t *size, const char *name, unsigned char type) {
        if (s->n == *size) {
                struct SourceName *a = reallocarray(s->v, *size ? *size * 2 : 64, sizeof *a);

                if (!a)
                        return false;
                s->v = a;
                *size = *size ? *size * 2 : 64;
        }
        if (!(s->v[s->n].name = strdup(name)))
                return false;
        s->v[s->n++].type = type;
        return true;
}

/* Lists the source folder rel_dir, opened below the source without a
 * symlink on the way. */
static void source_names_read(SourceNames *s, const DropConfig *d, const char *rel_dir) {
        size_t size = 0;
        struct dirent *e;
        int fd = open_source_dir(d, rel_dir, O_RDONLY);
        DIR *dp = fd >= 0 ? fdopendir(fd) : NULL;

        *s = (SourceNames) { .state = SOURCE_IS };
        if (!dp) {
                s->state = state_of_errno(fd < 0 ? -fd : errno);
                if (fd >= 0)
                        (void) close(fd);
                return;
        }
        while ((errno = 0, e = readdir(dp))) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                        continue;
                if (!source_names_add(s, &size, e->d_name, e->d_type))
                        break;
        }
        if (errno != 0)
                s->state = SOURCE_UNKNOWN;      /* read only in part: nothing is judged by it */
        (void) closedir(dp);
        if (s->n > 0)
                qsort(s->v, s->n, sizeof *s->v, cmp_source_name);
}

/* Is name in s as a regular file (what a listing can vouch for without a stat)? */
static bool source_names_has_file(const SourceNames *s, const char *name) {
        union { const char *c; char *m; } u = { .c = name };     /* the key is only read */
        struct SourceName key = { .name = u.m }, *hit;

        if (s->n == 0)
                return false;
        hit = bsearch(&key, s->v, s->n, sizeof *s->v, cmp_source_name);
        return hit && hit->type == DT_REG;
}

/* The names the thumbnails of a mirror folder's sources have: for each
 * regular file its source folder lists that a scan would take, its
 * outputs' names, sorted. A thumbnail so named is explained by the listing
 * alone, without reading its stamp: at start-up every thumbnail of an
 * up-to-date tree is, and reading each stamp again cost as much as the
 * workers' whole check. Returns false when out of memory: the set is then
 * incomplete, and a thumbnail missing from it proves nothing. */
static bool expected_names_read(SourceNames *x, const OutputPrune *p, const DropConfig *d, const SourceNames *names,
                                const char *dir) {
        size_t size = 0;

        *x = (SourceNames) { .state = SOURCE_IS };
        for (size_t i = 0; i < names->n; i++) {
                _cleanup_free_ char *src = NULL;
                Outputs o;
                bool added = true;
                int r;

                if (names->v[i].type != DT_REG)
                        continue;
                if (!(src = join3(d->source, dir, names->v[i].name)))
                        return false;
                if (p->source_path_ok && !p->source_path_ok(d, src))
                        continue;
                r = outputs_init(&o, d, src);
                if (r == -ENOMEM)
                        return false;
                if (r < 0)
                        continue;
                for (size_t j = 0; j < o.n && added; j++)
                        if (strcmp(o.dir[j], dir) == 0)
                                added = source_names_add(x, &size, o.file[j], DT_REG);
                outputs_done(&o);
                if (!added)
                        return false;
        }
        if (x->n > 0)
                qsort(x->v, x->n, sizeof *x->v, cmp_source_name);
        return true;
}

/* Removes name (of dirfd) for p, or says it would; folder: rmdir. */
static bool prune_remove(OutputPrune *p, int dirfd, const char *name, const char *path, bool folder) {
        if (!p->dry_run && unlinkat(dirfd, name, folder ? AT_REMOVEDIR : 0) < 0) {
                if (!folder && errno != ENOENT)
                        p->failed++;
                return false;
        }
        if (folder)
                p->folders++;
        else
                p->files++;
        if (p->removed)
                p->removed(path, folder, p->userdata);
        return true;
}

static void prune_kept(OutputPrune *p, const char *path) {
        p->foreign++;
        if (p->kept)
                p->kept(path, p->userdata);
}

/* One regular file of the mirror folder dir: an orphan of thumbwatch's
 * goes. Returns true if it stays. */
static bool prune_file(OutputPrune *p, const DropConfig *d, const SourceNames *names, int dirfd, const char *dir,
                       const char *name, const char *path) {
        _cleanup_free_ char *src = NULL;
        char source_name[NAME_MAX + 1];
        int r;

        if (naming_is_own_temporary(name))
                return true;            /* a thumbnail being written, or a crash's: start-up's */
        r = output_read_stamp(dirfd, name, source_name);
        if (r == 0 || r == -ENOTSUP) {
                prune_kept(p, path);
                return true;
        }
        if (r < 0)
                return true;
        src = join3(d->source, dir, source_name);
        if (!src || names->state == SOURCE_UNKNOWN)
                return true;
        /* A source the listing holds as a regular file would have explained
         * name already (prune_dir's expected names): it does not. Any other
         * is looked at by itself, right before its thumbnail would go. */
        if (!source_names_has_file(names, source_name)) {
                SourceState state = source_state(d, src);

                if (state == SOURCE_UNKNOWN || (state == SOURCE_IS && names_explain(p, d, src, dir, name)))
                        return true;
        }
        return !prune_remove(p, dirfd, name, path, false);
}

/* The mirror folder dir (relative to the output; dirfd open on it), and
 * below. Returns how many entries stay in it. */
static long prune_dir(OutputPrune *p, const DropConfig *d, int dirfd, const char *dir, const char *path) {
        _cleanup_(source_names_done) SourceNames names = {};
        _cleanup_(source_names_done) SourceNames expected = {};
        struct dirent *e;
        long stay = 0;
        int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
        DIR *dp = fd >= 0 ? fdopendir(fd) : NULL;

        if (!dp) {
                if (fd >= 0)
                        (void) close(fd);
                p->failed++;
                return 1;
        }
        source_names_read(&names, d, dir);
        /* A source folder that is there and empty while its mirror holds
         * thumbnails is more likely a disk not mounted on it than a folder
         * emptied (whose deletions the watcher saw): left alone. */
        if (names.state == SOURCE_IS && names.n == 0 && dir[0] && p->keep_empty_folders) {
                p->empty++;
                if (p->empty_folder)
                        p->empty_folder(path, p->userdata);
                (void) closedir(dp);
                return 1;
        }
        if (names.state == SOURCE_IS && !expected_names_read(&expected, p, d, &names, dir))
                names.state = SOURCE_UNKNOWN;   /* nothing is judged by a set cut short */
        while ((e = readdir(dp))) {
                _cleanup_free_ char *sub = NULL, *sub_path = NULL;
                struct stat st;

                if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
                        continue;
                if (!dir[0] && strcmp(e->d_name, OUTPUT_STATE_DIR) == 0) {
                        stay++;         /* the daemon's state */
                        continue;
                }
                if (e->d_type == DT_REG && source_names_has_file(&expected, e->d_name)) {
                        stay++;         /* a present source's thumbnail */
                        continue;
                }
                sub = dir[0] ? join3(dir, e->d_name, "") : strdup(e->d_name);
                sub_path = join3(path, e->d_name, "");
                if (!sub || !sub_path || fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        stay++;
                        continue;
                }
                if (S_ISDIR(st.st_mode)) {
                        int sfd, child;

                        /* Another drop's output, or this one's inside its source. */
                        if (p->config && output_is_drop_output(p->config, sub_path)) {
                                stay++;
                                continue;
                        }
                        sfd = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        /* Its folder goes once empty, if its source folder is gone. */
                        child = open_source_dir(d, sub, O_PATH);
                        if (child >= 0)
                                (void) close(child);
                        if (sfd < 0 || prune_dir(p, d, sfd, sub, sub_path) > 0 ||
                            child >= 0 || state_of_errno(-child) != SOURCE_GONE ||
                            !prune_remove(p, dirfd, e->d_name, sub_path, true))
                                stay++;
                        if (sfd >= 0)
                                (void) close(sfd);
                        continue;
                }
                if (!S_ISREG(st.st_mode) || prune_file(p, d, &names, dirfd, dir, e->d_name, sub_path))
                        stay++;
        }
        (void) closedir(dp);
        return stay;
}

/* layout = freedesktop: the cache may be shared with other programs, so
 * only thumbwatch's own files (stamped, or with its Software chunk where
 * there are no stamps; the markers in fail/thumbwatch/) whose Thumb::URI
 * names a gone file below src_dir go. */
static int prune_freedesktop(const DropConfig *d, const char *src_dir, OutputPrune *p) {
        for (size_t i = 0; i <= d->n_sizes; i++) {
                const char *sub = i < d->n_sizes ? freedesktop_flavour(d->sizes[i].width) : FREEDESKTOP_FAIL_DIR;
                _cleanup_free_ char *dir_path = NULL;
                struct dirent *e;
                DIR *dir;

                if (!sub || !(dir_path = join3(d->output, sub, "")))
                        continue;
                dir = opendir(dir_path);
                if (!dir)
                        continue;
                while ((e = readdir(dir))) {
                        _cleanup_free_ char *src = NULL, *path = NULL;
                        char uri[PATH_MAX * 3 + 16], software[64];
                        struct stat st;
                        int r;

                        if (e->d_name[0] == '.' || strcmp(naming_extension(e->d_name), ".png") != 0)
                                continue;
                        r = i < d->n_sizes ? output_read_stamp(dirfd(dir), e->d_name, NULL) : 1;
                        /* Not stamped (no stamps here, or made by a thumbwatch
                         * that did not stamp): its own by the Software chunk. */
                        if (r == -ENOTSUP || r == 0)
                                r = freedesktop_read_text(dirfd(dir), e->d_name, "Software", software,
                                                          sizeof software) == 0 &&
                                    strncmp(software, "thumbwatch ", 11) == 0;
                        if (r <= 0)
                                continue;
                        if (freedesktop_read_text(dirfd(dir), e->d_name, "Thumb::URI", uri, sizeof uri) < 0 ||
                            freedesktop_path(uri, &src) < 0 || !naming_path_is_under(src, src_dir) ||
                            strcmp(src, d->source) == 0)
                                continue;
                        /* Its source is there, and it is under the name that
                         * source's URI gives (a thumbnail made when URIs were
                         * escaped otherwise is not): it stays. */
                        if (lstat(src, &st) == 0 || errno != ENOENT) {
                                _cleanup_free_ char *now = NULL;
                                char name[FREEDESKTOP_NAME_MAX];

                                if (freedesktop_uri(src, &now) < 0)
                                        continue;
                                freedesktop_name(now, name);
                                if (strcmp(name, e->d_name) == 0)
                                        continue;
                        }
                        if ((path = join3(dir_path, e->d_name, "")))
                                (void) prune_remove(p, dirfd(dir), e->d_name, path, false);
                }
                (void) closedir(dir);
        }
        return 0;
}

bool output_is_drop_output(const ThumbwatchConfig *c, const char *dir) {
        for (size_t i = 0; i < c->n_drops; i++)
                if (strcmp(dir, c->drops[i].output) == 0)
                        return true;
        return false;
}

/* mirror: the mirror of src_dir, walked beside the source folders. */
static int prune_mirror(const DropConfig *d, const char *src_dir, OutputPrune *p) {
        _cleanup_free_ char *out_path = NULL;
        const char *rel;
        int root, fd;

        rel = naming_path_below(src_dir, d->source);
        if (is_state_path(rel) || !(out_path = join3(d->output, rel, "")))
                return -EINVAL;
        root = open_root(d);
        if (root < 0)
                return root;
        fd = beneath_open(root, rel, O_RDONLY | O_DIRECTORY, 0, 0);
        (void) close(root);
        if (fd < 0)
                return fd == -ENOENT ? 0 : fd;
        (void) prune_dir(p, d, fd, rel, out_path);
        (void) close(fd);
        return 0;
}

int output_prune(const DropConfig *d, const char *src_dir, OutputPrune *p) {
        if (!naming_path_is_under(src_dir, d->source))
                return -EINVAL;
        return output_layout(d)->prune(d, src_dir, p);
}

/* The layouts */

/* Each size at fit (fit_only), or in its own mode. */
static void set_targets(const Outputs *o, ThumbnailTarget targets[], bool fit_only) {
        for (size_t i = 0; i < o->n; i++)
                targets[i] = (ThumbnailTarget) { o->dirfd[i], o->file[i], o->drop->sizes[i].width,
                                                 o->drop->sizes[i].height,
                                                 fit_only ? THUMBNAIL_FIT : o->drop->sizes[i].mode };
}

static void make_options_mirror(const Outputs *o, const struct stat *st, ThumbnailTarget targets[],
                                ThumbnailOptions *opts) {
        (void) st;
        set_targets(o, targets, false);
        opts->output_format = o->drop->output_format;
        /* format = same: named ".heic.jpg", so written as JPEG, whatever the bytes are. */
        if (opts->output_format == 0) {
                const ImageFormat *f = image_format_from_extension(naming_extension(o->name));

                opts->output_format = f ? f->written_as : 0;
        }
        opts->file_mode = 0644;
}

/* The standard's thumbnails: PNG, fit, private, and the Thumb:: chunks that
 * tell a reader which version of which file they show. */
static void make_options_freedesktop(const Outputs *o, const struct stat *st, ThumbnailTarget targets[],
                                     ThumbnailOptions *opts) {
        set_targets(o, targets, true);
        opts->output_format = THUMBNAIL_PNG;
        opts->file_mode = 0600;
        opts->thumb_uri = o->uri;
        opts->thumb_mtime = (long long) st->st_mtim.tv_sec;
        opts->thumb_size = (unsigned long long) st->st_size;
}

static const OutputLayout mirror_layout = {
        .dir_mode = 0755,
        .mirrors_tree = true,
        .name = name_mirror,
        .make_options = make_options_mirror,
        .prune = prune_mirror,
};

static const OutputLayout freedesktop_layout = {
        .dir_mode = 0700,               /* the Thumbnail Managing Standard's cache is private */
        .fail_dir = FREEDESKTOP_FAIL_DIR,
        .name = name_freedesktop,
        .make_options = make_options_freedesktop,
        .prune = prune_freedesktop,
};

const OutputLayout *output_layout(const DropConfig *d) {
        static const OutputLayout *const layouts[] = {
                [LAYOUT_MIRROR] = &mirror_layout,
                [LAYOUT_FREEDESKTOP] = &freedesktop_layout,
        };

        return (size_t) d->layout < ELEMENTSOF(layouts) ? layouts[d->layout] : &mirror_layout;
}
