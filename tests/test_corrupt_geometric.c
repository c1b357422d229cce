/* The affine warp (data/warp.h) on hand cases, and the geometric and line corruptions
 * (corrupt_geometric.c): in [0, 1] for gray and colour at 28, 32 and 64 px, deterministic,
 * a random sign per image, and a mean distance from the clean image that grows with
 * severity. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/corrupt.h"
#include "data/warp.h"
#include "testutil.h"

static void fill_ramp(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)((i * 7919) % 97) / 96.0f;
}

static void test_warp_identity(void **state)
{
    (void)state;
    const int H = 5, W = 7, C = 3;
    float src[5 * 7 * 3], dst[5 * 7 * 3];
    fill_ramp(src, sizeof src / sizeof src[0]);
    const double id[6] = {1, 0, 0, 0, 1, 0};
    for (int interp = 0; interp <= 1; interp++) {
        memset(dst, 0xff, sizeof dst);
        rp_warp_affine(src, dst, H, W, C, id, (rp_interp)interp, 0.0f);
        assert_memory_equal(src, dst, sizeof src);
    }
}

static void test_warp_rotation_90_exact(void **state)
{
    (void)state;
    for (int S = 4; S <= 5; S++)
        for (int C = 1; C <= 3; C += 2) {
            float src[5 * 5 * 3], dst[5 * 5 * 3];
            fill_ramp(src, (size_t)S * S * C);
            double m[6];
            rp_warp_rotation(m, 90.0, S, S);
            rp_warp_affine(src, dst, S, S, C, m, RP_INTERP_BILINEAR, 0.5f);
            /* counter-clockwise: the top row becomes the left column, read bottom to top */
            for (int i = 0; i < S; i++)
                for (int j = 0; j < S; j++)
                    for (int c = 0; c < C; c++)
                        if (dst[(i * S + j) * C + c] != src[(j * S + (S - 1 - i)) * C + c])
                            fail_msg("S=%d C=%d: (%d,%d,%d) is %g, want %g", S, C, i, j, c, dst[(i * S + j) * C + c],
                                     src[(j * S + (S - 1 - i)) * C + c]);
            rp_warp_rotation(m, -90.0, S, S); /* and back */
            float back[5 * 5 * 3];
            rp_warp_affine(dst, back, S, S, C, m, RP_INTERP_BILINEAR, 0.5f);
            assert_memory_equal(back, src, (size_t)S * S * C * sizeof(float));
        }
}

static void test_warp_integer_translation(void **state)
{
    (void)state;
    const int H = 6, W = 8, C = 3;
    float src[6 * 8 * 3], dst[6 * 8 * 3];
    fill_ramp(src, sizeof src / sizeof src[0]);
    const double m[6] = {1, 0, -2, 0, 1, 1}; /* dst(i, j) = src(i + 1, j - 2): content right 2, up 1 */
    for (int interp = 0; interp <= 1; interp++) {
        rp_warp_affine(src, dst, H, W, C, m, (rp_interp)interp, 0.25f);
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++)
                for (int c = 0; c < C; c++) {
                    int si = i + 1, sj = j - 2;
                    float want = si < H && sj >= 0 ? src[(si * W + sj) * C + c] : 0.25f;
                    assert_true(dst[(i * W + j) * C + c] == want);
                }
    }
}

static void test_warp_half_pixel_bilinear(void **state)
{
    (void)state;
    /* PIL's convention: half a pixel right averages neighbours; the last column samples at
       x = W (outside) and takes the fill; the edge half pixel repeats the edge. */
    const float src[4] = {0.0f, 1.0f, 0.5f, 0.25f};
    float dst[4];
    const double right[6] = {1, 0, 0.5, 0, 1, 0}, left[6] = {1, 0, -0.3, 0, 1, 0};
    rp_warp_affine(src, dst, 1, 4, 1, right, RP_INTERP_BILINEAR, 0.0f);
    assert_float_equal(dst[0], 0.5f, 1e-7);
    assert_float_equal(dst[1], 0.75f, 1e-7);
    assert_float_equal(dst[2], 0.375f, 1e-7);
    assert_float_equal(dst[3], 0.0f, 0);
    rp_warp_affine(src, dst, 1, 4, 1, left, RP_INTERP_BILINEAR, 0.0f);
    assert_float_equal(dst[0], 0.0f, 1e-7); /* x = 0.2: inside, clamped to column 0 */
    assert_float_equal(dst[1], 0.7f, 1e-6); /* x = 1.2: 0 + (1 - 0) * 0.7 */
}

/* A digit-like gray image (dark background, bright ring) or a smooth colour image. */
static void test_image(float *x, int H, int W, int C, int variant)
{
    for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++)
            for (int c = 0; c < C; c++) {
                double u = (j + 0.5) / W - 0.5 - 0.03 * variant, v = (i + 0.5) / H - 0.5;
                double r = sqrt(u * u * 1.8 + v * v), val;
                if (C == 1) val = exp(-pow((r - 0.28 + 0.01 * variant) / 0.07, 2));
                else val = 0.5 + 0.4 * sin(9 * u + 5 * v + c + variant) * cos(4 * v - c);
                x[((size_t)i * W + j) * C + c] = (float)val;
            }
}

static const rp_corruption GEOMETRIC[] = {RP_CORR_ROTATE, RP_CORR_SHEAR, RP_CORR_SCALE, RP_CORR_TRANSLATE,
                                          RP_CORR_STRIPE, RP_CORR_DOTTED_LINE, RP_CORR_ZIGZAG};
#define N_GEOMETRIC (sizeof GEOMETRIC / sizeof GEOMETRIC[0])

static void test_corruptions_range_and_severity(void **state)
{
    (void)state;
    const int sizes[] = {28, 32, 64};
    for (size_t s = 0; s < 3; s++)
        for (int C = 1; C <= 3; C += 2) {
            int H = sizes[s], W = sizes[s];
            size_t n = (size_t)H * W * C;
            float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float)), *z = malloc(n * sizeof(float));
            for (size_t k = 0; k < N_GEOMETRIC; k++) {
                rp_corruption c = GEOMETRIC[k];
                float *scratch = malloc((rp_corrupt_scratch_floats(c, H, W, C) + 1) * sizeof(float));
                double prev = 0.0;
                for (int sev = 1; sev <= 5; sev++) {
                    double dist = 0.0;
                    const int N = 24;
                    for (int b = 0; b < N; b++) {
                        test_image(x, H, W, C, b % 4);
                        memcpy(y, x, n * sizeof(float));
                        rp_corrupt_image(c, sev, y, H, W, C, 42, (uint64_t)b, scratch);
                        memcpy(z, x, n * sizeof(float));
                        rp_corrupt_image(c, sev, z, H, W, C, 42, (uint64_t)b, scratch);
                        assert_memory_equal(y, z, n * sizeof(float)); /* same seed and index, same bytes */
                        double d = 0.0;
                        for (size_t e = 0; e < n; e++) {
                            if (!(y[e] >= 0.0f && y[e] <= 1.0f))
                                fail_msg("%s severity %d %dpx C=%d: value %g", rp_corruption_name(c), sev, H, C, y[e]);
                            d += fabsf(y[e] - x[e]);
                        }
                        dist += d / n / N;
                    }
                    if (!(dist > prev))
                        fail_msg("%s %dpx C=%d: mean |corrupted - clean| %.4f at severity %d, not above %.4f at %d",
                                 rp_corruption_name(c), H, C, dist, sev, prev, sev - 1);
                    prev = dist;
                }
                free(scratch);
            }
            free(x), free(y), free(z);
        }
}

/* Rotate's direction is drawn per image: every output is one of the two rotations by
 * +-0.4 rad (severity 3) about the centre, and both occur. */
static void test_rotate_random_sign(void **state)
{
    (void)state;
    const int H = 28, W = 28, C = 1;
    size_t n = (size_t)H * W * C;
    float x[28 * 28], y[28 * 28], cand[2][28 * 28];
    float *scratch = malloc(rp_corrupt_scratch_floats(RP_CORR_ROTATE, H, W, C) * sizeof(float) + 4);
    test_image(x, H, W, C, 1);
    for (int s = 0; s < 2; s++) {
        double t = s ? 0.4 : -0.4, m[6];
        rp_warp_about_centre(m, cos(t), -sin(t), sin(t), cos(t), H, W);
        rp_warp_affine(x, cand[s], H, W, C, m, RP_INTERP_BILINEAR, 0.0f);
    }
    int seen[2] = {0, 0};
    for (uint64_t idx = 0; idx < 32; idx++) {
        memcpy(y, x, sizeof y);
        rp_corrupt_image(RP_CORR_ROTATE, 3, y, H, W, C, 7, idx, scratch);
        int which = -1;
        for (int s = 0; s < 2; s++) {
            float worst = 0;
            for (size_t e = 0; e < n; e++) worst = fmaxf(worst, fabsf(y[e] - fminf(fmaxf(cand[s][e], 0.0f), 1.0f)));
            if (worst < 1e-6f) which = s;
        }
        assert_true(which >= 0);
        seen[which]++;
    }
    assert_true(seen[0] > 0 && seen[1] > 0);
    free(scratch);
}

/* The line corruptions only brighten (white lines added) and stripe inverts whole bands. */
static void test_lines_and_stripe(void **state)
{
    (void)state;
    const int H = 28, W = 28, C = 3;
    size_t n = (size_t)H * W * C;
    float x[28 * 28 * 3], y[28 * 28 * 3], scratch[28 * 28 + 4];
    test_image(x, H, W, C, 0);
    for (int k = 0; k < 2; k++) {
        rp_corruption c = k ? RP_CORR_ZIGZAG : RP_CORR_DOTTED_LINE;
        memcpy(y, x, sizeof y);
        rp_corrupt_image(c, 3, y, H, W, C, 1, 3, scratch);
        int white = 0;
        for (size_t e = 0; e < n; e++) {
            assert_true(y[e] >= x[e]);
            white += y[e] == 1.0f;
        }
        assert_true(white >= 3 * 8); /* some pixels reach white in every channel */
    }
    memcpy(y, x, sizeof y);
    rp_corrupt_image(RP_CORR_STRIPE, 3, y, H, W, C, 1, 3, scratch); /* bands of 7 px of 28 */
    int inverted = 0;
    for (size_t e = 0; e < n; e++) {
        bool inv = fabsf(y[e] - (1.0f - x[e])) < 1e-6f, same = y[e] == x[e];
        assert_true(inv || same);
        inverted += inv && !same;
    }
    assert_true(inverted > 2 * 7 * 28 * 3 * 9 / 10 && inverted <= 2 * 7 * 28 * 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_warp_identity),           cmocka_unit_test(test_warp_rotation_90_exact),
        cmocka_unit_test(test_warp_integer_translation), cmocka_unit_test(test_warp_half_pixel_bilinear),
        cmocka_unit_test(test_corruptions_range_and_severity), cmocka_unit_test(test_rotate_random_sign),
        cmocka_unit_test(test_lines_and_stripe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
