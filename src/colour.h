/* colour.h - pixels from an embedded ICC profile to sRGB, with lcms2. A
 * cache holds one lcms2 transform per distinct profile (keyed by its bytes),
 * shared by every thread; it knows nothing of GraphicsMagick or of files. No
 * logging: a profile that cannot be used comes back as a reason.
 *
 * Every function is thread-safe. A transform is created once, under the
 * cache's lock, with cmsFLAGS_NOCACHE (so one transform may convert on many
 * threads at once), and is reference-counted: a transform evicted from a
 * full cache lives until the last thread converting with it lets it go. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The colour space of a profile's device side: the samples a transform
 * takes, one uint16_t each (0 to 65535; CMYK: 65535 is full ink). */
typedef enum ColourInput {
        COLOUR_INPUT_GREY,              /* 1 sample a pixel */
        COLOUR_INPUT_RGB,               /* 3: R, G, B */
        COLOUR_INPUT_CMYK,              /* 4: C, M, Y, K */
} ColourInput;

/* The most transforms a cache holds by default. */
#define COLOUR_CACHE_SIZE 16

typedef struct ColourCache ColourCache;
typedef struct ColourTransform ColourTransform;

/* A cache of at most capacity (>= 1) transforms to sRGB. Returns 0,
 * -EINVAL or -ENOMEM. */
int colour_cache_new(size_t capacity, ColourCache **ret);

/* Frees the cache and its references to its transforms (each goes with
 * its last reference). NULL-safe; returns NULL. */
ColourCache *colour_cache_free(ColourCache *c);

/* The transform from the profile icc (len bytes; borrowed, copied when
 * cached) to sRGB, made at the first call with these bytes and cached.
 * When the cache is full, the one used least recently goes. On success
 * *ret is a reference the caller lets go with colour_transform_unref().
 * Returns 0, -ENOMEM, or -EINVAL (a profile lcms2 cannot read, or cannot
 * make a transform to sRGB from: not an input profile, a device link, a
 * colour space other than grey, RGB or CMYK) with *reterr_reason set
 * (caller frees). A profile that failed is remembered too, so it costs its
 * parse once. */
int colour_cache_get(ColourCache *c, const void *icc, size_t len, ColourTransform **ret, char **reterr_reason);

/* An ICC profile for a HEIF or AVIF image's nclx colour description
 * (ISO/IEC 23091-2 code points, as libheif gives them): an RGB matrix
 * profile with the primaries' chromaticities, their white point and the
 * transfer's curve, for colour_cache_get() as any embedded profile.
 *
 * Primaries: 1 (BT.709, sRGB's), 4, 5, 6, 7, 8, 9 (BT.2020), 11 (DCI-P3),
 * 12 (Display P3) and 22; 2 (unspecified) is taken as 1. Transfer: 13
 * (sRGB), 8 (linear), 4 (gamma 2.2), 5 (gamma 2.8), and 1, 6, 14, 15 (the
 * BT.709 family), taken as sRGB's curve as 2 (unspecified) is: their
 * camera curve's inverse lifts the shadows of what encoders tag so
 * (docs/colour.md says why). The matrix and the range are the YUV to RGB
 * conversion's, done by libheif: they do not matter here.
 *
 * Returns 0 with *ret_icc NULL when the description is sRGB's already
 * (nothing to convert), or 0 with *ret_icc and *ret_len set to a profile
 * the cache owns (made once for each distinct description; valid until
 * colour_cache_free()); -ENOTSUP with *reterr_reason set for HDR (16 PQ,
 * 18 HLG) and code points not listed, or -ENOMEM. */
int colour_cache_nclx_profile(ColourCache *c, unsigned primaries, unsigned transfer, const void **ret_icc,
                              size_t *ret_len, char **reterr_reason);

/* How many transforms (and failed profiles) the cache holds now. */
size_t colour_cache_size(ColourCache *c);

/* How many lcms2 transforms the cache has made since it was made: a
 * profile it holds costs none. */
uint64_t colour_cache_made(ColourCache *c);

/* Takes one more reference (for a caller that keeps it); returns t. */
ColourTransform *colour_transform_ref(ColourTransform *t);

/* Lets a reference go. NULL-safe; returns NULL. */
ColourTransform *colour_transform_unref(ColourTransform *t);

/* The samples t takes a pixel. */
ColourInput colour_transform_input(const ColourTransform *t);

/* Converts n pixels: in holds n x (1, 3 or 4, by colour_transform_input())
 * samples, out receives n x 3 (R, G, B, 0 to 65535, sRGB). Alpha is not
 * the transform's business: the caller keeps it. in and out must not
 * overlap. May run on many threads at once with one t. */
void colour_transform_apply(const ColourTransform *t, const uint16_t *in, uint16_t *out, size_t n);
