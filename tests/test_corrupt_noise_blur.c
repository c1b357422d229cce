/* Noise and blur corruptions against PyPI imagecorruptions' outputs
 * (tests/data/corruptions, made by tests/make_corruption_reference.py with the ImageNet-C
 * table at 32 and 64 px), and their tables and properties at every size. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/corrupt_internal.h"
#include "data/imgops.h"
#include "data/noise.h"
#include "testutil.h"

static const rp_corruption MINE[] = {RP_CORR_GAUSSIAN_NOISE, RP_CORR_SHOT_NOISE,   RP_CORR_IMPULSE_NOISE,
                                     RP_CORR_SPECKLE_NOISE,  RP_CORR_DEFOCUS_BLUR, RP_CORR_GLASS_BLUR,
                                     RP_CORR_MOTION_BLUR,    RP_CORR_ZOOM_BLUR,    RP_CORR_GAUSSIAN_BLUR};
#define N_MINE (int)(sizeof MINE / sizeof MINE[0])

/* ---- reference files ---- */

static uint8_t *load_u8(const char *name, size_t n)
{
    const char *src = getenv("RAMPART_SOURCE_DIR");
    assert_non_null(src);
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/corruptions/%s", src, name);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    uint8_t *buf = malloc(n + 1);
    assert_non_null(buf);
    size_t got = fread(buf, 1, n + 1, f);
    fclose(f);
    if (got != n) fail_msg("%s: %zu bytes, expected %zu", path, got, n);
    return buf;
}

typedef struct ref {
    int S;
    uint8_t *input, *out; /* (S, S, 3); (5, S, S, 3) */
} ref;

static ref load_ref(rp_corruption c, int S)
{
    char name[128];
    size_t X = (size_t)S * S * 3;
    ref r = {S, NULL, NULL};
    snprintf(name, sizeof name, "input_%d.u8", S);
    r.input = load_u8(name, X);
    snprintf(name, sizeof name, "%s_%d.u8", rp_corruption_name(c), S);
    r.out = load_u8(name, 5 * X);
    return r;
}

static void free_ref(ref *r)
{
    free(r->input);
    free(r->out);
}

/* imagecorruptions.corrupt ends with np.uint8(x * 255): truncation */
static void to_u8(uint8_t *q, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) q[i] = (uint8_t)floorf(x[i] * 255.0f);
}

/* our corruption of the reference input at severity s with the ImageNet-C table, as uint8 */
static void run_ours(uint8_t *q, rp_corruption c, int s, const ref *r, uint64_t seed)
{
    int S = r->S;
    size_t X = (size_t)S * S * 3;
    float *x = malloc(X * sizeof(float)), *scratch = malloc((rp_corrupt_scratch_floats(c, S, S, 3) + 1) * sizeof(float));
    for (size_t i = 0; i < X; i++) x[i] = r->input[i] / 255.0f;
    rp_corrupt_image_table(c, s, RP_CTABLE_IMAGENET, x, S, S, 3, seed, 7, scratch);
    to_u8(q, x, X);
    free(x);
    free(scratch);
}

/* ---- deterministic corruptions, value by value ---- */

static void compare_exact(rp_corruption c, int max_diff, double max_mean)
{
    for (int S = 32; S <= 64; S *= 2) {
        ref r = load_ref(c, S);
        size_t X = (size_t)S * S * 3;
        uint8_t *q = malloc(X);
        for (int s = 1; s <= 5; s++) {
            run_ours(q, c, s, &r, 1);
            int worst = 0;
            double mean = 0.0;
            for (size_t i = 0; i < X; i++) {
                int d = abs((int)q[i] - (int)r.out[(size_t)(s - 1) * X + i]);
                if (d > worst) worst = d;
                mean += d;
            }
            mean /= (double)X;
            if (worst > max_diff || mean > max_mean)
                fail_msg("%s S=%d severity %d: max |diff| %d (<= %d), mean %.4f (<= %.4f) in uint8 units",
                         rp_corruption_name(c), S, s, worst, max_diff, mean, max_mean);
        }
        free(q);
        free_ref(&r);
    }
}

/* Float32 here against float64 there: results straddling an integer truncate to
 * neighbouring bytes, hence 1/255 at most. */
static void test_gaussian_blur_reference(void **state)
{
    (void)state;
    compare_exact(RP_CORR_GAUSSIAN_BLUR, 1, 0.02);
}

/* OpenCV's filter2D correlates kernels of 50+ taps through a DFT; the sums agree to ~1e-7. */
static void test_defocus_blur_reference(void **state)
{
    (void)state;
    compare_exact(RP_CORR_DEFOCUS_BLUR, 1, 0.05);
}

static void test_zoom_blur_reference(void **state)
{
    (void)state;
    compare_exact(RP_CORR_ZOOM_BLUR, 1, 0.02);
}

/* Motion blur's angle is numpy's first draw after np.random.seed(1000 s + S): here the
 * same angles, through imgops' shift-and-add with the ImageNet-C row, value by value. */
static void test_motion_blur_reference_angles(void **state)
{
    (void)state;
    static const double ANGLE[2][5] = {
        {-6.544649845872996, 41.00209829628557, -10.940554197092162, 11.059933539754141, 39.38098280739841},
        {-16.473280001954418, 36.426929214128194, 29.938151516615676, -11.462857651958004, -44.149992979963955}};
    static const int RADIUS[5] = {10, 15, 15, 15, 20};
    static const double SIGMA[5] = {3, 5, 8, 12, 15};
    for (int k = 0; k < 2; k++) {
        int S = 32 << k;
        ref r = load_ref(RP_CORR_MOTION_BLUR, S);
        size_t X = (size_t)S * S * 3;
        float *x = malloc(X * sizeof(float)), *y = malloc(X * sizeof(float));
        uint8_t *q = malloc(X);
        for (size_t i = 0; i < X; i++) x[i] = r.input[i] / 255.0f;
        for (int s = 1; s <= 5; s++) {
            rp_img_motion_blur(y, x, S, S, 3, RADIUS[s - 1], SIGMA[s - 1], ANGLE[k][s - 1]);
            for (size_t i = 0; i < X; i++) y[i] = rp_clip01(y[i]);
            to_u8(q, y, X);
            int worst = 0;
            for (size_t i = 0; i < X; i++) {
                int d = abs((int)q[i] - (int)r.out[(size_t)(s - 1) * X + i]);
                if (d > worst) worst = d;
            }
            if (worst > 1) fail_msg("motion blur S=%d severity %d: max |diff| %d > 1", S, s, worst);
        }
        free(x);
        free(y);
        free(q);
        free_ref(&r);
    }
}

/* ---- random corruptions, by distribution ---- */

typedef struct stats {
    double mean, std;  /* of out - in, uint8 units */
    double changed;    /* fraction of values that differ from the input */
    double grad;       /* mean |horizontal and vertical neighbour difference| of out */
} stats;

static stats measure(const uint8_t *out, const uint8_t *in, int S)
{
    size_t X = (size_t)S * S * 3;
    stats st = {0, 0, 0, 0};
    double s2 = 0.0;
    for (size_t i = 0; i < X; i++) {
        double d = (double)out[i] - in[i];
        st.mean += d;
        s2 += d * d;
        st.changed += out[i] != in[i];
    }
    st.mean /= (double)X;
    st.std = sqrt(s2 / (double)X - st.mean * st.mean);
    st.changed /= (double)X;
    size_t ng = 0;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++)
            for (int c = 0; c < 3; c++) {
                size_t i = ((size_t)y * S + x) * 3 + c;
                if (x + 1 < S) st.grad += abs((int)out[i + 3] - (int)out[i]), ng++;
                if (y + 1 < S) st.grad += abs((int)out[i + (size_t)S * 3] - (int)out[i]), ng++;
            }
    st.grad /= (double)ng;
    return st;
}

/* The reference is one draw; ours are DRAWS draws with other seeds. Were the two the same
 * random process, ref - mean(ours) would have the spread sd * sqrt(1 + 1/DRAWS), sd the
 * spread of one draw (estimated from ours): each statistic must lie within 5 of those
 * (a false alarm about once in 10^6) plus a floor for uint8 truncation and the float32
 * versus float64 arithmetic: 0.3 levels for the mean, 2% for std and texture, 0.005 for the
 * changed fraction. A wrong strength (a tenth off), a missing clip or a wrong salt/pepper
 * share moves them much further than that. */
enum { DRAWS = 16, N_STATS = 4 };

static void compare_stats(rp_corruption c)
{
    static const char *const NAME[N_STATS] = {"mean of out-in", "std of out-in", "changed fraction", "texture"};
    for (int S = 32; S <= 64; S *= 2) {
        ref r = load_ref(c, S);
        size_t X = (size_t)S * S * 3;
        uint8_t *q = malloc(X);
        for (int s = 1; s <= 5; s++) {
            stats w = measure(r.out + (size_t)(s - 1) * X, r.input, S);
            double want[N_STATS] = {w.mean, w.std, w.changed, w.grad}, sum[N_STATS] = {0}, sum2[N_STATS] = {0};
            for (int d = 0; d < DRAWS; d++) {
                run_ours(q, c, s, &r, 100 + (uint64_t)d);
                stats g = measure(q, r.input, S);
                double v[N_STATS] = {g.mean, g.std, g.changed, g.grad};
                for (int k = 0; k < N_STATS; k++) sum[k] += v[k], sum2[k] += v[k] * v[k];
            }
            double floor_[N_STATS] = {0.3, 0.02 * w.std, 0.005, 0.02 * w.grad};
            for (int k = 0; k < N_STATS; k++) {
                double mean = sum[k] / DRAWS, sd = sqrt(fmax(0.0, (sum2[k] - DRAWS * mean * mean) / (DRAWS - 1)));
                double tol = floor_[k] + 5.0 * sd * sqrt(1.0 + 1.0 / DRAWS);
                if (getenv("SHOWSTATS"))
                    print_message("%-15s S=%d s=%d %-16s ours %8.4f ref %8.4f tol %.4f\n", rp_corruption_name(c), S, s,
                                  NAME[k], mean, want[k], tol);
                if (fabs(mean - want[k]) > tol)
                    fail_msg("%s S=%d severity %d: %s %.4f here, %.4f in imagecorruptions (tolerance %.4f)",
                             rp_corruption_name(c), S, s, NAME[k], mean, want[k], tol);
            }
        }
        free(q);
        free_ref(&r);
    }
}

static void test_noise_reference(void **state)
{
    (void)state;
    compare_stats(RP_CORR_GAUSSIAN_NOISE);
    compare_stats(RP_CORR_SHOT_NOISE);
    compare_stats(RP_CORR_IMPULSE_NOISE);
    compare_stats(RP_CORR_SPECKLE_NOISE);
}

/* Glass blur: the blurs are deterministic, the shuffle random (numpy's randint stream is not
 * reproduced here). */
static void test_glass_blur_reference(void **state)
{
    (void)state;
    compare_stats(RP_CORR_GLASS_BLUR);
}

/* Motion blur through the corruption, its angle drawn here: the spread of the statistics
 * over angles sets the tolerance; the exact check at imagecorruptions' angles is above. */
static void test_motion_blur_reference_stats(void **state)
{
    (void)state;
    compare_stats(RP_CORR_MOTION_BLUR);
}

/* ---- every table, every size ---- */

/* A natural-ish image: smooth colour gradients, a few flat shapes with edges, fine texture
 * (C = 3); or a Fashion-MNIST-like one: a bright object with texture on black (C = 1). */
static void natural_image(float *x, int H, int W, int C, uint64_t seed)
{
    rp_rng r;
    rp_rng_seed(&r, seed, 9);
    float cy = 0.3f + 0.4f * rp_rng_uniform(&r), cx = 0.3f + 0.4f * rp_rng_uniform(&r);
    float rad = 0.2f + 0.15f * rp_rng_uniform(&r), bx = rp_rng_uniform(&r) * 0.5f, by = rp_rng_uniform(&r) * 0.5f;
    for (int y = 0; y < H; y++)
        for (int xx = 0; xx < W; xx++) {
            float u = (float)y / (float)(H - 1), v = (float)xx / (float)(W - 1);
            bool in_disk = (u - cy) * (u - cy) + (v - cx) * (v - cx) < rad * rad;
            bool in_box = u > by && u < by + 0.3f && v > bx && v < bx + 0.4f;
            for (int c = 0; c < C; c++) {
                float val;
                if (C == 1) val = in_disk || in_box ? 0.6f + 0.3f * sinf(9.0f * u + 5.0f * v) : 0.0f;
                else val = in_disk ? 0.9f - 0.3f * c : in_box ? 0.2f + 0.3f * c : 0.2f + 0.25f * u + 0.2f * v * c;
                x[((size_t)y * W + xx) * C + c] = rp_clip01(val + 0.02f * rp_rng_normal(&r));
            }
        }
}

static void test_all_tables_ranges_gray(void **state)
{
    (void)state;
    static const int SIZE[][3] = {{28, 28, 1}, {32, 32, 3}, {64, 64, 3}, {28, 28, 3}, {32, 32, 1}, {20, 36, 1}};
    for (size_t z = 0; z < sizeof SIZE / sizeof SIZE[0]; z++) {
        int H = SIZE[z][0], W = SIZE[z][1], C = SIZE[z][2];
        size_t X = (size_t)H * W * C;
        float *clean = malloc(X * sizeof(float)), *x = malloc(X * sizeof(float));
        natural_image(clean, H, W, C, 3);
        for (int k = 0; k < N_MINE; k++) {
            float *scratch = malloc((rp_corrupt_scratch_floats(MINE[k], H, W, C) + 1) * sizeof(float));
            for (int t = 0; t < RP_CTABLE_COUNT; t++)
                for (int s = 1; s <= 5; s++) {
                    memcpy(x, clean, X * sizeof(float));
                    rp_corrupt_image_table(MINE[k], s, (rp_corrupt_table)t, x, H, W, C, 5, 0, scratch);
                    double dist = 0.0;
                    for (size_t i = 0; i < X; i++) {
                        if (!(x[i] >= 0.0f && x[i] <= 1.0f))
                            fail_msg("%s %s s=%d (%d,%d,%d): value %g at %zu", rp_corruption_name(MINE[k]),
                                     rp_corrupt_table_name(t), s, H, W, C, x[i], i);
                        dist += fabs(x[i] - clean[i]);
                    }
                    if (!(dist > 0.0))
                        fail_msg("%s %s s=%d (%d,%d,%d): the image is unchanged", rp_corruption_name(MINE[k]),
                                 rp_corrupt_table_name(t), s, H, W, C);
                }
            free(scratch);
        }
        free(clean);
        free(x);
    }
}

/* The noise strengths: 5 rows per table, one source for --noise and the corruptions. */
static void test_noise_tables(void **state)
{
    (void)state;
    for (int k = 0; k < RP_NOISE_COUNT; k++)
        for (int s = 1; s <= 5; s++) {
            for (int t = 0; t < RP_CTABLE_COUNT; t++) assert_true(rp_noise_strength(k, s, t) > 0.0f);
            /* the 28-px noise rows are CIFAR-10-C's (docs/corruptions.md) */
            assert_true(rp_noise_strength(k, s, RP_CTABLE_28) == rp_noise_strength(k, s, RP_CTABLE_CIFAR));
        }
    assert_float_equal(rp_noise_strength(RP_NOISE_GAUSSIAN, 5, RP_CTABLE_IMAGENET), 0.38, 1e-7);
    assert_float_equal(rp_noise_strength(RP_NOISE_SHOT, 1, RP_CTABLE_28), 500, 0);
}

/* The mean distance to the clean image grows with severity, over 12 images, at 28 px (gray,
 * the 28-px table), 32 px (CIFAR-10-C's) and 64 px (Tiny-ImageNet-C's).
 *
 * Except glass blur under the published CIFAR-10-C and Tiny-ImageNet-C rows: a stronger
 * blur at the same number of shuffle passes smooths the shuffle's pixel-sized errors away
 * and lands closer to the clean image (CIFAR 2 -> 3: sigma .25 -> .4, and 4 -> 5; Tiny
 * 1 -> 2: sigma .1 -> .5), so there only the last two severities must be further than
 * the first two. */
static void test_severity_monotone(void **state)
{
    (void)state;
    static const int SIZE[][3] = {{28, 28, 1}, {32, 32, 3}, {64, 64, 3}};
    enum { IMAGES = 12 };
    for (size_t z = 0; z < 3; z++) {
        int H = SIZE[z][0], W = SIZE[z][1], C = SIZE[z][2];
        size_t X = (size_t)H * W * C;
        float *clean = malloc(X * sizeof(float)), *x = malloc(X * sizeof(float));
        for (int k = 0; k < N_MINE; k++) {
            float *scratch = malloc((rp_corrupt_scratch_floats(MINE[k], H, W, C) + 1) * sizeof(float));
            double dist[6] = {0};
            for (int s = 1; s <= 5; s++) {
                for (int i = 0; i < IMAGES; i++) {
                    natural_image(clean, H, W, C, 10 + (uint64_t)i);
                    memcpy(x, clean, X * sizeof(float));
                    rp_corrupt_image(MINE[k], s, x, H, W, C, 11, (uint64_t)i, scratch);
                    for (size_t t = 0; t < X; t++) dist[s] += fabs(x[t] - clean[t]);
                }
                dist[s] /= (double)IMAGES * X;
            }
            rp_corrupt_table tab = rp_corrupt_table_for(H, W);
            if (MINE[k] == RP_CORR_GLASS_BLUR && tab != RP_CTABLE_28) {
                if (!(fmin(dist[4], dist[5]) > fmax(dist[1], dist[2])))
                    fail_msg("glass_blur at %dx%dx%d: severities 4, 5 (%.5f, %.5f) not beyond 1, 2 (%.5f, %.5f)", H, W,
                             C, dist[4], dist[5], dist[1], dist[2]);
            } else {
                for (int s = 2; s <= 5; s++)
                    if (!(dist[s] > dist[s - 1]))
                        fail_msg("%s at %dx%dx%d (%s): distance %.5f at severity %d, %.5f at %d",
                                 rp_corruption_name(MINE[k]), H, W, C, rp_corrupt_table_name(tab), dist[s], s,
                                 dist[s - 1], s - 1);
            }
            free(scratch);
        }
        free(clean);
        free(x);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gaussian_blur_reference),
        cmocka_unit_test(test_defocus_blur_reference),
        cmocka_unit_test(test_zoom_blur_reference),
        cmocka_unit_test(test_motion_blur_reference_angles),
        cmocka_unit_test(test_noise_reference),
        cmocka_unit_test(test_glass_blur_reference),
        cmocka_unit_test(test_motion_blur_reference_stats),
        cmocka_unit_test(test_all_tables_ranges_gray),
        cmocka_unit_test(test_noise_tables),
        cmocka_unit_test(test_severity_monotone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
