/* PRIME (src/data/prime.c): each primitive's identity at zero strength, range, determinism on
 * 28/32/64 px gray and colour; the filter's law (delta + sigma g, no normalisation, the code's
 * off-centre delta as an option); integer shifts of the displacement map; the folded field
 * against the direct sum of modes; the colour curve's guarantees; the distributions of the
 * mixing and diffeo draws within stated tolerances; the mixed view's range, determinism and
 * scratch bound. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/corrupt.h"
#include "data/prime.h"
#include "testutil.h"

#define PI_D 3.14159265358979323846

static const int SIZES[3] = {28, 32, 64};
static const int CHANNELS[2] = {1, 3};

/* A smooth image with texture, values spread over [0, 1] (both ends included). */
static float *test_image(int H, int W, int C, uint64_t seed)
{
    float *x = malloc((size_t)H * W * C * sizeof *x);
    rp_rng r;
    rp_rng_seed(&r, seed, 99);
    for (int y = 0; y < H; y++)
        for (int xx = 0; xx < W; xx++)
            for (int c = 0; c < C; c++) {
                float v = 0.5f + 0.45f * sinf(0.37f * xx + 0.23f * y + c) + 0.1f * (rp_rng_uniform(&r) - 0.5f);
                x[((size_t)y * W + xx) * C + c] = fminf(fmaxf(v, 0.0f), 1.0f);
            }
    x[0] = 0.0f;
    x[1] = 1.0f;
    return x;
}

static void assert_in_unit(const char *what, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(x[i] >= 0.0f && x[i] <= 1.0f)) fail_msg("%s: element %zu = %g outside [0, 1]", what, i, x[i]);
}

static void test_config_and_families(void **state)
{
    (void)state;
    rp_prime_config c;
    rp_prime_config_default(&c);
    /* config/cifar10_cfg.py and train.py */
    assert_int_equal(c.mixture_width, 3);
    assert_int_equal(c.mixture_depth, -1);
    assert_int_equal(c.max_depth, 3);
    assert_int_equal(c.diffeo_cutmin, 2);
    assert_int_equal(c.diffeo_cutmax, 100);
    assert_int_equal(c.colour_cut, 100);
    assert_float_equal(c.colour_T, 0.01, 1e-9);
    assert_int_equal(c.filter_size, 3);
    assert_float_equal(c.filter_sigma, 4.0, 0);
    assert_true(c.enable[0] && c.enable[1] && c.enable[2] && !c.filter_delta_ceil);
    assert_int_equal(rp_prime_families(RP_PRIME_SPECTRAL), 1u << RP_FAMILY_BLUR);
    assert_int_equal(rp_prime_families(RP_PRIME_SPATIAL), (1u << RP_FAMILY_DIGITAL) | (1u << RP_FAMILY_GEOMETRIC));
    assert_int_equal(rp_prime_families(RP_PRIME_COLOUR), (1u << RP_FAMILY_WEATHER) | (1u << RP_FAMILY_DIGITAL));
    unsigned all = 0;
    for (int p = 0; p < RP_PRIME_COUNT; p++) {
        all |= rp_prime_families((rp_prime_primitive)p);
        assert_true(strlen(rp_prime_family_reason((rp_prime_primitive)p)) > 20);
    }
    /* noise and occlusion are what PRIME does not claim */
    assert_int_equal(all & ((1u << RP_FAMILY_NOISE) | (1u << RP_FAMILY_OCCLUSION)), 0);
    assert_string_equal(rp_prime_primitive_name(RP_PRIME_COLOUR), "colour");
}

/* ---- spectral ---- */

static void test_spectral_delta_is_identity(void **state)
{
    (void)state;
    for (int s = 0; s < 3; s++)
        for (int ci = 0; ci < 2; ci++)
            for (int K = 1; K <= 5; K++) {
                int H = SIZES[s], W = SIZES[s] + 3, C = CHANNELS[ci];
                size_t N = (size_t)H * W * C;
                float *x = test_image(H, W, C, 1), *out = malloc(N * sizeof *out);
                float g[25], k[25];
                for (int i = 0; i < K * K; i++) g[i] = 0.3f * (float)(i - 4);
                rp_prime_spectral_kernel(g, 0.0f, K, false, k); /* zero strength */
                rp_prime_spectral_apply(x, out, H, W, C, k, K);
                assert_memory_equal(x, out, N * sizeof *x);
                free(x);
                free(out);
            }
}

/* The code's delta at ceil(K/2) = 2 for K = 3: out(y, x) = x(y + 1, x + 1), zero past the edge. */
static void test_spectral_code_delta_shifts(void **state)
{
    (void)state;
    int H = 28, W = 28, C = 3;
    float *x = test_image(H, W, C, 2), *out = malloc((size_t)H * W * C * sizeof *out);
    float g[9] = {0}, k[9];
    rp_prime_spectral_kernel(g, 0.0f, 3, true, k);
    assert_float_equal(k[8], 1.0, 0);
    rp_prime_spectral_apply(x, out, H, W, C, k, 3);
    for (int y = 0; y < H; y++)
        for (int xx = 0; xx < W; xx++)
            for (int c = 0; c < C; c++) {
                float want = (y + 1 < H && xx + 1 < W) ? x[((size_t)(y + 1) * W + xx + 1) * C + c] : 0.0f;
                assert_float_equal(out[((size_t)y * W + xx) * C + c], want, 0);
            }
    free(x);
    free(out);
}

/* No normalisation: kernel = delta + sigma g exactly; a kernel summing to 2 doubles a flat
 * interior and clips; an even kernel (K = 4) pads 1 before and 2 after, against a naive sum. */
static void test_spectral_law(void **state)
{
    (void)state;
    float g[16], k[16];
    for (int i = 0; i < 16; i++) g[i] = (float)i * 0.1f - 0.7f;
    rp_prime_spectral_kernel(g, 2.5f, 3, false, k);
    for (int i = 0; i < 9; i++) assert_float_equal(k[i], 2.5f * g[i] + (i == 4 ? 1.0f : 0.0f), 0);

    int H = 12, W = 12;
    float x[144], out[144], two[9] = {0.25f, 0.25f, 0.25f, 0.25f, 0.0f, 0.25f, 0.25f, 0.25f, 0.25f};
    for (int i = 0; i < 144; i++) x[i] = 0.4f;
    rp_prime_spectral_apply(x, out, H, W, 1, two, 3);
    assert_float_equal(out[5 * 12 + 5], 0.8, 1e-6);
    assert_float_equal(out[0], 0.3, 1e-6); /* corner: 3 of 8 neighbours inside */
    for (int i = 0; i < 144; i++) x[i] = 0.7f;
    rp_prime_spectral_apply(x, out, H, W, 1, two, 3);
    assert_float_equal(out[5 * 12 + 5], 1.0, 0);

    float *img = test_image(9, 11, 3, 3), o4[9 * 11 * 3];
    rp_prime_spectral_kernel(g, 0.2f, 4, false, k);
    rp_prime_spectral_apply(img, o4, 9, 11, 3, k, 4);
    for (int y = 0; y < 9; y++)
        for (int xx = 0; xx < 11; xx++)
            for (int c = 0; c < 3; c++) {
                double s = 0;
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++) {
                        int yy = y + i - 1, xs = xx + j - 1;
                        if (yy >= 0 && yy < 9 && xs >= 0 && xs < 11) s += k[i * 4 + j] * img[(yy * 11 + xs) * 3 + c];
                    }
                s = fmin(fmax(s, 0), 1);
                assert_float_equal(o4[(y * 11 + xx) * 3 + c], s, 1e-5);
            }
    free(img);
}

/* ---- spatial ---- */

static void test_spatial_zero_field_is_identity(void **state)
{
    (void)state;
    for (int s = 0; s < 3; s++)
        for (int ci = 0; ci < 2; ci++) {
            int H = SIZES[s], W = SIZES[s], C = CHANNELS[ci];
            size_t N = (size_t)H * W * C, HW = (size_t)H * W;
            float *x = test_image(H, W, C, 4), *out = malloc(N * sizeof *out);
            float *dx = malloc(HW * sizeof *dx), *dy = malloc(HW * sizeof *dy);
            float *scr = malloc(rp_prime_scratch_floats(H, W, 1) * sizeof *scr);
            float *g = malloc(40 * 40 * sizeof *g);
            rp_rng r;
            rp_rng_seed(&r, 5, 1);
            for (int i = 0; i < 1600; i++) g[i] = rp_rng_normal(&r);
            rp_prime_spatial_field(g, 40, 0.0f, H, W, dx, scr); /* zero temperature */
            rp_prime_spatial_field(g, 40, 0.0f, H, W, dy, scr);
            for (size_t i = 0; i < HW; i++) assert_true(dx[i] == 0.0f && dy[i] == 0.0f);
            rp_prime_spatial_apply(x, out, H, W, C, dx, dy);
            assert_memory_equal(x, out, N * sizeof *x);
            free(x), free(out), free(dx), free(dy), free(scr), free(g);
        }
}

/* dx = 2, dy = -1: out(y, x) = x(y + 1, x - 2) wherever that is inside, exactly. */
static void test_spatial_integer_shift(void **state)
{
    (void)state;
    int H = 32, W = 28, C = 3;
    size_t HW = (size_t)H * W;
    float *x = test_image(H, W, C, 6), *out = malloc(HW * C * sizeof *out);
    float *dx = malloc(HW * sizeof *dx), *dy = malloc(HW * sizeof *dy);
    for (size_t i = 0; i < HW; i++) dx[i] = 2.0f, dy[i] = -1.0f;
    rp_prime_spatial_apply(x, out, H, W, C, dx, dy);
    for (int y = 0; y + 1 < H; y++)
        for (int xx = 2; xx < W; xx++)
            for (int c = 0; c < C; c++)
                assert_float_equal(out[((size_t)y * W + xx) * C + c], x[((size_t)(y + 1) * W + xx - 2) * C + c], 0);
    /* outside, the coordinate is clamped to the edge */
    assert_float_equal(out[0], x[((size_t)1 * W + 0) * C], 0);
    free(x), free(out), free(dx), free(dy);
}

/* The folded field equals the direct sum over all modes in double (the aliasing fold is exact
 * up to rounding), below and far above the grid's n - 2 modes, square and not. */
static void test_spatial_field_fold(void **state)
{
    (void)state;
    const int cases[4][3] = {{28, 28, 5}, {28, 28, 100}, {20, 33, 60}, {64, 64, 90}};
    for (int t = 0; t < 4; t++) {
        int H = cases[t][0], W = cases[t][1], cut = cases[t][2];
        size_t HW = (size_t)H * W;
        float *g = malloc((size_t)cut * cut * sizeof *g), *u = malloc(HW * sizeof *u);
        float *scr = malloc(rp_prime_scratch_floats(H, W, 1) * sizeof *scr);
        rp_rng r;
        rp_rng_seed(&r, 7 + t, 1);
        for (int i = 0; i < cut * cut; i++) g[i] = rp_rng_normal(&r);
        float scale = 0.3f;
        rp_prime_spatial_field(g, cut, scale, H, W, u, scr);
        double maxabs = 0, maxerr = 0;
        for (int y = 0; y < H; y++)
            for (int xx = 0; xx < W; xx++) {
                double s = 0;
                for (int i = 1; i <= cut; i++)
                    for (int j = 1; j <= cut; j++) {
                        double r2 = (double)i * i + (double)j * j;
                        if (r2 >= (cut + 0.5) * (cut + 0.5)) continue;
                        s += g[(i - 1) * cut + j - 1] / sqrt(r2) * sin(PI_D * i * xx / (W - 1)) *
                             sin(PI_D * j * y / (H - 1));
                    }
                s *= scale;
                maxabs = fmax(maxabs, fabs(s));
                maxerr = fmax(maxerr, fabs(s - u[(size_t)y * W + xx]));
            }
        if (maxerr > 1e-4 * maxabs + 1e-6)
            fail_msg("%dx%d cut %d: max error %g (max |u| %g)", H, W, cut, maxerr, maxabs);
        free(g), free(u), free(scr);
    }
}

/* Diffeo draws: cut in [cutmin, cutmax], T in [T1, max(T1, T2)]; (T - T1)/(T2 - T1) ~ Beta(1/2, 1/2)
 * (mean 1/2, variance 1/8: within 4 standard errors and 5%, 20,000 draws, n = 200 so that
 * T2 > T1 for every cut); with cutmin 2, cutmax 3: cut = 2 + floor(2 b), P(3) = 1/2. */
static void test_spatial_params(void **state)
{
    (void)state;
    rp_prime_config c;
    rp_prime_config_default(&c);
    rp_rng r;
    rp_rng_seed(&r, 11, 1);
    int n = 20000;
    double s = 0, s2 = 0;
    for (int i = 0; i < n; i++) {
        int cut;
        float T;
        rp_prime_spatial_params(&c, 200, &r, &cut, &T);
        assert_true(cut >= 2 && cut <= 100);
        double T1, T2;
        rp_prime_temperature_range(200, cut, &T1, &T2);
        assert_true(T2 > T1);
        assert_true(T >= T1 * (1 - 1e-6) && T <= T2 * (1 + 1e-6));
        double b = (T - T1) / (T2 - T1);
        s += b, s2 += b * b;
    }
    double mean = s / n, var = s2 / n - mean * mean;
    assert_true(fabs(mean - 0.5) < 4 * sqrt(0.125 / n));
    assert_true(fabs(var - 0.125) < 0.05 * 0.125);
    /* at 28 px, large cuts have T2 < T1: T is T1 (half a pixel of typical displacement) */
    int cut;
    float T;
    for (int i = 0; i < 200; i++) {
        rp_prime_spatial_params(&c, 28, &r, &cut, &T);
        double T1, T2;
        rp_prime_temperature_range(28, cut, &T1, &T2);
        if (T2 <= T1) assert_float_equal(T, T1, 1e-6 * T1);
    }
    c.diffeo_cutmax = 3;
    int threes = 0;
    for (int i = 0; i < n; i++) {
        rp_prime_spatial_params(&c, 28, &r, &cut, &T);
        assert_true(cut == 2 || cut == 3);
        threes += cut == 3;
    }
    assert_true(fabs(threes / (double)n - 0.5) < 4 * sqrt(0.25 / n));
}

/* ---- colour ---- */

/* The curve x + sum a_k sin(pi k x) against the direct sum; 0 and 1 are fixed; it moves a
 * value by at most sum |a_k|; and with pi sum k |a_k| < 1 its derivative is positive, so it is
 * strictly increasing. */
static void test_colour_curve(void **state)
{
    (void)state;
    enum { P = 2001, K = 100 };
    float *x = malloc(P * sizeof *x), *out = malloc(P * sizeof *out), a[K];
    for (int i = 0; i < P; i++) x[i] = (float)i / (P - 1);
    rp_rng r;
    rp_rng_seed(&r, 12, 1);
    double bound = 0, slope = 0;
    for (int k = 0; k < K; k++) {
        a[k] = 0.05f * rp_rng_normal(&r);
        bound += fabs(a[k]);
    }
    rp_prime_colour_apply(x, out, 1, P, 1, a, K);
    assert_float_equal(out[0], 0.0, 0);
    assert_float_equal(out[P - 1], 1.0, 1e-6);
    for (int i = 0; i < P; i++) {
        double s = x[i];
        for (int k = 1; k <= K; k++) s += a[k - 1] * sin(PI_D * k * (double)x[i]);
        s = fmin(fmax(s, 0), 1);
        assert_float_equal(out[i], s, 2e-6);
        assert_true(fabs(out[i] - x[i]) <= bound + 1e-6);
    }
    /* small coefficients: monotone */
    for (int k = 0; k < K; k++) {
        a[k] = (float)(0.9 / (PI_D * K * (K + 1) / 2.0)) * (k % 3 == 0 ? 1.0f : -1.0f);
        slope += PI_D * (k + 1) * fabs(a[k]);
    }
    assert_true(slope < 1.0);
    rp_prime_colour_apply(x, out, 1, P, 1, a, K);
    for (int i = 1; i < P; i++) assert_true(out[i] > out[i - 1]);
    /* zero strength: exactly the identity; per-channel coefficients act per channel */
    float *img = test_image(28, 28, 3, 13), o3[28 * 28 * 3], a3[3 * 4] = {0};
    rp_prime_colour_apply(img, o3, 28, 28, 3, a3, 4);
    assert_memory_equal(img, o3, sizeof o3);
    a3[4] = 0.1f; /* channel 1 only */
    rp_prime_colour_apply(img, o3, 28, 28, 3, a3, 4);
    for (int p = 0; p < 28 * 28; p++) {
        assert_float_equal(o3[p * 3], img[p * 3], 0);
        assert_float_equal(o3[p * 3 + 2], img[p * 3 + 2], 0);
    }
    free(x), free(out), free(img);
}

/* ---- random primitives and the mixed view ---- */

/* Each primitive with drawn parameters: in [0, 1], the same stream gives the same bytes,
 * another stream another image; 28/32/64 px, gray and colour; scratch not overrun. */
static void test_random_primitives(void **state)
{
    (void)state;
    rp_prime_config c;
    rp_prime_config_default(&c);
    for (int p = 0; p < RP_PRIME_COUNT; p++)
        for (int s = 0; s < 3; s++)
            for (int ci = 0; ci < 2; ci++) {
                int H = SIZES[s], W = SIZES[s], C = CHANNELS[ci];
                size_t N = (size_t)H * W * C, S = rp_prime_scratch_floats(H, W, C);
                float *x = test_image(H, W, C, 20), *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
                float *scr = malloc((S + 8) * sizeof *scr);
                for (int i = 0; i < 8; i++) scr[S + i] = -7.0f;
                int differs = 0;
                for (int rep = 0; rep < 4; rep++) {
                    rp_rng r1, r2;
                    rp_rng_seed(&r1, 100 + rep, RP_STREAM_AUGMENT);
                    r2 = r1;
                    rp_prime_primitive_random(&c, (rp_prime_primitive)p, x, a, H, W, C, &r1, scr);
                    rp_prime_primitive_random(&c, (rp_prime_primitive)p, x, b, H, W, C, &r2, scr);
                    assert_memory_equal(a, b, N * sizeof *a);
                    assert_true(r1.state == r2.state);
                    assert_in_unit(rp_prime_primitive_name((rp_prime_primitive)p), a, N);
                    differs += memcmp(a, x, N * sizeof *a) != 0;
                }
                assert_true(differs >= 3);
                for (int i = 0; i < 8; i++) assert_float_equal(scr[S + i], -7.0f, 0);
                free(x), free(a), free(b), free(scr);
            }
}

/* Dirichlet(alpha) weights sum to 1 with mean 1/K each (variance (K-1)/(K^2 (K alpha + 1)));
 * m ~ Beta(a, b) in [0, 1] with mean a/(a+b) (variance ab/((a+b)^2(a+b+1))); means within 4
 * standard errors over 20,000 draws; the defaults (1; 1, 1) and (0.5; 2, 5), which takes the
 * Gamma sampler's a < 1 path. */
static void test_mixing_weights(void **state)
{
    (void)state;
    const float params[2][4] = {{3, 1.0f, 1.0f, 1.0f}, {4, 0.5f, 2.0f, 5.0f}};
    for (int t = 0; t < 2; t++) {
        rp_prime_config c;
        rp_prime_config_default(&c);
        c.mixture_width = (int)params[t][0];
        c.dirichlet_alpha = params[t][1];
        c.beta_a = params[t][2];
        c.beta_b = params[t][3];
        int K = c.mixture_width, n = 20000;
        double al = c.dirichlet_alpha, a = c.beta_a, b = c.beta_b;
        double wsum[RP_PRIME_MAX_WIDTH] = {0}, msum = 0, m2 = 0;
        rp_rng r;
        rp_rng_seed(&r, 30 + t, RP_STREAM_AUGMENT);
        for (int i = 0; i < n; i++) {
            float ws[RP_PRIME_MAX_WIDTH], m, tot = 0;
            rp_prime_mixing_weights(&c, &r, ws, &m);
            for (int k = 0; k < K; k++) {
                assert_true(ws[k] >= 0 && ws[k] <= 1);
                tot += ws[k];
                wsum[k] += ws[k];
            }
            assert_float_equal(tot, 1.0, 1e-6);
            assert_true(m >= 0 && m <= 1);
            msum += m, m2 += (double)m * m;
        }
        double wvar = (K - 1.0) / ((double)K * K * (K * al + 1)), wse = sqrt(wvar / n);
        for (int k = 0; k < K; k++)
            if (fabs(wsum[k] / n - 1.0 / K) > 4 * wse) fail_msg("case %d: weight %d mean %g", t, k, wsum[k] / n);
        double mmean = a / (a + b), mvar = a * b / ((a + b) * (a + b) * (a + b + 1));
        double got = msum / n, gvar = m2 / n - got * got;
        if (fabs(got - mmean) > 4 * sqrt(mvar / n)) fail_msg("case %d: beta mean %g, want %g", t, got, mmean);
        if (fabs(gvar - mvar) > 0.05 * mvar) fail_msg("case %d: beta variance %g, want %g", t, gvar, mvar);
    }
}

/* The view: in [0, 1], deterministic, scratch bound kept, different from x; with no primitive
 * enabled every chain is x, so the view is x (to rounding of the convex mix). */
static void test_prime_image(void **state)
{
    (void)state;
    rp_prime_config c;
    rp_prime_config_default(&c);
    for (int s = 0; s < 3; s++)
        for (int ci = 0; ci < 2; ci++) {
            int H = SIZES[s], W = SIZES[s], C = CHANNELS[ci];
            size_t N = (size_t)H * W * C, S = rp_prime_scratch_floats(H, W, C);
            float *x = test_image(H, W, C, 40), *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
            float *scr = malloc((S + 8) * sizeof *scr);
            for (int i = 0; i < 8; i++) scr[S + i] = -7.0f;
            rp_rng r1, r2;
            rp_rng_seed(&r1, 41, RP_STREAM_AUGMENT);
            int differs = 0;
            for (int rep = 0; rep < 5; rep++) {
                r2 = r1;
                rp_prime_image(&c, x, a, H, W, C, &r1, scr);
                rp_prime_image(&c, x, b, H, W, C, &r2, scr);
                assert_memory_equal(a, b, N * sizeof *a);
                assert_in_unit("prime view", a, N);
                differs += memcmp(a, x, N * sizeof *a) != 0;
            }
            assert_true(differs >= 4);
            for (int i = 0; i < 8; i++) assert_float_equal(scr[S + i], -7.0f, 0);
            rp_prime_config off = c;
            off.enable[0] = off.enable[1] = off.enable[2] = false;
            rp_prime_image(&off, x, a, H, W, C, &r1, scr);
            tu_assert_close("no primitives", a, x, N, 0.0f, 1e-6f);
            free(x), free(a), free(b), free(scr);
        }
    /* degenerate sizes: no mode fits a grid of fewer than 3 points, nothing breaks */
    const int tiny[4][2] = {{1, 1}, {2, 5}, {3, 3}, {7, 2}};
    for (int t = 0; t < 4; t++) {
        int H = tiny[t][0], W = tiny[t][1];
        float *x = test_image(H, W, 3, 42), out[7 * 5 * 3];
        float *scr = malloc(rp_prime_scratch_floats(H, W, 3) * sizeof *scr);
        rp_rng r;
        rp_rng_seed(&r, 43, RP_STREAM_AUGMENT);
        for (int rep = 0; rep < 20; rep++) {
            rp_prime_image(&c, x, out, H, W, 3, &r, scr);
            assert_in_unit("tiny view", out, (size_t)H * W * 3);
        }
        free(x), free(scr);
    }
}

/* The mixing's structure through a primitive whose effect is known: only the spectral one,
 * sigma 0 and the code's off-centre delta, i.e. a shift by (1, 1) per application. On the ramp
 * x = 0.2 + 0.01 (y + x) an interior pixel of the view moves by 0.02 m sum_k w_k d_k, whose mean
 * is E[m] E[d] = 1/2 * 2 = 1 (x 0.02) for depth ~ U{1, 2, 3} and 1/2 when mixture_depth = 1
 * caps it (the clean image weighs 1 - m; the weights sum to 1). 4,000 views, 4 standard errors. */
static void test_mixing_structure(void **state)
{
    (void)state;
    int H = 28, W = 28;
    float x[28 * 28], out[28 * 28];
    for (int y = 0; y < H; y++)
        for (int xx = 0; xx < W; xx++) x[y * W + xx] = 0.2f + 0.01f * (float)(y + xx);
    float *scr = malloc(rp_prime_scratch_floats(H, W, 1) * sizeof *scr);
    const double want[2] = {1.0, 0.5};
    for (int t = 0; t < 2; t++) {
        rp_prime_config c;
        rp_prime_config_default(&c);
        c.enable[RP_PRIME_SPATIAL] = c.enable[RP_PRIME_COLOUR] = false;
        c.filter_sigma = 0.0f;
        c.filter_delta_ceil = true;
        c.mixture_depth = t == 0 ? -1 : 1;
        rp_rng r;
        rp_rng_seed(&r, 50 + t, RP_STREAM_AUGMENT);
        int n = 4000;
        double s = 0, s2 = 0;
        for (int i = 0; i < n; i++) {
            rp_prime_image(&c, x, out, H, W, 1, &r, scr);
            double v = (out[10 * W + 10] - x[10 * W + 10]) / 0.02;
            s += v, s2 += v * v;
        }
        double mean = s / n, se = sqrt((s2 / n - mean * mean) / n);
        if (fabs(mean - want[t]) > 4 * se + 1e-4) fail_msg("case %d: mean shift %g, want %g (se %g)", t, mean, want[t], se);
    }
    free(scr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_and_families),
        cmocka_unit_test(test_spectral_delta_is_identity),
        cmocka_unit_test(test_spectral_code_delta_shifts),
        cmocka_unit_test(test_spectral_law),
        cmocka_unit_test(test_spatial_zero_field_is_identity),
        cmocka_unit_test(test_spatial_integer_shift),
        cmocka_unit_test(test_spatial_field_fold),
        cmocka_unit_test(test_spatial_params),
        cmocka_unit_test(test_colour_curve),
        cmocka_unit_test(test_random_primitives),
        cmocka_unit_test(test_mixing_weights),
        cmocka_unit_test(test_mixing_structure),
        cmocka_unit_test(test_prime_image),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
