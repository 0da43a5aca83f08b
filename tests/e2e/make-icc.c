/* make-icc.c - writes the ICC profiles tests/e2e/colour.sh needs and no
 * Debian package ships, made with lcms2:
 *   make-icc p3 FILE     Display P3: P3 primaries, D65 white, the sRGB curve
 *   make-icc cmyk FILE   a CMYK output profile (both directions), far enough
 *                        from the plain CMYK-to-RGB formula that a CMYK
 *                        image converted without its profile is clearly off
 * Exit 0, or 1 with a message. */
#include "build-config.h"

#include <lcms2.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* The sRGB curve, as lcms2's parametric type 4. */
static cmsToneCurve *srgb_curve(void) {
        static const cmsFloat64Number params[5] = { 2.4, 1.0 / 1.055, 0.055 / 1.055, 1.0 / 12.92, 0.04045 };

        return cmsBuildParametricToneCurve(NULL, 4, params);
}

static cmsHPROFILE display_p3(void) {
        cmsCIExyY white = { 0.3127, 0.3290, 1.0 };
        cmsCIExyYTRIPLE primaries = { { 0.680, 0.320, 1.0 }, { 0.265, 0.690, 1.0 }, { 0.150, 0.060, 1.0 } };
        cmsToneCurve *c = srgb_curve(), *curves[3] = { c, c, c };
        cmsHPROFILE p = cmsCreateRGBProfile(&white, &primaries, curves);

        cmsFreeToneCurve(c);
        return p;
}

/* Ink is not the plain formula's: each ink's strength follows a curve
 * (ink^0.6), as a real press's dot gain would make it look. */
#define INK_GAMMA 0.6

static cmsHTRANSFORM to_lab, from_lab;

/* CMYK (0-65535) -> Lab, through sRGB. */
static int sample_a2b(const cmsUInt16Number in[], cmsUInt16Number out[], void *cargo) {
        double k = pow(in[3] / 65535.0, INK_GAMMA);
        cmsUInt16Number rgb[3];

        (void) cargo;
        for (int i = 0; i < 3; i++)
                rgb[i] = (cmsUInt16Number) lround(65535.0 * (1.0 - pow(in[i] / 65535.0, INK_GAMMA)) * (1.0 - k));
        cmsDoTransform(to_lab, rgb, out, 1);
        return 1;
}

/* Lab -> CMYK, the inverse of sample_a2b(). */
static int sample_b2a(const cmsUInt16Number in[], cmsUInt16Number out[], void *cargo) {
        cmsUInt16Number rgb[3];
        double r[3], k, max;

        (void) cargo;
        cmsDoTransform(from_lab, in, rgb, 1);
        max = 0;
        for (int i = 0; i < 3; i++) {
                r[i] = rgb[i] / 65535.0;
                max = r[i] > max ? r[i] : max;
        }
        k = 1.0 - max;
        for (int i = 0; i < 3; i++) {
                double ink = k >= 1.0 ? 0.0 : (1.0 - r[i] - k) / (1.0 - k);
                out[i] = (cmsUInt16Number) lround(65535.0 * pow(ink < 0 ? 0 : ink, 1.0 / INK_GAMMA));
        }
        out[3] = (cmsUInt16Number) lround(65535.0 * pow(k, 1.0 / INK_GAMMA));
        return 1;
}

static cmsHPROFILE cmyk(void) {
        cmsHPROFILE srgb = cmsCreate_sRGBProfile(), lab = cmsCreateLab4Profile(NULL), p;
        cmsPipeline *a2b = cmsPipelineAlloc(NULL, 4, 3), *b2a = cmsPipelineAlloc(NULL, 3, 4);
        cmsStage *clut_a2b = cmsStageAllocCLut16bit(NULL, 9, 4, 3, NULL);
        cmsStage *clut_b2a = cmsStageAllocCLut16bit(NULL, 17, 3, 4, NULL);
        cmsMLU *desc = cmsMLUalloc(NULL, 1);

        to_lab = cmsCreateTransform(srgb, TYPE_RGB_16, lab, TYPE_Lab_16, INTENT_RELATIVE_COLORIMETRIC, 0);
        from_lab = cmsCreateTransform(lab, TYPE_Lab_16, srgb, TYPE_RGB_16, INTENT_RELATIVE_COLORIMETRIC, 0);
        if (!to_lab || !from_lab || !a2b || !b2a || !clut_a2b || !clut_b2a || !desc ||
            !cmsStageSampleCLut16bit(clut_a2b, sample_a2b, NULL, 0) ||
            !cmsStageSampleCLut16bit(clut_b2a, sample_b2a, NULL, 0))
                return NULL;
        /* A v4 lutAtoBType: curves, the table, curves (identities). */
        if (!cmsPipelineInsertStage(a2b, cmsAT_END, cmsStageAllocToneCurves(NULL, 4, NULL)) ||
            !cmsPipelineInsertStage(a2b, cmsAT_END, clut_a2b) ||
            !cmsPipelineInsertStage(a2b, cmsAT_END, cmsStageAllocToneCurves(NULL, 3, NULL)) ||
            !cmsPipelineInsertStage(b2a, cmsAT_END, cmsStageAllocToneCurves(NULL, 3, NULL)) ||
            !cmsPipelineInsertStage(b2a, cmsAT_END, clut_b2a) ||
            !cmsPipelineInsertStage(b2a, cmsAT_END, cmsStageAllocToneCurves(NULL, 4, NULL)))
                return NULL;
        p = cmsCreateProfilePlaceholder(NULL);
        cmsSetProfileVersion(p, 4.3);
        cmsSetDeviceClass(p, cmsSigOutputClass);
        cmsSetColorSpace(p, cmsSigCmykData);
        cmsSetPCS(p, cmsSigLabData);
        cmsMLUsetASCII(desc, "en", "US", "thumbwatch test CMYK");
        if (!cmsWriteTag(p, cmsSigProfileDescriptionTag, desc) || !cmsWriteTag(p, cmsSigMediaWhitePointTag, cmsD50_XYZ()) ||
            !cmsWriteTag(p, cmsSigAToB0Tag, a2b) || !cmsWriteTag(p, cmsSigBToA0Tag, b2a))
                return NULL;
        cmsMLUfree(desc);
        cmsPipelineFree(a2b);
        cmsPipelineFree(b2a);
        cmsCloseProfile(srgb);
        cmsCloseProfile(lab);
        return p;
}

static void log_error(cmsContext context, cmsUInt32Number code, const char *text) {
        (void) context;
        (void) code;
        fprintf(stderr, "make-icc: lcms2: %s\n", text);
}

int main(int argc, char **argv) {
        cmsHPROFILE p = NULL;

        cmsSetLogErrorHandler(log_error);

        if (argc != 3) {
                fprintf(stderr, "usage: make-icc p3|cmyk FILE\n");
                return 1;
        }
        if (strcmp(argv[1], "p3") == 0) {
                p = display_p3();
                if (p) {
                        cmsMLU *desc = cmsMLUalloc(NULL, 1);

                        cmsMLUsetASCII(desc, "en", "US", "Display P3 (thumbwatch test)");
                        (void) cmsWriteTag(p, cmsSigProfileDescriptionTag, desc);
                        cmsMLUfree(desc);
                }
        } else if (strcmp(argv[1], "cmyk") == 0)
                p = cmyk();
        else {
                fprintf(stderr, "make-icc: unknown profile '%s' (expected p3 or cmyk)\n", argv[1]);
                return 1;
        }
        if (!p || !cmsSaveProfileToFile(p, argv[2])) {
                fprintf(stderr, "make-icc: cannot make '%s'\n", argv[2]);
                return 1;
        }
        cmsCloseProfile(p);
        return 0;
}
