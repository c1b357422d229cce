/* Chains of convolutions in evaluation mode, a tile of samples at a time (see chain.h). */
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "core/status.h"
#include "kernels/activation.h"
#include "kernels/actmask.h"
#include "kernels/batchnorm.h"
#include "kernels/blas.h"
#include "kernels/chain.h"
#include "kernels/gemm_direct.h"

/* Per-thread floats a tile may use: the intermediates of MobileNetV2's widest early block
 * (32x32x96 expanded, 64x64 inputs) take one sample per tile and stay in a 2 MiB L2. */
#define TILE_FLOATS ((size_t)1 << 18)

static size_t align16(size_t n) { return (n + 15) & ~(size_t)15; }

static size_t in_floats(const chain_unit *u) { return (size_t)u->s.H * u->s.W * u->s.C; }
static size_t out_floats(const chain_unit *u) { return (size_t)u->s.OH * u->s.OW * u->s.OC; }

enum { UNIT_POINTWISE, UNIT_DEPTHWISE, UNIT_DIRECT };
static int kind_of(const chain_unit *u)
{
    return conv2d_uses_depthwise(&u->s) ? UNIT_DEPTHWISE : conv2d_is_pointwise(&u->s) ? UNIT_POINTWISE : UNIT_DIRECT;
}

bool chain_unit_applies(const conv2d_shape *s)
{
    return (conv2d_is_pointwise(s) && s->groups == 1) || dwconv2d_fast_applies(s) || conv2d_uses_direct(s);
}

/* Weights reordered once per call for the row kernels: depthwise (K*K, C), direct (taps, OC),
 * pointwise (C, OC) for gemm_direct_nn's forward, or with BF16 products their pairs for the
 * forward or the input gradient (gemm_direct_bf16_pack_b; room for either at any precision,
 * which may change between passes). */
static size_t wt_floats(const chain_unit *u)
{
    size_t kk = (size_t)u->s.K * u->s.K, n = kk * u->s.C * u->s.OC;
    int kind = kind_of(u);
    if (kind == UNIT_DEPTHWISE) return kk * u->s.C;
    if (kind == UNIT_POINTWISE) {
        size_t f = gemm_direct_bf16_b_words(u->s.OC, u->s.C), b = gemm_direct_bf16_b_words(u->s.C, u->s.OC);
        n = n > f ? n : f;
        n = n > b ? n : b;
    }
    return n;
}

/* Column floats of one sample for a direct unit's input gradient (conv2d_dx_sample). */
static size_t cols_floats(const conv_chain *c)
{
    size_t most = 0;
    for (int k = 0; k < c->n; k++) {
        const chain_unit *u = &c->u[k];
        size_t n = kind_of(u) == UNIT_DIRECT ? (size_t)u->s.OH * u->s.OW * u->s.K * u->s.K * u->s.C : 0;
        if (n > most) most = n;
    }
    return most;
}

/* Per sample: two buffers as large as the largest unit output (the forward's intermediates
 * and the backward's gradients ping-pong between them). */
static size_t sample_floats(const conv_chain *c)
{
    size_t most = 0;
    for (int k = 0; k < c->n; k++)
        if (out_floats(&c->u[k]) > most) most = out_floats(&c->u[k]);
    return 2 * most;
}

/* Activation masks: one bit per element of every unit output but the last, rows of
 * ceil(OC / 8) bytes, unit after unit, samples in order within a unit. */
static size_t mask_sample_bytes(const chain_unit *u) { return (size_t)u->s.OH * u->s.OW * act_mask_row_bytes(u->s.OC); }

size_t chain_mask_bytes(const conv_chain *c, int B)
{
    size_t n = 0;
    for (int k = 0; k < c->n - 1; k++) n += (size_t)B * mask_sample_bytes(&c->u[k]);
    return n;
}

/* Unit k's masks of sample b. */
static uint8_t *mask_at(const conv_chain *c, uint8_t *masks, int B, int k, int b)
{
    for (int j = 0; j < k; j++) masks += (size_t)B * mask_sample_bytes(&c->u[j]);
    return masks + (size_t)b * mask_sample_bytes(&c->u[k]);
}

/* Tiles per batch: as few as fit TILE_FLOATS; more, up to TILE_GROUPS, so that threads share
 * them, while each keeps at least TILE_ROWS GEMM rows (small GEMMs run far from peak: the
 * late blocks of MobileNetV2 have 2x2 pixels per sample); past TILE_GROUPS a multiple of it.
 * Not a function of the thread count: a tile's GEMMs, and so the results' rounding, are the
 * same whatever runs them. */
#define TILE_GROUPS 8
#define TILE_ROWS 128

int chain_tile(const conv_chain *c, int B)
{
    size_t per = sample_floats(c), rows = (size_t)c->u[0].s.H * c->u[0].s.W;
    int fit = per >= TILE_FLOATS ? 1 : (int)(TILE_FLOATS / per);
    int tiles = (B + fit - 1) / fit;
    size_t by_rows = (size_t)B * rows / TILE_ROWS;
    int spread = by_rows < TILE_GROUPS ? (int)by_rows : TILE_GROUPS;
    if (tiles < spread) tiles = spread;
    if (tiles > TILE_GROUPS) tiles = (tiles + TILE_GROUPS - 1) / TILE_GROUPS * TILE_GROUPS;
    if (tiles > B) tiles = B;
    if (tiles < 1) tiles = 1;
    return (B + tiles - 1) / tiles;
}

/* Shared: reordered weights and k1 of every unit; then one area per thread. */
static size_t shared_floats(const conv_chain *c)
{
    size_t n = 0;
    for (int k = 0; k < c->n; k++) n += align16(wt_floats(&c->u[k])) + align16((size_t)c->u[k].s.OC);
    return n;
}

static size_t thread_floats(const conv_chain *c, int tile)
{
    return 2 * align16((size_t)tile * sample_floats(c) / 2) + align16(cols_floats(c));
}

size_t chain_scratch_floats(const conv_chain *c, int B, int threads)
{
    if (threads < 1) threads = 1;
    return shared_floats(c) + (size_t)threads * thread_floats(c, chain_tile(c, B));
}

/* Pointers into the shared part: wt[k] (depthwise and direct units; pointwise units in a
 * forward with gemm_direct), bp[k] (pointwise units with BF16 products: B's pairs for the pass;
 * else NULL) and k1[k]. */
typedef struct chain_shared {
    const float *wt[CHAIN_MAX];
    const uint32_t *bp[CHAIN_MAX];
    const float *k1[CHAIN_MAX];
    bool direct; /* pointwise units through gemm_direct, else cblas_sgemm */
} chain_shared;

static chain_shared prepare(const conv_chain *c, float *scratch, bool backward)
{
    chain_shared sh = {.direct = gemm_direct_applies()};
    const bool bf16 = sh.direct && gemm_direct_bf16();
    float *p = scratch;
    for (int k = 0; k < c->n; k++) {
        const chain_unit *u = &c->u[k];
        const int C = u->s.C, OC = u->s.OC;
        if (kind_of(u) == UNIT_DEPTHWISE) {
            dwconv2d_fast_weights(p, u->w, &u->s);
        } else if (kind_of(u) == UNIT_DIRECT) {
            conv2d_direct_weights(p, u->w, &u->s);
        } else if (bf16) { /* forward: B (C, OC) = w^T; input gradient: B (OC, C) = w */
            uint32_t *bp = (uint32_t *)(void *)p;
            gemm_direct_bf16_pack_b_threads(bp, u->w, (size_t)C, !backward, backward ? C : OC, backward ? OC : C);
            sh.bp[k] = bp;
        } else if (sh.direct && !backward) {
            gemm_direct_transpose(p, u->w, OC, C);
        }
        sh.wt[k] = p;
        p += align16(wt_floats(u));
        batchnorm_eval_k1(p, u->bn.gamma, u->bn.invstd, u->s.OC); /* both passes use it */
        sh.k1[k] = p;
        p += align16((size_t)u->s.OC);
    }
    return sh;
}

/* Unit k on nb samples: out = act(bn(conv(in))), and act's mask into bits (NULL: none). A
 * pointwise unit through gemm_direct does both on each tile of the product while it is in
 * registers (k1: gamma invstd, the batch norm's scale); the others in passes over out. */
static void unit_forward(float *out, const float *in, const chain_unit *u, const float *wt, const uint32_t *bp,
                         const float *k1, bool direct, int nb, uint8_t *bits)
{
    conv2d_shape s = u->s;
    s.B = nb;
    size_t rows = (size_t)nb * s.OH * s.OW;
    if (kind_of(u) != UNIT_POINTWISE) {
        if (kind_of(u) == UNIT_DEPTHWISE) dwconv2d_fast_rows(out, in, wt, u->b, &s, 0, nb * s.OH, &u->bn, u->act);
        else conv2d_direct_rows(out, in, wt, u->b, &s, 0, nb * s.OH, &u->bn, u->act);
        if (bits) act_mask_pack(bits, out, rows, s.OC, u->act);
        return;
    }
    const gemm_direct_ep ep = {.mean = u->bn.mean, .k = k1, .beta = u->bn.beta, .act = u->act, .bits = bits,
                               .ldbits = act_mask_row_bytes(s.OC)};
    if (u->b) /* bias (or 0) + product, as the slots path */
        for (size_t r = 0; r < rows; r++) memcpy(out + r * s.OC, u->b, (size_t)s.OC * sizeof *out);
    else if (!direct)
        memset(out, 0, rows * s.OC * sizeof *out);
    if (bp) {
        gemm_direct_bf16_nn_packed_ep((int)rows, s.OC, s.C, in, (size_t)s.C, bp, out, (size_t)s.OC, u->b != NULL,
                                      &ep);
    } else if (direct) {
        gemm_direct_nn_ep((int)rows, s.OC, s.C, in, (size_t)s.C, wt, (size_t)s.OC, out, (size_t)s.OC, u->b != NULL,
                          false, &ep);
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, s.OC, s.C, 1.0f, in, s.C, u->w, s.C, 1.0f,
                    out, s.OC);
        conv2d_epilogue(out, rows, s.OC, &u->bn, u->act);
        if (bits) act_mask_pack(bits, out, rows, s.OC, u->act);
    }
}

/* The thread's two buffers, and columns for a direct unit's input gradient. */
typedef struct chain_bufs {
    float *g[2], *cols;
} chain_bufs;

static chain_bufs thread_bufs(const conv_chain *c, float *area, int tile)
{
    chain_bufs b;
    b.g[0] = area;
    b.g[1] = area + align16((size_t)tile * sample_floats(c) / 2);
    b.cols = area + 2 * align16((size_t)tile * sample_floats(c) / 2);
    return b;
}

/* Samples [b0, b0 + nb): x and y point at the tile's first sample. */
static void tile_forward(float *y, const float *x, const conv_chain *c, const chain_shared *sh,
                         const chain_bufs *bf, uint8_t *masks, int B, int b0, int nb)
{
    const float *in = x;
    for (int k = 0; k < c->n - 1; k++) {
        const chain_unit *u = &c->u[k];
        float *out = bf->g[k % 2];
        unit_forward(out, in, u, sh->wt[k], sh->bp[k], sh->k1[k], sh->direct, nb,
                     masks ? mask_at(c, masks, B, k, b0) : NULL);
        in = out;
    }
    int last = c->n - 1;
    unit_forward(y, in, &c->u[last], sh->wt[last], sh->bp[last], sh->k1[last], sh->direct, nb, NULL);
    if (c->residual) {
        size_t n = (size_t)nb * out_floats(&c->u[last]);
        for (size_t i = 0; i < n; i++) y[i] = y[i] + x[i]; /* the add node's a + b */
    }
}

/* The tiles of a batch, each on one thread with its own buffers. */
#define FOR_TILES(c, B, scratch, threads, BODY)                                                   \
    do {                                                                                          \
        int tile_ = chain_tile(c, B), ntiles_ = (B + tile_ - 1) / tile_;                         \
        float *areas_ = scratch + shared_floats(c);                                               \
        size_t per_ = thread_floats(c, tile_);                                                    \
        int blas_ = rp_blas_single_begin();                                                       \
        _Pragma("omp parallel for schedule(dynamic, 1) num_threads(threads)")                     \
        for (int t_ = 0; t_ < ntiles_; t_++) {                                                    \
            int b0 = t_ * tile_, nb = B - b0 < tile_ ? B - b0 : tile_;                            \
            chain_bufs bf = thread_bufs(c, areas_ + (size_t)omp_get_thread_num() * per_, tile_);  \
            BODY                                                                                  \
        }                                                                                         \
        rp_blas_single_end(blas_);                                                                \
    } while (0)

static void check_chain(const conv_chain *c, int threads)
{
    RP_ASSERT(c->n >= 1 && c->n <= CHAIN_MAX && threads >= 1 && c->u[c->n - 1].act == ACT_NONE);
    for (int k = 0; k < c->n - 1; k++) RP_ASSERT(c->u[k].act != ACT_NONE);
}

void chain_forward(float *y, const float *x, const conv_chain *c, int B, float *scratch, int threads,
                   uint8_t *masks)
{
    check_chain(c, threads);
    chain_shared sh = prepare(c, scratch, false);
    const size_t xn = in_floats(&c->u[0]), yn = out_floats(&c->u[c->n - 1]);
    FOR_TILES(c, B, scratch, threads,
              tile_forward(y + (size_t)b0 * yn, x + (size_t)b0 * xn, c, &sh, &bf, masks, B, b0, nb););
}

/* dx_k (nb, H, W, C of unit k) (acc: +=) from g = the gradient of unit k's output: the
 * batch norm's evaluation backward (masked by the activation's bits, unless it has none) into
 * t, then the conv's input gradient. */
static void unit_backward(float *dxk, const float *g, const chain_unit *u, const uint8_t *bits, const float *wt,
                          const uint32_t *bp,
                          const float *k1, float *t, float *cols, bool direct, int nb, bool acc)
{
    conv2d_shape s = u->s;
    s.B = nb;
    size_t rows = (size_t)nb * s.OH * s.OW;
    batchnorm_eval_dx_rows(t, g, NULL, bits, bits ? u->act : ACT_NONE, k1, rows, s.OC, false);
    if (kind_of(u) == UNIT_DEPTHWISE) {
        dwconv2d_fast_dx_rows(dxk, t, wt, &s, 0, nb * s.H, acc);
        return;
    }
    if (kind_of(u) == UNIT_DIRECT) {
        s.B = 1;
        for (int i = 0; i < nb; i++)
            conv2d_dx_sample(dxk + i * in_floats(u), t + i * out_floats(u), u->w, &s, cols, acc);
        return;
    }
    if (bp)
        gemm_direct_bf16_nn_packed((int)rows, s.C, s.OC, t, (size_t)s.OC, bp, dxk, (size_t)s.C, acc);
    else if (direct)
        gemm_direct_nn((int)rows, s.C, s.OC, t, (size_t)s.OC, u->w, (size_t)s.C, dxk, (size_t)s.C, acc, false);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, s.C, s.OC, 1.0f, t, s.OC, u->w, s.C,
                    acc ? 1.0f : 0.0f, dxk, s.C);
}

static void tile_backward(float *dx, const float *dy, const conv_chain *c, const chain_shared *sh,
                          const chain_bufs *bf, const uint8_t *masks, int B, int b0, int nb, bool acc)
{
    const float *g = dy;
    for (int k = c->n - 1; k >= 0; k--) {
        float *out = k == 0 ? dx : bf->g[1];
        const uint8_t *bits = k < c->n - 1 ? mask_at(c, (uint8_t *)masks, B, k, b0) : NULL;
        unit_backward(out, g, &c->u[k], bits, sh->wt[k], sh->bp[k], sh->k1[k], bf->g[0], bf->cols, sh->direct, nb,
                      k == 0 && acc);
        g = out;
    }
    if (c->residual) {
        size_t n = (size_t)nb * in_floats(&c->u[0]);
        for (size_t i = 0; i < n; i++) dx[i] += dy[i];
    }
}

void chain_backward(float *dx, const float *dy, const uint8_t *masks, const conv_chain *c, int B, float *scratch,
                    int threads, bool acc)
{
    check_chain(c, threads);
    chain_shared sh = prepare(c, scratch, true);
    const size_t xn = in_floats(&c->u[0]), yn = out_floats(&c->u[c->n - 1]);
    FOR_TILES(c, B, scratch, threads,
              tile_backward(dx + (size_t)b0 * xn, dy + (size_t)b0 * yn, c, &sh, &bf, masks, B, b0, nb, acc););
}
