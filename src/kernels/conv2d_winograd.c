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
 * 16 products P_ξ (C, OC) = V_ξ^T (C, tiles) x DY_ξ (tiles, OC), summed in an order fixed by
 * the shape (slot mode: per slot, then over slots; batch mode: chunk after chunk), so the result
 * does not depend on the thread count.
 *
 * The transforms add and subtract before the products, so results equal the direct sums to
 * float rounding of the terms' magnitudes, not bit for bit (tests/test_kernels_fast.c bounds
 * the difference). The products are gemm_direct's, so this runs at the AVX-512 level only; the
 * other levels take the slots or reference paths. */
#include <string.h>

#include "core/status.h"
#include "kernels/conv2d.h"
#include "kernels/gemm_direct.h"
#include "kernels/simd.h"

/* Tiles per block of samples, about (a block is whole samples): the block's transformed input
 * and products (16 x tiles x (C + OC) floats) stay in the core's L2 for channel counts up to
 * a few hundred. */
#define WINO_TILES 96
/* Batch mode: floats of one chunk's transforms (8 MiB: 128 tiles at 512 + 512 channels) */
#define WINO_CHUNK_FLOATS ((size_t)1 << 21)
/* At most this many (c, o) pairs: the transformed weights are 16 floats per pair */
#define WINO_MAX_PAIRS ((size_t)1 << 20)

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

/* At least 4 tiles per sample (outputs of 3 x 3 and up): below that the weights' transforms,
 * 16 C OC floats each way per pass, cost more than the products save (ResNet-18's last stage at
 * 64 px, 2 x 2 outputs: 17 ms against im2col's 11). */
bool conv2d_uses_winograd(const conv2d_shape *s)
{
    return s->K == 3 && s->stride == 1 && s->groups == 1 && s->pad <= 2 && s->C >= 16 && s->OC >= 16 &&
           (size_t)s->C * s->OC <= WINO_MAX_PAIRS && (s->OH + 1) / 2 * ((s->OW + 1) / 2) >= 4 &&
           gemm_direct_applies();
}

/* Slot mode (weights small enough for the slots path): fixed blocks of samples in parallel, the
 * weight gradient summed per slot and then over slots. Batch mode (larger weights, where per-slot
 * partials of 16 C OC floats would cost more than they save): the batch in chunks of samples, each
 * chunk's tiles transformed in parallel and its 16 products shared among the threads, one product
 * per position, so the weight gradient needs no partials. */
static bool slot_mode(const conv2d_shape *s) { return conv2d_uses_slots(s); }

/* Tiles per sample, the larger of the two passes' (the input gradient's output is H x W). */
static size_t sample_tiles(const conv2d_shape *s)
{
    wino_pass f = forward_pass(s), g = input_grad_pass(s);
    size_t tf = (size_t)f.TH * f.TW, tg = (size_t)g.TH * g.TW;
    return tf > tg ? tf : tg;
}

/* Tiles a slot-mode block may hold, in either pass. */
static size_t tile_cap(const conv2d_shape *s)
{
    size_t ts = sample_tiles(s);
    return ts > WINO_TILES ? ts : WINO_TILES;
}

/* Batch mode: samples per chunk, so that a chunk's transforms (16 x tiles x (C + OC)) stay within
 * WINO_CHUNK_FLOATS; a function of the shape alone (the weight gradient's sum order). */
static int chunk_samples(const conv2d_shape *s)
{
    size_t n = WINO_CHUNK_FLOATS / (16 * sample_tiles(s) * (size_t)(s->C + s->OC));
    return n < 1 ? 1 : n > (size_t)s->B ? s->B : (int)n;
}

/* Scratch. Slot mode: per slot a block's transforms and products (16 x cap x (C + OC)); the
 * transformed weights (16 C OC); per slot the weight gradient's partial sums (16 C OC). Batch
 * mode: a chunk's transforms and products; the transformed weights or the weight gradient's sums
 * (16 C OC). Both: the weights or their gradient as (tap, C, OC) (9 C OC); a row of zeros
 * (max(C, OC)) read for the patches' pixels outside the image. */
static size_t slot_floats(const conv2d_shape *s) { return 16 * tile_cap(s) * (size_t)(s->C + s->OC); }
static size_t wsize(const conv2d_shape *s) { return 16 * (size_t)s->C * s->OC; }
static size_t work_floats(const conv2d_shape *s)
{
    if (slot_mode(s)) return (size_t)s->slots * slot_floats(s);
    return 16 * (size_t)chunk_samples(s) * sample_tiles(s) * (size_t)(s->C + s->OC);
}
/* U, and in slot mode the slots' partials after it */
static size_t weight_floats(const conv2d_shape *s) { return (slot_mode(s) ? (size_t)s->slots + 1 : 1) * wsize(s); }
static size_t zeros_floats(const conv2d_shape *s) { return (size_t)(s->C > s->OC ? s->C : s->OC); }

/* U's 16 matrices as BF16 pairs (gemm_direct_bf16_pack_b), for either pass's orientation: room
 * for them at any precision (it may change between passes). */
static size_t bf16_u_words(const conv2d_shape *s)
{
    size_t f = gemm_direct_bf16_b_words(s->OC, s->C), b = gemm_direct_bf16_b_words(s->C, s->OC);
    return 16 * (f > b ? f : b);
}

size_t conv2d_winograd_scratch_floats(const conv2d_shape *s)
{
    return work_floats(s) + weight_floats(s) + 9 * (size_t)s->C * s->OC + zeros_floats(s) + bf16_u_words(s);
}

/* The scratch's parts: work (the blocks' or chunk's transforms), U (the transformed weights),
 * parts (the weight gradient's sums: after U in slot mode, U itself in batch mode, used once U is
 * done with), X (9 C OC: the weights or their gradient as (tap, C, OC)), zeros, bp (U's BF16
 * pairs when BF16 products are on). */
typedef struct wino_scratch {
    float *work, *U, *parts, *X, *zeros;
    uint32_t *bp;
} wino_scratch;

static wino_scratch carve(float *scratch, const conv2d_shape *s)
{
    wino_scratch w = {.work = scratch};
    w.U = scratch + work_floats(s);
    w.parts = slot_mode(s) ? w.U + wsize(s) : w.U;
    w.X = w.U + weight_floats(s);
    w.zeros = w.X + 9 * (size_t)s->C * s->OC;
    memset(w.zeros, 0, zeros_floats(s) * sizeof *w.zeros);
    w.bp = (uint32_t *)(void *)(w.zeros + zeros_floats(s));
    return w;
}

/* Transforms ------------------------------------------------------------------------------- */

/* A transform XFORM(type, load, store) over channels i_ < n: registers of the variant, then the
 * remaining channels one float at a time (the same operations); element k read from p[k] and
 * written to out[k * ld]. */
#define WINO_LANES(n, XFORM)                                                                \
    int i_ = 0;                                                                             \
    for (; i_ + RP_VL <= (n); i_ += RP_VL) XFORM(rp_vec, WL_LDV, WL_STV)                    \
    for (; i_ < (n); i_++) XFORM(float, WL_LDS, WL_STS)
#define WL_LDV(k) RP_LDV(p[k] + i_)
#define WL_STV(k, val) RP_STV(out + (size_t)(k) * ld + i_, val)
#define WL_LDS(k) p[k][i_]
#define WL_STS(k, val) (out[(size_t)(k) * ld + i_] = (val))

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

/* out[k * ld + c], k = 0..15 = B^T d B of the patch of xb (H, W, C) whose corner is (h0, w0). */
#define wino_in_BODY                                                                        \
    const float *p[16];                                                                     \
    for (int i = 0; i < 4; i++)                                                             \
        for (int j = 0; j < 4; j++) {                                                       \
            int h = h0 + i, w = w0 + j;                                                     \
            p[4 * i + j] = h >= 0 && h < H && w >= 0 && w < W ? xb + ((size_t)h * W + w) * C : zeros; \
        }                                                                                   \
    WINO_LANES(C, WINO_IN_XFORM)
RP_SIMD_VARIANTS(wino_in, (float *restrict out, size_t ld, const float *xb, const float *zeros, int H, int W,
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
        if (d_) RP_STV(d_ + o, (acc ? RP_LDV(d_ + o) : (rp_vec){0}) + (val));              \
    } while (0)
#define WOUT_PUTS(i, j, val)                                                                \
    do {                                                                                    \
        float *d_ = q[2 * (i) + (j)];                                                       \
        if (d_) d_[o] = (acc ? d_[o] : 0.0f) + (val);                                       \
    } while (0)
RP_SIMD_VARIANTS(wino_out, (float *ob, const float *restrict m, size_t ldm, const float *b, int OH, int OW,
                            int OC, int h0, int w0, bool acc))

/* A dy A^T of one tile of dy (the 2x2 outputs from (h0, w0), zero where they do not exist):
 * out[k * ld + o], k = 0..15. A's rows: (1, 0), (1, 1), (1, -1), (0, -1). */
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
    WINO_LANES(OC, WINO_DY_XFORM)
RP_SIMD_VARIANTS(wino_dy, (float *restrict out, size_t ld, const float *gb, const float *zeros, int OH, int OW,
                           int OC, int h0, int w0))

/* One row of U's planes: d[k * pk + q] = (G g G^T)_k for q < cols, g's tap t (kh * 3 + kw)
 * read at src[off[t] + q]. The same operations as (G g) G^T written out, vectorised over q. */
#define wino_wt_row_BODY                                                                    \
    _Pragma("omp simd") for (int q = 0; q < cols; q++) {                                    \
        const float *g = src + q;                                                           \
        float g00 = g[off[0]], g01 = g[off[1]], g02 = g[off[2]];                            \
        float g10 = g[off[3]], g11 = g[off[4]], g12 = g[off[5]];                            \
        float g20 = g[off[6]], g21 = g[off[7]], g22 = g[off[8]];                            \
        float t10 = 0.5f * (g00 + g10 + g20), t11 = 0.5f * (g01 + g11 + g21);               \
        float t12 = 0.5f * (g02 + g12 + g22), t20 = 0.5f * (g00 - g10 + g20);               \
        float t21 = 0.5f * (g01 - g11 + g21), t22 = 0.5f * (g02 - g12 + g22);               \
        WINO_WT_COLS(0, g00, g01, g02)                                                      \
        WINO_WT_COLS(1, t10, t11, t12)                                                      \
        WINO_WT_COLS(2, t20, t21, t22)                                                      \
        WINO_WT_COLS(3, g20, g21, g22)                                                      \
    }
#define WINO_WT_COLS(i, a, b, c)                                                            \
    d[(4 * (i) + 0) * pk + q] = (a);                                                        \
    d[(4 * (i) + 1) * pk + q] = 0.5f * ((a) + (b) + (c));                                   \
    d[(4 * (i) + 2) * pk + q] = 0.5f * ((a) - (b) + (c));                                   \
    d[(4 * (i) + 3) * pk + q] = (c);
RP_SIMD_VARIANTS(wino_wt_row, (float *restrict d, size_t pk, const float *restrict src, const size_t *off, int cols))

/* U (16, C, OC): U[k][c][o] = (G g G^T)_k of g = w[o][.][.][c] (OHWI), read through X = w as
 * (tap, C, OC); flipped (g[2-kh][2-kw]) with C and OC swapped when flip (U[k][o][c], the input
 * gradient's weights), read from w itself. Rows of U in parallel, vectorised along them. */
static void weights_transform(float *U, float *X, const float *w, int OC, int C, bool flip)
{
    const int rows = flip ? OC : C, cols = flip ? C : OC;
    const size_t per_k = (size_t)rows * cols;
    size_t off[9];
    for (int t = 0; t < 9; t++) off[t] = flip ? (size_t)(8 - t) * C : (size_t)t * C * OC;
    if (!flip) gemm_direct_transpose(X, w, OC, 9 * C); /* (OC, 9 C) -> (9 C, OC) */
    const rp_simd simd = rp_simd_level();
#pragma omp parallel for schedule(static) if (per_k > 4096)
    for (int r = 0; r < rows; r++) {
        const float *src = flip ? w + (size_t)r * 9 * C : X + (size_t)r * OC;
        RP_SIMD_CALL(simd, wino_wt_row, (U + (size_t)r * cols, per_k, src, off, cols));
    }
}

/* Products --------------------------------------------------------------------------------- */

/* The 16 products' weights for a pass (p->C in, p->OC out): U (16, C, OC) as it is, or with BF16
 * products on its pairs, packed here once (into bp) for every block's products to read. */
typedef struct wino_u {
    const float *U;
    const uint32_t *bp; /* NULL: FP32 */
    size_t words;       /* one matrix's pairs */
} wino_u;

static wino_u prepare_u(const float *U, uint32_t *bp, const wino_pass *p)
{
    wino_u u = {.U = U};
    if (!gemm_direct_bf16()) return u;
    u.words = gemm_direct_bf16_b_words(p->OC, p->C);
    for (int k = 0; k < 16; k++)
        gemm_direct_bf16_pack_b_threads(bp + k * u.words, U + (size_t)k * p->C * p->OC, (size_t)p->OC, false, p->OC,
                                        p->C);
    u.bp = bp;
    return u;
}

/* M (T, OC) = V (T, C) U_k (C, OC), position k's product. */
static void product_nn(int T, const wino_pass *p, const float *V, const wino_u *u, int k, float *M)
{
    if (u->bp)
        gemm_direct_bf16_nn_packed(T, p->OC, p->C, V, (size_t)p->C, u->bp + k * u->words, M, (size_t)p->OC, false);
    else
        gemm_direct_nn(T, p->OC, p->C, V, (size_t)p->C, u->U + (size_t)k * p->C * p->OC, (size_t)p->OC, M,
                       (size_t)p->OC, false, false);
}

/* C (M, N) (+)= A^T B, A stored (K, M), B (K, N). */
static void product_tn(int M, int N, int K, const float *A, const float *B, float *C, bool acc)
{
    gemm_direct_tn_weights(M, N, K, A, (size_t)M, B, (size_t)N, C, (size_t)N, acc, false,
                           gemm_direct_bf16_tn_pays(M, N));
}

static void slot_range(int B, int slots, int sl, int *b0, int *b1)
{
    *b0 = (int)((long)B * sl / slots);
    *b1 = (int)((long)B * (sl + 1) / slots);
}

/* The tiles of sample b of the pass's input into V (16, T, C) from tile t0 on. */
static void transform_sample(float *V, size_t T, size_t t0, const float *in, const wino_pass *p, int b,
                             const float *zeros, rp_simd simd)
{
    const float *xb = in + (size_t)b * p->H * p->W * p->C;
    for (int th = 0; th < p->TH; th++)
        for (int tw = 0; tw < p->TW; tw++)
            RP_SIMD_CALL(simd, wino_in, (V + (t0 + (size_t)th * p->TW + tw) * p->C, T * p->C, xb, zeros, p->H, p->W,
                                         p->C, 2 * th - p->pad, 2 * tw - p->pad));
}

/* Sample b's outputs from M (16, T, OC), its tiles from t0 on (+ b, or added when acc). */
static void output_sample(float *out, const float *M, size_t T, size_t t0, const float *bias, const wino_pass *p,
                          int b, bool acc, rp_simd simd)
{
    float *ob = out + (size_t)b * p->OH * p->OW * p->OC;
    for (int th = 0; th < p->TH; th++)
        for (int tw = 0; tw < p->TW; tw++)
            RP_SIMD_CALL(simd, wino_out, (ob, M + (t0 + (size_t)th * p->TW + tw) * p->OC, T * p->OC, bias, p->OH,
                                          p->OW, p->OC, 2 * th, 2 * tw, acc));
}

/* The tiles of dy's sample b into D (16, T, OC) from tile t0 on (the forward's tiling p). */
static void transform_dy_sample(float *D, size_t T, size_t t0, const float *dy, const wino_pass *p, int b,
                                const float *zeros, rp_simd simd)
{
    const float *gb = dy + (size_t)b * p->OH * p->OW * p->OC;
    for (int th = 0; th < p->TH; th++)
        for (int tw = 0; tw < p->TW; tw++)
            RP_SIMD_CALL(simd, wino_dy, (D + (t0 + (size_t)th * p->TW + tw) * p->OC, T * p->OC, gb, zeros, p->OH,
                                         p->OW, p->OC, 2 * th, 2 * tw));
}

/* out = conv(in) (+ bias) through U, or out += conv(in) when acc; then the conv's epilogue e
 * (forward only; s is the conv's shape for it). */
static void run_pass(float *out, const float *in, const wino_u *u, const float *bias, const wino_pass *p,
                     const conv2d_shape *s, float *work, const float *zeros, bool acc, const conv_epilogue *e)
{
    const rp_simd simd = rp_simd_level();
    const size_t ts = (size_t)p->TH * p->TW;
    if (slot_mode(s)) {
        const size_t per_slot = slot_floats(s);
#pragma omp parallel for schedule(dynamic, 1)
        for (int sl = 0; sl < s->slots; sl++) {
            float *V = work + (size_t)sl * per_slot;
            int b0, b1;
            slot_range(p->B, s->slots, sl, &b0, &b1);
            for (int bs = b0; bs < b1; bs += p->nb) {
                int nb = b1 - bs < p->nb ? b1 - bs : p->nb;
                size_t T = (size_t)nb * ts;
                float *M = V + 16 * T * p->C;
                for (int i = 0; i < nb; i++) transform_sample(V, T, i * ts, in, p, bs + i, zeros, simd);
                for (int k = 0; k < 16; k++) product_nn((int)T, p, V + k * T * p->C, u, k, M + k * T * p->OC);
                for (int i = 0; i < nb; i++) output_sample(out, M, T, i * ts, bias, p, bs + i, acc, simd);
                if (e) conv2d_block_epilogue(out, s, bs, nb, e);
            }
        }
    } else {
        const int chunk = chunk_samples(s);
        for (int c0 = 0; c0 < p->B; c0 += chunk) {
            int nb = p->B - c0 < chunk ? p->B - c0 : chunk;
            size_t T = (size_t)nb * ts;
            float *V = work, *M = V + 16 * T * p->C;
#pragma omp parallel for schedule(static)
            for (int i = 0; i < nb; i++) transform_sample(V, T, i * ts, in, p, c0 + i, zeros, simd);
#pragma omp parallel for schedule(dynamic, 1)
            for (int k = 0; k < 16; k++) product_nn((int)T, p, V + k * T * p->C, u, k, M + k * T * p->OC);
#pragma omp parallel for schedule(static)
            for (int i = 0; i < nb; i++) {
                output_sample(out, M, T, i * ts, bias, p, c0 + i, acc, simd);
                if (e) conv2d_block_epilogue(out, s, c0 + i, 1, e);
            }
        }
    }
}

void conv2d_winograd_forward(float *y, const float *x, const float *w, const float *b, const conv2d_shape *s,
                             float *scratch, const conv_epilogue *e)
{
    RP_ASSERT(conv2d_uses_winograd(s));
    wino_scratch k = carve(scratch, s);
    weights_transform(k.U, k.X, w, s->OC, s->C, false);
    wino_pass p = forward_pass(s);
    wino_u u = prepare_u(k.U, k.bp, &p);
    run_pass(y, x, &u, b, &p, s, k.work, k.zeros, false, e);
}

/* One row c of the weight gradient: x[t * ld + o] = (G^T P G)_t for o < OC, P's position k
 * read at p[k * pk + o]. Vectorised over o. */
#define wino_dw_row_BODY                                                                    \
    _Pragma("omp simd") for (int o = 0; o < OC; o++) {                                      \
        const float *q = p + o;                                                             \
        float r[3][4];                                                                      \
        _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) { /* G^T P: rows */             \
            float p1 = q[(4 + j) * pk], p2 = q[(8 + j) * pk];                               \
            r[0][j] = q[j * pk] + 0.5f * (p1 + p2);                                         \
            r[1][j] = 0.5f * (p1 - p2);                                                     \
            r[2][j] = 0.5f * (p1 + p2) + q[(12 + j) * pk];                                  \
        }                                                                                   \
        _Pragma("GCC unroll 3") for (int i = 0; i < 3; i++) { /* (G^T P) G: columns */      \
            float q1 = r[i][1], q2 = r[i][2];                                               \
            x[(3 * i + 0) * ld + o] = r[i][0] + 0.5f * (q1 + q2);                           \
            x[(3 * i + 1) * ld + o] = 0.5f * (q1 - q2);                                     \
            x[(3 * i + 2) * ld + o] = 0.5f * (q1 + q2) + r[i][3];                           \
        }                                                                                   \
    }
RP_SIMD_VARIANTS(wino_dw_row, (float *restrict x, size_t ld, const float *restrict p, size_t pk, int OC))

/* dw += G^T P G per (o, c), P (16, C, OC) the sum of n partials in order (n = 1: P itself),
 * formed in the first; the result as X (tap, C, OC), then added into dw (OC, tap, C) in blocks. */
static void weight_grad_finish(float *dw, float *parts, float *X, int n, const conv2d_shape *s)
{
    const int C = s->C, OC = s->OC;
    const size_t per_k = (size_t)C * OC, nw = 16 * per_k;
#pragma omp parallel for schedule(static)
    for (size_t j = 0; j < (n > 1 ? nw : 0); j++) {
        float sum = parts[j];
        for (int sl = 1; sl < n; sl++) sum += parts[(size_t)sl * nw + j];
        parts[j] = sum;
    }
    const rp_simd simd = rp_simd_level();
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++)
        RP_SIMD_CALL(simd, wino_dw_row, (X + (size_t)c * OC, per_k, parts + (size_t)c * OC, per_k, OC));
    const int T = 9 * C; /* dw (OC, T) += X^T, X (T, OC), in 32 x 32 blocks */
#pragma omp parallel for schedule(static)
    for (int o0 = 0; o0 < OC; o0 += 32)
        for (int t0 = 0; t0 < T; t0 += 32)
            for (int o = o0; o < o0 + 32 && o < OC; o++)
                for (int t = t0; t < t0 + 32 && t < T; t++) dw[(size_t)o * T + t] += X[(size_t)t * OC + o];
}

/* The weight gradient's sums: in slot mode each slot's partial P (16, C, OC) over its samples'
 * tiles, written into parts (slot by slot); in batch mode P itself, chunk after chunk, each
 * position's product on one thread. */
static void weight_grad_sums(float *parts, const float *dy, const float *x, const conv2d_shape *s, float *work,
                             const float *zeros)
{
    const rp_simd simd = rp_simd_level();
    const wino_pass p = forward_pass(s);
    const size_t ts = (size_t)p.TH * p.TW;
    if (slot_mode(s)) {
        const size_t per_slot = slot_floats(s);
#pragma omp parallel for schedule(dynamic, 1)
        for (int sl = 0; sl < s->slots; sl++) {
            float *V = work + (size_t)sl * per_slot, *part = parts + (size_t)sl * wsize(s);
            int b0, b1;
            slot_range(s->B, s->slots, sl, &b0, &b1);
            for (int bs = b0; bs < b1; bs += p.nb) {
                int nb = b1 - bs < p.nb ? b1 - bs : p.nb;
                size_t T = (size_t)nb * ts;
                float *D = V + 16 * T * s->C;
                for (int i = 0; i < nb; i++) {
                    transform_sample(V, T, i * ts, x, &p, bs + i, zeros, simd);
                    transform_dy_sample(D, T, i * ts, dy, &p, bs + i, zeros, simd);
                }
                for (int k = 0; k < 16; k++)
                    product_tn(s->C, s->OC, (int)T, V + k * T * s->C, D + k * T * s->OC,
                               part + (size_t)k * s->C * s->OC, bs != b0);
            }
        }
    } else {
        const int chunk = chunk_samples(s);
        for (int c0 = 0; c0 < s->B; c0 += chunk) {
            int nb = s->B - c0 < chunk ? s->B - c0 : chunk;
            size_t T = (size_t)nb * ts;
            float *V = work, *D = V + 16 * T * s->C;
#pragma omp parallel for schedule(static)
            for (int i = 0; i < nb; i++) {
                transform_sample(V, T, i * ts, x, &p, c0 + i, zeros, simd);
                transform_dy_sample(D, T, i * ts, dy, &p, c0 + i, zeros, simd);
            }
#pragma omp parallel for schedule(dynamic, 1)
            for (int k = 0; k < 16; k++)
                product_tn(s->C, s->OC, (int)T, V + k * T * s->C, D + k * T * s->OC, parts + (size_t)k * s->C * s->OC,
                           c0 > 0);
        }
    }
}

void conv2d_winograd_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                              const conv2d_shape *s, float *scratch, bool acc)
{
    RP_ASSERT(conv2d_uses_winograd(s));
    if (db) conv2d_bias_grad_fast(db, dy, (size_t)s->B * s->OH * s->OW, s->OC);
    wino_scratch k = carve(scratch, s);
    if (dx) {
        weights_transform(k.U, k.X, w, s->OC, s->C, true);
        wino_pass p = input_grad_pass(s);
        wino_u u = prepare_u(k.U, k.bp, &p);
        run_pass(dx, dy, &u, NULL, &p, s, k.work, k.zeros, acc, NULL);
    }
    if (dw) {
        weight_grad_sums(k.parts, dy, x, s, k.work, k.zeros);
        weight_grad_finish(dw, k.parts, k.X, slot_mode(s) ? s->slots : 1, s);
    }
}
