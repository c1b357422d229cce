/* Pointwise convolution + training batch norm without the convolution's output (pwbn.h). */
#include "kernels/pwbn.h"

#include <omp.h>
#include <string.h>

#include "core/status.h"
#include "kernels/actmask.h"
#include "kernels/batchnorm.h"
#include "kernels/blas.h"
#include "kernels/gemm.h"
#include "kernels/gemm_direct.h"
#include "kernels/simd.h"

static int n_chunks(size_t N) { return N < BN_CHUNKS ? (int)N : BN_CHUNKS; }

/* Per element of E, the separate layers move about seven floats through memory more than the
 * fused path (E written and read for the statistics and the normalisation, its gradient
 * written and read twice); the fused path adds about N C^2 multiply-adds (the moments and X M)
 * and 3 OC C^2 in double. Counted at this machine kind's rates (~30 GB/s, ~1 ns per seven
 * floats of one element; 0.034 ns per row multiply-add, 0.1 ns per small-matrix one), it is
 * taken when the extra arithmetic costs less than half the passes it saves. */
bool pwbn_worth(size_t N, int C, int OC)
{
    double c2 = (double)C * C, n = (double)N, oc = (double)OC;
    return c2 * (n + 3.0 * oc) < 14.0 * n * oc;
}

size_t pwbn_moment_doubles(int C) { return (size_t)C + (size_t)C * C; }

enum { MOMENT_CHUNKS = 16 }; /* fixed chunks of rows for the moments (the sums ignore threads) */

static int moment_chunks(size_t N) { return N < MOMENT_CHUNKS ? (int)N : MOMENT_CHUNKS; }

size_t pwbn_work_doubles(size_t N, int C, int OC)
{
    size_t c = (size_t)C, oc = (size_t)OC;
    size_t moments = (size_t)moment_chunks(N) * c + c;
    size_t backward = (size_t)n_chunks(N) * oc + 4 * oc + c * c;
    return moments > backward ? moments : backward;
}

/* P, W1k, M, u, then W1k's and M's BF16 pairs (room for them at any precision: it may change
 * between passes). */
static size_t bf16_words(int C, int OC) { return gemm_direct_bf16_b_words(C, OC) + gemm_direct_bf16_b_words(C, C); }

size_t pwbn_scratch_floats(int C, int OC)
{
    return (size_t)2 * OC * C + (size_t)C * C + (size_t)C + bf16_words(C, OC);
}

size_t pwbn_moment_floats(size_t N, int C) { return N * C + (size_t)moment_chunks(N) * C * C; }

/* Moments ----------------------------------------------------------------------------------- */

/* Rows [n0, n1) of x shifted by s into u (float), and q += u in double, rows in order. */
#define shift_rows_BODY                                                                     \
    for (int c = 0; c < C; c++) q[c] = 0.0;                                                 \
    for (size_t n = n0; n < n1; n++) {                                                      \
        const float *xr = x + n * C;                                                        \
        float *ur = u + n * C;                                                              \
        _Pragma("omp simd") for (int c = 0; c < C; c++) {                                   \
            ur[c] = xr[c] - s[c];                                                           \
            q[c] += (double)ur[c];                                                          \
        }                                                                                   \
    }
RP_SIMD_VARIANTS(shift_rows, (float *restrict u, double *restrict q, const float *restrict x, const float *s,
                              size_t n0, size_t n1, int C))

void pwbn_moments(double *m, const float *x, size_t N, int C, double *work, float *fwork)
{
    RP_ASSERT(N >= 1 && C >= 1);
    const int K = moment_chunks(N);
    const bool direct = gemm_direct_applies();
    double *mu = m, *S = m + C, *d = work + (size_t)K * C;
    const float *s = x; /* the shift: x's first row */
    float *u = fwork, *gram = fwork + N * C;
    rp_simd simd = rp_simd_level();
    int blas = rp_blas_single_begin();
#pragma omp parallel for schedule(static)
    for (int k = 0; k < K; k++) {
        size_t n0 = N * k / K, n1 = N * (k + 1) / K;
        RP_SIMD_CALL(simd, shift_rows, (u, work + (size_t)k * C, x, s, n0, n1, C));
        float *gk = gram + (size_t)k * C * C, *uk = u + n0 * C;
        if (direct) /* gk = uk^T uk */
            gemm_direct_tn(C, C, (int)(n1 - n0), uk, (size_t)C, uk, (size_t)C, gk, (size_t)C, false, false);
        else
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, C, (int)(n1 - n0), 1.0f, uk, C, uk, C, 0.0f, gk, C);
    }
    rp_blas_single_end(blas);
    /* chunks in order: d = the mean minus the shift, then the covariance around the mean */
    for (int c = 0; c < C; c++) {
        double t = 0.0;
        for (int k = 0; k < K; k++) t += work[(size_t)k * C + c];
        d[c] = t / (double)N;
    }
    for (int i = 0; i < C; i++)
        for (int j = i; j < C; j++) {
            double t = 0.0;
            for (int k = 0; k < K; k++) t += (double)gram[(size_t)k * C * C + (size_t)i * C + j];
            S[(size_t)i * C + j] = S[(size_t)j * C + i] = t / (double)N - d[i] * d[j];
        }
    for (int c = 0; c < C; c++) mu[c] = (double)s[c] + d[c];
}

void pwbn_stats(double *mean, double *var, const double *m, const float *w, const float *b, int C, int OC)
{
    const double *mu = m, *S = m + C;
    for (int o = 0; o < OC; o++) {
        const float *wo = w + (size_t)o * C;
        double e = b ? (double)b[o] : 0.0, v = 0.0;
        for (int i = 0; i < C; i++) {
            double t = 0.0; /* (S w_o)_i */
            for (int j = 0; j < C; j++) t += S[(size_t)i * C + j] * wo[j];
            e += (double)wo[i] * mu[i];
            v += (double)wo[i] * t;
        }
        mean[o] = e;
        var[o] = v > 0.0 ? v : 0.0;
    }
}

/* Backward ---------------------------------------------------------------------------------- */

/* Rows [n0, n1) of g (OC channels): q += g, in double, after g = 0 + (mask ? g : 0) from bits
 * (as the batch norm's masked gradient; bits may be NULL: g as it is). */
#define mask_sums_BODY                                                                      \
    const size_t RB = act_mask_row_bytes(OC);                                               \
    for (int c = 0; c < OC; c++) q[c] = 0.0;                                                \
    for (size_t n = n0; n < n1; n++) {                                                      \
        float *gr = g + n * OC;                                                             \
        if (bits) {                                                                         \
            const uint8_t *br = bits + n * RB;                                              \
            int c = 0;                                                                      \
            for (; c + RP_VL <= OC; c += RP_VL) {                                           \
                rp_vec gm = (rp_vec)((rp_veci)RP_LDV(gr + c) & RP_MASKV(br, c));            \
                RP_STV(gr + c, 0.0f + gm);                                                  \
            }                                                                               \
            for (; c < OC; c++) gr[c] = 0.0f + (RP_MASK_BIT(br, c) ? gr[c] : 0.0f);         \
        }                                                                                   \
        _Pragma("omp simd") for (int c = 0; c < OC; c++) q[c] += (double)gr[c];             \
    }
RP_SIMD_VARIANTS(mask_sums, (double *restrict q, float *g, const uint8_t *bits, size_t n0, size_t n1, int OC))

/* P (OC, C) = g^T x over all N rows: gemm_direct in pieces of P's rows (an element's sum does
 * not depend on them), else OpenBLAS in rp_sgemm's fixed pieces. */
static void product_gtx(float *P, const float *g, const float *x, size_t N, int C, int OC)
{
    if (!gemm_direct_applies()) {
        rp_sgemm(CblasTrans, CblasNoTrans, OC, C, (int)N, 1.0f, g, OC, x, C, 0.0f, P, C);
        return;
    }
    /* one piece per thread, in multiples of 24 rows (whole tiles) */
    int threads = omp_get_max_threads(), piece = (OC + threads - 1) / threads;
    piece = (piece + 23) / 24 * 24;
    const int pieces = (OC + piece - 1) / piece;
#pragma omp parallel for schedule(static)
    for (int p = 0; p < pieces; p++) {
        int o = p * piece, len = OC - o < piece ? OC - o : piece;
        gemm_direct_tn(len, C, (int)N, g + o, (size_t)OC, x, (size_t)C, P + (size_t)o * C, (size_t)C, false, true);
    }
}

enum { DX_ROWS = 256 }; /* rows per block of the input gradient (fixed: the results ignore threads) */

/* dx (+)= g W1k + x M + u, blocks of rows in parallel; with BF16 products W1k's and M's pairs
 * are packed into bp once, for every block. */
static void input_grad(float *dx, bool acc, const float *g, const float *x, const float *W1k, const float *M,
                       const float *u, size_t N, int C, int OC, uint32_t *bp)
{
    const long blocks = (long)((N + DX_ROWS - 1) / DX_ROWS);
    const bool direct = gemm_direct_applies(), bf16 = direct && gemm_direct_bf16();
    uint32_t *bw = bp, *bm = bp + gemm_direct_bf16_b_words(C, OC);
    if (bf16) {
        gemm_direct_bf16_pack_b_threads(bw, W1k, (size_t)C, false, C, OC);
        gemm_direct_bf16_pack_b_threads(bm, M, (size_t)C, false, C, C);
    }
    int blas = rp_blas_single_begin();
#pragma omp parallel for schedule(dynamic, 4)
    for (long i = 0; i < blocks; i++) {
        size_t r0 = (size_t)i * DX_ROWS, r1 = r0 + DX_ROWS < N ? r0 + DX_ROWS : N;
        int rows = (int)(r1 - r0);
        float *d = dx + r0 * C;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < C; c++) d[(size_t)r * C + c] = acc ? d[(size_t)r * C + c] + u[c] : u[c];
        if (bf16) {
            gemm_direct_bf16_nn_packed(rows, C, OC, g + r0 * OC, (size_t)OC, bw, d, (size_t)C, true);
            gemm_direct_bf16_nn_packed(rows, C, C, x + r0 * C, (size_t)C, bm, d, (size_t)C, true);
        } else if (direct) {
            gemm_direct_nn(rows, C, OC, g + r0 * OC, (size_t)OC, W1k, (size_t)C, d, (size_t)C, true, true);
            gemm_direct_nn(rows, C, C, x + r0 * C, (size_t)C, M, (size_t)C, d, (size_t)C, true, true);
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, C, OC, 1.0f, g + r0 * OC, OC, W1k, C, 1.0f,
                        d, C);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, C, C, 1.0f, x + r0 * C, C, M, C, 1.0f, d, C);
        }
    }
    rp_blas_single_end(blas);
}

void pwbn_backward(const pwbn_grads *d, float *g, const uint8_t *bits, const float *x, const float *w,
                   const float *gamma, const float *invstd, const double *m, size_t N, int C, int OC,
                   float *scratch, double *work)
{
    RP_ASSERT(N >= 1 && C >= 1 && OC >= 1);
    const double *mu = m, *S = m + C, n = (double)N;
    const int K = n_chunks(N);
    double *part = work, *s1 = part + (size_t)K * OC, *k0 = s1 + OC, *k1 = k0 + OC, *k2 = k1 + OC;
    double *Md = k2 + OC;
    float *P = scratch, *W1k = P + (size_t)OC * C, *M = W1k + (size_t)OC * C, *u = M + (size_t)C * C;

    /* G (masked in place) and its sums over rows, in fixed chunks combined in order */
    rp_simd simd = rp_simd_level();
#pragma omp parallel for schedule(static) if (N * (size_t)OC > 32768)
    for (int k = 0; k < K; k++)
        RP_SIMD_CALL(simd, mask_sums, (part + (size_t)k * OC, g, bits, N * k / K, N * (k + 1) / K, OC));
    for (int o = 0; o < OC; o++) {
        double t = 0.0;
        for (int k = 0; k < K; k++) t += part[(size_t)k * OC + o];
        s1[o] = t;
    }
    product_gtx(P, g, x, N, C, OC);

    /* per output channel: the batch norm's sums and coefficients */
    for (int o = 0; o < OC; o++) {
        const float *wo = w + (size_t)o * C, *po = P + (size_t)o * C;
        double s2 = 0.0;
        for (int i = 0; i < C; i++) s2 += (double)wo[i] * ((double)po[i] - s1[o] * mu[i]);
        double a = (double)gamma[o] * invstd[o];
        k1[o] = a;
        k0[o] = -a * s1[o] / n;
        k2[o] = -a * (double)invstd[o] * invstd[o] * s2 / n;
        if (d->dgamma) d->dgamma[o] += (float)(s2 * invstd[o]);
        if (d->dbeta) d->dbeta[o] += (float)s1[o];
        if (d->db) d->db[o] += (float)(a * s1[o] + n * k0[o]);
    }
    if (d->dw) { /* dW += k1 P + N (k0 mu^T + k2 (W S)) */
#pragma omp parallel for schedule(static) if ((size_t)OC * C * C > 65536)
        for (int o = 0; o < OC; o++)
            for (int i = 0; i < C; i++) {
                double t = 0.0;
                for (int j = 0; j < C; j++) t += (double)w[(size_t)o * C + j] * S[(size_t)j * C + i];
                size_t e = (size_t)o * C + i;
                d->dw[e] += (float)(k1[o] * P[e] + n * (k0[o] * mu[i] + k2[o] * t));
            }
    }
    if (!d->dx) return;
    /* dX (+)= G (k1 W) + X M + (W^T k0 - M mu), M = W^T diag(k2) W */
#pragma omp parallel for schedule(static) if ((size_t)OC * C * C > 65536)
    for (int i = 0; i < C; i++)
        for (int j = 0; j < C; j++) {
            double t = 0.0;
            for (int o = 0; o < OC; o++) t += (double)w[(size_t)o * C + i] * k2[o] * w[(size_t)o * C + j];
            Md[(size_t)i * C + j] = t;
            M[(size_t)i * C + j] = (float)t;
        }
    for (int i = 0; i < C; i++) {
        double t = 0.0;
        for (int o = 0; o < OC; o++) t += (double)w[(size_t)o * C + i] * k0[o];
        for (int j = 0; j < C; j++) t -= Md[(size_t)i * C + j] * mu[j];
        u[i] = (float)t;
    }
    for (size_t e = 0; e < (size_t)OC * C; e++) W1k[e] = (float)(k1[e / C] * w[e]);
    input_grad(d->dx, d->acc_dx, g, x, W1k, M, u, N, C, OC, (uint32_t *)(void *)(u + C));
}
