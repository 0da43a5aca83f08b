/* test-freedesktop.c - the Thumbnail Managing Standard's names: file:// URIs
 * byte for byte as GLib's g_filename_to_uri() gives them (what GNOME, KDE and
 * Thunar look thumbnails up by), back to paths, and their MD5 names. */
#include "build-config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "freedesktop.h"
#include "tap.h"

/* The expected data, written down independently of src/freedesktop.c: the
 * bytes g_filename_to_uri() keeps (GLib 2.74.6, glib/gconvert.c, the
 * acceptable[] entries with UNSAFE_PATH; checked against the real GLib with
 * python3-gi over every byte 0x01-0xff). Every other byte becomes %XX. */
static const char glib_keeps[] =
        "!$&'()*+,-./0123456789:=@ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~";

/* Appends the expected URI form of byte c to buf. */
static void expect_byte(char *buf, unsigned char c) {
        size_t n = strlen(buf);

        if (strchr(glib_keeps, c))
                buf[n] = (char) c, buf[n + 1] = '\0';
        else
                (void) sprintf(buf + n, "%%%02X", c);
}

static void test_every_byte(void) {
        char all_path[300] = "/d/", all_want[800] = "file:///d/";
        char *uri = NULL, *back = NULL;
        bool round_trips = true;
        int kept = 0;

        is_int(strlen(glib_keeps), 79, "the expected data: GLib keeps 79 bytes");
        for (unsigned c = 1; c <= 255; c++) {
                char path[8], want[32], name[64];

                kept += strchr(glib_keeps, (int) c) != NULL;
                (void) snprintf(path, sizeof path, "/x%cy", (char) c);
                (void) strcpy(want, "file:///x");
                expect_byte(want, (unsigned char) c);
                (void) strcat(want, "y");
                (void) snprintf(name, sizeof name, "byte 0x%02x: %s", c, want);
                if (freedesktop_uri(path, &uri) < 0)
                        uri = NULL;
                is_str(uri, want, name);
                if (!uri || freedesktop_path(uri, &back) < 0 || strcmp(back, path) != 0) {
                        printf("# byte 0x%02x: '%s' does not decode back to its path\n", c, uri ? uri : "(null)");
                        round_trips = false;
                }
                free(uri);
                free(back);
                uri = back = NULL;

                all_path[strlen(all_path) + 1] = '\0';
                all_path[strlen(all_path)] = (char) c;
                expect_byte(all_want, (unsigned char) c);
        }
        is_int(kept, 79, "... all 79 of them among 0x01-0xff");
        ok(round_trips, "every one of those URIs decodes back to its path");

        ok(freedesktop_uri(all_path, &uri) == 0, "a name holding every byte 0x01-0xff");
        is_str(uri, all_want, "... its URI, escaped as GLib escapes");
        ok(uri && freedesktop_path(uri, &back) == 0, "... decodes");
        is_str(back, all_path, "... back to the very same path");
        free(uri);
        free(back);
}

static void test_known_uris(void) {
        static const struct {
                const char *path, *uri, *name;
        } cases[] = {
                /* The second download of photo.jpg, as every browser names it. The
                 * names are MD5s of the URIs, by md5sum and by Python's hashlib over
                 * GLib.filename_to_uri(). */
                { "/tmp/photo (1).jpg", "file:///tmp/photo%20(1).jpg", "6fb16edd543c21de7136dccf169bb330.png" },
                { "/home/user/it's & more!.png", "file:///home/user/it's%20&%20more!.png",
                  "958e9eb1777652fd7a7754706740b821.png" },
                { "/tmp/caf\xe9.jpg", "file:///tmp/caf%E9.jpg", "5fe9d1618454ce299503f3004cef2c45.png" },
                { "/tmp/caf\xc3\xa9.jpg", "file:///tmp/caf%C3%A9.jpg", NULL },
                { "/a,b=c+d@e$f:g*h.jpg", "file:///a,b=c+d@e$f:g*h.jpg", NULL },
                { "/q?#[x]{y}|z;<>\"%^`\\.jpg", "file:///q%3F%23%5Bx%5D%7By%7D%7Cz%3B%3C%3E%22%25%5E%60%5C.jpg", NULL },
                /* As it is: no normalisation of the path. */
                { "/a//b/../c/./d", "file:///a//b/../c/./d", NULL },
        };

        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                char *uri = NULL, *back = NULL;

                ok(freedesktop_uri(cases[i].path, &uri) == 0, cases[i].uri);
                is_str(uri, cases[i].uri, "... is GLib's URI");
                if (uri && cases[i].name) {
                        char name[FREEDESKTOP_NAME_MAX];

                        freedesktop_name(uri, name);
                        is_str(name, cases[i].name, "... its thumbnail is named MD5(URI).png");
                }
                ok(uri && freedesktop_path(uri, &back) == 0, "... decodes");
                is_str(back, cases[i].path, "... to its path");
                free(uri);
                free(back);
        }

        /* What the old rule (RFC 3986 unreserved only) stored: another name. */
        char old[FREEDESKTOP_NAME_MAX];
        freedesktop_name("file:///tmp/photo%20%281%29.jpg", old);
        is_str(old, "30babd8391d4a7dfcb981a36286b3b2e.png", "the old escaping's URI has another MD5 name");
}

static void test_path(void) {
        static const struct {
                const char *uri, *path;
        } good[] = {
                /* Thumb::URI written by the old rule, or by other programs. */
                { "file:///tmp/photo%20%281%29.jpg", "/tmp/photo (1).jpg" },
                { "file:///tmp/a%2fb%3a%c3%A9", "/tmp/a/b:\xc3\xa9" },
                { "file:///", "/" },
        };
        static const char *const bad[] = {
                "file:///a%00b", "file:///a%", "file:///a%4", "file:///a%G0", "file:///a%0G",
                "file://host/a", "file:/a", "http:///a", "", "/tmp/a",
        };

        for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
                char *path = NULL;

                ok(freedesktop_path(good[i].uri, &path) == 0, good[i].uri);
                is_str(path, good[i].path, "... its path");
                free(path);
        }
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                char *path = NULL, name[64];

                (void) snprintf(name, sizeof name, "refused: '%s'", bad[i]);
                is_int(freedesktop_path(bad[i], &path), -EINVAL, name);
                free(path);
        }
}

int main(void) {
        test_every_byte();
        test_known_uris();
        test_path();
        return done_testing();
}
