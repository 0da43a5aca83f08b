/* colour.c - one lcms2 transform per distinct ICC profile, to sRGB, cached.
 *
 * Threads: any thread may call any function. The cache's entries, its
 * clock and its counters are guarded by its lock; lcms2 profiles and
 * transforms are made only under it, in the cache's own lcms2 context,
 * whose error handler writes to a buffer of the calling thread. A
 * transform is used outside the lock: made with cmsFLAGS_NOCACHE, lcms2
 * keeps no state in it between calls, so cmsDoTransform() may run on many
 * threads with it at once. Its reference count is atomic; the cache holds
 * one reference while it holds the entry.
 *
 * Why a cache: making a transform (parsing the profile, optimizing the
 * pipeline) costs far more than converting a thumbnail's pixels with it
 * (docs/colour.md has the numbers), and a tree of photos holds few
 * distinct profiles. */
#include "build-config.h"

#include <errno.h>
#include <lcms2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "colour.h"
#include "macro.h"
#include "message.h"

struct ColourTransform {
        atomic_uint n_ref;
        cmsHTRANSFORM transform;        /* owned */
        ColourInput input;
};

typedef struct Entry {
        uint64_t hash;                  /* of bytes, FNV-1a */
        size_t len;
        void *bytes;                    /* owned: the profile, compared in full on a hash match */
        ColourTransform *transform;     /* one reference owned; NULL when the profile failed */
        char *reason;                   /* owned: why it failed, when it did */
        uint64_t used;                  /* the cache's clock when it was last asked for */
} Entry;

/* nclx colour primaries (ISO/IEC 23091-2, table 2): x, y of red, green,
 * blue and white. */
typedef struct NclxPrimaries {
        unsigned code;
        const char *name;
        double rx, ry, gx, gy, bx, by, wx, wy;
} NclxPrimaries;

#define D65 0.3127, 0.3290
#define ILLUMINANT_C 0.310, 0.316

static const NclxPrimaries nclx_primaries[] = {
        { 1, "BT.709", 0.640, 0.330, 0.300, 0.600, 0.150, 0.060, D65 },
        { 4, "BT.470 System M", 0.670, 0.330, 0.210, 0.710, 0.140, 0.080, ILLUMINANT_C },
        { 5, "BT.470 System B, G", 0.640, 0.330, 0.290, 0.600, 0.150, 0.060, D65 },
        { 6, "BT.601", 0.630, 0.340, 0.310, 0.595, 0.155, 0.070, D65 },
        { 7, "SMPTE 240M", 0.630, 0.340, 0.310, 0.595, 0.155, 0.070, D65 },
        { 8, "generic film", 0.681, 0.319, 0.243, 0.692, 0.145, 0.049, ILLUMINANT_C },
        { 9, "BT.2020", 0.708, 0.292, 0.170, 0.797, 0.131, 0.046, D65 },
        { 11, "DCI-P3", 0.680, 0.320, 0.265, 0.690, 0.150, 0.060, 0.314, 0.351 },
        { 12, "Display P3", 0.680, 0.320, 0.265, 0.690, 0.150, 0.060, D65 },
        { 22, "EBU Tech. 3213-E", 0.630, 0.340, 0.295, 0.605, 0.155, 0.077, D65 },
};

/* The curves the transfer characteristics come to. */
typedef enum NclxCurve {
        NCLX_CURVE_SRGB,
        NCLX_CURVE_LINEAR,
        NCLX_CURVE_GAMMA_2_2,
        NCLX_CURVE_GAMMA_2_8,
        _NCLX_CURVE_MAX,
} NclxCurve;

static const char *const nclx_curve_names[_NCLX_CURVE_MAX] = {
        [NCLX_CURVE_SRGB] = "sRGB curve",
        [NCLX_CURVE_LINEAR] = "linear",
        [NCLX_CURVE_GAMMA_2_2] = "gamma 2.2",
        [NCLX_CURVE_GAMMA_2_8] = "gamma 2.8",
};

/* A profile made for an nclx description; bytes NULL: not made yet. */
typedef struct NclxProfile {
        void *bytes;                    /* owned */
        size_t len;
} NclxProfile;

#define N_NCLX (ELEMENTSOF(nclx_primaries) * _NCLX_CURVE_MAX)

struct ColourCache {
        pthread_mutex_t lock;
        cmsContext context;             /* owned; immutable after colour_cache_new() */
        cmsHPROFILE srgb;               /* owned; used under lock only */
        size_t capacity;                /* immutable */
        size_t n;                       /* guarded by lock */
        uint64_t clock;                 /* guarded by lock */
        uint64_t made;                  /* guarded by lock */
        NclxProfile nclx[N_NCLX];       /* guarded by lock: by primaries' index, then curve */
        Entry entries[];                /* guarded by lock */
};

/* lcms2's last error on this thread, for the reason of a failed profile. */
static __thread char last_error[256];

static void error_handler(cmsContext context, cmsUInt32Number code, const char *text) {
        (void) context;
        (void) code;
        (void) snprintf(last_error, sizeof last_error, "%s", text ? text : "unknown error");
}

static uint64_t hash_bytes(const void *p, size_t len) {
        const unsigned char *b = p;
        uint64_t h = 14695981039346656037ULL;   /* FNV-1a */

        for (size_t i = 0; i < len; i++)
                h = (h ^ b[i]) * 1099511628211ULL;
        return h;
}

int colour_cache_new(size_t capacity, ColourCache **ret) {
        ColourCache *c;

        if (capacity == 0)
                return -EINVAL;
        c = calloc(1, sizeof *c + capacity * sizeof c->entries[0]);
        if (!c)
                return -ENOMEM;
        c->capacity = capacity;
        c->context = cmsCreateContext(NULL, NULL);
        if (!c->context) {
                free(c);
                return -ENOMEM;
        }
        cmsSetLogErrorHandlerTHR(c->context, error_handler);
        c->srgb = cmsCreate_sRGBProfileTHR(c->context);
        if (!c->srgb) {
                cmsDeleteContext(c->context);
                free(c);
                return -ENOMEM;
        }
        (void) pthread_mutex_init(&c->lock, NULL);
        *ret = c;
        return 0;
}

static void entry_done(Entry *e) {
        free(e->bytes);
        free(e->reason);
        colour_transform_unref(e->transform);
        *e = (Entry) {};
}

ColourCache *colour_cache_free(ColourCache *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n; i++)
                entry_done(&c->entries[i]);
        for (size_t i = 0; i < N_NCLX; i++)
                free(c->nclx[i].bytes);
        cmsCloseProfile(c->srgb);
        cmsDeleteContext(c->context);
        (void) pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
}

ColourTransform *colour_transform_ref(ColourTransform *t) {
        atomic_fetch_add(&t->n_ref, 1);
        return t;
}

ColourTransform *colour_transform_unref(ColourTransform *t) {
        if (t && atomic_fetch_sub(&t->n_ref, 1) == 1) {
                cmsDeleteTransform(t->transform);
                free(t);
        }
        return NULL;
}

ColourInput colour_transform_input(const ColourTransform *t) {
        return t->input;
}

void colour_transform_apply(const ColourTransform *t, const uint16_t *in, uint16_t *out, size_t n) {
        /* cmsDoTransform() counts pixels in 32 bits. */
        while (n > 0) {
                size_t k = n > UINT32_MAX ? UINT32_MAX : n;
                size_t samples = t->input == COLOUR_INPUT_GREY ? 1 : t->input == COLOUR_INPUT_RGB ? 3 : 4;

                cmsDoTransform(t->transform, in, out, (cmsUInt32Number) k);
                in += k * samples;
                out += k * 3;
                n -= k;
        }
}

static const char *class_name(cmsProfileClassSignature s) {
        switch (s) {
        case cmsSigLinkClass:
                return "a device link";
        case cmsSigAbstractClass:
                return "an abstract profile";
        case cmsSigNamedColorClass:
                return "a named colour profile";
        case cmsSigColorSpaceClass:
        case cmsSigInputClass:
        case cmsSigDisplayClass:
        case cmsSigOutputClass:
        default:
                return NULL;
        }
}

/* A transform from icc to sRGB, made under c->lock. */
static int make_transform(ColourCache *c, const void *icc, size_t len, ColourTransform **ret,
                          char **reterr_reason) {
        cmsHPROFILE profile;
        cmsColorSpaceSignature space;
        cmsUInt32Number format, intent;
        const char *bad_class;
        ColourInput input;
        ColourTransform *t;

        if (len < 132 || len > UINT32_MAX)      /* the header and the tag count */
                return message_set(reterr_reason, -EINVAL, "ICC profile of %zu bytes is not a profile", len);
        last_error[0] = '\0';
        profile = cmsOpenProfileFromMemTHR(c->context, icc, (cmsUInt32Number) len);
        if (!profile)
                return message_set(reterr_reason, -EINVAL, "ICC profile cannot be read: %s",
                                   last_error[0] ? last_error : "not a profile");
        bad_class = class_name(cmsGetDeviceClass(profile));
        space = cmsGetColorSpace(profile);
        if (bad_class) {
                cmsCloseProfile(profile);
                return message_set(reterr_reason, -EINVAL, "ICC profile is %s, not an image's profile", bad_class);
        }
        switch (space) {
        case cmsSigGrayData:
                input = COLOUR_INPUT_GREY;
                format = TYPE_GRAY_16;
                break;
        case cmsSigRgbData:
                input = COLOUR_INPUT_RGB;
                format = TYPE_RGB_16;
                break;
        case cmsSigCmykData:
                input = COLOUR_INPUT_CMYK;
                format = TYPE_CMYK_16;
                break;
        default:
                cmsCloseProfile(profile);
                return message_set(reterr_reason, -EINVAL,
                                   "ICC profile is of colour space '%c%c%c%c', not grey, RGB or CMYK",
                                   (char) (space >> 24), (char) (space >> 16), (char) (space >> 8), (char) space);
        }
        /* Perceptual where the profile has it (CMYK and other LUT profiles:
         * what a print workflow meant for viewing); a matrix profile (P3,
         * Adobe RGB) maps the same either way, relative colorimetric. */
        intent = cmsIsIntentSupported(profile, INTENT_PERCEPTUAL, LCMS_USED_AS_INPUT) ? INTENT_PERCEPTUAL
                                                                                       : INTENT_RELATIVE_COLORIMETRIC;
        t = calloc(1, sizeof *t);
        if (!t) {
                cmsCloseProfile(profile);
                return -ENOMEM;
        }
        last_error[0] = '\0';
        t->transform = cmsCreateTransformTHR(c->context, profile, format, c->srgb, TYPE_RGB_16, intent,
                                             cmsFLAGS_NOCACHE | cmsFLAGS_BLACKPOINTCOMPENSATION);
        cmsCloseProfile(profile);
        if (!t->transform) {
                free(t);
                return message_set(reterr_reason, -EINVAL, "ICC profile cannot be converted to sRGB: %s",
                                   last_error[0] ? last_error : "lcms2 made no transform");
        }
        t->input = input;
        atomic_init(&t->n_ref, 1);
        c->made++;
        *ret = t;
        return 0;
}

/* The entry for the new profile: a free one, or the one used least recently. */
static Entry *entry_for_new(ColourCache *c) {
        Entry *oldest;

        if (c->n < c->capacity)
                return &c->entries[c->n++];
        oldest = &c->entries[0];
        for (size_t i = 1; i < c->n; i++)
                if (c->entries[i].used < oldest->used)
                        oldest = &c->entries[i];
        entry_done(oldest);
        return oldest;
}

int colour_cache_get(ColourCache *c, const void *icc, size_t len, ColourTransform **ret, char **reterr_reason) {
        uint64_t hash = hash_bytes(icc, len);
        _cleanup_free_ void *bytes = NULL;
        _cleanup_free_ char *reason = NULL;
        ColourTransform *t = NULL;
        Entry *e;
        int r;

        (void) pthread_mutex_lock(&c->lock);
        c->clock++;
        for (size_t i = 0; i < c->n; i++) {
                e = &c->entries[i];
                if (e->hash != hash || e->len != len || memcmp(e->bytes, icc, len) != 0)
                        continue;
                e->used = c->clock;
                /* The entry is the lock's: another thread may evict it as
                 * soon as the lock is let go, so r is taken before. */
                r = e->transform ? 0 : -EINVAL;
                if (e->transform)
                        *ret = colour_transform_ref(e->transform);
                else
                        message_put(reterr_reason, "%s", e->reason);
                (void) pthread_mutex_unlock(&c->lock);
                return r;
        }
        r = make_transform(c, icc, len, &t, &reason);
        bytes = malloc(len > 0 ? len : 1);
        if (r == -ENOMEM || !bytes || (r < 0 && !reason)) {
                /* Out of memory: nothing to remember. */
                (void) pthread_mutex_unlock(&c->lock);
                colour_transform_unref(t);
                return -ENOMEM;
        }
        memcpy(bytes, icc, len);
        e = entry_for_new(c);
        *e = (Entry) { .hash = hash, .len = len, .bytes = TAKE_PTR(bytes), .used = c->clock };
        if (r < 0) {
                e->reason = TAKE_PTR(reason);
                message_put(reterr_reason, "%s", e->reason);
        } else {
                e->transform = t;
                *ret = colour_transform_ref(t);
        }
        (void) pthread_mutex_unlock(&c->lock);
        return r;
}

/* The profile of primaries p and curve k, made under c->lock. */
static int make_nclx_profile(ColourCache *c, const NclxPrimaries *p, NclxCurve k, NclxProfile *ret) {
        static const cmsFloat64Number srgb[5] = { 2.4, 1.0 / 1.055, 0.055 / 1.055, 1.0 / 12.92, 0.04045 };
        /* A fixed creation date (2024-01-01): the same description makes the
         * same bytes in every run, so kept thumbnails do not differ by when
         * the daemon started. */
        static const uint8_t date[12] = { 0x07, 0xe8, 0, 1, 0, 1 };
        cmsCIExyY white = { p->wx, p->wy, 1.0 };
        cmsCIExyYTRIPLE primaries = { { p->rx, p->ry, 1.0 }, { p->gx, p->gy, 1.0 }, { p->bx, p->by, 1.0 } };
        cmsToneCurve *curve = NULL, *curves[3];
        cmsHPROFILE profile = NULL;
        cmsMLU *description = NULL;
        cmsUInt32Number len = 0;
        char name[128];
        void *bytes = NULL;
        bool good;

        switch (k) {
        case NCLX_CURVE_SRGB:
                curve = cmsBuildParametricToneCurve(c->context, 4, srgb);
                break;
        case NCLX_CURVE_LINEAR:
                curve = cmsBuildGamma(c->context, 1.0);
                break;
        case NCLX_CURVE_GAMMA_2_2:
                curve = cmsBuildGamma(c->context, 2.2);
                break;
        case NCLX_CURVE_GAMMA_2_8:
                curve = cmsBuildGamma(c->context, 2.8);
                break;
        case _NCLX_CURVE_MAX:
                break;
        }
        curves[0] = curves[1] = curves[2] = curve;
        (void) snprintf(name, sizeof name, "%s, %s (from nclx)", p->name, nclx_curve_names[k]);
        good = curve && (profile = cmsCreateRGBProfileTHR(c->context, &white, &primaries, curves)) &&
               (description = cmsMLUalloc(c->context, 1)) && cmsMLUsetASCII(description, "en", "US", name) &&
               cmsWriteTag(profile, cmsSigProfileDescriptionTag, description) &&
               cmsSaveProfileToMem(profile, NULL, &len) && len >= 132 && (bytes = malloc(len)) &&
               cmsSaveProfileToMem(profile, bytes, &len);
        if (description)
                cmsMLUfree(description);
        if (profile)
                cmsCloseProfile(profile);
        if (curve)
                cmsFreeToneCurve(curve);
        if (!good) {
                free(bytes);
                return -ENOMEM;
        }
        memcpy((uint8_t *) bytes + 24, date, sizeof date);
        *ret = (NclxProfile) { .bytes = bytes, .len = len };
        return 0;
}

int colour_cache_nclx_profile(ColourCache *c, unsigned primaries, unsigned transfer, const void **ret_icc,
                              size_t *ret_len, char **reterr_reason) {
        const NclxPrimaries *p = NULL;
        NclxProfile *e;
        NclxCurve k;
        size_t i;
        int r = 0;

        switch (transfer) {
        case 1:         /* BT.709 */
        case 2:         /* unspecified */
        case 6:         /* BT.601 */
        case 13:        /* sRGB */
        case 14:        /* BT.2020, 10 bits */
        case 15:        /* BT.2020, 12 bits */
                k = NCLX_CURVE_SRGB;
                break;
        case 4:
                k = NCLX_CURVE_GAMMA_2_2;
                break;
        case 5:
                k = NCLX_CURVE_GAMMA_2_8;
                break;
        case 8:
                k = NCLX_CURVE_LINEAR;
                break;
        case 16:
                return message_set(reterr_reason, -ENOTSUP,
                                   "nclx transfer characteristics 16 (PQ) is HDR, not converted");
        case 18:
                return message_set(reterr_reason, -ENOTSUP,
                                   "nclx transfer characteristics 18 (HLG) is HDR, not converted");
        default:
                return message_set(reterr_reason, -ENOTSUP, "nclx transfer characteristics %u not supported", transfer);
        }
        if (primaries == 2)     /* unspecified */
                primaries = 1;
        for (i = 0; i < ELEMENTSOF(nclx_primaries); i++)
                if (nclx_primaries[i].code == primaries) {
                        p = &nclx_primaries[i];
                        break;
                }
        if (!p)
                return message_set(reterr_reason, -ENOTSUP, "nclx colour primaries %u not supported", primaries);
        if (primaries == 1 && k == NCLX_CURVE_SRGB) {
                *ret_icc = NULL;
                *ret_len = 0;
                return 0;
        }
        (void) pthread_mutex_lock(&c->lock);
        e = &c->nclx[i * _NCLX_CURVE_MAX + k];
        if (!e->bytes)
                r = make_nclx_profile(c, p, k, e);
        if (r >= 0) {
                /* Never evicted nor changed once made: the caller may read it without the lock. */
                *ret_icc = e->bytes;
                *ret_len = e->len;
        }
        (void) pthread_mutex_unlock(&c->lock);
        if (r < 0)
                return message_set(reterr_reason, r, "out of memory for an ICC profile of nclx %u/%u", primaries,
                                   transfer);
        return 0;
}

size_t colour_cache_size(ColourCache *c) {
        size_t n;

        (void) pthread_mutex_lock(&c->lock);
        n = c->n;
        (void) pthread_mutex_unlock(&c->lock);
        return n;
}

uint64_t colour_cache_made(ColourCache *c) {
        uint64_t n;

        (void) pthread_mutex_lock(&c->lock);
        n = c->made;
        (void) pthread_mutex_unlock(&c->lock);
        return n;
}
