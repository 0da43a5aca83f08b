/* naming.c - file-name rules and the output name template. */
#include "build-config.h"

#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "image-format.h"
#include "macro.h"
#include "naming.h"

const char *naming_extension(const char *name) {
        const char *dot = strrchr(name, '.');

        /* Leading dots belong to the stem: ".jpg" is a hidden file with no extension. */
        if (!dot || strspn(name, ".") > (size_t) (dot - name))
                return name + strlen(name);
        return dot;
}

bool naming_is_image(const char *name) {
        return image_format_from_extension(naming_extension(name)) != NULL;
}

static bool has_suffix(const char *s, const char *suffix) {
        size_t ls = strlen(s), lx = strlen(suffix);
        return ls >= lx && strcasecmp(s + ls - lx, suffix) == 0;
}

bool naming_is_temporary(const char *name) {
        size_t len = strlen(name);

        if (name[0] == '~' || strcmp(name, ".DS_Store") == 0 || strncmp(name, "._", 2) == 0)
                return true;
        if (has_suffix(name, ".part") || has_suffix(name, ".crdownload") || has_suffix(name, ".tmp"))
                return true;
        /* rsync writes ".photo.jpg.Ab3xZ9" and renames it to "photo.jpg" when complete. */
        if (name[0] == '.' && len >= 9 && name[len - 7] == '.') {
                const char *suffix = name + len - 6;
                return strspn(suffix, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") == 6;
        }
        return false;
}

static const char temporary_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

bool naming_is_own_temporary(const char *name) {
        size_t len = strlen(name), infix = sizeof NAMING_TEMPORARY_INFIX - 1;
        const char *tail;

        if (name[0] != '.' || len < 2 + infix + NAMING_TEMPORARY_RANDOM)
                return false;
        tail = name + len - NAMING_TEMPORARY_RANDOM;
        return strncmp(tail - infix, NAMING_TEMPORARY_INFIX, infix) == 0 &&
               strspn(tail, temporary_chars) == NAMING_TEMPORARY_RANDOM;
}

int naming_temporary(const char *name, const unsigned char *rnd, char *ret) {
        char suffix[NAMING_TEMPORARY_RANDOM + 1];

        if (strlen(name) > NAMING_NAME_MAX)
                return -ENAMETOOLONG;
        for (size_t i = 0; i < NAMING_TEMPORARY_RANDOM; i++)
                suffix[i] = temporary_chars[rnd[i] % (sizeof temporary_chars - 1)];
        suffix[NAMING_TEMPORARY_RANDOM] = '\0';
        (void) snprintf(ret, NAME_MAX + 1, ".%s" NAMING_TEMPORARY_INFIX "%s", name, suffix);
        return 0;
}

bool naming_matches_any(const char *name, char *const *globs, size_t n_globs) {
        for (size_t i = 0; i < n_globs; i++)
                if (fnmatch(globs[i], name, FNM_PERIOD) == 0)
                        return true;
        return false;
}

typedef enum Token {
        TOKEN_STEM,
        TOKEN_EXT,
        TOKEN_NAME,
        TOKEN_SIZE,
        TOKEN_WIDTH,
        TOKEN_HEIGHT,
        _TOKEN_MAX,
        _TOKEN_INVALID = -1,
} Token;

static const char *const token_names[_TOKEN_MAX] = {
        [TOKEN_STEM] = "{stem}", [TOKEN_EXT] = "{ext}", [TOKEN_NAME] = "{name}",
        [TOKEN_SIZE] = "{size}", [TOKEN_WIDTH] = "{width}", [TOKEN_HEIGHT] = "{height}",
};

/* The token at s (which starts with '{'), and its length. */
static Token token_at(const char *s, size_t *ret_len) {
        for (int t = 0; t < _TOKEN_MAX; t++) {
                size_t l = strlen(token_names[t]);
                if (strncmp(s, token_names[t], l) == 0) {
                        *ret_len = l;
                        return (Token) t;
                }
        }
        return _TOKEN_INVALID;
}

int naming_check_template(const char *tmpl, bool several_sizes, const char **reterr_reason) {
        bool seen[_TOKEN_MAX] = {};

        if (tmpl[0] == '\0') {
                *reterr_reason = "the name template is empty";
                return -EINVAL;
        }
        if (strchr(tmpl, '/')) {
                *reterr_reason = "the name template must not contain '/'";
                return -EINVAL;
        }
        for (const char *p = tmpl; *p; p++) {
                size_t l;
                Token t;

                if (*p == '}') {
                        *reterr_reason = "unmatched '}' in the name template";
                        return -EINVAL;
                }
                if (*p != '{')
                        continue;
                t = token_at(p, &l);
                if (t == _TOKEN_INVALID) {
                        *reterr_reason = "unknown token in the name template (known: {stem} {ext} {name} {size} {width} {height})";
                        return -EINVAL;
                }
                seen[t] = true;
                p += l - 1;
        }
        if (!seen[TOKEN_STEM] && !seen[TOKEN_NAME]) {
                *reterr_reason = "the name template must contain {stem} or {name}, or every file would get the same thumbnail";
                return -EINVAL;
        }
        if (several_sizes && !seen[TOKEN_SIZE] && !seen[TOKEN_WIDTH] && !seen[TOKEN_HEIGHT]) {
                *reterr_reason = "with several sizes the name template must contain {size}, {width} or {height}";
                return -EINVAL;
        }
        return 0;
}

int naming_expand(const char *tmpl, const char *name, unsigned width, unsigned height, char **ret) {
        return naming_expand_ext(tmpl, name, NULL, width, height, ret);
}

int naming_expand_ext(const char *tmpl, const char *name, const char *ext_override, unsigned width, unsigned height,
                      char **ret) {
        const char *ext = naming_extension(name);
        size_t stem_len = (size_t) (ext - name);
        char *buf = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        for (const char *p = tmpl; *p; p++) {
                size_t l;
                Token t;

                if (*p != '{') {
                        (void) fputc(*p, f);
                        continue;
                }
                t = token_at(p, &l);
                switch (t) {
                case TOKEN_STEM:
                        (void) fwrite(name, 1, stem_len, f);
                        break;
                case TOKEN_EXT:
                        /* format = same writes HEIC, AVIF, JPEG XL and RAW sources' thumbnails as
                         * JPEG: "a.heic" gives "a_thumbnail.heic.jpg", distinct from a.jpg's. */
                        if (ext_override)
                                (void) fputs(ext_override, f);
                        else {
                                (void) fputs(ext, f);
                                (void) fputs(image_format_same_suffix(ext), f);
                        }
                        break;
                case TOKEN_NAME:
                        (void) fputs(name, f);
                        break;
                case TOKEN_SIZE:
                        (void) fprintf(f, "%ux%u", width, height);
                        break;
                case TOKEN_WIDTH:
                        (void) fprintf(f, "%u", width);
                        break;
                case TOKEN_HEIGHT:
                        (void) fprintf(f, "%u", height);
                        break;
                default:
                        (void) fclose(f);
                        free(buf);
                        return -EINVAL;
                }
                p += l - 1;
        }
        if (fclose(f) != 0) {
                free(buf);
                return -ENOMEM;
        }
        if (size > NAMING_NAME_MAX) {
                const char *tail = naming_extension(buf);
                size_t ext_len = strlen(tail), keep;
                uint32_t h = 2166136261U;       /* FNV-1a of the full name */
                char *shorter;

                for (const char *c = buf; *c; c++)
                        h = (h ^ (unsigned char) *c) * 16777619U;
                if (ext_len > 32) {             /* an "extension" that long is part of the name */
                        tail = buf + size;
                        ext_len = 0;
                }
                keep = NAMING_NAME_MAX - 9 - ext_len;
                while (keep > 0 && ((unsigned char) buf[keep] & 0xc0) == 0x80)
                        keep--;                 /* not inside a UTF-8 sequence */
                if (asprintf(&shorter, "%.*s~%08x%s", (int) keep, buf, h, tail) < 0) {
                        free(buf);
                        return -ENOMEM;
                }
                free(buf);
                buf = shorter;
        }
        *ret = buf;
        return 0;
}

bool naming_path_is_under(const char *path, const char *root) {
        size_t l = strlen(root);

        if (l == 1 && root[0] == '/')
                return path[0] == '/';
        return strncmp(path, root, l) == 0 && (path[l] == '\0' || path[l] == '/');
}

const char *naming_path_below(const char *path, const char *root) {
        size_t l = strlen(root);

        if (l == 1 && root[0] == '/')
                return path + 1;
        return path[l] == '/' ? path + l + 1 : path + l;
}

int naming_normalize_path(const char *path, char **ret) {
        size_t len = strlen(path), n = 0;
        char *out;

        if (path[0] != '/')
                return -EINVAL;
        out = malloc(len + 2);
        if (!out)
                return -ENOMEM;
        for (const char *p = path; *p;) {
                const char *seg;
                size_t l;

                while (*p == '/')
                        p++;
                seg = p;
                while (*p && *p != '/')
                        p++;
                l = (size_t) (p - seg);
                if (l == 0 || (l == 1 && seg[0] == '.'))
                        continue;
                if (l == 2 && seg[0] == '.' && seg[1] == '.') {
                        while (n > 0 && out[n - 1] != '/')
                                n--;
                        if (n > 0)
                                n--;
                        continue;
                }
                out[n++] = '/';
                memcpy(out + n, seg, l);
                n += l;
        }
        if (n == 0)
                out[n++] = '/';
        out[n] = '\0';
        *ret = out;
        return 0;
}
