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


/* ---------------------------------------------------------------------------------------- */
/* random corruptions, by distribution                                                      */

enum { N_STATS = 5, K_DRAWS = 32 };
static const char *const STAT_NAME[N_STATS] = {"mean(out-in)", "mean|out-in|", "sd(out-in)", "slope", "roughness"};

/* Statistics of one output against its input, on the 0-255 scale where the reference is
 * (ours truncated to bytes as np.uint8 does): the mean, mean absolute and standard deviation
 * of out - in; the least-squares slope of out on in (how much of the image survives:
 * frost's and fog's blend weights); and the roughness of the residual out - slope in, mean
 * |horizontal step| / its sd (the added layer's grain). */
static void image_stats(double st[N_STATS], const float *out, const float *in, size_t n, int W, int C,
                        bool out_bytes)
{
    double so = 0, si = 0, sd = 0, sa = 0, sdd = 0;
    for (size_t i = 0; i < n; i++) {
        double o = out_bytes ? out[i] : floor(out[i] * 255.0 + 1e-4), x = in[i] * 255.0;
        so += o, si += x, sd += o - x, sa += fabs(o - x), sdd += (o - x) * (o - x);
    }
    double mo = so / n, mi = si / n, md = sd / n, cov = 0, var = 0;
    for (size_t i = 0; i < n; i++) {
        double o = out_bytes ? out[i] : floor(out[i] * 255.0 + 1e-4), x = in[i] * 255.0;
        cov += (o - mo) * (x - mi), var += (x - mi) * (x - mi);
    }
    double slope = cov / var, rs = 0, rss = 0, step = 0;
    size_t steps = 0;
    for (size_t i = 0; i < n; i++) {
        double o = out_bytes ? out[i] : floor(out[i] * 255.0 + 1e-4), r = o - slope * in[i] * 255.0;
        rs += r, rss += r * r;
        if ((i / C) % W != (size_t)W - 1) {
            double o2 = out_bytes ? out[i + C] : floor(out[i + C] * 255.0 + 1e-4);
            step += fabs((o2 - slope * in[i + C] * 255.0) - r), steps++;
        }
    }
    double rsd = sqrt(fmax(rss / n - (rs / n) * (rs / n), 1e-12));
    st[0] = md, st[1] = sa / n, st[2] = sqrt(fmax(sdd / n - md * md, 0)), st[3] = slope, st[4] = step / steps / rsd;
}

/* score[a][b]: how far the reference at severity b lies from our outputs at severity a:
 * the mean over the two sizes and the statistics of z^2, z = (reference - our mean) / our
 * per-image standard deviation over K_DRAWS images (the reference is one draw of the same
 * distribution; its per-image spread, measured over 30 seeds of imagecorruptions, is within
 * 20% of ours for every statistic used here). */
static void distribution_scores(rp_corruption c, double score[5][5], double worst_z[5], int *worst_stat)
{
    memset(score, 0, 25 * sizeof(double));
    for (int b = 0; b < 5; b++) worst_z[b] = 0, worst_stat[b] = 0;
    for (int S = 32; S <= 64; S += 32) {
        ref_set r = load_set(c, S);
        float *refv = malloc(r.X * sizeof(float));
        double mean[5][N_STATS], sd[5][N_STATS];
        for (int a = 1; a <= 5; a++) {
            double s1[N_STATS] = {0}, s2[N_STATS] = {0};
            for (int k = 0; k < K_DRAWS; k++) {
                float *x = run_mine(c, a, RP_CTABLE_IMAGENET, r.in, S, S, 3, (uint64_t)k);
                double st[N_STATS];
                image_stats(st, x, r.in, r.X, S, 3, false);
                for (int q = 0; q < N_STATS; q++) s1[q] += st[q], s2[q] += st[q] * st[q];
                free(x);
            }
            for (int q = 0; q < N_STATS; q++) {
                mean[a - 1][q] = s1[q] / K_DRAWS;
                sd[a - 1][q] = sqrt(fmax(s2[q] / K_DRAWS - mean[a - 1][q] * mean[a - 1][q], 0)) + 1e-3;
            }
        }
        for (int b = 1; b <= 5; b++) {
            for (size_t i = 0; i < r.X; i++) refv[i] = r.out[(size_t)(b - 1) * r.X + i];
            double st[N_STATS];
            image_stats(st, refv, r.in, r.X, S, 3, true);
            for (int a = 1; a <= 5; a++)
                for (int q = 0; q < N_STATS; q++) {
                    double z = (st[q] - mean[a - 1][q]) / sd[a - 1][q];
                    score[a - 1][b - 1] += z * z / (2.0 * N_STATS);
                    if (a == b && fabs(z) > fabs(worst_z[b - 1])) worst_z[b - 1] = z, worst_stat[b - 1] = q;
                }
        }
        free(refv);
        free_set(&r);
    }
}

/* The reference at each severity must score at most PASS against our same severity. And
 * where apart[a][b] is 'x', our severity a + 1 must score above PASS against the reference's
 * severity b + 1: had we used row a + 1's parameters for severity b + 1, this test would
 * fail. The 'x' pairs are those told apart with a margin (score > 6) by one reference draw
 * per size; the others (frost's rows 2-5, fog's neighbours, snow's 3 and 4) differ by less
 * than a single image's spread and cannot be told apart by one draw. */
#define PASS 5.0

static void check_distribution(rp_corruption c, const char *const apart[5])
{
    double score[5][5], wz[5];
    int wq[5];
    distribution_scores(c, score, wz, wq);
    if (getenv("RP_TEST_VERBOSE")) {
        printf("%s: score[ours][ref]\n", rp_corruption_name(c));
        for (int a = 0; a < 5; a++)
            printf("  %6.2f %6.2f %6.2f %6.2f %6.2f\n", score[a][0], score[a][1], score[a][2], score[a][3], score[a][4]);
    }
    for (int s = 0; s < 5; s++)
        if (score[s][s] > PASS)
            fail_msg("%s severity %d: reference scores %.2f > %.2f against ours (worst: %s, z = %.2f)",
                     rp_corruption_name(c), s + 1, score[s][s], PASS, STAT_NAME[wq[s]], wz[s]);
    for (int a = 0; a < 5; a++)
        for (int b = 0; b < 5; b++)
            if (apart[a][b] == 'x' && score[a][b] <= PASS)
                fail_msg("%s: our severity %d is not told apart from the reference's severity %d (%.2f <= %.2f)",
                         rp_corruption_name(c), a + 1, b + 1, score[a][b], PASS);
}

static void test_snow_distribution(void **state)
{
    (void)state;
    static const char *const apart[5] = {".xxxx", "x.xxx", "x...x", "xx...", "xxxx."};
    check_distribution(RP_CORR_SNOW, apart);
}

static void test_frost_distribution(void **state)
{
    (void)state;
    static const char *const apart[5] = {".xxxx", "x...x", "x....", "x....", "x...."};
    check_distribution(RP_CORR_FROST, apart);
}

static void test_fog_distribution(void **state)
{
    (void)state;
    static const char *const apart[5] = {"..x.x", ".....", ".....", ".....", "x...."};
    check_distribution(RP_CORR_FOG, apart);
}

static void test_spatter_distribution(void **state)
{
    (void)state;
    static const char *const apart[5] = {"..xxx", "...xx", "x..xx", "xxx.x", "xxx.."};
    check_distribution(RP_CORR_SPATTER, apart);
}

static void test_elastic_distribution(void **state)
{
    (void)state;
    static const char *const apart[5] = {".xxxx", "x.xxx", "xx.xx", "xxx.x", "xxxx."};
    check_distribution(RP_CORR_ELASTIC, apart);
}

/* ---------------------------------------------------------------------------------------- */
/* every table, severity and channel count                                                  */

/* Where the mean distance from the clean image may fall from severity s - 1 to s (the
 * originals' rows, not ours; docs/corruptions.md): frost's rows dim the image (k0 falls) as
 * they add frost (k1 rises), and where k1 stays (CIFAR and 28 px 3 -> 4, ImageNet 3 -> 4) the
 * dimming brings the bright frost closer to the clean image. Spatter's CIFAR and Tiny rows
 * switch from water to mud at 4, where severity 3's water (sd 0.3, three times the others')
 * covers more of the image than the mud does. The CIFAR and Tiny elastic transforms' random
 * affine part shrinks with severity (0.08 -> 0.03 of the side) as the elastic part grows,
 * and the affine part moves more pixels: their originals' distance falls too (CIFAR, 40
 * draws of the original code on the 32-px input: 0.081 0.075 0.068 0.062 0.053; ours 0.084
 * 0.073 0.071 0.058 0.053). Saturate's rows 1-2 desaturate (S x 0.3, x 0.1) and 3-5
 * oversaturate from S x 2 (x 1.5 at CIFAR): severity 3 changes less than 2 in every table. */
static bool distance_exempt(rp_corruption c, rp_corrupt_table t, int s)
{
    bool original = t != RP_CTABLE_IMAGENET;
    return c == RP_CORR_FROST || (c == RP_CORR_SPATTER && original && s == 4) || (c == RP_CORR_ELASTIC && original) ||
           (c == RP_CORR_SATURATE && s == 3);
}

/* A natural-ish test image of (S, S, C): the S x S crop at (oy, ox) of the R-px reference
 * input; C = 1 takes its luminance. */
static float *test_image(int S, int C, int R, int oy, int ox)
{
    ref_set r = load_set(RP_CORR_CONTRAST, R);
    float *x = malloc((size_t)S * S * C * sizeof(float));
    for (int y = 0; y < S; y++)
        for (int k = 0; k < S; k++) {
            const float *p = r.in + ((size_t)(y + oy) * R + k + ox) * 3;
            float *o = x + ((size_t)y * S + k) * C;
            if (C == 3) memcpy(o, p, 3 * sizeof(float));
            else o[0] = 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];
        }
    free_set(&r);
    return x;
}

/* Outputs in [0, 1] for every table, severity and C; saturate the identity on grayscale;
 * the mean distance |out - in| (8 draws) at the table an image of that size uses grows
 * with severity (not strictly where two rows share their strength: listed below). */
static void test_tables_range_gray_monotone(void **state)
{
    (void)state;
    static const int SIZES[3] = {28, 32, 64};
    for (int m = 0; m < N_MINE; m++) {
        rp_corruption c = MINE[m];
        for (int z = 0; z < 3; z++)
            for (int C = 1; C <= 3; C += 2) {
                int S = SIZES[z];
                size_t X = (size_t)S * S * C;
                float *in = test_image(S, C, S == 64 ? 64 : 32, 0, 0);
                for (int t = 0; t < RP_CTABLE_COUNT; t++)
                    for (int s = 1; s <= 5; s++) {
                        float *x = run_mine(c, s, (rp_corrupt_table)t, in, S, S, C, 3);
                        for (size_t i = 0; i < X; i++)
                            if (!(x[i] >= 0.0f && x[i] <= 1.0f))
                                fail_msg("%s table %d severity %d %dx%dx%d: value %g at %zu outside [0, 1]",
                                         rp_corruption_name(c), t, s, S, S, C, x[i], i);
                        if (c == RP_CORR_SATURATE && C == 1) assert_memory_equal(x, in, X * sizeof(float));
                        free(x);
                    }
                free(in);
                if (c == RP_CORR_SATURATE && C == 1) continue;
                /* distance: 8 draws on each image: the input itself and, below 64 px, the
                 * four corners of the 64-px input (one image lets block phases decide
                 * pixelate's order at 28 and 32 px) */
                rp_corrupt_table t = rp_corrupt_table_for(S, S);
                int crops = S == 64 ? 1 : 5;
                double dist[6] = {0}, w = 1.0 / (8.0 * crops * (double)X);
                for (int q = 0; q < crops; q++) {
                    in = q == 0 ? test_image(S, C, S == 64 ? 64 : 32, 0, 0) : test_image(S, C, 64, (64 - S) * ((q - 1) / 2), (64 - S) * ((q - 1) % 2));
                    for (int s = 1; s <= 5; s++)
                        for (int k = 0; k < 8; k++) {
                            float *x = run_mine(c, s, t, in, S, S, C, (uint64_t)k);
                            for (size_t i = 0; i < X; i++) dist[s] += fabs((double)x[i] - in[i]) * w;
                            free(x);
                        }
                    free(in);
                }
                if (getenv("RP_TEST_VERBOSE"))
                    printf("%-18s %2dpx C=%d: %.4f %.4f %.4f %.4f %.4f\n", rp_corruption_name(c), S, C, dist[1],
                           dist[2], dist[3], dist[4], dist[5]);
                for (int s = 2; s <= 5; s++)
                    if (dist[s] <= dist[s - 1] && !distance_exempt(c, t, s))
                        fail_msg("%s %dpx C=%d: mean distance %.4f at severity %d, %.4f at %d", rp_corruption_name(c),
                                 S, C, dist[s], s, dist[s - 1], s - 1);
            }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contrast_ref),
        cmocka_unit_test(test_brightness_ref),
        cmocka_unit_test(test_saturate_ref),
        cmocka_unit_test(test_pixelate_ref),
        cmocka_unit_test(test_jpeg_ref),
        cmocka_unit_test(test_snow_distribution),
        cmocka_unit_test(test_frost_distribution),
        cmocka_unit_test(test_fog_distribution),
        cmocka_unit_test(test_spatter_distribution),
        cmocka_unit_test(test_elastic_distribution),
        cmocka_unit_test(test_tables_range_gray_monotone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
