/* Winograd F(2x2, 3x3): 3x3 stride-1 one-group convolutions with 2.25x fewer multiplies.
 *
 * Output pixels are taken in 2x2 tiles. For each tile and channel the 4x4 input patch d (zero
 * outside the image) becomes V = B^T d B, each 3x3 weight g becomes U = G g G^T, and the
 * tile's outputs are A^T M A with M = sum over channels of U ⊙ V. The 16 positions ξ of M are
 * independent matrix products, M_ξ (tiles, OC) = V_ξ (tiles, C) x U_ξ (C, OC): 16 products
 * per (c, o) pair and 4 outputs instead of 36.
 *
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
 *   G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
 *   A^T = [1 1 1 0; 0 1 -1 -1]
 *
 * The input gradient is the same kind of convolution: dy with each weight flipped and its
 * channels transposed, padding 2 - pad, which gives back an H x W output. The weight gradient
 * is the transpose of the forward identity (differentiate y = A^T[(G g G^T) ⊙ (B^T d B)]A
 * in g): dg = G^T [ sum over tiles of (A dy A^T) ⊙ (B^T d B) ] G, the sum over tiles being
 * 16 products P_ξ (C, OC) = V_ξ^T (C, tiles) x DY_ξ (tiles, OC), per slot and then over
 * slots in order (so the result does not depend on the thread count).
 *
 * The transforms add and subtract before the products, so results equal the direct sums to
 * float rounding of the terms' magnitudes, not bit for bit (tests/test_kernels_fast.c bounds
 * the difference). Products through gemm_direct at the AVX-512 level, cblas_sgemm below. */
#include <string.h>

#include "core/status.h"
#include "kernels/blas.h"
#include "kernels/conv2d.h"
#include "kernels/gemm_direct.h"
#include "kernels/simd.h"

/* Tiles per block of samples, about (a block is whole samples): the block's transformed input
 * and products (16 x tiles x (C + OC) floats) stay in the core's L2 for channel counts up to
 * a few hundred. */
#define WINO_TILES 96

/* One convolution as the tiles see it: input (B, H, W, C), output (B, OH, OW, OC) with
 * OH = H + 2 pad - 2; TH x TW tiles per sample, nb samples per block. */
typedef struct wino_pass {
    int B, H, W, C, OH, OW, OC, pad, TH, TW, nb;
} wino_pass;

static wino_pass pass_make(int B, int H, int W, int C, int OC, int pad)
{
    wino_pass p = {.B = B, .H = H, .W = W, .C = C, .OC = OC, .pad = pad};
    p.OH = H + 2 * pad - 2;
    p.OW = W + 2 * pad - 2;
    p.TH = (p.OH + 1) / 2;
    p.TW = (p.OW + 1) / 2;
    int ts = p.TH * p.TW;
    p.nb = ts >= WINO_TILES ? 1 : WINO_TILES / ts;
    return p;
}

/* The forward, and the input gradient as a forward of dy. */
static wino_pass forward_pass(const conv2d_shape *s) { return pass_make(s->B, s->H, s->W, s->C, s->OC, s->pad); }
static wino_pass input_grad_pass(const conv2d_shape *s)
{
    return pass_make(s->B, s->OH, s->OW, s->OC, s->C, 2 - s->pad);
}

bool conv2d_uses_winograd(const conv2d_shape *s)
{
    return s->K == 3 && s->stride == 1 && s->groups == 1 && s->pad <= 2 && s->C >= 16 && s->OC >= 16 &&
           conv2d_uses_slots(s) && gemm_direct_applies();
}

/* Tiles a block may hold, in either pass. */
static size_t tile_cap(const conv2d_shape *s)
{
    wino_pass f = forward_pass(s), g = input_grad_pass(s);
    size_t cap = WINO_TILES, tf = (size_t)f.TH * f.TW, tg = (size_t)g.TH * g.TW;
    if (tf > cap) cap = tf;
    if (tg > cap) cap = tg;
    return cap;
}

/* Scratch: per slot a block's transformed input and products (16 x cap x (C + OC)); the
 * transformed weights (16 C OC); per slot the weight gradient's partial sums (16 C OC); a row
 * of zeros (max(C, OC)) read for the patches' pixels outside the image. */
static size_t slot_floats(const conv2d_shape *s) { return 16 * tile_cap(s) * (size_t)(s->C + s->OC); }
static size_t wsize(const conv2d_shape *s) { return 16 * (size_t)s->C * s->OC; }

size_t conv2d_winograd_scratch_floats(const conv2d_shape *s)
{
    return (size_t)s->slots * (slot_floats(s) + wsize(s)) + wsize(s) + (size_t)(s->C > s->OC ? s->C : s->OC);
}

/* Transforms ------------------------------------------------------------------------------- */

/* B^T d B of one 4x4 patch, element k = 4 i + j read by LD(k) and written by ST(k, value). */
#define WINO_IN_XFORM(T, LD, ST)                                                            \
    {                                                                                       \
        T t_[16];                                                                           \
        _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++)                                 \
        {                                                                                   \
            T d0 = LD(j), d1 = LD(4 + j), d2 = LD(8 + j), d3 = LD(12 + j);                  \
            t_[j] = d0 - d2;                                                                \
            t_[4 + j] = d1 + d2;                                                            \
            t_[8 + j] = d2 - d1;                                                            \
            t_[12 + j] = d1 - d3;                                                           \
        }                                                                                   \
        _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++)                                 \
        {                                                                                   \
            T a0 = t_[4 * i], a1 = t_[4 * i + 1], a2 = t_[4 * i + 2], a3 = t_[4 * i + 3];   \
            ST(4 * i, a0 - a2);                                                             \
            ST(4 * i + 1, a1 + a2);                                                         \
            ST(4 * i + 2, a2 - a1);                                                         \
            ST(4 * i + 3, a1 - a3);                                                         \
        }                                                                                   \
    }

/* v[k * ldv + c], k = 0..15 = B^T d B of the patch of xb (H, W, C) whose corner is (h0, w0). */
#define wino_in_BODY                                                                        \
    const float *p[16];                                                                     \
    for (int i = 0; i < 4; i++)                                                             \
        for (int j = 0; j < 4; j++) {                                                       \
            int h = h0 + i, w = w0 + j;                                                     \
            p[4 * i + j] = h >= 0 && h < H && w >= 0 && w < W ? xb + ((size_t)h * W + w) * C : zeros; \
        }                                                                                   \
    int c = 0;                                                                              \
    for (; c + RP_VL <= C; c += RP_VL) WINO_IN_XFORM(rp_vec, WIN_LDV, WIN_STV)              \
    for (; c < C; c++) WINO_IN_XFORM(float, WIN_LDS, WIN_STS)
#define WIN_LDV(k) RP_LDV(p[k] + c)
#define WIN_STV(k, val) RP_STV(v + (size_t)(k) * ldv + c, val)
#define WIN_LDS(k) p[k][c]
#define WIN_STS(k, val) (v[(size_t)(k) * ldv + c] = (val))
RP_SIMD_VARIANTS(wino_in, (float *restrict v, size_t ldv, const float *xb, const float *zeros, int H, int W,
                           int C, int h0, int w0))

/* A^T m A of one tile: m[k * ldm + o], k = 0..15; the 2x2 result plus bias (or 0) goes to the
 * pixels of ob (OH, OW, OC) from (h0, w0) that exist, added to them when acc, else to 0 (the
 * bits of adding into zeros: conv2d_backward's write mode). */
#define WINO_OUT_XFORM(T, LD, BIAS, PUT)                                                    \
    {                                                                                       \
        T s0[4], s1[4];                                                                     \
        _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++)                                 \
        {                                                                                   \
            T m0 = LD(j), m1 = LD(4 + j), m2 = LD(8 + j), m3 = LD(12 + j);                  \
            s0[j] = m0 + m1 + m2;                                                           \
            s1[j] = m1 - m2 - m3;                                                           \
        }                                                                                   \
        T bias_ = BIAS;                                                                     \
        PUT(0, 0, s0[0] + s0[1] + s0[2] + bias_);                                           \
        PUT(0, 1, s0[1] - s0[2] - s0[3] + bias_);                                           \
        PUT(1, 0, s1[0] + s1[1] + s1[2] + bias_);                                           \
        PUT(1, 1, s1[1] - s1[2] - s1[3] + bias_);                                           \
    }

#define wino_out_BODY                                                                       \
    float *q[4];                                                                            \
    for (int i = 0; i < 2; i++)                                                             \
        for (int j = 0; j < 2; j++)                                                         \
            q[2 * i + j] = h0 + i < OH && w0 + j < OW ? ob + ((size_t)(h0 + i) * OW + w0 + j) * OC : NULL; \
    int o = 0;                                                                              \
    for (; o + RP_VL <= OC; o += RP_VL)                                                     \
        WINO_OUT_XFORM(rp_vec, WOUT_LDV, b ? RP_LDV(b + o) : (rp_vec){0}, WOUT_PUTV)        \
    for (; o < OC; o++) WINO_OUT_XFORM(float, WOUT_LDS, b ? b[o] : 0.0f, WOUT_PUTS)
#define WOUT_LDV(k) RP_LDV(m + (size_t)(k) * ldm + o)
#define WOUT_LDS(k) m[(size_t)(k) * ldm + o]
#define WOUT_PUTV(i, j, val)                                                                \
    do {                                                                                    \
        float *d_ = q[2 * (i) + (j)];                                                       \
        if (d_) RP_STV(d_ + o, (acc ? RP_LDV(d_ + o) : (rp_vec){0}) + (val));                       \
    } while (0)
#define WOUT_PUTS(i, j, val)                                                                \
    do {                                                                                    \
        float *d_ = q[2 * (i) + (j)];                                                       \
        if (d_) d_[o] = (acc ? d_[o] : 0.0f) + (val);                                        \
    } while (0)
RP_SIMD_VARIANTS(wino_out, (float *ob, const float *restrict m, size_t ldm, const float *b, int OH, int OW,
                            int OC, int h0, int w0, bool acc))

/* A dy A^T of one tile of dy (the 2x2 outputs from (h0, w0), zero where they do not exist):
 * d[k * ldd + o], k = 0..15. A's rows: (1, 0), (1, 1), (1, -1), (0, -1). */
#define WINO_DY_XFORM(T, LD, ST)                                                            \
    {                                                                                       \
        T e00 = LD(0), e01 = LD(1), e10 = LD(2), e11 = LD(3), r[4][2];                      \
        r[0][0] = e00, r[0][1] = e01;                                                       \
        r[1][0] = e00 + e10, r[1][1] = e01 + e11;                                           \
        r[2][0] = e00 - e10, r[2][1] = e01 - e11;                                           \
        r[3][0] = -e10, r[3][1] = -e11;                                                     \
        _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++)                                 \
        {                                                                                   \
            ST(4 * i, r[i][0]);                                                             \
            ST(4 * i + 1, r[i][0] + r[i][1]);                                               \
            ST(4 * i + 2, r[i][0] - r[i][1]);                                               \
            ST(4 * i + 3, -r[i][1]);                                                        \
        }                                                                                   \
    }

#define wino_dy_BODY                                                                        \
    const float *p[4];                                                                      \
    for (int i = 0; i < 2; i++)                                                             \
        for (int j = 0; j < 2; j++)                                                         \
            p[2 * i + j] = h0 + i < OH && w0 + j < OW ? gb + ((size_t)(h0 + i) * OW + w0 + j) * OC : zeros; \
    int o = 0;                                                                              \
    for (; o + RP_VL <= OC; o += RP_VL) WINO_DY_XFORM(rp_vec, WDY_LDV, WDY_STV)              \
    for (; o < OC; o++) WINO_DY_XFORM(float, WDY_LDS, WDY_STS)
#define WDY_LDV(k) RP_LDV(p[k] + o)
#define WDY_STV(k, val) RP_STV(d + (size_t)(k) * ldd + o, val)
#define WDY_LDS(k) p[k][o]
#define WDY_STS(k, val) (d[(size_t)(k) * ldd + o] = (val))
RP_SIMD_VARIANTS(wino_dy, (float *restrict d, size_t ldd, const float *gb, const float *zeros, int OH, int OW,
                           int OC, int h0, int w0))

/* U (16, C, OC): U[k][c][o] = (G g G^T)_k of g = w[o][.][.][c] (OHWI), flipped (g[2-kh][2-kw])
 * when flip; with flip the roles of C and OC are swapped (U[k][o][c], the input gradient's
 * weights). */
static void weights_transform(float *U, const float *w, int OC, int C, bool flip)
{
    const int rows = flip ? OC : C, cols = flip ? C : OC;
    const size_t per_k = (size_t)rows * cols;
#pragma omp parallel for schedule(static) if (per_k > 4096)
    for (int o = 0; o < OC; o++)
        for (int c = 0; c < C; c++) {
            float g[3][3], t[4][3];
            for (int kh = 0; kh < 3; kh++)
                for (int kw = 0; kw < 3; kw++) {
                    int h = flip ? 2 - kh : kh, v = flip ? 2 - kw : kw;
                    g[kh][kw] = w[(((size_t)o * 3 + h) * 3 + v) * C + c];
                }
            for (int j = 0; j < 3; j++) { /* G g: rows */
                t[0][j] = g[0][j];
                t[1][j] = 0.5f * (g[0][j] + g[1][j] + g[2][j]);
                t[2][j] = 0.5f * (g[0][j] - g[1][j] + g[2][j]);
                t[3][j] = g[2][j];
            }
            size_t at = flip ? (size_t)o * C + c : (size_t)c * OC + o;
            for (int i = 0; i < 4; i++) { /* (G g) G^T: columns */
                U[(4 * i + 0) * per_k + at] = t[i][0];
                U[(4 * i + 1) * per_k + at] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
                U[(4 * i + 2) * per_k + at] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
                U[(4 * i + 3) * per_k + at] = t[i][2];
            }
        }
}

/* Products --------------------------------------------------------------------------------- */

/* C (M, N) = A (M, K) B (K, N), all dense. */
static void product_nn(int M, int N, int K, const float *A, const float *B, float *C, bool direct)
{
    if (direct) gemm_direct_nn(M, N, K, A, (size_t)K, B, (size_t)N, C, (size_t)N, false);
    else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, K, B, N, 0.0f, C, N);
}

/* C (M, N) (+)= A^T B, A stored (K, M), B (K, N). */
static void product_tn(int M, int N, int K, const float *A, const float *B, float *C, bool acc, bool direct)
{
    if (direct) gemm_direct_tn(M, N, K, A, (size_t)M, B, (size_t)N, C, (size_t)N, acc);
    else cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, N, K, 1.0f, A, M, B, N, acc ? 1.0f : 0.0f, C, N);
}

static void slot_range(int B, int slots, int sl, int *b0, int *b1)
{
    *b0 = (int)((long)B * sl / slots);
    *b1 = (int)((long)B * (sl + 1) / slots);
}

/* Transformed patches of samples [bs, bs + nb) of in (the pass's input) into V (16, T, C). */
static void transform_inputs(float *V, const float *in, const wino_pass *p, int bs, int nb, const float *zeros,
                             rp_simd simd)
{
    const size_t T = (size_t)nb * p->TH * p->TW, xn = (size_t)p->H * p->W * p->C;
    for (int i = 0; i < nb; i++)
        for (int th = 0; th < p->TH; th++)
            for (int tw = 0; tw < p->TW; tw++) {
                size_t t = ((size_t)i * p->TH + th) * p->TW + tw;
                RP_SIMD_CALL(simd, wino_in, (V + t * p->C, T * p->C, in + (size_t)(bs + i) * xn, zeros, p->H,
                                             p->W, p->C, 2 * th - p->pad, 2 * tw - p->pad));
            }
}

/* out = conv(in) (+ b) through U, or out += conv(in) when acc; each block of samples then gets
 * the conv's epilogue e (forward only; s is the conv's shape for it). */
static void run_pass(float *out, const float *in, const float *U, const float *b, const wino_pass *p,
                     float *scratch, const float *zeros, int slots, size_t per_slot, bool acc,
                     const conv2d_shape *s, const conv_epilogue *e)
{
    const bool direct = gemm_direct_applies();
    const rp_simd simd = rp_simd_level();
    const size_t on = (size_t)p->OH * p->OW * p->OC;
    int blas = rp_blas_single_begin();
#pragma omp parallel for schedule(dynamic, 1)
    for (int sl = 0; sl < slots; sl++) {
        float *V = scratch + (size_t)sl * per_slot;
        int b0, b1;
        slot_range(p->B, slots, sl, &b0, &b1);
        for (int bs = b0; bs < b1; bs += p->nb) {
            int nb = b1 - bs < p->nb ? b1 - bs : p->nb;
            size_t T = (size_t)nb * p->TH * p->TW;
            float *M = V + 16 * T * p->C;
            transform_inputs(V, in, p, bs, nb, zeros, simd);
            for (int k = 0; k < 16; k++)
                product_nn((int)T, p->OC, p->C, V + k * T * p->C, U + (size_t)k * p->C * p->OC,
                           M + k * T * p->OC, direct);
            for (int i = 0; i < nb; i++)
                for (int th = 0; th < p->TH; th++)
                    for (int tw = 0; tw < p->TW; tw++) {
                        size_t t = ((size_t)i * p->TH + th) * p->TW + tw;
                        RP_SIMD_CALL(simd, wino_out, (out + (size_t)(bs + i) * on, M + t * p->OC, T * p->OC, b,
                                                      p->OH, p->OW, p->OC, 2 * th, 2 * tw, acc));
                    }
            if (e) conv2d_block_epilogue(out, s, bs, nb, e);
        }
    }
    rp_blas_single_end(blas);
}

void conv2d_winograd_forward(float *y, const float *x, const float *w, const float *b, const conv2d_shape *s,
                             float *scratch, const conv_epilogue *e)
{
    RP_ASSERT(conv2d_uses_winograd(s));
    const size_t per_slot = slot_floats(s);
    float *U = scratch + (size_t)s->slots * per_slot, *zeros = U + (size_t)(s->slots + 1) * wsize(s);
    memset(zeros, 0, (size_t)(s->C > s->OC ? s->C : s->OC) * sizeof *zeros);
    weights_transform(U, w, s->OC, s->C, false);
    wino_pass p = forward_pass(s);
    run_pass(y, x, U, b, &p, scratch, zeros, s->slots, per_slot, false, s, e);
}

/* dw += G^T P G per (o, c), P (16, C, OC) the sum over slots (in order) of the slots' partials,
 * formed in slot 0's partial: first the sums, contiguous, then the transforms, reading P along o. */
static void weight_grad_finish(float *dw, float *parts, const conv2d_shape *s)
{
    const int C = s->C, OC = s->OC;
    const size_t per_k = (size_t)C * OC, nw = 16 * per_k;
#pragma omp parallel for schedule(static)
    for (size_t j = 0; j < nw; j++) {
        float sum = parts[j];
        for (int sl = 1; sl < s->slots; sl++) sum += parts[(size_t)sl * nw + j];
        parts[j] = sum;
    }
    const float *P = parts;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++)
        for (int o = 0; o < OC; o++) {
            float t[3][4];
            const float *p = P + (size_t)c * OC + o;
            for (int j = 0; j < 4; j++) { /* G^T P: rows */
                float p1 = p[(4 + j) * per_k], p2 = p[(8 + j) * per_k];
                t[0][j] = p[j * per_k] + 0.5f * (p1 + p2);
                t[1][j] = 0.5f * (p1 - p2);
                t[2][j] = 0.5f * (p1 + p2) + p[(12 + j) * per_k];
            }
            for (int i = 0; i < 3; i++) { /* (G^T P) G: columns */
                float *d = dw + (((size_t)o * 3 + i) * 3) * C + c;
                float q1 = t[i][1], q2 = t[i][2];
                d[0] += t[i][0] + 0.5f * (q1 + q2);
                d[(size_t)C] += 0.5f * (q1 - q2);
                d[2 * (size_t)C] += 0.5f * (q1 + q2) + t[i][3];
            }
        }
}

/* Each slot's partial P (16, C, OC) = sum over its samples' tiles of V^T DY, written. */
static void weight_grad_parts(float *parts, const float *dy, const float *x, const conv2d_shape *s,
                              float *scratch, const float *zeros, size_t per_slot)
{
    const bool direct = gemm_direct_applies();
    const rp_simd simd = rp_simd_level();
    const wino_pass p = forward_pass(s);
    const size_t on = (size_t)s->OH * s->OW * s->OC;
    int blas = rp_blas_single_begin();
#pragma omp parallel for schedule(dynamic, 1)
    for (int sl = 0; sl < s->slots; sl++) {
        float *V = scratch + (size_t)sl * per_slot, *part = parts + (size_t)sl * wsize(s);
        int b0, b1;
        slot_range(s->B, s->slots, sl, &b0, &b1);
        for (int bs = b0; bs < b1; bs += p.nb) {
            int nb = b1 - bs < p.nb ? b1 - bs : p.nb;
            size_t T = (size_t)nb * p.TH * p.TW;
            float *D = V + 16 * T * s->C;
            transform_inputs(V, x, &p, bs, nb, zeros, simd);
            for (int i = 0; i < nb; i++)
                for (int th = 0; th < p.TH; th++)
                    for (int tw = 0; tw < p.TW; tw++) {
                        size_t t = ((size_t)i * p.TH + th) * p.TW + tw;
                        RP_SIMD_CALL(simd, wino_dy, (D + t * s->OC, T * s->OC, dy + (size_t)(bs + i) * on, zeros,
                                                     s->OH, s->OW, s->OC, 2 * th, 2 * tw));
                    }
            for (int k = 0; k < 16; k++)
                product_tn(s->C, s->OC, (int)T, V + k * T * s->C, D + k * T * s->OC, part + (size_t)k * s->C * s->OC,
                           bs != b0, direct);
        }
    }
    rp_blas_single_end(blas);
}

void conv2d_winograd_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                              const conv2d_shape *s, float *scratch, bool acc)
{
    RP_ASSERT(conv2d_uses_winograd(s));
    if (db) conv2d_bias_grad_fast(db, dy, (size_t)s->B * s->OH * s->OW, s->OC);
    const size_t per_slot = slot_floats(s);
    float *U = scratch + (size_t)s->slots * per_slot, *parts = U + wsize(s);
    float *zeros = U + (size_t)(s->slots + 1) * wsize(s);
    memset(zeros, 0, (size_t)(s->C > s->OC ? s->C : s->OC) * sizeof *zeros);
    if (dx) {
        weights_transform(U, w, s->OC, s->C, true);
        wino_pass p = input_grad_pass(s);
        run_pass(dx, dy, U, NULL, &p, scratch, zeros, s->slots, per_slot, acc, s, NULL);
    }
    if (dw) {
        weight_grad_parts(parts, dy, x, s, scratch, zeros, per_slot);
        weight_grad_finish(dw, parts, s);
    }
}
