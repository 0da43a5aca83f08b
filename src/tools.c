/* tools.c - --gc and --explain. Both read the config and the trees only:
 * nothing here is shared with a running daemon but the file system. What
 * is a thumbnail, whose it is and whether it is current is the output
 * tree's to say (output-tree.h); --gc removes only what thumbwatch made,
 * and looks at each file's source again right before removing it, so a
 * source that arrives meanwhile keeps the thumbnail the daemon just made. */
#include "build-config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "job.h"
#include "log.h"
#include "macro.h"
#include "naming.h"
#include "output-tree.h"
#include "scan.h"
#include "source.h"
#include "state-dir.h"
#include "thumbnail.h"
#include "tools.h"

/* A name as it may be printed: escaped (log_escape()), so that a name with
 * a newline cannot forge a line of this report. Valid until the fourth
 * call after this one. */
static const char *esc(const char *s) {
        static char *ring[4];
        static unsigned next;
        char **slot = &ring[next++ % ELEMENTSOF(ring)];

        free(*slot);
        *slot = log_escape(s);
        return *slot ? *slot : "(out of memory)";
}

/* The daemon's rule of which files are sources, by their paths. */
static bool source_path_ok(const DropConfig *d, const char *src) {
        char why[PATH_MAX];

        return !scan_path_skipped(d, naming_path_below(src, d->source), why, sizeof why);
}

static void gc_removed(const char *path, bool folder, void *userdata) {
        printf("%s %s%s\n", *(bool *) userdata ? "would remove" : "removed", esc(path), folder ? "/" : "");
}

static void gc_kept(const char *path, void *userdata) {
        (void) userdata;
        printf("kept %s: not made by thumbwatch\n", esc(path));
}

static void gc_empty(const char *path, void *userdata) {
        (void) userdata;
        printf("kept %s/: its source folder is empty (a disk not mounted?); remove it by hand if it was "
               "emptied\n", esc(path));
}

int tools_gc(const ThumbwatchConfig *c, bool dry_run) {
        OutputPrune p = { .config = c, .dry_run = dry_run, .source_path_ok = source_path_ok, .removed = gc_removed,
                          .kept = gc_kept, .empty_folder = gc_empty, .keep_empty_folders = true,
                          .userdata = &dry_run };
        long records = 0;

        for (size_t i = 0; i < c->n_drops; i++) {
                const DropConfig *d = &c->drops[i];
                struct stat st;
                int r;

                if (stat(d->source, &st) < 0 || !S_ISDIR(st.st_mode)) {
                        /* A missing source may be an unmounted disk: its thumbnails are not orphans. */
                        log_warning("source '%s' of [drop:%s] is not available: leaving '%s' as it is", d->source,
                                    d->name, d->output);
                        continue;
                }
                r = output_prune(d, d->source, &p);
                if (r < 0) {
                        log_error_errno(r, "cannot read '%s': %m", d->output);
                        p.failed++;
                }
                if (!dry_run)
                        records += state_prune_failures(d);
        }
        printf("%s %ld orphan thumbnail%s and %ld folder%s\n", dry_run ? "would remove" : "removed", p.files,
               p.files == 1 ? "" : "s", p.folders, p.folders == 1 ? "" : "s");
        if (p.foreign > 0)
                printf("kept %ld file%s that thumbwatch did not make\n", p.foreign, p.foreign == 1 ? "" : "s");
        if (records > 0)
                printf("removed %ld failure record%s of files that are gone\n", records, records == 1 ? "" : "s");
        return p.failed > 0 ? 1 : 0;
}

/* path made absolute, with . and .. components resolved lexically. */
static char *absolute(const char *path) {
        _cleanup_free_ char *cwd = NULL, *joined = NULL;
        char *out;

        if (path[0] != '/') {
                cwd = getcwd(NULL, 0);
                if (!cwd || asprintf(&joined, "%s/%s", cwd, path) < 0)
                        return NULL;
        }
        return naming_normalize_path(joined ? joined : path, &out) < 0 ? NULL : out;
}

/* The state of thumbnail i, in words. */
static const char *state_words(const Outputs *o, size_t i, const SourceIdentity *id, bool source_ok, char *buf,
                               size_t size) {
        char other[NAME_MAX + 1];
        ThumbState state = outputs_state(o, i, id, other);

        if (state == THUMB_MISSING)
                return source_ok ? "missing: it will be made" : "missing";
        if (state == THUMB_TAKEN) {
                (void) snprintf(buf, size, "taken: it is the thumbnail of '%s', never overwritten for this file",
                                other);
                return buf;
        }
        if (!source_ok)
                return "an orphan: its source is gone or is no source (the daemon and --gc remove it)";
        if (state == THUMB_STALE)
                return "stale: made from another version of the source (or not stamped), it will be made again";
        return "up to date";
}

/* Is path inside a drop's output? Says so, and returns true. */
static bool explain_output(const ThumbwatchConfig *c, const char *path) {
        for (size_t i = 0; i < c->n_drops; i++)
                if (naming_path_is_under(path, c->drops[i].output)) {
                        printf("%s\n  in the output folder of [drop:%s] (%s): thumbwatch writes there and never "
                               "scans it\n",
                               esc(path), c->drops[i].name, esc(c->drops[i].output));
                        return true;
                }
        return false;
}

/* The source itself: whether it is read, its format, size and limits, and
 * its failure memory. Returns whether it is a source (its thumbnails are
 * made and kept). */
static bool explain_source(const ThumbwatchConfig *c, const DropConfig *d, const char *path, struct stat *st,
                           SourceIdentity *id) {
        _cleanup_free_ char *reason = NULL;
        char class[STATE_CLASS_MAX], digest[STATE_DIGEST_MAX];
        FailedBefore failed;
        unsigned long w, h;
        const char *format;
        ThumbnailOptions opts;
        int fd, r;

        r = output_stat_source(AT_FDCWD, path, d->follow_symlinks ? 0 : AT_SYMLINK_NOFOLLOW, st, id);
        if (r < 0) {
                printf("  source: does not exist (%s)\n", strerror(-r));
                return false;
        }
        if (S_ISLNK(st->st_mode)) {
                printf("  skipped: a symlink, and follow_symlinks = no\n");
                return false;
        }
        if (!S_ISREG(st->st_mode)) {
                printf("  skipped: not a regular file\n");
                return false;
        }
        fd = source_open(d, path);
        if (fd < 0) {
                if (fd == -ELOOP || fd == -EXDEV)
                        printf("  skipped: reached through a symlink%s, not read\n",
                               fd == -EXDEV ? " that leads out of the drop" : "");
                else
                        printf("  source: cannot be opened: %s (io, tried again)\n", strerror(-fd));
                return fd != -ELOOP && fd != -EXDEV;
        }
        job_thumbnail_options(c, d, &opts);
        r = thumbnail_probe(fd, &opts, &format, &w, &h, &reason);
        (void) close(fd);
        if (r < 0)
                printf("  source: %lld bytes%s%s: would fail (%s): %s\n", (long long) st->st_size, format ? ", " : "",
                       format ? format : "", job_error_class(r), reason ? reason : "");
        else
                printf("  source: %lld bytes, %s, %lux%lu, within the limits\n", (long long) st->st_size, format, w, h);
        failed = state_failed_before(d, st, job_config_fingerprint(c, d), class, digest);
        if (failed == FAILED_IF_SAME && strcmp(class, "suspect") != 0)
                printf("  failed before (%s); only its ctime changed since: tried again if its content did\n",
                       class);
        else if (failed == FAILED_YES && strcmp(class, "suspect") != 0) {
                if (r == 0 && job_class_depends_on_config(class))
                        printf("  failed before (%s), under other limits: tried again\n", class);
                else
                        printf("  failed before (%s) and unchanged since: not tried again until it changes\n", class);
        }
        return true;
}

int tools_explain(const ThumbwatchConfig *c, const char *arg) {
        _cleanup_free_ char *path = absolute(arg);
        char what[PATH_MAX], buf[NAME_MAX + 128];
        SourceIdentity id = {};
        const DropConfig *d;
        struct stat st;
        bool source_ok;
        Outputs o;
        int r;

        if (!path) {
                log_error_errno(-ENOMEM, "cannot resolve '%s': %m", arg);
                return 1;
        }
        if (explain_output(c, path))
                return 0;
        d = config_find_drop(c, path);
        if (!d || strcmp(path, d->source) == 0) {
                printf("%s: in no drop folder; the sources are:", esc(path));
                for (size_t i = 0; i < c->n_drops; i++)
                        printf(" %s", esc(c->drops[i].source));
                printf("\n");
                return 1;
        }
        printf("%s\n  drop: [drop:%s], %s -> %s\n", esc(path), d->name, esc(d->source), esc(d->output));
        if (scan_path_skipped(d, naming_path_below(path, d->source), what, sizeof what)) {
                printf("  skipped: %s\n", esc(what));
                return 0;
        }
        source_ok = explain_source(c, d, path, &st, &id);
        r = outputs_init(&o, d, path);
        if (r < 0) {
                printf("  no thumbnails: %s\n", r == -EPERM ? "its name is reserved for the state folder" :
                                                             strerror(-r));
                return 0;
        }
        if (o.uri)
                printf("  uri: %s\n", esc(o.uri));
        for (size_t i = 0; i < o.n; i++)
                printf("  thumbnail %ux%u: %s: %s\n", d->sizes[i].width, d->sizes[i].height, esc(o.path[i]),
                       esc(state_words(&o, i, &id, source_ok, buf, sizeof buf)));
        if (o.layout->fail_dir && o.n > 0) {
                _cleanup_free_ char *marker = NULL;

                if (asprintf(&marker, "%s/%s/%s", d->output, o.layout->fail_dir, o.file[0]) >= 0 &&
                    access(marker, F_OK) == 0)
                        printf("  failure marker: %s\n", esc(marker));
        }
        outputs_done(&o);
        return 0;
}
