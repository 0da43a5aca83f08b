/* test-colour.c - the cache of transforms to sRGB: one per distinct
 * profile (by its bytes), least recently used evicted, shared by threads;
 * a profile that cannot be used is reported; the pixels come out right;
 * an nclx colour description gets a profile of its own, unless it is sRGB's
 * (none) or HDR or unknown (not converted, said why). */
#include "build-config.h"

#include <errno.h>
#include <lcms2.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "colour.h"
#include "macro.h"
#include "tap.h"

typedef struct Profile {
        void *bytes;
        size_t len;
} Profile;

static Profile save(cmsHPROFILE p) {
        cmsUInt32Number len = 0;
        Profile r = {};

        if (p && cmsSaveProfileToMem(p, NULL, &len) && (r.bytes = malloc(len)) &&
            cmsSaveProfileToMem(p, r.bytes, &len))
                r.len = len;
        if (p)
                cmsCloseProfile(p);
        return r;
}

/* An RGB profile of D65 white, the sRGB curve and these red, green, blue. */
static Profile rgb(double rx, double ry, double gx, double gy, double bx, double by) {
        static const cmsFloat64Number params[5] = { 2.4, 1.0 / 1.055, 0.055 / 1.055, 1.0 / 12.92, 0.04045 };
        cmsCIExyY white = { 0.3127, 0.3290, 1.0 };
        cmsCIExyYTRIPLE primaries = { { rx, ry, 1.0 }, { gx, gy, 1.0 }, { bx, by, 1.0 } };
        cmsToneCurve *c = cmsBuildParametricToneCurve(NULL, 4, params), *curves[3] = { c, c, c };
        Profile r = save(cmsCreateRGBProfile(&white, &primaries, curves));

        cmsFreeToneCurve(c);
        return r;
}

static Profile p3(void) {
        return rgb(0.680, 0.320, 0.265, 0.690, 0.150, 0.060);
}

static Profile adobe(void) {
        return rgb(0.640, 0.330, 0.210, 0.710, 0.150, 0.060);
}

static Profile grey(void) {
        cmsToneCurve *c = cmsBuildGamma(NULL, 2.2);
        Profile r = save(cmsCreateGrayProfile(cmsD50_xyY(), c));

        cmsFreeToneCurve(c);
        return r;
}

static bool near(unsigned a, unsigned b, unsigned tolerance) {
        return a > b ? a - b <= tolerance : b - a <= tolerance;
}

static void test_new(void) {
        ColourCache *c = NULL;

        is_int(colour_cache_new(0, &c), -EINVAL, "a cache of no transforms is refused");
        ok(colour_cache_free(NULL) == NULL, "colour_cache_free(NULL) is NULL");
        ok(colour_transform_unref(NULL) == NULL, "colour_transform_unref(NULL) is NULL");
}

static void test_same_and_distinct(void) {
        Profile a = p3(), b = adobe();
        _cleanup_free_ void *copy = malloc(a.len);
        ColourTransform *t1 = NULL, *t2 = NULL, *t3 = NULL, *t4 = NULL;
        char *why = NULL;
        ColourCache *c = NULL;

        ok(a.len > 0 && b.len > 0 && copy, "test profiles made");
        memcpy(copy, a.bytes, a.len);
        is_int(colour_cache_new(4, &c), 0, "cache of 4");
        is_int(colour_cache_get(c, a.bytes, a.len, &t1, &why), 0, "P3: a transform");
        is_int(colour_cache_get(c, a.bytes, a.len, &t2, &why), 0, "P3 again: a transform");
        ok(t1 == t2, "the same profile gives the same transform");
        is_int(colour_cache_get(c, copy, a.len, &t3, &why), 0, "P3's bytes elsewhere");
        ok(t3 == t1, "keyed by the bytes, not the address");
        is_int(colour_cache_made(c), 1, "... one lcms2 transform made for the three");
        is_int(colour_cache_get(c, b.bytes, b.len, &t4, &why), 0, "Adobe RGB: a transform");
        ok(t4 != t1, "a distinct profile gives a distinct transform");
        is_int(colour_cache_made(c), 2, "... two made");
        is_int(colour_cache_size(c), 2, "... two held");
        is_int(colour_transform_input(t1), COLOUR_INPUT_RGB, "P3 takes RGB");
        ok(why == NULL, "no reason on success");

        /* Pixels: P3's white and greys are sRGB's (same white, same curve);
         * P3's pure green is outside sRGB, clipped to sRGB's green; an sRGB
         * green, in P3 numbers, comes back as sRGB's green. */
        uint16_t in[12] = { 65535, 65535, 65535, 32768, 32768, 32768, 0, 65535, 0, 0, 0, 0 }, out[12];

        /* sRGB green in P3: lcms2 itself says what it is. */
        {
                cmsHPROFILE s = cmsCreate_sRGBProfile(), p = cmsOpenProfileFromMem(a.bytes, (cmsUInt32Number) a.len);
                cmsHTRANSFORM x = cmsCreateTransform(s, TYPE_RGB_16, p, TYPE_RGB_16, INTENT_RELATIVE_COLORIMETRIC, 0);
                uint16_t green[3] = { 0, 65535, 0 };

                cmsDoTransform(x, green, in + 9, 1);
                cmsDeleteTransform(x);
                cmsCloseProfile(s);
                cmsCloseProfile(p);
        }
        colour_transform_apply(t1, in, out, 4);
        ok(near(out[0], 65535, 64) && near(out[1], 65535, 64) && near(out[2], 65535, 64), "P3 white is sRGB white");
        ok(near(out[3], 32768, 128) && near(out[4], 32768, 128) && near(out[5], 32768, 128),
           "P3 grey is the same sRGB grey");
        ok(out[6] < 1000 && out[7] > 64000 && out[8] < 1000, "P3's green is clipped to sRGB's");
        /* lcms2's optimized 16-bit transforms are off by up to about 5% of
         * full scale next to 0 (the sRGB curve is steep there): a thumbnail's
         * mean colour difference stays well under 1 (tests/e2e/colour.sh). */
        ok(out[9] < 3500 && out[10] > 64000 && out[11] < 3500, "sRGB green written in P3 comes back sRGB green");
        ok(!(near(in[9], out[9], 300) && near(in[10], out[10], 300) && near(in[11], out[11], 300)),
           "... and its P3 numbers were not sRGB's (the conversion does something)");

        t1 = colour_transform_unref(t1);
        colour_transform_unref(t2);
        colour_transform_unref(t3);
        colour_transform_unref(t4);
        c = colour_cache_free(c);
        free(a.bytes);
        free(b.bytes);
}

static void test_eviction(void) {
        Profile a = p3(), b = adobe(), g = grey();
        ColourTransform *ta = NULL, *tb = NULL, *tg = NULL, *t = NULL;
        ColourCache *c = NULL;
        char *why = NULL;
        uint16_t in[3] = { 65535, 65535, 65535 }, out[3];

        is_int(colour_cache_new(2, &c), 0, "cache of 2");
        is_int(colour_cache_get(c, a.bytes, a.len, &ta, &why), 0, "P3");
        is_int(colour_cache_get(c, b.bytes, b.len, &tb, &why), 0, "Adobe RGB");
        colour_transform_unref(tb);
        /* P3 used again: Adobe RGB is now the least recently used. */
        colour_transform_unref(ta);
        is_int(colour_cache_get(c, a.bytes, a.len, &ta, &why), 0, "P3 again");
        is_int(colour_cache_get(c, g.bytes, g.len, &tg, &why), 0, "grey: a third profile in a cache of 2");
        is_int(colour_transform_input(tg), COLOUR_INPUT_GREY, "grey takes one sample");
        is_int(colour_cache_size(c), 2, "the cache holds 2");
        is_int(colour_cache_made(c), 3, "3 transforms made");
        is_int(colour_cache_get(c, a.bytes, a.len, &t, &why), 0, "P3 once more");
        ok(t == ta, "P3, used recently, stayed");
        colour_transform_unref(t);
        is_int(colour_cache_made(c), 3, "... without being made again");
        is_int(colour_cache_get(c, b.bytes, b.len, &t, &why), 0, "Adobe RGB once more");
        is_int(colour_cache_made(c), 4, "Adobe RGB, least recently used, was evicted: made again");
        colour_transform_unref(t);
        /* The grey transform was evicted now (P3 and Adobe RGB are newer),
         * but this reference keeps it working. */
        colour_transform_apply(tg, in, out, 1);
        ok(near(out[0], 65535, 64) && near(out[1], 65535, 64) && near(out[2], 65535, 64),
           "an evicted transform still converts for whoever holds it (grey white -> sRGB white)");
        colour_transform_unref(tg);
        colour_transform_unref(ta);
        c = colour_cache_free(c);
        free(a.bytes);
        free(b.bytes);
        free(g.bytes);
}

static void test_broken(void) {
        static const char garbage[600] = "not a profile at all";
        ColourCache *c = NULL;
        ColourTransform *t = NULL;
        char *why = NULL, *why2 = NULL;
        Profile a = p3(), lab = save(cmsCreateLab4Profile(NULL)), lab_input;
        cmsHPROFILE l = cmsCreateLab4Profile(NULL);

        cmsSetDeviceClass(l, cmsSigInputClass);
        lab_input = save(l);
        _cleanup_free_ unsigned char *cut = malloc(a.len);

        is_int(colour_cache_new(4, &c), 0, "cache of 4");
        is_int(colour_cache_get(c, garbage, sizeof garbage, &t, &why), -EINVAL, "garbage: -EINVAL");
        ok(why && strstr(why, "ICC profile cannot be read"), "... reported as unreadable");
        if (why)
                printf("#   %s\n", why);
        ok(t == NULL, "... and no transform");
        is_int(colour_cache_get(c, garbage, sizeof garbage, &t, &why2), -EINVAL, "garbage again: -EINVAL");
        is_str(why2, why, "... the same reason, remembered");
        is_int(colour_cache_made(c), 0, "... no transform made");
        free(why);
        free(why2);
        why = why2 = NULL;

        is_int(colour_cache_get(c, garbage, 20, &t, &why), -EINVAL, "20 bytes: -EINVAL");
        ok(why && strstr(why, "20 bytes"), "... too short to be a profile");
        free(why);
        why = NULL;

        /* A real profile cut short: the tags point past its end. */
        memcpy(cut, a.bytes, a.len);
        is_int(colour_cache_get(c, cut, a.len / 2, &t, &why), -EINVAL, "P3 cut in half: -EINVAL");
        ok(why != NULL, "... with a reason");
        if (why)
                printf("#   %s\n", why);
        free(why);
        why = NULL;

        is_int(colour_cache_get(c, lab.bytes, lab.len, &t, &why), -EINVAL, "an abstract profile: -EINVAL");
        ok(why && strstr(why, "an abstract profile, not an image's profile"), "... its class named");
        if (why)
                printf("#   %s\n", why);
        free(why);
        why = NULL;
        is_int(colour_cache_get(c, lab_input.bytes, lab_input.len, &t, &why), -EINVAL, "an input profile of Lab: -EINVAL");
        ok(why && strstr(why, "'Lab ', not grey, RGB or CMYK"), "... its colour space named");
        if (why)
                printf("#   %s\n", why);
        free(why);
        why = NULL;
        c = colour_cache_free(c);
        free(a.bytes);
        free(lab.bytes);
        free(lab_input.bytes);
}

/* ok() with a name made by printf, from values the condition computes. */
#define okf(cond, ...)                                                  \
        do {                                                            \
                bool pass_ = (cond);                                    \
                char name_[256];                                        \
                                                                        \
                (void) snprintf(name_, sizeof name_, __VA_ARGS__);      \
                ok(pass_, name_);                                       \
        } while (0)

/* One pixel (16-bit RGB) through the transform of icc, made by c. */
static bool convert_one(ColourCache *c, const void *icc, size_t len, const uint16_t in[3], uint16_t out[3]) {
        ColourTransform *t = NULL;
        char *why = NULL;

        if (colour_cache_get(c, icc, len, &t, &why) < 0) {
                printf("#   %s\n", why ? why : "no transform");
                free(why);
                return false;
        }
        colour_transform_apply(t, in, out, 1);
        colour_transform_unref(t);
        return true;
}

/* The profile's description, as lcms2 reads it back. */
static bool describes(const void *icc, size_t len, const char *want) {
        cmsHPROFILE p = icc ? cmsOpenProfileFromMem(icc, (cmsUInt32Number) len) : NULL;
        char got[128] = "";

        if (p) {
                (void) cmsGetProfileInfoASCII(p, cmsInfoDescription, "en", "US", got, sizeof got);
                cmsCloseProfile(p);
        }
        printf("#   description: '%s'\n", got);
        return strcmp(got, want) == 0;
}

/* nclx colour descriptions: sRGB's needs nothing; others get a profile,
 * made once, that converts as the ICC profile of the same space does. */
static void test_nclx(void) {
        /* sRGB's descriptions: primaries BT.709 or unspecified, and the sRGB
         * curve, the BT.709 family's (taken as sRGB's) or unspecified. */
        static const unsigned srgb[][2] = { { 1, 13 }, { 2, 13 }, { 1, 2 }, { 2, 2 }, { 1, 1 }, { 1, 6 },
                                            { 1, 14 }, { 1, 15 } };
        ColourCache *c = NULL, *c2 = NULL;
        const void *icc = NULL, *icc2 = NULL, *icc3 = NULL, *dci = NULL;
        size_t len = 0, len2 = 0, len3 = 0, dci_len = 0;
        Profile ref = p3();
        uint16_t out[3], want[3];
        char *why = NULL;
        bool all;

        is_int(colour_cache_new(4, &c), 0, "cache of 4");
        all = true;
        for (size_t i = 0; i < ELEMENTSOF(srgb); i++) {
                icc = (const void *) 1;
                len = 1;
                if (colour_cache_nclx_profile(c, srgb[i][0], srgb[i][1], &icc, &len, &why) != 0 || icc || len) {
                        printf("#   nclx %u/%u is not taken as sRGB\n", srgb[i][0], srgb[i][1]);
                        all = false;
                }
        }
        ok(all, "nclx of sRGB (1 or 2 / 13, 2, 1, 6, 14, 15): no profile, nothing to convert");

        /* Display P3: the same as an ICC profile of P3 (built by the test, as
         * ICC's Display P3 is: P3 primaries, D65, the sRGB curve). */
        is_int(colour_cache_nclx_profile(c, 12, 13, &icc, &len, &why), 0, "nclx 12/13 (Display P3): a profile");
        okf(icc && len >= 132, "... of %zu bytes", len);
        ok(describes(icc, len, "Display P3, sRGB curve (from nclx)"), "... that says what it was made for");
        {
                /* Pure P3 green, and a P3 colour inside sRGB's gamut. */
                static const uint16_t colours[][3] = { { 0, 65535, 0 }, { 45000, 30000, 12000 } };

                for (size_t i = 0; i < ELEMENTSOF(colours); i++) {
                        bool done = convert_one(c, icc, len, colours[i], out) &&
                                    convert_one(c, ref.bytes, ref.len, colours[i], want);

                        okf(done && near(out[0], want[0], 64) && near(out[1], want[1], 64) &&
                                   near(out[2], want[2], 64),
                           "P3 %u,%u,%u: %u,%u,%u in sRGB, as the ICC profile of P3 gives (%u,%u,%u)",
                           colours[i][0], colours[i][1], colours[i][2], out[0], out[1], out[2], want[0], want[1],
                           want[2]);
                }
        }
        {
                /* sRGB's pure green in P3 (lcms2's own sRGB to the test's P3
                 * profile, unoptimized, in floating point) comes back as
                 * sRGB's pure green: 0.05 of full scale next to 0 is the
                 * 16-bit transform's error there (docs/colour.md). */
                cmsHPROFILE from = cmsCreate_sRGBProfile();
                cmsHPROFILE to = cmsOpenProfileFromMem(ref.bytes, (cmsUInt32Number) ref.len);
                cmsHTRANSFORM x = cmsCreateTransform(from, TYPE_RGB_DBL, to, TYPE_RGB_DBL,
                                                     INTENT_RELATIVE_COLORIMETRIC, cmsFLAGS_NOOPTIMIZE);
                double green[3] = { 0, 1, 0 }, in_p3[3] = {};
                uint16_t in[3];

                cmsDoTransform(x, green, in_p3, 1);
                cmsDeleteTransform(x);
                cmsCloseProfile(from);
                cmsCloseProfile(to);
                for (size_t i = 0; i < 3; i++)
                        in[i] = (uint16_t) (in_p3[i] * 65535 + 0.5);
                printf("#   sRGB green in P3: %u,%u,%u\n", in[0], in[1], in[2]);
                ok(in[0] > 20000 && in[2] > 10000, "sRGB green is not P3's green (the test can tell)");
                okf(convert_one(c, icc, len, in, out) && out[0] < 3300 && out[1] > 62000 && out[2] < 3300,
                   "... and through nclx 12/13's profile it is sRGB green again: %u,%u,%u", out[0], out[1], out[2]);
        }

        is_int(colour_cache_nclx_profile(c, 12, 13, &icc2, &len2, &why), 0, "nclx 12/13 again");
        ok(icc2 == icc && len2 == len, "... the same profile, made once");
        is_int(colour_cache_nclx_profile(c, 12, 1, &icc2, &len2, &why), 0, "nclx 12/1 (P3, BT.709 transfer)");
        ok(icc2 == icc, "... the same profile as 12/13: the BT.709 family is taken as the sRGB curve");
        is_int(colour_cache_new(4, &c2), 0, "a second cache");
        is_int(colour_cache_nclx_profile(c2, 12, 13, &icc3, &len3, &why), 0, "... nclx 12/13 there");
        ok(len3 == len && memcmp(icc3, icc, len) == 0, "... byte for byte the same profile (no date of its own)");
        c2 = colour_cache_free(c2);

        is_int(colour_cache_nclx_profile(c, 9, 14, &icc2, &len2, &why), 0, "nclx 9/14 (BT.2020): a profile");
        ok(icc2 && icc2 != icc && describes(icc2, len2, "BT.2020, sRGB curve (from nclx)"), "... of BT.2020's own");
        {
                /* BT.2020's red is well outside P3's: the two convert differently. */
                static const uint16_t red[3] = { 50000, 10000, 10000 };
                uint16_t via_p3[3];

                okf(convert_one(c, icc2, len2, red, out) && convert_one(c, icc, len, red, via_p3) &&
                           out[0] > via_p3[0] + 1000,
                   "... its red is redder in sRGB than P3's (%u against %u)", out[0], via_p3[0]);
        }

        /* Linear (8): linear mid grey is sRGB's 0.7354. */
        is_int(colour_cache_nclx_profile(c, 1, 8, &icc2, &len2, &why), 0, "nclx 1/8 (linear): a profile");
        {
                static const uint16_t grey[3] = { 32768, 32768, 32768 };

                okf(convert_one(c, icc2, len2, grey, out) && near(out[0], 48194, 400) && near(out[1], 48194, 400) &&
                           near(out[2], 48194, 400),
                   "... linear 0.5 grey is sRGB 0.735: %u,%u,%u", out[0], out[1], out[2]);
        }
        /* DCI-P3 (11): its own white (x 0.314, y 0.351) is white in sRGB (relative colorimetric). */
        is_int(colour_cache_nclx_profile(c, 11, 13, &dci, &dci_len, &why), 0, "nclx 11/13 (DCI-P3): a profile");
        {
                static const uint16_t white[3] = { 65535, 65535, 65535 };

                okf(dci != icc && convert_one(c, dci, dci_len, white, out) && out[0] > 65000 && out[1] > 65000 &&
                           out[2] > 65000,
                   "... its white is sRGB's white: %u,%u,%u", out[0], out[1], out[2]);
        }
        is_int(colour_cache_nclx_profile(c, 4, 4, &icc2, &len2, &why), 0, "nclx 4/4 (BT.470 M, gamma 2.2)");
        is_int(colour_cache_nclx_profile(c, 5, 5, &icc2, &len2, &why), 0, "nclx 5/5 (BT.470 B/G, gamma 2.8)");

        /* HDR and what is not known: not converted, said why. */
        icc2 = NULL;
        is_int(colour_cache_nclx_profile(c, 9, 16, &icc2, &len2, &why), -ENOTSUP, "nclx 9/16 (PQ): -ENOTSUP");
        ok(why && strstr(why, "16 (PQ) is HDR, not converted") && !icc2, "... HDR, said so, no profile");
        printf("#   %s\n", why ? why : "");
        free(why);
        why = NULL;
        is_int(colour_cache_nclx_profile(c, 9, 18, &icc2, &len2, &why), -ENOTSUP, "nclx 9/18 (HLG): -ENOTSUP");
        ok(why && strstr(why, "18 (HLG) is HDR, not converted"), "... HDR, said so");
        free(why);
        why = NULL;
        is_int(colour_cache_nclx_profile(c, 3, 13, &icc2, &len2, &why), -ENOTSUP,
               "nclx primaries 3 (reserved): -ENOTSUP");
        ok(why && strstr(why, "nclx colour primaries 3 not supported"), "... named");
        free(why);
        why = NULL;
        is_int(colour_cache_nclx_profile(c, 12, 7, &icc2, &len2, &why), -ENOTSUP,
               "nclx transfer 7 (SMPTE 240M): -ENOTSUP");
        ok(why && strstr(why, "nclx transfer characteristics 7 not supported"), "... named");
        free(why);
        why = NULL;
        c = colour_cache_free(c);
        free(ref.bytes);
}

/* Threads: 8 at once through one cache of 2 for 3 profiles (so entries are
 * evicted while others convert with them), each conversion checked. */
static ColourCache *shared;
static Profile profiles[3];
static atomic_uint next_thread;
static unsigned rounds;

static void *convert_thread(void *arg) {
        uintptr_t faults = 0;
        uint16_t in[3 * 64], out[3 * 64];
        unsigned me = atomic_fetch_add(&next_thread, 1);

        (void) arg;
        for (size_t i = 0; i < 3 * 64; i++)
                in[i] = 32768;
        for (unsigned i = 0; i < rounds; i++) {
                const Profile *p = &profiles[(i + me) % 3];
                ColourTransform *t = NULL;
                char *why = NULL;

                if (colour_cache_get(shared, p->bytes, p->len, &t, &why) < 0) {
                        faults++;
                        free(why);
                        continue;
                }
                colour_transform_apply(t, in, out, 64);
                /* Mid grey stays a neutral grey in each (grey profile: gamma 2.2 -> a lighter or darker grey). */
                for (size_t k = 0; k < 64; k++)
                        if (!near(out[3 * k], out[3 * k + 1], 256) || !near(out[3 * k + 1], out[3 * k + 2], 256) ||
                            out[3 * k] < 16000 || out[3 * k] > 50000)
                                faults++;
                colour_transform_unref(t);
        }
        return (void *) faults;
}

static void test_threads(void) {
        profiles[0] = p3();
        profiles[1] = adobe();
        profiles[2] = grey();
        /* Each miss makes a transform (about 10 ms): few rounds here. */
        rounds = 20;
        is_int(colour_cache_new(2, &shared), 0, "shared cache of 2");
        is_int(tap_threads(8, convert_thread), 0, "8 threads converting through one cache of 2 for 3 profiles: no fault");
        ok(colour_cache_size(shared) <= 2, "the cache stayed within its size");
        printf("#   %llu transforms made for 160 conversions\n", (unsigned long long) colour_cache_made(shared));
        shared = colour_cache_free(shared);

        /* With room for all three, each is made once, whatever the threads' order. */
        rounds = 300;
        is_int(colour_cache_new(4, &shared), 0, "shared cache of 4");
        is_int(tap_threads(8, convert_thread), 0, "8 threads through a cache of 4: no fault");
        is_int(colour_cache_made(shared), 3, "... each profile's transform made once");
        shared = colour_cache_free(shared);
        for (size_t i = 0; i < 3; i++)
                free(profiles[i].bytes);
}

int main(void) {
        test_new();
        test_same_and_distinct();
        test_eviction();
        test_broken();
        test_nclx();
        test_threads();
        return done_testing();
}
