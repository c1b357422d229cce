/* Chains of pointwise and depthwise convolutions in evaluation mode, a tile of samples at a
 * time (see chain.h). */
#include <omp.h>
#include <string.h>

#include "core/status.h"
#include "kernels/activation.h"
#include "kernels/batchnorm.h"
#include "kernels/blas.h"
#include "kernels/chain.h"

/* Per-thread floats a tile may use: the intermediates of MobileNetV2's widest early block
 * (32x32x96 expanded, 64x64 inputs) take one sample per tile and stay in a 2 MiB L2. */
#define TILE_FLOATS ((size_t)1 << 18)

static size_t align16(size_t n) { return (n + 15) & ~(size_t)15; }

static size_t in_floats(const chain_unit *u) { return (size_t)u->s.H * u->s.W * u->s.C; }
static size_t out_floats(const chain_unit *u) { return (size_t)u->s.OH * u->s.OW * u->s.OC; }
static bool is_dw(const chain_unit *u) { return conv2d_uses_depthwise(&u->s); }

bool chain_unit_applies(const conv2d_shape *s)
{
    return (conv2d_is_pointwise(s) && s->groups == 1) || dwconv2d_fast_applies(s);
}

/* Per sample: the recomputed outputs of all units but the last, and two gradient buffers. */
static size_t sample_floats(const conv_chain *c)
{
    size_t most = 0, acts = 0;
    for (int k = 0; k < c->n; k++) {
        if (out_floats(&c->u[k]) > most) most = out_floats(&c->u[k]);
        if (k < c->n - 1) acts += out_floats(&c->u[k]);
    }
    return acts + 2 * most;
}

/* Tiles per batch: as few as fit TILE_FLOATS, rounded up to a multiple of TILE_GROUPS so that
 * up to that many threads share them evenly. Not a function of the thread count: a tile's
 * GEMMs, and so the results' rounding, are the same whatever runs them. */
#define TILE_GROUPS 8

int chain_tile(const conv_chain *c, int B)
{
    size_t per = sample_floats(c);
    int fit = per >= TILE_FLOATS ? 1 : (int)(TILE_FLOATS / per);
    int tiles = (B + fit - 1) / fit;
    tiles = (tiles + TILE_GROUPS - 1) / TILE_GROUPS * TILE_GROUPS;
    if (tiles > B) tiles = B;
    return (B + tiles - 1) / tiles;
}

/* Shared: transposed depthwise weights and k1 of every unit; then one area per thread. */
static size_t shared_floats(const conv_chain *c)
{
    size_t n = 0;
    for (int k = 0; k < c->n; k++) {
        if (is_dw(&c->u[k])) n += align16((size_t)c->u[k].s.K * c->u[k].s.K * c->u[k].s.C);
        n += align16((size_t)c->u[k].s.OC);
    }
    return n;
}

static size_t thread_floats(const conv_chain *c, int tile)
{
    size_t n = 2 * align16((size_t)tile * sample_floats(c)); /* generous: each buffer aligned */
    return n + 16 * (size_t)CHAIN_MAX;
}

size_t chain_scratch_floats(const conv_chain *c, int B, int threads)
{
    if (threads < 1) threads = 1;
    return shared_floats(c) + (size_t)threads * thread_floats(c, chain_tile(c, B));
}

/* Pointers into the shared part: wt[k] (depthwise units) and k1[k]. */
typedef struct chain_shared {
    const float *wt[CHAIN_MAX];
    const float *k1[CHAIN_MAX];
} chain_shared;

static chain_shared prepare(const conv_chain *c, float *scratch, bool k1)
{
    chain_shared sh = {0};
    float *p = scratch;
    for (int k = 0; k < c->n; k++) {
        const chain_unit *u = &c->u[k];
        if (is_dw(u)) {
            dwconv2d_fast_weights(p, u->w, &u->s);
            sh.wt[k] = p;
            p += align16((size_t)u->s.K * u->s.K * u->s.C);
        }
        if (k1) batchnorm_eval_k1(p, u->bn.gamma, u->bn.invstd, u->s.OC);
        sh.k1[k] = p;
        p += align16((size_t)u->s.OC);
    }
    return sh;
}

/* Unit k on nb samples: out = act(bn(conv(in))). */
static void unit_forward(float *out, const float *in, const chain_unit *u, const float *wt, int nb)
{
    conv2d_shape s = u->s;
    s.B = nb;
    if (wt) {
        dwconv2d_fast_rows(out, in, wt, u->b, &s, 0, nb * s.OH, &u->bn, u->act);
        return;
    }
    size_t rows = (size_t)nb * s.H * s.W;
    if (u->b) /* bias (or 0) + product, as the slots path */
        for (size_t r = 0; r < rows; r++) memcpy(out + r * s.OC, u->b, (size_t)s.OC * sizeof *out);
    else
        memset(out, 0, rows * s.OC * sizeof *out);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, s.OC, s.C, 1.0f, in, s.C, u->w, s.C, 1.0f,
                out, s.OC);
    conv2d_epilogue(out, rows, s.OC, &u->bn, u->act);
}

/* The thread's buffers: act[k] for units 0..n-2, then g[0], g[1]. */
typedef struct chain_bufs {
    float *act[CHAIN_MAX], *g[2];
} chain_bufs;

static chain_bufs thread_bufs(const conv_chain *c, float *area, int tile)
{
    chain_bufs b = {0};
    size_t most = 0;
    for (int k = 0; k < c->n; k++) {
        if (out_floats(&c->u[k]) > most) most = out_floats(&c->u[k]);
        if (k < c->n - 1) {
            b.act[k] = area;
            area += align16((size_t)tile * out_floats(&c->u[k]));
        }
    }
    b.g[0] = area;
    b.g[1] = area + align16((size_t)tile * most);
    return b;
}

static void tile_forward(float *y, const float *x, const conv_chain *c, const chain_shared *sh,
                         const chain_bufs *bf, int nb)
{
    const float *in = x;
    for (int k = 0; k < c->n - 1; k++) {
        unit_forward(bf->act[k], in, &c->u[k], sh->wt[k], nb);
        in = bf->act[k];
    }
    int last = c->n - 1;
    unit_forward(y, in, &c->u[last], sh->wt[last], nb);
    if (c->residual) {
        size_t n = (size_t)nb * out_floats(&c->u[last]);
        for (size_t i = 0; i < n; i++) y[i] = y[i] + x[i]; /* the add node's a + b */
    }
}

/* The tiles of a batch, each on one thread with its own buffers. */
#define FOR_TILES(c, B, scratch, threads, BODY)                                                   \
    do {                                                                                          \
        int tile_ = chain_tile(c, B), ntiles_ = (B + tile_ - 1) / tile_;                 \
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

void chain_forward(float *y, const float *x, const conv_chain *c, int B, float *scratch, int threads)
{
    RP_ASSERT(c->n >= 1 && c->n <= CHAIN_MAX && threads >= 1);
    chain_shared sh = prepare(c, scratch, false);
    const size_t xn = in_floats(&c->u[0]), yn = out_floats(&c->u[c->n - 1]);
    FOR_TILES(c, B, scratch, threads,
              tile_forward(y + (size_t)b0 * yn, x + (size_t)b0 * xn, c, &sh, &bf, nb););
}

/* dx_k (nb, H, W, C of unit k) (acc: +=) from g = the gradient of unit k's output. */
static void unit_backward(float *dxk, const float *g, const chain_unit *u, const float *act_y, const float *wt,
                          const float *k1, float *t, int nb, bool acc)
{
    conv2d_shape s = u->s;
    s.B = nb;
    size_t rows = (size_t)nb * s.OH * s.OW;
    batchnorm_eval_dx_rows(t, g, u->act ? act_y : NULL, u->act, k1, rows, s.OC, false);
    if (wt) {
        dwconv2d_fast_dx_rows(dxk, t, wt, &s, 0, nb * s.H, acc);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, s.C, s.OC, 1.0f, t, s.OC, u->w, s.C,
                acc ? 1.0f : 0.0f, dxk, s.C);
}

static void tile_backward(float *dx, const float *dy, const float *x, const conv_chain *c,
                          const chain_shared *sh, const chain_bufs *bf, int nb, bool acc)
{
    const float *in = x;
    for (int k = 0; k < c->n - 1; k++) { /* the intermediates again: the activations' masks */
        unit_forward(bf->act[k], in, &c->u[k], sh->wt[k], nb);
        in = bf->act[k];
    }
    const float *g = dy;
    for (int k = c->n - 1; k >= 0; k--) {
        float *out = k == 0 ? dx : bf->g[1];
        unit_backward(out, g, &c->u[k], k < c->n - 1 ? bf->act[k] : NULL, sh->wt[k], sh->k1[k], bf->g[0], nb,
                      k == 0 && acc);
        g = out;
    }
    if (c->residual) {
        size_t n = (size_t)nb * in_floats(&c->u[0]);
        for (size_t i = 0; i < n; i++) dx[i] += dy[i];
    }
}

void chain_backward(float *dx, const float *dy, const float *x, const conv_chain *c, int B, float *scratch,
                    int threads, bool acc)
{
    RP_ASSERT(c->n >= 1 && c->n <= CHAIN_MAX && threads >= 1 && c->u[c->n - 1].act == ACT_NONE);
    chain_shared sh = prepare(c, scratch, true);
    const size_t xn = in_floats(&c->u[0]), yn = out_floats(&c->u[c->n - 1]);
    FOR_TILES(c, B, scratch, threads,
              tile_backward(dx + (size_t)b0 * xn, dy + (size_t)b0 * yn, x + (size_t)b0 * xn, c, &sh, &bf, nb,
                            acc););
}
