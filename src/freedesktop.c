/* freedesktop.c - names and text chunks of the Thumbnail Managing Standard.
 * MD5 comes from libmd. */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <md5.h>

#include "freedesktop.h"

const char *freedesktop_flavour(unsigned size) {
        switch (size) {
        case 128:
                return "normal";
        case 256:
                return "large";
        case 512:
                return "x-large";
        case 1024:
                return "xx-large";
        default:
                return NULL;
        }
}

/* The bytes g_filename_to_uri() leaves as they are, one bit each (bit b & 31
 * of word b >> 5). GNOME (GnomeDesktopThumbnailFactory), KDE's KIO and Thunar
 * name a thumbnail after the URI GLib gives, so a URI that differs from it in
 * one byte names a thumbnail none of them reads. GLib's glib/gconvert.c
 * (checked against 2.74.6): g_filename_to_uri() is "file://" followed by
 * g_escape_uri_string (filename, UNSAFE_PATH), which keeps a byte c when
 * 32 <= c < 128 and acceptable[c - 32] & UNSAFE_PATH (0x8), and writes every
 * other one as %XX, upper-case hex. Those 79 bytes are
 *     !$&'()*+,-./0123456789:=@ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~
 * so it escapes the controls, space, "#%;<>?[\]^`{|}, DEL and every byte
 * from 0x80 on, UTF-8 or not, and RFC 3986's sub-delims and ':' '@' not. */
static const uint32_t glib_path_safe[8] = {
        0x00000000, /* 0x00-0x1f: none */
        0x27ffffd2, /* 0x20-0x3f: ! $ & ' ( ) * + , - . / 0-9 : = */
        0x87ffffff, /* 0x40-0x5f: @ A-Z _ */
        0x47fffffe, /* 0x60-0x7f: a-z ~ */
        0, 0, 0, 0, /* 0x80-0xff: none */
};

static bool uri_keeps(unsigned char c) {
        return glib_path_safe[c >> 5] >> (c & 31) & 1;
}

int freedesktop_uri(const char *path, char **ret) {
        static const char hex[] = "0123456789ABCDEF";
        char *uri = malloc(strlen("file://") + 3 * strlen(path) + 1), *p;

        if (!uri)
                return -ENOMEM;
        p = stpcpy(uri, "file://");
        for (const unsigned char *s = (const unsigned char *) path; *s; s++)
                if (uri_keeps(*s))
                        *p++ = (char) *s;
                else {
                        *p++ = '%';
                        *p++ = hex[*s >> 4];
                        *p++ = hex[*s & 15];
                }
        *p = '\0';
        *ret = uri;
        return 0;
}

static int hex_value(char c) {
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int freedesktop_path(const char *uri, char **ret) {
        char *path, *p;

        if (strncmp(uri, "file://", 7) != 0 || uri[7] != '/')
                return -EINVAL;
        path = malloc(strlen(uri) + 1);
        if (!path)
                return -ENOMEM;
        p = path;
        for (const char *s = uri + 7; *s; s++) {
                if (*s == '%') {
                        int hi = hex_value(s[1]), lo = hi >= 0 ? hex_value(s[2]) : -1;

                        if (lo < 0 || (hi == 0 && lo == 0)) {
                                free(path);
                                return -EINVAL;
                        }
                        *p++ = (char) (hi << 4 | lo);
                        s += 2;
                } else
                        *p++ = *s;
        }
        *p = '\0';
        *ret = path;
        return 0;
}

void freedesktop_name(const char *uri, char ret[FREEDESKTOP_NAME_MAX]) {
        char md5[MD5_DIGEST_STRING_LENGTH];

        (void) MD5Data((const uint8_t *) uri, strlen(uri), md5);
        (void) snprintf(ret, FREEDESKTOP_NAME_MAX, "%s.png", md5);
}

static uint32_t be32(const unsigned char *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

int freedesktop_read_text(int dirfd, const char *name, const char *key, char *buf, size_t size) {
        unsigned char head[8];
        size_t klen = strlen(key);
        int fd, r = -ENOENT;
        FILE *f;

        fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        f = fdopen(fd, "r");
        if (!f) {
                r = -errno;
                (void) close(fd);
                return r;
        }
        if (fread(head, 1, 8, f) != 8 || memcmp(head, "\x89PNG\r\n\x1a\n", 8) != 0) {
                (void) fclose(f);
                return -EBADMSG;
        }
        /* Chunks: length, type, data, CRC. Thumbnails are small; a text chunk
         * longer than 64 KiB is not one of ours. */
        while (fread(head, 1, 8, f) == 8) {
                uint32_t len = be32(head);

                if (memcmp(head + 4, "IEND", 4) == 0 || len > 0x7fffffff)
                        break;
                if (memcmp(head + 4, "tEXt", 4) == 0 && len > klen && len <= 65536) {
                        char *data = malloc(len);

                        if (!data)
                                break;
                        if (fread(data, 1, len, f) == len && memcmp(data, key, klen) == 0 && data[klen] == '\0') {
                                size_t n = len - klen - 1 < size - 1 ? len - klen - 1 : size - 1;

                                memcpy(buf, data + klen + 1, n);
                                buf[n] = '\0';
                                free(data);
                                r = 0;
                                break;
                        }
                        free(data);
                        if (fseek(f, 4, SEEK_CUR) < 0)
                                break;
                        continue;
                }
                if (fseek(f, (long) len + 4, SEEK_CUR) < 0)
                        break;
        }
        (void) fclose(f);
        return r;
}

bool freedesktop_is_current(int dirfd, const char *name, long long mtime) {
        char buf[32], *end;
        long long v;

        if (freedesktop_read_text(dirfd, name, "Thumb::MTime", buf, sizeof buf) < 0)
                return false;
        errno = 0;
        v = strtoll(buf, &end, 10);
        return errno == 0 && *end == '\0' && end != buf && v == mtime;
}
