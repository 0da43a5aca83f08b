/* freedesktop.h - the names of the freedesktop.org Thumbnail Managing
 * Standard: a thumbnail is OUTPUT/FLAVOUR/MD5.png, MD5 being that of the
 * source's file:// URI, with the source's URI and mtime in PNG text chunks.
 * No I/O but reading a PNG's text chunks; no threads of its own. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* The folder of a square size: "normal" (128), "large" (256), "x-large"
 * (512), "xx-large" (1024), or NULL for any other size. */
const char *freedesktop_flavour(unsigned size);

/* The file:// URI of an absolute path, byte for byte the one GLib's
 * g_filename_to_uri() gives (what GNOME, KDE and Thunar look thumbnails up
 * by): "file://" and the path as it is, every byte but the 79 of
 * [A-Za-z0-9] and !$&'()*+,-./:=@_~ written %XX (upper-case hex). Caller
 * frees. Returns 0 or -ENOMEM. */
int freedesktop_uri(const char *path, char **ret);

/* The path of a file:// URI, every %XX decoded (either case of hex), or
 * -EINVAL if it is not one or holds %00. Caller frees. */
int freedesktop_path(const char *uri, char **ret);

/* Where failures are recorded, under the output: the standard's
 * fail/APPNAME/ folder, holding a marker PNG of the same name. */
#define FREEDESKTOP_FAIL_DIR "fail/thumbwatch"

/* "<md5 of uri in hex>.png". ret must hold FREEDESKTOP_NAME_MAX bytes. */
#define FREEDESKTOP_NAME_MAX 37
void freedesktop_name(const char *uri, char ret[FREEDESKTOP_NAME_MAX]);

/* The value of the tEXt chunk key of the PNG name in folder dirfd, into buf
 * (truncated to size). Returns 0, -ENOENT (no such file or key), -EBADMSG
 * (not a PNG) or -errno. */
int freedesktop_read_text(int dirfd, const char *name, const char *key, char *buf, size_t size);

/* Is the thumbnail name in dirfd up to date for a source of this mtime
 * (seconds): does its Thumb::MTime say so? */
bool freedesktop_is_current(int dirfd, const char *name, long long mtime);
