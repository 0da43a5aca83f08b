/* scan.c - the tree walk behind --once and the daemon's catch-up. fts with
 * FTS_NOSTAT: files are not stat()ed here, only directories; the worker's
 * stat is the one that decides. */
#include "build-config.h"

#include <errno.h>
#include <fts.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "macro.h"
#include "naming.h"
#include "scan.h"

bool scan_ignored_name(const DropConfig *d, const char *name) {
        return naming_is_temporary(name) || naming_matches_any(name, d->ignore, d->n_ignore);
}

typedef struct Excluded {
        const char *path;
        dev_t dev;
        ino_t ino;
        bool exists;
} Excluded;

/* Is this directory one of the drops' output trees? Compared by path and,
 * where the output exists, by device and inode, so other spellings of the
 * same folder match too. With FTS_NOSTAT glibc leaves fts_statp unset for
 * directories it recognised by d_type, so we stat them here: once each. */
static bool is_excluded(const FTSENT *e, const Excluded *ex, size_t n) {
        struct stat st;
        bool have_stat = false;

        for (size_t i = 0; i < n; i++) {
                if (strcmp(e->fts_path, ex[i].path) == 0)
                        return true;
                if (!ex[i].exists)
                        continue;
                if (!have_stat) {
                        if (lstat(e->fts_accpath, &st) < 0)
                                return false;
                        have_stat = true;
                }
                if (st.st_dev == ex[i].dev && st.st_ino == ex[i].ino)
                        return true;
        }
        return false;
}

long scan_drop(const ThumbwatchConfig *c, const DropConfig *d, scan_fn fn, void *userdata) {
        _cleanup_free_ Excluded *excluded = NULL;
        char *roots[] = { d->source, NULL };
        long found = 0;
        FTSENT *e;
        FTS *fts;
        int r = 0;

        excluded = calloc(c->n_drops, sizeof *excluded);
        if (!excluded)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_drops; i++) {
                struct stat st;

                excluded[i].path = c->drops[i].output;
                if (stat(c->drops[i].output, &st) == 0) {
                        excluded[i] = (Excluded) { c->drops[i].output, st.st_dev, st.st_ino, true };
                }
        }

        fts = fts_open(roots, FTS_PHYSICAL | FTS_NOSTAT | FTS_NOCHDIR, NULL);
        if (!fts)
                return -errno;
        while ((errno = 0, e = fts_read(fts))) {
                switch (e->fts_info) {
                case FTS_D:
                        if (e->fts_level == 0)
                                break;
                        if (!d->recursive || is_excluded(e, excluded, c->n_drops) ||
                            scan_ignored_name(d, e->fts_name))
                                (void) fts_set(fts, e, FTS_SKIP);
                        break;
                case FTS_DNR:
                case FTS_ERR:
                case FTS_NS:
                        if (e->fts_level == 0) {
                                r = -e->fts_errno;
                                goto out;
                        }
                        log_warning_errno(e->fts_errno, "cannot read '%s', skipping: %m", e->fts_path);
                        break;
                case FTS_F:
                case FTS_NSOK: {
                        char *p;

                        if (!naming_is_image(e->fts_name) || scan_ignored_name(d, e->fts_name))
                                break;
                        p = strdup(e->fts_path);
                        if (!p) {
                                r = -ENOMEM;
                                goto out;
                        }
                        found++;
                        r = fn(p, userdata);
                        if (r < 0)
                                goto out;
                        break;
                }
                default:                /* symlinks, sockets, FIFOs, post-order directories */
                        break;
                }
        }
        if (errno != 0)
                r = -errno;
out:
        (void) fts_close(fts);
        return r < 0 ? r : found;
}
