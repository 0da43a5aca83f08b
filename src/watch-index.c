/* watch-index.c - the watcher's index of its folder watches: a tree of
 * names with parent links, and tsearch trees by wd, by (device, inode) and,
 * in each entry, of its children by name.
 *
 * Why a tree of names: a folder renamed is one entry re-linked (its
 * descendants' paths are built on demand from their names, so none of them
 * is touched), a folder removed or moved out is its own subtree walked, and
 * a lookup by path costs a child lookup per component. Paths ordered in one
 * sorted tree would need every descendant re-keyed on a rename, and glibc's
 * tsearch cannot walk from a key in order anyway.
 *
 * Entries with no watch (wd -1) only hold the names above watched ones: the
 * folders above the drops, and a folder whose watch went while watches
 * below it stayed. They go as soon as nothing is below them. */
#include "build-config.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <search.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "watch-index.h"

struct Watch {
        int wd;                 /* -1: no watch, only entries below */
        dev_t dev;
        ino_t ino;
        char *name;             /* owned; relative to parent */
        Watch *parent;          /* NULL for the two tops */
        void *children;         /* tsearch tree of Watch, by name */
        size_t n_children;
        Watch *ino_next;        /* the next watch of the same folder */
};

struct WatchIndex {
        Watch top;              /* "/", name "" */
        Watch stale;            /* displaced entries, named by number */
        void *by_wd;            /* tsearch tree of Watch, by wd */
        void *by_inode;         /* tsearch tree of Watch, by (dev, ino); each heads an ino_next chain */
        size_t n_watches;
        unsigned long n_stale;
        char top_name[1];
        char stale_name[sizeof "/" "/thumbwatch-stale"];
};

static int cmp_name(const void *a, const void *b) {
        return strcmp(((const Watch *) a)->name, ((const Watch *) b)->name);
}

static int cmp_wd(const void *a, const void *b) {
        int x = ((const Watch *) a)->wd, y = ((const Watch *) b)->wd;

        return (x > y) - (x < y);
}

static int cmp_inode(const void *a, const void *b) {
        const Watch *x = a, *y = b;

        if (x->dev != y->dev)
                return x->dev < y->dev ? -1 : 1;
        return (x->ino > y->ino) - (x->ino < y->ino);
}

int watch_index_new(WatchIndex **ret) {
        WatchIndex *ix = calloc(1, sizeof *ix);

        if (!ix)
                return -ENOMEM;
        strcpy(ix->stale_name, "/" "/thumbwatch-stale");
        ix->top = (Watch) { .wd = -1, .name = ix->top_name };
        ix->stale = (Watch) { .wd = -1, .name = ix->stale_name };
        *ret = ix;
        return 0;
}

static void free_subtree(Watch *x);

static void free_child(void *p) {
        free_subtree(p);
}

static void free_subtree(Watch *x) {
        tdestroy(x->children, free_child);
        free(x->name);
        free(x);
}

static void keep(void *p) {
        (void) p;
}

WatchIndex *watch_index_free(WatchIndex *ix) {
        if (!ix)
                return NULL;
        tdestroy(ix->by_wd, keep);
        tdestroy(ix->by_inode, keep);
        tdestroy(ix->top.children, free_child);
        tdestroy(ix->stale.children, free_child);
        free(ix);
        return NULL;
}

size_t watch_index_count(const WatchIndex *ix) {
        return ix->n_watches;
}

int watch_wd(const Watch *x) {
        return x->wd;
}

dev_t watch_dev(const Watch *x) {
        return x->dev;
}

ino_t watch_ino(const Watch *x) {
        return x->ino;
}

Watch *watch_index_by_wd(WatchIndex *ix, int wd) {
        Watch key = { .wd = wd };
        void *n = tfind(&key, &ix->by_wd, cmp_wd);

        return n ? *(Watch **) n : NULL;
}

size_t watch_index_by_inode(WatchIndex *ix, dev_t dev, ino_t ino, Watch **ret) {
        Watch key = { .dev = dev, .ino = ino };
        void *n = tfind(&key, &ix->by_inode, cmp_inode);
        size_t count = 0;

        if (!n)
                return 0;
        *ret = *(Watch **) n;
        for (Watch *x = *ret; x; x = x->ino_next)
                count++;
        return count;
}

/* The child of parent named by the len bytes at name. */
static Watch *child(Watch *parent, const char *name, size_t len) {
        char buf[NAME_MAX + 1];
        Watch key = { .name = buf };
        void *n;

        if (len > NAME_MAX)
                return NULL;    /* no folder has such a name */
        memcpy(buf, name, len);
        buf[len] = '\0';
        n = tfind(&key, &parent->children, cmp_name);
        return n ? *(Watch **) n : NULL;
}

/* The next component of *p (skipping slashes), its length in *ret_len;
 * NULL at the end. */
static const char *next_component(const char **p, size_t *ret_len) {
        const char *s = *p;

        while (*s == '/')
                s++;
        if (*s == '\0')
                return NULL;
        *ret_len = strcspn(s, "/");
        *p = s + *ret_len;
        return s;
}

/* The entry at path, with a watch or not. */
static Watch *lookup(WatchIndex *ix, const char *path) {
        Watch *x = &ix->top;
        const char *c;
        size_t len;

        if (path[0] != '/')
                return NULL;
        while (x && (c = next_component(&path, &len)))
                x = child(x, c, len);
        return x == &ix->top ? NULL : x;
}

Watch *watch_index_by_path(WatchIndex *ix, const char *path) {
        Watch *x = lookup(ix, path);

        return x && x->wd >= 0 ? x : NULL;
}

char *watch_path(const Watch *x) {
        size_t len = 0;
        const Watch *y;
        char *p, *end;

        if (!x->parent)
                return strdup(x->name[0] ? x->name : "/");
        for (y = x; y->parent; y = y->parent)
                len += 1 + strlen(y->name);
        len += strlen(y->name);
        p = malloc(len + 1);
        if (!p)
                return NULL;
        end = p + len;
        *end = '\0';
        for (y = x; y->parent; y = y->parent) {
                size_t n = strlen(y->name);

                end -= n;
                memcpy(end, y->name, n);
                *--end = '/';
        }
        memcpy(p, y->name, strlen(y->name));
        return p;
}

static int link_child(Watch *parent, Watch *x) {
        void *n = tsearch(x, &parent->children, cmp_name);

        if (!n)
                return -ENOMEM;
        assert(*(Watch **) n == x);
        x->parent = parent;
        parent->n_children++;
        return 0;
}

static void unlink_child(Watch *x) {
        Watch *parent = x->parent;

        (void) tdelete(x, &parent->children, cmp_name);
        parent->n_children--;
        x->parent = NULL;
}

static bool is_top(const WatchIndex *ix, const Watch *x) {
        return x == &ix->top || x == &ix->stale;
}

/* Frees x and the entries above it that no longer hold anything. */
static void prune(WatchIndex *ix, Watch *x) {
        while (x && !is_top(ix, x) && x->wd < 0 && x->n_children == 0) {
                Watch *parent = x->parent;

                unlink_child(x);
                free(x->name);
                free(x);
                x = parent;
        }
}

/* The entry for the folder that holds path (made, without a watch, where
 * there is none), and in *ret_name path's last component (borrowed from
 * path, NULL for "/"). NULL when out of memory or path is not absolute.
 * Entries made here that end up holding nothing are the caller's to prune. */
static Watch *make_parent(WatchIndex *ix, const char *path, const char **ret_name, size_t *ret_len) {
        Watch *x = &ix->top;
        const char *c, *next;
        size_t len, next_len;

        *ret_name = NULL;
        if (path[0] != '/')
                return NULL;
        c = next_component(&path, &len);
        if (!c)
                return x;
        while ((next = next_component(&path, &next_len))) {
                Watch *y = child(x, c, len);

                if (!y) {
                        y = calloc(1, sizeof *y);
                        if (!y || !(y->name = strndup(c, len)) || link_child(x, y) < 0) {
                                if (y)
                                        free(y->name);
                                free(y);
                                prune(ix, x);
                                return NULL;
                        }
                        y->wd = -1;
                }
                x = y;
                c = next;
                len = next_len;
        }
        *ret_name = c;
        *ret_len = len;
        return x;
}

/* Moves x (detached from its parent) under the stale top, with a name of its own. */
static int make_stale(WatchIndex *ix, Watch *x) {
        char *name;

        if (asprintf(&name, "%lu", ++ix->n_stale) < 0)
                return -ENOMEM;
        free(x->name);
        x->name = name;
        return link_child(&ix->stale, x);
}

static void inode_unlink(WatchIndex *ix, Watch *x) {
        void *n = tfind(x, &ix->by_inode, cmp_inode);
        Watch **pp;

        if (!n)
                return;
        if (*(Watch **) n == x) {
                (void) tdelete(x, &ix->by_inode, cmp_inode);
                if (x->ino_next)
                        (void) tsearch(x->ino_next, &ix->by_inode, cmp_inode);  /* a node was freed: cannot fail */
        } else
                for (pp = &(*(Watch **) n)->ino_next; *pp; pp = &(*pp)->ino_next)
                        if (*pp == x) {
                                *pp = x->ino_next;
                                break;
                        }
        x->ino_next = NULL;
}

static int inode_link(WatchIndex *ix, Watch *x) {
        void *n = tsearch(x, &ix->by_inode, cmp_inode);
        Watch *head;

        if (!n)
                return -ENOMEM;
        head = *(Watch **) n;
        if (head != x) {
                x->ino_next = head->ino_next;
                head->ino_next = x;
        }
        return 0;
}

static bool is_below(const Watch *x, const Watch *ancestor) {
        for (; x; x = x->parent)
                if (x == ancestor)
                        return true;
        return false;
}

typedef struct ChildVec {
        Watch **v;
        size_t n;
} ChildVec;

static void list_child(const void *node, VISIT which, void *closure) {
        ChildVec *vec = closure;

        if (which == postorder || which == leaf)
                vec->v[vec->n++] = *(Watch *const *) node;
}

static void absorb(WatchIndex *ix, Watch *keep, Watch *gone, bool gone_incoming);

/* Two entries for one path below parent, one linked there and the other
 * detached: in, arriving (moved or added there), and res, there before.
 * Which of them is stale is not known here (events will tell, and the
 * watcher's walks find folders by inode), so the arriving one's watch wins,
 * and nothing that is not in the way moves: the entry with the watch that
 * wins (res, when in has none) holds the path, takes the entries below the
 * other (merging those of one name the same way), and the other, left with
 * nothing below it, is displaced if it has a watch, freed if not. Returns
 * the entry that holds the path. */
static Watch *resolve(WatchIndex *ix, Watch *parent, Watch *in, Watch *res) {
        Watch *keep = in->wd >= 0 ? in : res, *gone = keep == in ? res : in;

        if (gone->parent == parent) {
                unlink_child(gone);
                if (link_child(parent, keep) < 0) {
                        (void) link_child(parent, gone);        /* a node was just freed: cannot fail */
                        keep = gone;
                        gone = keep == in ? res : in;
                }
        }
        absorb(ix, keep, gone, gone == in);
        return keep;
}

/* Moves the entries below gone (detached) to keep (linked), resolving names
 * both have; then displaces or frees gone. Out of memory, entries that could
 * not be moved stay below gone, displaced with it. */
static void absorb(WatchIndex *ix, Watch *keep, Watch *gone, bool gone_incoming) {
        ChildVec vec = { .v = gone->n_children ? calloc(gone->n_children, sizeof *vec.v) : NULL };

        if (vec.v) {
                twalk_r(gone->children, list_child, &vec);
                for (size_t i = 0; i < vec.n; i++) {
                        Watch *g = vec.v[i], *k = child(keep, g->name, strlen(g->name));

                        unlink_child(g);
                        if (k)
                                (void) resolve(ix, keep, gone_incoming ? g : k, gone_incoming ? k : g);
                        else if (link_child(keep, g) < 0)
                                (void) link_child(gone, g);     /* a node was just freed: cannot fail */
                }
                free(vec.v);
        }
        if (gone->wd < 0 && gone->n_children == 0) {
                free(gone->name);
                free(gone);
        } else if (make_stale(ix, gone) < 0) {
                /* Out of memory: it stays, under no path, found by wd still. */
                gone->parent = NULL;
        }
}

/* Links x (detached) as name under parent, where an entry of that name is
 * resolved with it (resolve()). Returns the entry that holds the path
 * (x, or the entry that was there), or NULL when out of memory (x is then
 * as it was). */
static Watch *place(WatchIndex *ix, Watch *parent, Watch *x, const char *name, size_t len) {
        Watch *other = child(parent, name, len);
        char *n = strndup(name, len), *old = x->name;

        if (!n)
                return NULL;
        x->name = n;
        if (!other) {
                if (link_child(parent, x) < 0) {
                        x->name = old;
                        free(n);
                        return NULL;
                }
                free(old);
                return x;
        }
        free(old);
        return resolve(ix, parent, x, other);
}

static size_t count_watches(const Watch *x);

static void count_child(const void *node, VISIT which, void *closure) {
        if (which == postorder || which == leaf)
                *(size_t *) closure += count_watches(*(Watch *const *) node);
}

static size_t count_watches(const Watch *x) {
        size_t n = x->wd >= 0;

        twalk_r(x->children, count_child, &n);
        return n;
}

int watch_index_move(WatchIndex *ix, Watch *x, const char *to) {
        Watch *old_parent = x->parent, *parent, *at;
        _cleanup_free_ char *old_parent_path = NULL;
        const char *name;
        size_t len;
        if (to[0] != '/')
                return -EINVAL;
        parent = make_parent(ix, to, &name, &len);
        if (!parent)
                return -ENOMEM;
        if (!name || is_below(parent, x)) {
                prune(ix, parent);
                return -EINVAL;
        }
        if (parent == old_parent && strlen(x->name) == len && memcmp(x->name, name, len) == 0)
                return (int) count_watches(x);
        /* The entry x leaves may give way to x itself (x moved to the path
         * of a folder above it), so it is found again by its path. */
        old_parent_path = watch_path(old_parent);
        if (!old_parent_path) {
                prune(ix, parent);
                return -ENOMEM;
        }
        unlink_child(x);
        at = place(ix, parent, x, name, len);
        if (!at) {
                /* Back where it was (its name there is free: it just left it). */
                (void) link_child(old_parent, x);
                prune(ix, parent);
                return -ENOMEM;
        }
        if (old_parent != &ix->top && old_parent != &ix->stale)
                prune(ix, lookup(ix, old_parent_path));
        return (int) count_watches(at);
}

int watch_index_rename(WatchIndex *ix, const char *from, const char *to) {
        Watch *x = lookup(ix, from);

        return x ? watch_index_move(ix, x, to) : 0;
}

int watch_index_add(WatchIndex *ix, int wd, const char *path, dev_t dev, ino_t ino) {
        Watch *x = watch_index_by_wd(ix, wd), *parent, *at;
        const char *name;
        size_t len;
        int r;

        if (wd < 0 || path[0] != '/')
                return -EINVAL;
        if (x) {
                r = watch_index_move(ix, x, path);
                if (r < 0)
                        return r;
                if (x->dev != dev || x->ino != ino) {
                        inode_unlink(ix, x);
                        x->dev = dev;
                        x->ino = ino;
                        (void) inode_link(ix, x);       /* out of memory: found by path and wd still */
                }
                return 0;
        }
        parent = make_parent(ix, path, &name, &len);
        if (!parent)
                return -ENOMEM;
        if (!name) {
                prune(ix, parent);
                return -EINVAL;
        }
        at = child(parent, name, len);
        if (at && at->wd < 0) {
                /* The entry holds names below it already: it gets the watch. */
                x = at;
        } else {
                x = calloc(1, sizeof *x);
                if (!x) {
                        prune(ix, parent);
                        return -ENOMEM;
                }
                x->wd = wd;     /* so that it wins the path */
                if (!place(ix, parent, x, name, len)) {
                        free(x->name);
                        free(x);
                        prune(ix, parent);
                        return -ENOMEM;
                }
        }
        x->wd = wd;
        x->dev = dev;
        x->ino = ino;
        if (!tsearch(x, &ix->by_wd, cmp_wd)) {
                x->wd = -1;
                prune(ix, x);
                return -ENOMEM;
        }
        (void) inode_link(ix, x);               /* out of memory: found by path and wd still */
        ix->n_watches++;
        return 0;
}

void watch_index_remove(WatchIndex *ix, Watch *x) {
        if (x->wd < 0)
                return;
        (void) tdelete(x, &ix->by_wd, cmp_wd);
        inode_unlink(ix, x);
        x->wd = -1;
        ix->n_watches--;
        prune(ix, x);
}

typedef struct WdVec {
        int *v;
        size_t n, size;
        bool failed;
} WdVec;

static void collect(const Watch *x, WdVec *vec);

static void collect_child(const void *node, VISIT which, void *closure) {
        if (which == postorder || which == leaf)
                collect(*(Watch *const *) node, closure);
}

static void collect(const Watch *x, WdVec *vec) {
        if (x->wd >= 0 && !vec->failed) {
                if (vec->n == vec->size) {
                        size_t n = vec->size ? vec->size * 2 : 16;
                        int *a = reallocarray(vec->v, n, sizeof *a);

                        if (!a) {
                                vec->failed = true;
                                return;
                        }
                        vec->v = a;
                        vec->size = n;
                }
                vec->v[vec->n++] = x->wd;
        }
        twalk_r(x->children, collect_child, vec);
}

int watch_index_under(WatchIndex *ix, const char *path, int **ret_wds, size_t *ret_n) {
        Watch *x = lookup(ix, path);
        WdVec vec = {};

        if (x)
                collect(x, &vec);
        if (vec.failed) {
                free(vec.v);
                return -ENOMEM;
        }
        *ret_wds = vec.v;
        *ret_n = vec.n;
        return 0;
}
