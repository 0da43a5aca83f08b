/* naming.h - which file names are images, which are temporaries, and where a
 * source's thumbnail goes. Pure string functions: no I/O, thread-safe. */
#pragma once

#include <stdbool.h>
#include <limits.h>
#include <stddef.h>

/* The extension of a base name, including its dot, or "" (as Python's splitext:
 * ".profile" has none, "a.tar.gz" has ".gz"). Borrowed from name. */
const char *naming_extension(const char *name);

/* Is this base name an image we thumbnail, by extension, case-insensitively? */
bool naming_is_image(const char *name);

/* Is this base name a temporary that a writer will rename or delete
 * (rsync's ".name." plus 6 random characters, *.part, *.crdownload, *.tmp,
 * ~*, .DS_Store, ._*)? */
bool naming_is_temporary(const char *name);

/* Does the base name match one of the fnmatch(3) globs? */
bool naming_matches_any(const char *name, char *const *globs, size_t n_globs);

/* Validates a name template: only the tokens {stem} {ext} {name} {size}
 * {width} {height}, no '/', and {stem} or {name} present; with several sizes,
 * {size}, {width} or {height} too. Returns 0, or -EINVAL with *reterr_reason
 * set to a static string. */
int naming_check_template(const char *tmpl, bool several_sizes, const char **reterr_reason);

/* thumbwatch's own temporaries: "." NAME ".thumbwatch-" and 6 random
 * characters, distinct from every other writer's (rsync's ".NAME.XXXXXX"
 * among them), so that the clean-up at start-up removes nothing of anyone
 * else's. */
#define NAMING_TEMPORARY_INFIX ".thumbwatch-"
#define NAMING_TEMPORARY_RANDOM 6

/* The longest thumbnail name: its temporary must fit NAME_MAX too. */
#define NAMING_NAME_MAX (NAME_MAX - 1 - (sizeof NAMING_TEMPORARY_INFIX - 1) - NAMING_TEMPORARY_RANDOM)

/* Is this base name one of thumbwatch's own temporaries? */
bool naming_is_own_temporary(const char *name);

/* Writes the temporary of name with the random bytes rnd (6 of them) into
 * ret, which holds NAME_MAX + 1 bytes. Returns 0, or -ENAMETOOLONG when name
 * is longer than NAMING_NAME_MAX. */
int naming_temporary(const char *name, const unsigned char *rnd, char *ret);

/* Expands a template for a source base name and a size. A result longer
 * than NAMING_NAME_MAX is shortened: as much of it as fits (cut at a UTF-8
 * character boundary), "~", 8 hex digits of a hash of the full result, and
 * its extension; so it is still unique and the same every time. On success
 * the caller owns *ret. Returns -EINVAL for a bad template, -ENOMEM. */
int naming_expand(const char *tmpl, const char *name, unsigned width, unsigned height, char **ret);

/* As naming_expand(), but {ext} is ext (with its dot) instead of the source's,
 * for thumbnails written in another format. ext NULL: the source's, followed
 * by image_format_same_suffix() of it (".heic" is ".heic.jpg"). */
int naming_expand_ext(const char *tmpl, const char *name, const char *ext, unsigned width, unsigned height,
                      char **ret);

/* Is path equal to root, or inside it? Both absolute, no trailing slash. */
bool naming_path_is_under(const char *path, const char *root);

/* The part of path below root, a pointer into path: "" for root itself, "a/b"
 * for ROOT/a/b. path must be naming_path_is_under() root. */
const char *naming_path_below(const char *path, const char *root);

/* Lexically normalizes an absolute path: no "//", ".", ".." (above the root
 * it stays at the root) or trailing '/'. Returns 0 and the caller owns *ret,
 * -EINVAL for a relative path, or -ENOMEM. */
int naming_normalize_path(const char *path, char **ret);
