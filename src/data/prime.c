/* PRIME: three max-entropy primitives and their mixing (see prime.h for the maths and the
 * authors' code it follows). */
#include "data/prime.h"

#include <math.h>
#include <string.h>

#include "core/rng_dist.h"
#include "core/status.h"
#include "data/corrupt.h"

#define PI 3.14159265358979323846

/* fminf/fmaxf are library calls without -ffast-math; these inline (NaN, which [0, 1] inputs
 * never produce, maps to the lower bound). */
static inline float clamp01(float v) { return v > 0.0f ? (v < 1.0f ? v : 1.0f) : 0.0f; }
static inline float clampf(float v, float lo, float hi) { return v > lo ? (v < hi ? v : hi) : lo; }

void rp_prime_config_default(rp_prime_config *cfg)
{
    *cfg = (rp_prime_config){
        .mixture_width = 3,
        .mixture_depth = -1,
        .max_depth = 3,
        .dirichlet_alpha = 1.0f,
        .beta_a = 1.0f,
        .beta_b = 1.0f,
        .enable = {true, true, true},
        .diffeo_sT = 1.0f,
        .diffeo_rT = 1.0f,
        .diffeo_scut = 1.0f,
        .diffeo_rcut = 1.0f,
        .diffeo_cutmin = 2,
        .diffeo_cutmax = 100,
        .diffeo_alpha = 1.0f,
        .colour_cut = 100,
        .colour_T = 0.01f,
        .filter_size = 3,
        .filter_sigma = 4.0f,
        .filter_delta_ceil = false,
    };
}

static const char *const NAMES[RP_PRIME_COUNT] = {"spatial", "colour", "spectral"};

const char *rp_prime_primitive_name(rp_prime_primitive p)
{
    RP_ASSERT(p >= 0 && p < RP_PRIME_COUNT);
    return NAMES[p];
}

/* Fixed before any measurement: what each primitive can imitate. */
unsigned rp_prime_families(rp_prime_primitive p)
{
    RP_ASSERT(p >= 0 && p < RP_PRIME_COUNT);
    static const unsigned FAM[RP_PRIME_COUNT] = {
        [RP_PRIME_SPATIAL] = (1u << RP_FAMILY_DIGITAL) | (1u << RP_FAMILY_GEOMETRIC),
        [RP_PRIME_COLOUR] = (1u << RP_FAMILY_WEATHER) | (1u << RP_FAMILY_DIGITAL),
        [RP_PRIME_SPECTRAL] = (1u << RP_FAMILY_BLUR),
    };
    return FAM[p];
}

const char *rp_prime_family_reason(rp_prime_primitive p)
{
    RP_ASSERT(p >= 0 && p < RP_PRIME_COUNT);
    static const char *const WHY[RP_PRIME_COUNT] = {
        [RP_PRIME_SPATIAL] = "a smooth random displacement field resampled bilinearly is elastic_transform's "
                             "construction (digital); its low modes are small local shears/scalings (geometric)",
        [RP_PRIME_COLOUR] = "smooth per-channel intensity curves include brightness shifts (weather) and "
                            "contrast and saturation changes (digital)",
        [RP_PRIME_SPECTRAL] = "random K x K filters span the convolutions that defocus, Gaussian and motion "
                              "blur are (blur)",
    };
    return WHY[p];
}

/* ---- sampling (Gamma, Beta: core/rng_dist.h, shared with AugMix) ---- */

/* Uniform in (0, 1), never 0 or 1. */
static double uniform_open(rp_rng *r) { return ((double)rp_rng_u32(r) + 0.5) / 4294967296.0; }

/* n standard normals, Marsaglia's polar method (no trigonometry), both outputs used. */
static void normal_fill(rp_rng *r, float *out, size_t n)
{
    for (size_t i = 0; i < n; i += 2) {
        double u, v, s;
        do {
            u = 2.0 * uniform_open(r) - 1.0;
            v = 2.0 * uniform_open(r) - 1.0;
            s = u * u + v * v;
        } while (s >= 1.0 || s == 0.0);
        double f = sqrt(-2.0 * log(s) / s);
        out[i] = (float)(u * f);
        if (i + 1 < n) out[i + 1] = (float)(v * f);
    }
}

void rp_prime_mixing_weights(const rp_prime_config *cfg, rp_rng *rng, float *ws, float *m)
{
    int K = cfg->mixture_width;
    RP_ASSERT(K >= 1 && K <= RP_PRIME_MAX_WIDTH);
    double g[RP_PRIME_MAX_WIDTH], sum = 0;
    for (int k = 0; k < K; k++) sum += g[k] = rp_rng_gamma(rng, cfg->dirichlet_alpha);
    for (int k = 0; k < K; k++) ws[k] = (float)(g[k] / sum);
    *m = (float)rp_rng_beta(rng, cfg->beta_a, cfg->beta_b);
}

/* ---- spectral ---- */

void rp_prime_spectral_kernel(const float *g, float sigma, int K, bool delta_ceil, float *kernel)
{
    RP_ASSERT(K >= 1 && K <= RP_PRIME_MAX_KERNEL);
    int c = delta_ceil ? (K + 1) / 2 : (K - 1) / 2;
    RP_ASSERT(c < K); /* the code's ceil(K/2) is out of range for K = 1 */
    for (int i = 0; i < K * K; i++) kernel[i] = sigma * g[i];
    kernel[c * K + c] += 1.0f;
}

void rp_prime_spectral_apply(const float *x, float *out, int H, int W, int C, const float *kernel, int K)
{
    int pb = (K - 1) / 2; /* padding before; K/2 after */
    for (int y = 0; y < H; y++)
        for (int xx = 0; xx < W; xx++)
            for (int c = 0; c < C; c++) {
                float s = 0.0f;
                for (int i = 0; i < K; i++) {
                    int yy = y + i - pb;
                    if (yy < 0 || yy >= H) continue;
                    const float *row = x + (size_t)yy * W * C + c;
                    for (int j = 0; j < K; j++) {
                        int xs = xx + j - pb;
                        if (xs >= 0 && xs < W) s += kernel[i * K + j] * row[(size_t)xs * C];
                    }
                }
                out[((size_t)y * W + xx) * C + c] = clamp01(s);
            }
}

static void spectral_random(const rp_prime_config *cfg, const float *x, float *out, int H, int W, int C,
                            rp_rng *rng)
{
    int K = cfg->filter_size;
    RP_ASSERT(K >= 1 && K <= RP_PRIME_MAX_KERNEL);
    float g[RP_PRIME_MAX_KERNEL * RP_PRIME_MAX_KERNEL], kernel[RP_PRIME_MAX_KERNEL * RP_PRIME_MAX_KERNEL];
    float sigma = cfg->filter_sigma * rp_rng_uniform(rng);
    normal_fill(rng, g, (size_t)K * K);
    rp_prime_spectral_kernel(g, sigma, K, cfg->filter_delta_ceil, kernel);
    rp_prime_spectral_apply(x, out, H, W, C, kernel, K);
}

/* ---- colour ---- */

/* Clenshaw's sum of a_k sin(k theta), k = 1..K, on blocks of pixels so the loop over pixels
 * vectorises; double because the recurrence amplifies rounding near theta = 0 and pi. */
#define COLOUR_BLOCK 64
void rp_prime_colour_apply(const float *x, float *out, int H, int W, int C, const float *coeff, int K)
{
    size_t P = (size_t)H * W;
    double c2[COLOUR_BLOCK], sn[COLOUR_BLOCK], b1[COLOUR_BLOCK], b2[COLOUR_BLOCK];
    for (int c = 0; c < C; c++) {
        const float *a = coeff + (size_t)c * K;
        for (size_t p0 = 0; p0 < P; p0 += COLOUR_BLOCK) {
            int n = P - p0 < COLOUR_BLOCK ? (int)(P - p0) : COLOUR_BLOCK;
            for (int i = 0; i < n; i++) {
                double t = PI * x[(p0 + i) * C + c];
                c2[i] = 2.0 * cos(t);
                sn[i] = sin(t);
                b1[i] = b2[i] = 0.0;
            }
            for (int k = K; k >= 1; k--) {
                double ak = a[k - 1];
#pragma omp simd
                for (int i = 0; i < n; i++) {
                    double b0 = ak + c2[i] * b1[i] - b2[i];
                    b2[i] = b1[i];
                    b1[i] = b0;
                }
            }
            for (int i = 0; i < n; i++) {
                size_t o = (p0 + i) * C + c;
                float v = (float)((double)x[o] + b1[i] * sn[i]);
                out[o] = clamp01(v);
            }
        }
    }
}

static void colour_random(const rp_prime_config *cfg, const float *x, float *out, int H, int W, int C,
                          rp_rng *rng)
{
    RP_ASSERT(cfg->colour_cut >= 1 && cfg->colour_cut <= RP_PRIME_MAX_COLOUR_CUT && C <= 3);
    float coeff[3 * RP_PRIME_MAX_COLOUR_CUT];
    int K = 1 + (int)rp_rng_below(rng, (uint32_t)cfg->colour_cut);
    float sT = sqrtf(cfg->colour_T * rp_rng_uniform(rng));
    normal_fill(rng, coeff, (size_t)C * K);
    for (int i = 0; i < C * K; i++) coeff[i] *= sT;
    rp_prime_colour_apply(x, out, H, W, C, coeff, K);
}

/* ---- spatial ---- */

void rp_prime_spatial_apply(const float *x, float *out, int H, int W, int C, const float *dx, const float *dy)
{
    for (int y = 0; y < H; y++)
        for (int xx = 0; xx < W; xx++) {
            size_t p = (size_t)y * W + xx;
            float xn = clampf((float)xx - dx[p], 0.0f, (float)(W - 1));
            float yn = clampf((float)y - dy[p], 0.0f, (float)(H - 1));
            float xf = floorf(xn), yf = floorf(yn);
            int x0 = (int)xf, y0 = (int)yf, x1 = (int)ceilf(xn), y1 = (int)ceilf(yn);
            float xv = xn - xf, yv = yn - yf;
            const float *a00 = x + ((size_t)y0 * W + x0) * C, *a01 = x + ((size_t)y0 * W + x1) * C;
            const float *a10 = x + ((size_t)y1 * W + x0) * C, *a11 = x + ((size_t)y1 * W + x1) * C;
            for (int c = 0; c < C; c++) {
                float v = (1 - yv) * (1 - xv) * a00[c] + (1 - yv) * xv * a01[c] + yv * (1 - xv) * a10[c] +
                          yv * xv * a11[c];
                out[p * C + c] = clamp01(v);
            }
        }
}

void rp_prime_temperature_range(int n, int cut, double *T1, double *T2)
{
    double c = (double)cut + 1e-6, lg = log(c);
    *T1 = 1.0 / (PI * (double)n * n * lg);
    *T2 = 4.0 / (PI * PI * PI * c * c * lg);
}

void rp_prime_spatial_params(const rp_prime_config *cfg, int n, rp_rng *rng, int *cut, float *T)
{
    int lo = cfg->diffeo_cutmin, hi = cfg->diffeo_cutmax;
    RP_ASSERT(lo >= 2 && hi > lo);
    int cmax = lo + 1 + (int)rp_rng_below(rng, (uint32_t)(hi - lo)); /* randint(lo + 1, hi + 1) */
    double s = cfg->diffeo_scut, r = cfg->diffeo_rcut;
    double b = rp_rng_beta(rng, s - s / (r + 1.0), s / (r + 1.0));
    int k = (int)(b * (cmax + 1 - lo) + lo);
    *cut = k > cmax ? cmax : k;
    double T1, T2;
    rp_prime_temperature_range(n, *cut, &T1, &T2);
    T2 = fmax(T1, cfg->diffeo_alpha * T2);
    s = cfg->diffeo_sT;
    r = cfg->diffeo_rT;
    *T = (float)(rp_rng_beta(rng, s - s / (r + 1.0), s / (r + 1.0)) * (T2 - T1) + T1);
}

/* Modes above n - 2 alias on the n-point grid p/(n-1): with L = n - 1, sin(pi k p/L) depends
 * on k mod 2L; residues 0 and L vanish, r < L is mode r, r > L is minus mode 2L - r. The
 * field is computed on the folded modes 1..n-2. */
typedef struct field_ws {
    int KW, KH;       /* folded modes along x (W) and y (H): max(n - 2, 0) */
    float *sW, *sH;   /* (KW, W), (H, KH): sin(pi a p/(n-1)), a = 1..K */
    float *var, *coef; /* (KH, KW) */
    float *tmp;       /* (KW) */
} field_ws;

static int folded_modes(int n) { return n > 2 ? n - 2 : 0; }

static size_t field_ws_floats(int H, int W)
{
    size_t KW = (size_t)folded_modes(W), KH = (size_t)folded_modes(H);
    return (size_t)W * KW + (size_t)H * KH + 2 * KW * KH + KW;
}

/* s[p * sp + (a - 1) * sa] = sin(pi a p/(n-1)), a = 1..K, by the recurrence
 * sin((a+1) t) = 2 cos(t) sin(a t) - sin((a-1) t) in double. */
static void sine_table(int n, int K, float *s, size_t sp, size_t sa)
{
    if (K == 0) return; /* n < 3: every mode vanishes on the grid */
    for (int p = 0; p < n; p++) {
        double t = PI * p / (n - 1), c2 = 2.0 * cos(t), s0 = 0.0, s1 = sin(t);
        for (int a = 0; a < K; a++) {
            s[p * sp + a * sa] = (float)s1;
            double s2 = c2 * s1 - s0;
            s0 = s1;
            s1 = s2;
        }
    }
}

static field_ws field_layout(float *scratch, int H, int W)
{
    field_ws f = {.KW = folded_modes(W), .KH = folded_modes(H)};
    f.sW = scratch;
    f.sH = f.sW + (size_t)W * f.KW;
    f.var = f.sH + (size_t)H * f.KH;
    f.coef = f.var + (size_t)f.KW * f.KH;
    f.tmp = f.coef + (size_t)f.KW * f.KH;
    sine_table(W, f.KW, f.sW, 1, (size_t)W);
    sine_table(H, f.KH, f.sH, (size_t)f.KH, 1);
    return f;
}

/* Step k -> k + 1 of the folding of mode k on an n-point grid: state is k mod 2L. */
static inline int fold_index(int r, int L, float *sign)
{
    if (r == 0 || r == L) return 0;
    if (r < L) {
        *sign = 1.0f;
        return r;
    }
    *sign = -1.0f;
    return 2 * L - r;
}

/* Fold the disc i^2 + j^2 < (cut + 1/2)^2, i, j in 1..cut, onto the (KW, KH) modes: with g
 * (cut, cut) given, out[a][b] += sign g_ij / r (the field's coefficients); with g NULL,
 * out[a][b] += 1 / r^2 (their variance when g is random). out is zeroed here. */
static void fold_disc(const field_ws *f, int H, int W, int cut, const float *g, float *out)
{
    memset(out, 0, (size_t)f->KW * f->KH * sizeof *out);
    if (!f->KW || !f->KH) return;
    int LW = W - 1, LH = H - 1;
    double R2 = (cut + 0.5) * (cut + 0.5);
    int ri = 0; /* i mod 2 LW */
    for (int i = 1; i <= cut; i++) {
        ri = ri + 1 == 2 * LW ? 0 : ri + 1;
        float si = 0.0f;
        int a = fold_index(ri, LW, &si);
        int rj = 0;
        for (int j = 1; j <= cut; j++) {
            rj = rj + 1 == 2 * LH ? 0 : rj + 1;
            double r2 = (double)i * i + (double)j * j;
            if (r2 >= R2) break;
            float sj = 0.0f;
            int b = fold_index(rj, LH, &sj);
            if (!a || !b) continue;
            float *o = out + (size_t)(b - 1) * f->KW + (a - 1);
            if (g)
                *o += si * sj * (float)(g[(size_t)(i - 1) * cut + (j - 1)] / sqrt(r2));
            else
                *o += (float)(1.0 / r2);
        }
    }
}

/* u (H, W) = scale sum_{a,b} coef[b][a] sW[a][x] sH[y][b], as two rows of axpys so that the
 * inner loops vectorise without reassociating a sum. */
static void field_eval(const field_ws *f, int H, int W, float scale, float *u)
{
    int KW = f->KW, KH = f->KH;
    float *t = f->tmp;
    for (int y = 0; y < H; y++) {
        const float *sh = f->sH + (size_t)y * KH;
        for (int a = 0; a < KW; a++) t[a] = 0.0f;
        for (int b = 0; b < KH; b++) {
            const float *cb = f->coef + (size_t)b * KW;
            float h = sh[b];
#pragma omp simd
            for (int a = 0; a < KW; a++) t[a] += h * cb[a];
        }
        float *row = u + (size_t)y * W;
        for (int xx = 0; xx < W; xx++) row[xx] = 0.0f;
        for (int a = 0; a < KW; a++) {
            const float *sa = f->sW + (size_t)a * W;
            float ta = scale * t[a];
#pragma omp simd
            for (int xx = 0; xx < W; xx++) row[xx] += ta * sa[xx];
        }
    }
}

void rp_prime_spatial_field(const float *g, int cut, float scale, int H, int W, float *u, float *scratch)
{
    RP_ASSERT(cut >= 1);
    field_ws f = field_layout(scratch, H, W);
    fold_disc(&f, H, W, cut, g, f.coef);
    field_eval(&f, H, W, scale, u);
}

static void spatial_random(const rp_prime_config *cfg, const float *x, float *out, int H, int W, int C,
                           rp_rng *rng, float *scratch)
{
    int cut;
    float T;
    rp_prime_spatial_params(cfg, W, rng, &cut, &T);
    size_t HW = (size_t)H * W;
    float *dx = scratch, *dy = scratch + HW;
    field_ws f = field_layout(scratch + 2 * HW, H, W);
    size_t KK = (size_t)f.KW * f.KH;
    fold_disc(&f, H, W, cut, NULL, f.var);
    for (size_t i = 0; i < KK; i++) f.var[i] = sqrtf(f.var[i]); /* now the standard deviation */
    float *disp[2] = {dx, dy};
    float scale[2] = {sqrtf(T) * (float)W, sqrtf(T) * (float)H};
    for (int d = 0; d < 2; d++) {
        normal_fill(rng, f.coef, KK);
        for (size_t i = 0; i < KK; i++) f.coef[i] *= f.var[i];
        field_eval(&f, H, W, scale[d], disp[d]);
    }
    rp_prime_spatial_apply(x, out, H, W, C, dx, dy);
}

/* ---- mixing ---- */

size_t rp_prime_scratch_floats(int H, int W, int C)
{
    size_t N = (size_t)H * W * C;
    return 2 * N + 2 * (size_t)H * W + field_ws_floats(H, W);
}

void rp_prime_primitive_random(const rp_prime_config *cfg, rp_prime_primitive p, const float *x, float *out,
                               int H, int W, int C, rp_rng *rng, float *scratch)
{
    switch (p) {
    case RP_PRIME_SPATIAL: spatial_random(cfg, x, out, H, W, C, rng, scratch); break;
    case RP_PRIME_COLOUR: colour_random(cfg, x, out, H, W, C, rng); break;
    case RP_PRIME_SPECTRAL: spectral_random(cfg, x, out, H, W, C, rng); break;
    default: RP_ASSERT(!"unknown PRIME primitive");
    }
}

void rp_prime_image(const rp_prime_config *cfg, const float *x, float *out, int H, int W, int C, rp_rng *rng,
                    float *scratch)
{
    RP_ASSERT(H >= 1 && W >= 1 && (C == 1 || C == 3) && cfg->max_depth >= 1);
    size_t N = (size_t)H * W * C;
    float ws[RP_PRIME_MAX_WIDTH], m;
    rp_prime_mixing_weights(cfg, rng, ws, &m);
    rp_prime_primitive enabled[RP_PRIME_COUNT];
    int n_enabled = 0;
    for (int p = 0; p < RP_PRIME_COUNT; p++)
        if (cfg->enable[p]) enabled[n_enabled++] = (rp_prime_primitive)p;

    float *work = scratch + 2 * N;
    memset(out, 0, N * sizeof *out);
    for (int w = 0; w < cfg->mixture_width; w++) {
        float *chain = scratch, *tmp = scratch + N;
        memcpy(chain, x, N * sizeof *chain);
        int depth = 1 + (int)rp_rng_below(rng, (uint32_t)cfg->max_depth);
        if (cfg->mixture_depth > 0 && depth > cfg->mixture_depth) depth = cfg->mixture_depth;
        for (int d = 0; d < depth && n_enabled > 0; d++) {
            rp_prime_primitive p = enabled[rp_rng_below(rng, (uint32_t)n_enabled)];
            rp_prime_primitive_random(cfg, p, chain, tmp, H, W, C, rng, work);
            float *t = chain;
            chain = tmp;
            tmp = t;
        }
        for (size_t i = 0; i < N; i++) out[i] += ws[w] * chain[i];
    }
    for (size_t i = 0; i < N; i++) {
        float v = (1.0f - m) * x[i] + m * out[i];
        out[i] = clamp01(v);
    }
}
