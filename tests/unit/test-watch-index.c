/* test-watch-index.c - the sentences of watch-index.h, one by one, then
 * random adds, moves, renames and removals checked after each against a
 * naive list of (wd, path) that renames by rewriting every path. */
#include "build-config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "watch-index.h"

static char *path_of(WatchIndex *ix, int wd) {
        Watch *x = watch_index_by_wd(ix, wd);
        static char buf[4096];
        char *p;

        if (!x)
                return NULL;
        p = watch_path(x);
        if (!p)
                abort();
        snprintf(buf, sizeof buf, "%s", p);
        free(p);
        return buf;
}

static int wd_at(WatchIndex *ix, const char *path) {
        Watch *x = watch_index_by_path(ix, path);

        return x ? watch_wd(x) : -1;
}

static size_t n_under(WatchIndex *ix, const char *path) {
        int *wds = NULL;
        size_t n = 0;

        if (watch_index_under(ix, path, &wds, &n) < 0)
                abort();
        free(wds);
        return n;
}

static void test_sentences(void) {
        WatchIndex *ix = NULL;
        Watch *x;

        is_int(watch_index_new(&ix), 0, "new");
        is_int(watch_index_count(ix), 0, "empty");
        is_int(watch_index_add(ix, 1, "/srv/drop", 1, 10), 0, "add the root");
        is_int(watch_index_add(ix, 2, "/srv/drop/a", 1, 11), 0, "add a folder");
        is_int(watch_index_add(ix, 3, "/srv/drop/a/b", 1, 12), 0, "add a folder below it");
        is_int(watch_index_add(ix, 4, "/srv//drop/c/", 1, 13), 0, "empty components are skipped");
        is_int(watch_index_count(ix), 4, "four watches");
        is_str(path_of(ix, 4), "/srv/drop/c", "the path is built from the names");
        is_int(wd_at(ix, "/srv/drop/a/b"), 3, "lookup by path");
        is_int(wd_at(ix, "/srv"), -1, "a folder above the watches is no watch");
        is_int(wd_at(ix, "/srv/drop/x"), -1, "an unknown path is no watch");
        is_int(watch_index_add(ix, 5, "relative", 1, 14), -EINVAL, "a relative path is refused");
        is_int(watch_index_add(ix, 5, "/", 1, 14), -EINVAL, "so is /, which has no name");
        is_int(watch_index_count(ix), 4, "... and nothing was added");

        is_int(watch_index_rename(ix, "/srv/drop/a", "/srv/drop/z"), 2, "a rename moves two watches");
        is_str(path_of(ix, 3), "/srv/drop/z/b", "the folder below follows");
        is_int(wd_at(ix, "/srv/drop/a/b"), -1, "nothing is left at the old path");
        is_int(watch_index_rename(ix, "/srv/drop/nothing", "/srv/drop/y"), 0, "renaming what is not watched moves nothing");
        is_int(watch_index_rename(ix, "/srv/drop/z", "/srv/drop/z/b/q"), -EINVAL, "a folder cannot go below itself");
        is_str(path_of(ix, 3), "/srv/drop/z/b", "... and stays where it was");

        is_int(watch_index_rename(ix, "/srv/drop/c", "/srv/drop/z"), 2, "renamed onto a watched folder");
        is_str(path_of(ix, 4), "/srv/drop/z", "it takes the path");
        ok(strncmp(path_of(ix, 2), WATCH_INDEX_STALE_PREFIX, strlen(WATCH_INDEX_STALE_PREFIX)) == 0,
           "the folder that had it is displaced");
        is_int(wd_at(ix, path_of(ix, 2)), -1, "a displaced watch is found by no path");
        is_str(path_of(ix, 3), "/srv/drop/z/b", "the folders below it stay where they are, below the new one");

        is_int(watch_index_add(ix, 2, "/srv/drop/back", 1, 20), 0, "a wd added again at a new path");
        is_str(path_of(ix, 2), "/srv/drop/back", "moves there");
        is_int(watch_index_add(ix, 3, "/srv/drop/back/b", 1, 12), 0, "a wd added again below it");
        is_str(path_of(ix, 3), "/srv/drop/back/b", "moves there too");
        is_int(watch_index_by_inode(ix, 1, 11, &x), 0, "its old identity is gone");
        is_int(watch_index_by_inode(ix, 1, 20, &x), 1, "its new one is there");
        is_int(watch_wd(x), 2, "... for it");
        is_int(watch_index_add(ix, 6, "/srv/drop/d", 1, 20), 0, "a second watch of one folder (a bind mount)");
        is_int(watch_index_by_inode(ix, 1, 20, &x), 2, "both are found by inode");

        x = watch_index_by_wd(ix, 2);
        watch_index_remove(ix, x);
        is_int(watch_index_by_wd(ix, 2) == NULL, 1, "removed");
        is_str(path_of(ix, 3), "/srv/drop/back/b", "the folder below stays");
        is_int(n_under(ix, "/srv/drop/back"), 1, "one watch below the removed one");
        is_int(watch_index_add(ix, 7, "/srv/drop/back", 1, 21), 0, "watched again");
        is_str(path_of(ix, 3), "/srv/drop/back/b", "the folder below is not displaced by it");
        is_int(n_under(ix, "/srv/drop"), 5, "five watches under the root");
        is_int(watch_index_add(ix, 3, "/srv/drop/back", 1, 12), 0, "a wd moved to the path of the folder above it");
        is_str(path_of(ix, 3), "/srv/drop/back", "takes it");
        ok(strncmp(path_of(ix, 7), WATCH_INDEX_STALE_PREFIX, strlen(WATCH_INDEX_STALE_PREFIX)) == 0,
           "the folder above is displaced");
        is_int(watch_index_add(ix, 7, "/srv/drop/back/b", 1, 21), 0, "... and can come back below it");
        is_int(n_under(ix, "/srv"), 5, "... and under the folder above it");
        is_int(watch_index_count(ix), 5, "count");
        ix = watch_index_free(ix);
        ok(!ix, "free returns NULL");
        ok(!watch_index_free(NULL), "free is NULL-safe");
}

/* The naive list. */
typedef struct Entry {
        int wd;
        char path[512];
        ino_t ino;
} Entry;

static Entry model[512];
static size_t n_model;
static unsigned long n_stale;

static bool under(const char *path, const char *dir) {
        size_t n = strlen(dir);

        return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static Entry *model_at(const char *path) {
        for (size_t i = 0; i < n_model; i++)
                if (strcmp(model[i].path, path) == 0)
                        return &model[i];
        return NULL;
}

static size_t model_count_under(const char *path) {
        size_t c = 0;

        for (size_t i = 0; i < n_model; i++)
                c += under(model[i].path, path);
        return c;
}

static void reprefix(const char *from, const char *to) {
        size_t n = strlen(from);

        for (size_t i = 0; i < n_model; i++)
                if (under(model[i].path, from)) {
                        char p[512];

                        snprintf(p, sizeof p, "%s%s", to, model[i].path + n);
                        strcpy(model[i].path, p);
                }
}

/* The entry at path, if any, goes stale (alone). */
static void displace_one(const char *path) {
        Entry *e = model_at(path);

        if (e) {
                snprintf(e->path, sizeof e->path, WATCH_INDEX_STALE_PREFIX "?%d", e->wd);
                n_stale++;
        }
}

/* The entries at and below from move to to; those they land on go stale. */
static void model_move(const char *from, const char *to) {
        size_t n = strlen(from);
        bool moving[512];

        for (size_t i = 0; i < n_model; i++)
                moving[i] = under(model[i].path, from);
        for (size_t i = 0; i < n_model; i++)
                if (moving[i]) {
                        char p[512];

                        snprintf(p, sizeof p, "%s%s", to, model[i].path + n);
                        for (size_t j = 0; j < n_model; j++)
                                if (!moving[j] && strcmp(model[j].path, p) == 0) {
                                        snprintf(model[j].path, sizeof model[j].path,
                                                 WATCH_INDEX_STALE_PREFIX "?%d", model[j].wd);
                                        n_stale++;
                                }
                }
        reprefix(from, to);
}

static void random_path(char *buf, size_t size) {
        int depth = 1 + rand() % 4;
        size_t n = (size_t) snprintf(buf, size, "/r");

        for (int i = 0; i < depth; i++)
                n += (size_t) snprintf(buf + n, size - n, "/%c", "abc"[rand() % 3]);
}

static int check_model(WatchIndex *ix) {
        int faults = 0;

        if (watch_index_count(ix) != n_model)
                faults++;
        for (size_t i = 0; i < n_model; i++) {
                const char *p = path_of(ix, model[i].wd);
                bool stale = strncmp(model[i].path, WATCH_INDEX_STALE_PREFIX, strlen(WATCH_INDEX_STALE_PREFIX)) == 0;
                size_t same = 0;
                Watch *x;

                if (stale && p && strncmp(p, WATCH_INDEX_STALE_PREFIX, strlen(WATCH_INDEX_STALE_PREFIX)) == 0 &&
                    !strchr(p + strlen(WATCH_INDEX_STALE_PREFIX), '/'))
                        ;       /* displaced, alone */
                else if (!p || strcmp(p, model[i].path) != 0) {
                        printf("# wd %d: index '%s', list '%s'\n", model[i].wd, p ? p : "(none)", model[i].path);
                        faults++;
                        continue;
                }
                if (!stale && wd_at(ix, model[i].path) != model[i].wd)
                        faults++;
                if (!stale && n_under(ix, model[i].path) != model_count_under(model[i].path))
                        faults++;
                for (size_t j = 0; j < n_model; j++)
                        same += model[j].ino == model[i].ino;
                if (watch_index_by_inode(ix, 1, model[i].ino, &x) != same)
                        faults++;
        }
        return faults;
}

static void test_against_list(void) {
        WatchIndex *ix = NULL;
        int next_wd = 1, faults = 0, ops = 0;

        srand(18);
        if (watch_index_new(&ix) < 0)
                abort();
        for (int step = 0; step < 20000; step++) {
                char from[512] = "", to[512];
                int op = rand() % 10, r;

                random_path(to, sizeof to);
                if (op < 4 && n_model < 200) {
                        /* A new watch. */
                        Entry *at = model_at(to);
                        ino_t ino = (ino_t) (rand() % 50);

                        if (at)
                                displace_one(to);
                        r = watch_index_add(ix, next_wd, to, 1, ino);
                        model[n_model++] = (Entry) { .wd = next_wd++, .ino = ino };
                        strcpy(model[n_model - 1].path, to);
                } else if (op < 6 && n_model > 0) {
                        /* A known wd at a new path. */
                        Entry *e = &model[rand() % n_model];

                        strcpy(from, e->path);
                        if (strcmp(from, to) == 0 || under(to, from))
                                continue;
                        r = watch_index_add(ix, e->wd, to, 1, e->ino);
                        model_move(from, to);
                } else if (op < 8) {
                        /* A rename by path. */
                        random_path(from, sizeof from);
                        if (under(to, from) || under(from, to))
                                continue;
                        r = watch_index_rename(ix, from, to);
                        r = r < 0 ? r : 0;
                        model_move(from, to);
                } else if (n_model > 0) {
                        size_t i = (size_t) rand() % n_model;

                        watch_index_remove(ix, watch_index_by_wd(ix, model[i].wd));
                        model[i] = model[--n_model];
                        r = 0;
                } else
                        continue;
                ops++;
                if (r != 0)
                        faults++;
                faults += check_model(ix);
                if (faults > 0 && getenv("TEST_DEBUG")) {
                        printf("# step %d op %d from '%s' to '%s' r %d\n", step, op, from, to, r);
                        break;
                }
        }
        printf("# %d operations, %zu watches at the end, %lu displaced ever\n", ops, n_model, n_stale);
        is_int(faults, 0, "random operations: the index agrees with the naive list after each");
        ok(ops > 10000, "... over many operations");
        ok(n_stale > 10, "... with displacements among them");
        watch_index_free(ix);
}

int main(void) {
        test_sentences();
        test_against_list();
        return done_testing();
}
