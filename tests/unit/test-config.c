/* test-config.c - every key, every error with its line number, overrides. */
#include "build-config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "config-file.h"
#include "tap.h"
#include "thumbnail.h"

static char dir[] = "/tmp/thumbwatch-test-config.XXXXXX";
static char path[256];

static void write_file(const char *text) {
        FILE *f = fopen(path, "w");
        if (!f || fputs(text, f) < 0 || fclose(f) != 0)
                abort();
}

/* Loads text and validates; returns the error message (caller frees) or NULL. */
static char *load(const char *text, ThumbwatchConfig **ret) {
        ThumbwatchConfig *c = NULL;
        char *msg = NULL;

        write_file(text);
        if (config_new(&c) < 0)
                abort();
        if (config_load(c, path, &msg) < 0 || config_validate(c, &msg) < 0) {
                config_free(c);
                if (ret)
                        *ret = NULL;
                return msg ? msg : strdup("(no message)");
        }
        if (ret)
                *ret = c;
        else
                config_free(c);
        return NULL;
}

/* Asserts that text fails with a message that starts "FILE:LINE:" and contains needle. */
static void fails_at(const char *text, unsigned line, const char *needle, const char *name) {
        char *msg = load(text, NULL), prefix[300];

        (void) snprintf(prefix, sizeof prefix, "%s:%u: ", path, line);
        if (!tap_ok(msg && strncmp(msg, prefix, strlen(prefix)) == 0 && strstr(msg, needle), __FILE__, __LINE__, name))
                printf("#   got '%s', want '%s...%s'\n", msg ? msg : "(none)", prefix, needle);
        free(msg);
}

static void test_defaults(void) {
        ThumbwatchConfig *c = NULL;
        char *msg = load("[drop:photos]\nsource = /srv/in\noutput = /srv/out\n", &c);

        ok(!msg && c, "a minimal config loads");
        free(msg);
        if (!c)
                return;
        is_int(c->workers, 0, "workers default: auto");
        is_int(c->queue_size, 256, "queue_size default: 256");
        is_int(c->log_level, LOG_INFO, "log_level default: info");
        is_int(c->n_drops, 1, "one drop");
        is_str(c->drops[0].name, "photos", "drop name");
        is_str(c->drops[0].source, "/srv/in", "source");
        is_str(c->drops[0].output, "/srv/out", "output");
        is_int(c->drops[0].n_sizes, 1, "one size by default");
        is_int(c->drops[0].sizes[0].width, 128, "default width 128");
        is_int(c->drops[0].sizes[0].height, 128, "default height 128");
        is_str(c->drops[0].name_template, "{stem}_thumbnail{ext}", "default name");
        ok(c->drops[0].recursive, "recursive by default");
        is_int(c->drops[0].n_ignore, 0, "no ignore globs by default");
        is_int(c->drops[0].line, 1, "the drop remembers the line of its [drop:NAME] header");
        config_free(c);
}

static void test_every_key(void) {
        ThumbwatchConfig *c = NULL;
        char *msg = load("; comment\n"
                         "# another\n"
                         "[thumbwatch]\n"
                         "workers = 3\n"
                         "queue_size = 4 ; inline comment\n"
                         "log_level = debug\n"
                         "\n"
                         "[drop:a]\n"
                         "source = /srv//a/./in/\n"
                         "output = /srv/a/x/../out\n"
                         "sizes = 128x128, 256x200\n"
                         "  640x480\n"
                         "name = {stem}-{size}{ext}\n"
                         "recursive = no\n"
                         "ignore = *.raw draft-*\n"
                         "ignore = *.xcf\n"
                         "[drop:b.2-x_y]\n"
                         "source = /srv/b\n"
                         "output = /srv/b-out\n"
                         "recursive = yes\n",
                         &c);

        ok(!msg && c, "a config with every key loads");
        if (msg)
                printf("#   %s\n", msg);
        free(msg);
        if (!c)
                return;
        is_int(c->workers, 3, "workers");
        is_int(c->queue_size, 4, "queue_size with an inline comment");
        is_int(c->log_level, LOG_DEBUG, "log_level");
        is_int(c->n_drops, 2, "two drops");
        is_str(c->drops[0].source, "/srv/a/in", "source is normalized");
        is_str(c->drops[0].output, "/srv/a/out", "output is normalized");
        is_int(c->drops[0].n_sizes, 3, "sizes: three, one on a continuation line");
        is_int(c->drops[0].sizes[1].width, 256, "second size width");
        is_int(c->drops[0].sizes[1].height, 200, "second size height");
        is_int(c->drops[0].sizes[2].width, 640, "continued size width");
        is_str(c->drops[0].name_template, "{stem}-{size}{ext}", "name");
        ok(!c->drops[0].recursive, "recursive = no");
        is_int(c->drops[0].n_ignore, 3, "ignore globs accumulate");
        is_str(c->drops[0].ignore[2], "*.xcf", "third glob");
        is_str(c->drops[1].name, "b.2-x_y", "drop names may use . - _");
        ok(c->drops[1].recursive, "recursive = yes");

        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        config_print(c, f);
        fclose(f);
        write_file(buf);
        ThumbwatchConfig *again = NULL;
        char *msg2 = NULL;
        (void) config_new(&again);
        is_int(config_load(again, path, &msg2), 0, "the printed config loads again");
        free(msg2);
        is_int(again->drops[0].n_sizes, 3, "... with the same sizes");
        is_int(again->drops[0].n_ignore, 3, "... and the same globs");
        config_free(again);
        free(buf);
        config_free(c);
}

/* Every key set, none left at its default: test_table() checks that this is so. */
static const char every_key[] = "[thumbwatch]\n"
                                "workers = 3\n"
                                "queue_size = 17\n"
                                "log_level = debug\n"
                                "log_target = stderr\n"
                                "stop_timeout = 7s\n"
                                "job_timeout = 1500ms\n"
                                "truncated_grace = 0\n"
                                "max_file_size = 3M\n"
                                "max_pixels = 5000000\n"
                                "max_width = 4000\n"
                                "max_height = 3000\n"
                                "max_memory = 512M\n"
                                "retry_io = 2s\n"
                                "rescan_unwatched = 90s\n"
                                "watcher = fanotify\n"
                                "color = keep\n"
#if HAVE_REDIS
                                "queue = unix:///run/redis/redis.sock\n"
                                "role = worker\n"
                                "queue_name = photos:fleet\n"
                                "max_deliveries = 5\n"
                                "metrics_file = /var/lib/node-exporter/thumbwatch.prom\n"
                                "queue_password_file = /etc/thumbwatch/redis-password\n"
#endif
                                "\n"
                                "[drop:a]\n"
                                "source = /srv/a\n"
                                "output = /srv/a-out\n"
                                "sizes = 64x64 200x100:fill\n"
                                "  32x32:pad\n"
                                "name = {stem}.{size}{ext}\n"
                                "recursive = no\n"
                                "delete_with_source = no\n"
                                "formats = jpeg png\n"
                                "strip = no\n"
                                "color = srgb\n"
                                "follow_symlinks = anywhere\n"
                                "format = webp\n"
                                "quality = 40\n"
                                "background = #102030\n"
                                "embedded_previews = yes\n"
                                "layout = mirror\n"
                                "ignore = *.raw tmp-*\n"
                                "ignore = *.xcf\n"
                                "\n"
                                "[drop:b]\n"
                                "source = /srv/b\n"
                                "output = /srv/b-out\n"
                                "sizes = 256x256 128x128\n"
                                "name = {stem}{ext}\n"
                                "recursive = yes\n"
                                "delete_with_source = yes\n"
                                "formats = gif\n"
                                "strip = yes\n"
                                "color = keep\n"
                                "follow_symlinks = yes\n"
                                "format = png\n"
                                "quality = 100\n"
                                "background = #000000\n"
                                "embedded_previews = no\n"
                                "layout = freedesktop\n"
                                "ignore = x\n";

/* What config_print() writes; caller frees. */
static char *print_config(const ThumbwatchConfig *c) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        if (!f)
                abort();
        config_print(c, f);
        if (fclose(f) != 0)
                abort();
        return buf;
}

#define LINES_MAX 200

/* Splits text (modified) into lines; line[1] is the first, as in messages. */
static size_t split_lines(char *text, char *line[LINES_MAX]) {
        size_t n = 0;

        line[0] = NULL;
        for (char *s = text; *s && n + 1 < LINES_MAX; n++) {
                char *nl = strchr(s, '\n');

                line[n + 1] = s;
                if (!nl)
                        return n + 1;
                *nl = '\0';
                s = nl + 1;
        }
        return n;
}

/* Where lines (split_lines()) set key in their section_index-th section
 * ([thumbwatch] 0, the drops from 1): the line, 0 if nowhere; *ret_count
 * how many lines do. */
static unsigned find_key(char **line, size_t n, size_t section_index, const char *key, unsigned *ret_count) {
        size_t section = 0, l = strlen(key);
        unsigned found = 0;

        *ret_count = 0;
        for (size_t i = 1; i <= n; i++) {
                if (line[i][0] == '[')
                        section += strncmp(line[i], "[drop:", 6) == 0;
                else if (section == section_index && strncmp(line[i], key, l) == 0 && strncmp(line[i] + l, " =", 2) == 0) {
                        found = (unsigned) i;
                        (*ret_count)++;
                }
        }
        return found;
}

/* "key = value" of a printed line, without its origin comment; static. */
static const char *without_origin(const char *line) {
        static char buf[512];
        const char *o = strstr(line, "    ; ");

        (void) snprintf(buf, sizeof buf, "%.*s", (int) (o ? (size_t) (o - line) : strlen(line)), line);
        return buf;
}

/* Every key of the table, in every section it can be in: config_print()
 * prints it once; config_load() reads the printed text back to the same
 * value, with the printed line as its origin (FILE:LINE); config_set_global()
 * takes the printed value of a [thumbwatch] key, which then says "command
 * line". The input sets every key, so a key added to the table without a
 * test here fails ("... not at its default"). */
static bool is_fleet_key(const char *key) {
        static const char *const keys[] = { "queue", "role", "queue_name", "max_deliveries", "metrics_file",
                                            "queue_password_file" };

        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
                if (strcmp(key, keys[i]) == 0)
                        return true;
        return false;
}

static void test_table(void) {
        ThumbwatchConfig *c = NULL, *again = NULL;
        char *msg = load(every_key, &c), *printed, *reprinted, *overridden;
        char *line[LINES_MAX], *line2[LINES_MAX], *line3[LINES_MAX];
        size_t n, n2, n3, n_keys = 0;
        ConfigSection section;
        const char *key;

        ok(!msg && c, "a config setting every key loads");
        if (msg)
                printf("#   %s\n", msg);
        free(msg);
        if (!c)
                return;
        printed = print_config(c);
        msg = load(printed, &again);
        ok(!msg && again, "what config_print() prints loads again");
        free(msg);
        if (!again)
                return;
        reprinted = print_config(again);
        n = split_lines(printed, line);
        n2 = split_lines(reprinted, line2);
        is_int(n2, n, "... and prints as many lines");
        for (size_t i = 0; (key = config_key(i, &section)); i++) {
                size_t sections = section == CONFIG_GLOBAL ? 1 : c->n_drops;

                n_keys++;
                /* Without Redis the fleet's keys keep their defaults (test-fleet-config.c). */
                if (!HAVE_REDIS && section == CONFIG_GLOBAL && is_fleet_key(key))
                        continue;
                for (size_t s = 0; s < sections; s++) {
                        size_t index = section == CONFIG_GLOBAL ? 0 : s + 1;
                        unsigned count, at = find_key(line, n, index, key, &count), count2;
                        char want[1024], name[200];

                        (void) snprintf(name, sizeof name, "%s in [%s]: printed once, not at its default", key,
                                        index ? c->drops[s].name : "thumbwatch");
                        if (!tap_ok(count == 1 && !strstr(line[at], "; default"), __FILE__, __LINE__, name))
                                printf("#   printed %u times, last '%s'\n", count, at ? line[at] : "");
                        if (count != 1)
                                continue;
                        (void) snprintf(want, sizeof want, "%s    ; %s:%u", without_origin(line[at]), path, at);
                        (void) snprintf(name, sizeof name, "%s in [%s]: loaded back, the same, from FILE:%u", key,
                                        index ? c->drops[s].name : "thumbwatch", at);
                        is_str(find_key(line2, n2, index, key, &count2) == at ? line2[at] : "(elsewhere)", want, name);
                }
                if (section != CONFIG_GLOBAL)
                        continue;
                {
                        unsigned count, at = find_key(line, n, 0, key, &count);
                        const char *value = without_origin(line[at]) + strlen(key) + 3;
                        char name[200];

                        (void) snprintf(name, sizeof name, "%s '%s' from the command line", key, value);
                        is_int(config_set_global(again, key, value, &msg), 0, name);
                        free(msg);
                        msg = NULL;
                }
        }
        ok(n_keys >= 27, "config_key() lists the table");
        overridden = print_config(again);
        n3 = split_lines(overridden, line3);
        for (size_t i = 0; (key = config_key(i, &section)); i++) {
                unsigned count, at = section == CONFIG_GLOBAL ? find_key(line3, n3, 0, key, &count) : 0;
                char name[200];

                if (!at || (!HAVE_REDIS && is_fleet_key(key)))
                        continue;
                (void) snprintf(name, sizeof name, "%s: '; command line' after config_set_global()", key);
                ok(strstr(line3[at], "    ; command line"), name);
        }
        free(printed);
        free(reprinted);
        free(overridden);
        config_free(again);
        config_free(c);
}

/* "unknown key (known in ...)" lists the keys of its section, as the table has them. */
static void test_unknown_key_lists_the_table(void) {
        static const char *const texts[] = { [CONFIG_GLOBAL] = "[thumbwatch]\nbogus = 1\n",
                                             [CONFIG_DROP] = "[drop:a]\nbogus = 1\n" };

        for (ConfigSection s = CONFIG_GLOBAL; s <= CONFIG_DROP; s++) {
                char want[1000], *msg = load(texts[s], NULL);
                ConfigSection section;
                const char *key, *sep = ": ";
                size_t l;

                l = (size_t) snprintf(want, sizeof want, "unknown key (known in %s",
                                      s == CONFIG_GLOBAL ? "[thumbwatch]" : "[drop:NAME]");
                for (size_t i = 0; (key = config_key(i, &section)); i++)
                        if (section == s && l < sizeof want) {
                                l += (size_t) snprintf(want + l, sizeof want - l, "%s%s", sep, key);
                                sep = ", ";
                        }
                if (l < sizeof want)
                        (void) snprintf(want + l, sizeof want - l, ")");
                if (!ok(msg && strstr(msg, want), s == CONFIG_GLOBAL ? "[thumbwatch]: an unknown key lists the table's keys"
                                                                    : "[drop:NAME]: an unknown key lists the table's keys"))
                        printf("#   got '%s'\n#   want '...%s'\n", msg ? msg : "(none)", want);
                free(msg);
        }
}

static void test_limits_and_safety_keys(void) {
        ThumbwatchConfig *c = NULL;
        char *msg = load("[thumbwatch]\n"
                         "job_timeout = 500ms\n"
                         "truncated_grace = 0\n"
                         "stop_timeout = 5s\n"
                         "max_file_size = 64M\n"
                         "max_pixels = 5000000\n"
                         "max_width = 4000\n"
                         "max_height = 3000\n"
                         "[drop:a]\nsource = /a\noutput = /b\n"
                         "formats = JPEG png, tif\n"
                         "format = webp\n"
                         "quality = 60\n"
                         "background = #102030\n"
                         "strip = no\n"
                         "follow_symlinks = yes\n"
                         "delete_with_source = no\n",
                         &c);

        ok(!msg && c, "limits and safety keys load");
        if (msg)
                printf("#   %s\n", msg);
        free(msg);
        if (!c)
                return;
        is_int(c->job_timeout_usec, 500000, "job_timeout in ms");
        is_int(c->truncated_grace_usec, 0, "truncated_grace 0 (no grace)");
        is_int(c->stop_timeout, 5, "stop_timeout with s");
        is_int(c->max_file_size, 64 << 20, "max_file_size with M");
        is_int(c->max_pixels, 5000000, "max_pixels");
        is_int(c->max_width, 4000, "max_width");
        is_int(c->max_height, 3000, "max_height");
        is_int(c->drops[0].formats, THUMBNAIL_JPEG | THUMBNAIL_PNG | THUMBNAIL_TIFF, "formats, any case, with aliases");
        ok(!c->drops[0].strip, "strip = no");
        is_int(c->drops[0].output_format, THUMBNAIL_WEBP, "format = webp");
        is_int(c->drops[0].quality, 60, "quality");
        is_int(c->drops[0].background, 0x102030, "background #RRGGBB");
        ok(c->drops[0].follow_symlinks, "follow_symlinks = yes");
        ok(!c->drops[0].delete_with_source, "delete_with_source = no");
        config_free(c);

        msg = load("[drop:a]\nsource = /a\noutput = /b\n", &c);
        free(msg);
        if (!c)
                return;
        is_int(c->drops[0].formats, THUMBNAIL_ALL_FORMATS, "formats default: all six");
        ok(c->drops[0].strip && !c->drops[0].follow_symlinks && c->drops[0].delete_with_source,
           "defaults: strip, no symlinks, delete with source");
        is_int(c->max_pixels, 100000000, "max_pixels default: 100 megapixels");
        is_int(c->job_timeout_usec, 60000000, "job_timeout default: 60 s");
        config_free(c);
}

static void test_rescan_unwatched_and_max_memory(void) {
        ThumbwatchConfig *c = NULL;
        char *msg = load("[drop:a]\nsource = /a\noutput = /b\n", &c), *printed;

        ok(!msg && c, "a config without them loads");
        free(msg);
        if (!c)
                return;
        is_int(c->rescan_unwatched_usec, 30000000, "rescan_unwatched default: 30 s");
        is_int(c->max_memory, 0, "max_memory default: auto (0)");
        printed = print_config(c);
        ok(strstr(printed, "\nrescan_unwatched = 30s    ; default\n"), "rescan_unwatched printed as 30s, the default");
        ok(strstr(printed, "\nmax_memory = auto    ; default\n"), "max_memory printed as auto, the default");
        free(printed);
        config_free(c);

        msg = load("[thumbwatch]\nrescan_unwatched = 1500ms\nmax_memory = 2G\n[drop:a]\nsource = /a\noutput = /b\n", &c);
        ok(!msg && c, "rescan_unwatched in ms, max_memory with G");
        free(msg);
        if (c) {
                is_int(c->rescan_unwatched_usec, 1500000, "rescan_unwatched = 1500ms");
                is_int(c->max_memory, 2ULL << 30, "max_memory = 2G");
                printed = print_config(c);
                ok(strstr(printed, "\nrescan_unwatched = 1500ms    ; ") && strstr(printed, "\nmax_memory = 2147483648    ; "),
                   "... printed as 1500ms and in bytes");
                free(printed);
                config_free(c);
        }
        msg = load("[thumbwatch]\nrescan_unwatched = 1\nmax_memory = auto\n[drop:a]\nsource = /a\noutput = /b\n", &c);
        ok(!msg && c && c->rescan_unwatched_usec == 1000000 && c->max_memory == 0, "rescan_unwatched = 1 (s), max_memory = auto");
        free(msg);
        config_free(c);

        fails_at("[thumbwatch]\nrescan_unwatched = 0\n", 2, "rescan_unwatched '0': expected a duration from 1 s",
                 "rescan_unwatched 0");
        fails_at("[thumbwatch]\nrescan_unwatched = 999ms\n", 2, "rescan_unwatched '999ms'", "rescan_unwatched under 1 s");
        fails_at("[thumbwatch]\nrescan_unwatched = 86401s\n", 2, "rescan_unwatched '86401s'",
                 "rescan_unwatched over a day");
        fails_at("[thumbwatch]\nrescan_unwatched = often\n", 2, "rescan_unwatched 'often'", "rescan_unwatched not a duration");
        fails_at("[thumbwatch]\nmax_memory = 0\n", 2, "max_memory '0': expected 'auto' or a size", "max_memory 0");
        fails_at("[thumbwatch]\nmax_memory = 512\n", 2, "max_memory '512'", "max_memory under 1M: a forgotten suffix");
        fails_at("[thumbwatch]\nmax_memory = 12T\n", 2, "max_memory '12T'", "max_memory with an unknown unit");
        fails_at("[thumbwatch]\nmax_memory = lots\n", 2, "max_memory 'lots'", "max_memory not a size");
        fails_at("[thumbwatch]\nmax_memory = 1G\nmax_memory = 2G\n", 3, "set twice", "max_memory twice");
}

/* watcher: inotify by default; whether fanotify can be had is the
 * watcher's to say (watcher_check()), not the config's. */
static void test_watcher(void) {
        ThumbwatchConfig *c = NULL;
        char *msg = load("[drop:a]\nsource = /a\noutput = /b\n", &c), *printed, want[300];

        ok(!msg && c, "a config without watcher loads");
        free(msg);
        if (c) {
                is_int(c->watcher, WATCHER_INOTIFY, "watcher default: inotify");
                printed = print_config(c);
                ok(strstr(printed, "\nwatcher = inotify    ; default\n"), "watcher printed as inotify, the default");
                free(printed);
                is_int(config_set_global(c, "watcher", "fanotify", &msg), 0, "--watcher fanotify");
                free(msg);
                msg = NULL;
                is_int(c->watcher, WATCHER_FANOTIFY, "... sets fanotify");
                printed = print_config(c);
                ok(strstr(printed, "\nwatcher = fanotify    ; command line\n"), "... printed as from the command line");
                free(printed);
                is_int(config_set_global(c, "watcher", "inotifywait", &msg), -EINVAL, "--watcher inotifywait: -EINVAL");
                if (!ok(msg && strstr(msg, "watcher 'inotifywait': expected inotify (a watch per folder) or fanotify"),
                        "... saying what is expected"))
                        printf("#   got '%s'\n", msg ? msg : "(none)");
                free(msg);
                msg = NULL;
                is_int(c->watcher, WATCHER_FANOTIFY, "... and keeping the value it had");
                config_free(c);
        }

        msg = load("[thumbwatch]\nwatcher = fanotify\n[drop:a]\nsource = /a\noutput = /b\n", &c);
        ok(!msg && c, "watcher = fanotify loads");
        free(msg);
        if (c) {
                is_int(c->watcher, WATCHER_FANOTIFY, "watcher = fanotify");
                printed = print_config(c);
                (void) snprintf(want, sizeof want, "\nwatcher = fanotify    ; %s:2\n", path);
                ok(strstr(printed, want), "... printed as fanotify, from FILE:2");
                free(printed);
                config_free(c);
        }
        msg = load("[thumbwatch]\nwatcher = inotify\n[drop:a]\nsource = /a\noutput = /b\n", &c);
        ok(!msg && c && c->watcher == WATCHER_INOTIFY, "watcher = inotify loads");
        free(msg);
        config_free(c);

        fails_at("[thumbwatch]\nworkers = 2\nwatcher = kqueue\n", 3,
                 "watcher 'kqueue': expected inotify (a watch per folder) or fanotify (a mark per file system; "
                 "needs CAP_SYS_ADMIN and CAP_DAC_READ_SEARCH)",
                 "watcher = kqueue: refused at its line, saying what is expected");
        fails_at("[thumbwatch]\nwatcher = Fanotify\n", 2, "watcher 'Fanotify'", "watcher is case-sensitive");
        fails_at("[thumbwatch]\nwatcher =\n", 2, "watcher '': expected inotify", "watcher empty");
        fails_at("[thumbwatch]\nwatcher = inotify\nwatcher = fanotify\n", 3, "set twice", "watcher twice");
        fails_at("[drop:a]\nsource = /a\noutput = /b\nwatcher = fanotify\n", 4, "unknown key",
                 "watcher in a drop: [thumbwatch]'s only");
}

static void test_follow_symlinks(void) {
        static const struct {
                const char *value;
                FollowSymlinks want;
        } cases[] = { { "no", FOLLOW_NO }, { "off", FOLLOW_NO }, { "yes", FOLLOW_BENEATH }, { "true", FOLLOW_BENEATH },
                      { "on", FOLLOW_BENEATH }, { "1", FOLLOW_BENEATH }, { "anywhere", FOLLOW_ANYWHERE } };

        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                ThumbwatchConfig *c = NULL;
                char text[200], name[100], *msg;

                (void) snprintf(text, sizeof text, "[drop:a]\nsource = /a\noutput = /b\nfollow_symlinks = %s\n", cases[i].value);
                (void) snprintf(name, sizeof name, "follow_symlinks = %s", cases[i].value);
                msg = load(text, &c);
                ok(!msg && c && c->drops[0].follow_symlinks == cases[i].want, name);
                free(msg);
                config_free(c);
        }
        fails_at("[drop:a]\nsource = /a\noutput = /b\nfollow_symlinks = everywhere\n", 4,
                 "follow_symlinks 'everywhere': expected no, yes (targets inside the drop) or anywhere",
                 "follow_symlinks: a bad value");
}

static void test_workers_auto(void) {
        ThumbwatchConfig *c = NULL;
        char *msg = load("[thumbwatch]\nworkers = auto\n[drop:a]\nsource=/a\noutput=/b\n", &c);

        ok(!msg && c && c->workers == 0, "workers = auto");
        ok(c && config_workers(c) == (size_t) sysconf(_SC_NPROCESSORS_ONLN), "auto: one worker per online CPU");
        if (c)
                c->workers = 3;
        ok(c && config_workers(c) == 3, "a number: that many workers");
        free(msg);
        config_free(c);
}

/* color: [thumbwatch]'s is every drop's that does not set its own,
 * wherever in the file either stands and when set from the command line. */
static void test_color_inherited(void) {
        ThumbwatchConfig *c = NULL;
        char *msg;

        msg = load("[drop:a]\nsource = /a\noutput = /b\n[drop:b]\nsource = /c\noutput = /d\n", &c);
        ok(!msg && c, "two drops, no color");
        if (!c)
                return;
        is_int(c->colour, THUMBNAIL_COLOUR_SRGB, "color is srgb by default");
        is_int(c->drops[0].colour, THUMBNAIL_COLOUR_SRGB, "... and so is a drop's");
        c = config_unref(c);
        msg = load("[drop:a]\nsource = /a\noutput = /b\n[drop:b]\nsource = /c\noutput = /d\ncolor = srgb\n"
                   "[thumbwatch]\ncolor = keep\n", &c);
        ok(!msg && c, "[thumbwatch] color = keep after the drops");
        if (!c)
                return;
        is_int(c->drops[0].colour, THUMBNAIL_COLOUR_KEEP, "a drop without color takes [thumbwatch]'s");
        is_int(c->drops[1].colour, THUMBNAIL_COLOUR_SRGB, "a drop with its own keeps it");
        {
                char *printed = print_config(c);

                ok(printed && strstr(printed, "[drop:a]\n") &&
                   strstr(strstr(printed, "[drop:a]\n"), "color = keep    ; [thumbwatch]\n"),
                   "--check-config says where the drop's color came from");
                free(printed);
        }
        is_int(config_set_global(c, "color", "srgb", &msg), 0, "--set color=srgb");
        is_int(c->drops[0].colour, THUMBNAIL_COLOUR_SRGB, "... the drop without color follows");
        is_int(config_set_global(c, "color", "keep", &msg), 0, "--set color=keep");
        is_int(config_set_single_drop(c, "/x", "/y", &msg), 0, "SRC OUT after it");
        is_int(c->drops[0].colour, THUMBNAIL_COLOUR_KEEP, "... the drop of SRC OUT takes [thumbwatch]'s");
        is_int(config_set_global(c, "color", "grey", &msg), -EINVAL, "--set color=grey: -EINVAL");
        ok(msg && strstr(msg, "color 'grey': expected srgb"), "... saying what is expected");
        free(msg);
        c = config_unref(c);
}

static void test_errors(void) {
        const char *drop = "[drop:a]\nsource = /a\noutput = /b\n";
        char text[512];

        fails_at("[thumbwatch]\nworkers = 2\nbogus = 1\n", 3, "bogus", "unknown key in [thumbwatch], with its line");
        fails_at("[drop:a]\nsource = /a\noutput = /b\ncolour = red\n", 4, "colour", "unknown key in a drop");
        fails_at("[nonsense]\nx = 1\n", 2, "unknown section", "unknown section");
        fails_at("workers = 2\n", 1, "outside any section", "key before any section");
        fails_at("[thumbwatch]\nworkers = many\n", 2, "workers 'many'", "bad workers");
        fails_at("[thumbwatch]\nworkers = 0\n", 2, "workers", "workers 0");
        fails_at("[thumbwatch]\nworkers = 99999\n", 2, "workers", "workers too large");
        fails_at("[thumbwatch]\nqueue_size = -1\n", 2, "queue_size", "negative queue_size");
        fails_at("[thumbwatch]\nqueue_size = 10x\n", 2, "queue_size", "queue_size with junk");
        fails_at("[thumbwatch]\n\nlog_level = loud\n", 3, "log_level", "bad log_level");
        fails_at("[thumbwatch]\nworkers = 1\nworkers = 2\n", 3, "set twice", "a key set twice");
        fails_at("[drop:a]\nsource = relative/path\n", 2, "absolute path", "relative source");
        fails_at("[drop:a]\nsource = /a\noutput = /b\nsizes = 128\n", 4, "WIDTHxHEIGHT", "size without x");
        fails_at("[drop:a]\nsource = /a\noutput = /b\nsizes = 0x10\n", 4, "sizes", "zero size");
        fails_at("[drop:a]\nsource = /a\noutput = /b\nsizes = 99999x10\n", 4, "sizes", "huge size");
        {
                char *msg = load("[drop:a]\nsource = /a\noutput = /b\nsizes = 8193x10\n", NULL);
                const char *want = "sizes '8193x10': expected sizes as WIDTHxHEIGHT[:fit|:fill|:pad], each from 1 to 8192";
                size_t l = msg ? strlen(msg) : 0;

                if (!ok(l >= strlen(want) && strcmp(msg + l - strlen(want), want) == 0,
                        "a size too large: the message ends with the limit, 8192"))
                        printf("#   got '%s'\n", msg ? msg : "(none)");
                free(msg);
        }
        fails_at("[drop:a]\nsource = /a\noutput = /b\nsizes = 10x10 abc\n", 4, "sizes", "junk in sizes");
        fails_at("[drop:a]\nsource = /a\nsource = /c\n", 3, "set twice", "source twice");
        fails_at("[drop:a]\nsource = /a\noutput = /b\nrecursive = maybe\n", 4, "yes or no", "bad boolean");
        fails_at("[drop:a/b]\nsource = /a\n", 2, "drop names", "bad drop name");
        fails_at("[drop:]\nsource = /a\n", 2, "drop names", "empty drop name");
        fails_at("[thumbwatch]\nworkers = 1\nthis is not ini\n", 3, "syntax error", "syntax error");
        fails_at("[thumbwatch\nworkers = 1\n", 1, "syntax error", "unclosed section");
        fails_at("[thumbwatch]\njob_timeout = soon\n", 2, "job_timeout 'soon'", "bad duration");
        fails_at("[thumbwatch]\njob_timeout = 10h\n", 2, "job_timeout", "unknown duration unit");
        fails_at("[thumbwatch]\nstop_timeout = 0\n", 2, "stop_timeout", "stop_timeout 0");
        fails_at("[thumbwatch]\nmax_file_size = 12T\n", 2, "max_file_size '12T'", "unknown size unit");
        fails_at("[thumbwatch]\nmax_pixels = -5\n", 2, "max_pixels", "negative max_pixels");
        fails_at("[thumbwatch]\nmax_width = 0\n", 2, "max_width", "max_width 0");
        fails_at("[drop:a]\nsource = /a\noutput = /b\nformats = jpeg svg\n", 4, "formats 'jpeg svg'",
                 "a format beyond the compiled-in allow-list");
        fails_at("[drop:a]\nsource = /a\noutput = /b\nformats = ,\n", 4, "at least one format", "no format");
        fails_at("[drop:a]\nsource = /a\noutput = /b\nstrip = perhaps\n", 4, "yes or no", "bad strip");
        fails_at("[drop:a]\nsource = /a\noutput = /b\nformat = tiff\n", 4, "same, jpeg, png or webp", "format tiff");
        fails_at("[thumbwatch]\nworkers = 1\ncolor = grey\n", 3,
                 "[thumbwatch] color 'grey': expected srgb (convert an embedded ICC profile to sRGB) or keep",
                 "bad color in [thumbwatch]: file, line, key, value and the values allowed");
        fails_at("[drop:a]\nsource = /a\noutput = /b\ncolor = sRGB\n", 4, "[drop:a] color 'sRGB': expected srgb",
                 "bad color in a drop (values are lower case)");
        fails_at("[drop:a]\nsource = /a\noutput = /b\nquality = 101\n", 4, "quality '101'", "quality over 100");
        fails_at("[drop:a]\nsource = /a\noutput = /b\nbackground = white\n", 4, "#RRGGBB", "background by name");
        fails_at("[drop:a]\nsource = /a\noutput = /b\nbackground = #12345g\n", 4, "#RRGGBB", "background not hex");

        (void) snprintf(text, sizeof text, "%s", "[drop:a]\nsource = /a\n");
        fails_at(text, 1, "'output' is missing", "missing output, at the drop's line");
        fails_at("[drop:a]\noutput = /b\n", 1, "'source' is missing", "missing source");
        fails_at("[drop:a]\nsource = /a\noutput = /a\n", 1, "source itself", "output equal to source");
        fails_at("[drop:a]\nsource = /a\noutput = /b\nname = thumb.jpg\n", 1, "{stem} or {name}", "bad template");
        fails_at("[drop:a]\nsource = /a\noutput = /b\nsizes = 1x1 2x2\n", 1, "several sizes",
                 "several sizes without a size token");
        /* Found by fuzzing: a later drop without a source used to reach the overlap check with NULL. */
        fails_at("[drop:a]\nsource = /a\noutput = /b\n[drop:b]\noutput = /c\n", 4, "'source' is missing",
                 "a later drop without a source");
        fails_at("[drop:a]\nsource = /a\noutput = /b\n[drop:b]\nsource = /a/sub\noutput = /c\n", 4,
                 "must not overlap", "overlapping sources");
        fails_at("[drop:a]\nsource = /a/in\noutput = /a\n", 1, "contains the source", "output containing a source");

        /* A line longer than the reader's buffer is an error, not a silent truncation. */
        char *longline = malloc(20000);
        strcpy(longline, "[drop:a]\nsource = /");
        memset(longline + strlen(longline), 'x', 10000);
        strcpy(longline + strlen("[drop:a]\nsource = /") + 10000, "\n");
        fails_at(longline, 2, "longer than", "an over-long line");
        free(longline);

        ThumbwatchConfig *c = NULL;
        char *msg = load("", &c);
        ok(msg && strstr(msg, "no [drop:NAME]"), "an empty config has nothing to watch");
        free(msg);
        (void) drop;
}

/* Loads text and says whether it is valid, with the message when it is not. */
static void valid(const char *text, const char *name) {
        char *msg = load(text, NULL);

        if (!ok(!msg, name))
                printf("#   %s\n", msg);
        free(msg);
}

static void test_outputs_apart(void) {
        fails_at("[drop:a]\nsource = /a\noutput = /o\n\n[drop:b]\nsource = /b\noutput = /o/\n", 1,
                 "[drop:a]: output '/o' is also the output of [drop:b] (line 5); the thumbnails of the two drops "
                 "would overwrite each other and --gc would delete the other drop's",
                 "two drops with the same output: refused, naming both and the other's line");
        fails_at("[drop:a]\nsource = /a\noutput = /o/a\n[drop:b]\nsource = /b\noutput = /o\n", 1,
                 "[drop:a]: output '/o/a' is inside the output '/o' of [drop:b] (line 4)",
                 "an output inside a later drop's output: refused");
        fails_at("[drop:a]\nsource = /a\noutput = /o\n[drop:b]\nsource = /b\noutput = /o/deep/b\n", 1,
                 "[drop:a]: output '/o' contains the output '/o/deep/b' of [drop:b] (line 4)",
                 "an output containing a later drop's output: refused");
        fails_at("[drop:a]\nsource = /a\noutput = /oa\n[drop:b]\nsource = /b\noutput = /ob\n"
                 "[drop:c]\nsource = /c\noutput = /ob/c\n", 4, "[drop:b]: output '/ob' contains the output '/ob/c' of [drop:c] (line 7)",
                 "... found between any two drops, at the first of them");
        valid("[drop:a]\nsource = /a\noutput = /o/a\n[drop:b]\nsource = /b\noutput = /o/b\n",
              "outputs side by side in one folder: fine");
        valid("[drop:a]\nsource = /a\noutput = /o\n[drop:b]\nsource = /b\noutput = /o2\n",
              "an output whose name starts with another's: fine");
        valid("[drop:a]\nsource = /a\noutput = /a/.thumbs\n[drop:b]\nsource = /b\noutput = /a/b-thumbs\n",
              "outputs inside a source, its own and another's: fine (the scanner skips every output)");
}

static void test_names_tell_sizes_apart(void) {
        const char *drop = "[drop:a]\nsource = /a\noutput = /b\n";
        char text[300];

        (void) snprintf(text, sizeof text, "%ssizes = 128x128 128x32\nname = {stem}_{width}{ext}\n", drop);
        fails_at(text, 1, "name '{stem}_{width}{ext}' gives the sizes 128x128 and 128x32 the same name ('x_128.jpg' for 'x.jpg')",
                 "a template that cannot tell two sizes apart: refused, naming both");
        (void) snprintf(text, sizeof text, "%ssizes = 64x64 128x128 128x32\nname = {stem}_{width}{ext}\nformat = png\n", drop);
        fails_at(text, 1, "the sizes 128x128 and 128x32 the same name ('x_128.png' for 'x.jpg')",
                 "... the first two that clash, with the output format's extension");
        (void) snprintf(text, sizeof text, "%ssizes = 128x128 128x32\nname = {stem}_{height}{ext}\n", drop);
        valid(text, "{height} tells 128x128 from 128x32");
        (void) snprintf(text, sizeof text, "%ssizes = 64x64 128x128\nname = {stem}_{width}{ext}\n", drop);
        valid(text, "{width} tells 64x64 from 128x128");
        (void) snprintf(text, sizeof text, "%ssizes = 128x128 128x32\nname = {width}/{height}-{stem}{ext}\n", drop);
        fails_at(text, 1, "name '{width}/{height}-{stem}{ext}'", "a template with '/' is still refused first");
        (void) snprintf(text, sizeof text, "%ssizes = 128x128 256x256\nlayout = freedesktop\nname = {stem}_{width}{ext}\n",
                        drop);
        valid(text, "layout = freedesktop: the template is not used");
}

static void test_missing_file(void) {
        ThumbwatchConfig *c = NULL;
        char *msg = NULL;

        (void) config_new(&c);
        is_int(config_load(c, "/nonexistent/thumbwatch.conf", &msg), -ENOENT, "a missing file: -ENOENT");
        ok(msg && strstr(msg, "/nonexistent/thumbwatch.conf") && strstr(msg, "No such file"),
           "the message names the file and the reason");
        free(msg);
        config_free(c);
}

static void test_overrides(void) {
        ThumbwatchConfig *c = NULL;
        char *msg = NULL;

        (void) config_new(&c);
        is_int(config_set_global(c, "workers", "7", &msg), 0, "override workers");
        is_int(c->workers, 7, "workers overridden");
        is_int(config_set_global(c, "queue_size", "nope", &msg), -EINVAL, "bad override refused");
        ok(msg && strstr(msg, "queue_size"), "... naming the key");
        free(msg);
        msg = NULL;
        is_int(config_set_single_drop(c, "rel/src", "/abs/out/", &msg), 0, "single drop from the command line");
        ok(c->n_drops == 1 && c->drops[0].source[0] == '/' && strstr(c->drops[0].source, "/rel/src"),
           "a relative SRC is made absolute");
        is_str(c->drops[0].output, "/abs/out", "trailing slash removed");
        is_int(config_validate(c, &msg), 0, "and it validates");
        config_free(c);
}

/* One spelling of where a drop is, for the config's checks and the start-up's. */
static void test_drop_where(void) {
        ThumbwatchConfig *c = NULL;
        char *msg = load("[thumbwatch]\nworkers = 1\n[drop:a]\nsource = /a\noutput = /b\n", &c), want[300],
             where[CONFIG_DROP_WHERE_MAX];

        ok(!msg && c, "a config with a drop at line 3");
        (void) snprintf(want, sizeof want, "%s:3: [drop:a]", path);
        config_drop_where(c, &c->drops[0], where, sizeof where);
        is_str(where, want, "a drop of the file: FILE:LINE: [drop:NAME], its header's line");
        is_int(config_set_single_drop(c, "/src", "/out", &msg), 0, "the drop of SRC OUT");
        config_drop_where(c, &c->drops[0], where, sizeof where);
        is_str(where, "command line", "the drop of SRC OUT: command line");
        config_drop_where(c, &c->drops[0], where, 5);
        is_str(where, "comm", "... cut to the buffer");
        free(msg);
        config_free(c);
}

static void test_parse_size(void) {
        ThumbSize s;

        is_int(config_parse_size("128x96", &s), 0, "128x96");
        ok(s.width == 128 && s.height == 96, "parsed");
        is_int(config_parse_size("128X96", &s), 0, "capital X");
        is_int(config_parse_size("x96", &s), -EINVAL, "no width");
        is_int(config_parse_size("128x", &s), -EINVAL, "no height");
        is_int(config_parse_size("-1x5", &s), -EINVAL, "negative");
        is_int(config_parse_size("12x+5", &s), -EINVAL, "sign");
        ok(config_parse_size("128x96", &s) == 0 && s.mode == THUMBNAIL_FIT, "no mode: fit");
        ok(config_parse_size("128x96:fill", &s) == 0 && s.mode == THUMBNAIL_FILL, ":fill");
        ok(config_parse_size("128x96:pad", &s) == 0 && s.mode == THUMBNAIL_PAD, ":pad");
        ok(config_parse_size("128x96:fit", &s) == 0 && s.mode == THUMBNAIL_FIT, ":fit");
        is_int(config_parse_size("128x96:crop", &s), -EINVAL, "an unknown mode");
        is_int(config_parse_size("128x96:", &s), -EINVAL, "an empty mode");
        fails_at("[drop:a]\nsource = /a\noutput = /b\nsizes = 128x128 128x128:fill\nname = {size}{ext}\n", 4,
                 "the same WIDTHxHEIGHT twice", "the same size twice, whatever the modes");
}

int main(void) {
        if (!mkdtemp(dir))
                return 99;
        (void) snprintf(path, sizeof path, "%s/thumbwatch.conf", dir);
        test_defaults();
        test_every_key();
        test_table();
        test_unknown_key_lists_the_table();
        test_limits_and_safety_keys();
        test_workers_auto();
        test_rescan_unwatched_and_max_memory();
        test_watcher();
        test_follow_symlinks();
        test_errors();
        test_color_inherited();
        test_outputs_apart();
        test_names_tell_sizes_apart();
        test_missing_file();
        test_overrides();
        test_parse_size();
        test_drop_where();
        (void) unlink(path);
        (void) rmdir(dir);
        return done_testing();
}
