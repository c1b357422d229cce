/* Batch normalisation, SIMD versions of the reference kernels in batchnorm.c: the same
 * chunks, the same double sums and float expressions in the same order, so the results are
 * bit-identical; only the loops over channels run through run-time selected SIMD variants. */
#include <math.h>
#include <string.h>

#include "core/status.h"
#include "kernels/activation.h"
#include "kernels/actmask.h"
#include "kernels/batchnorm.h"
#include "kernels/simd.h"

static int n_chunks(size_t N) { return N < BN_CHUNKS ? (int)N : BN_CHUNKS; }

/* q1[c] += sum over rows [n0, n1) of (a - ca);  with q2: q2[c] += sum (a - ca) (b - cb). */
#define chunk_sums_BODY                                                                 \
    for (size_t n = n0; n < n1; n++) {                                                  \
        const float *ar = a + n * C;                                                    \
        if (!q2) {                                                                      \
            _Pragma("omp simd") for (int c = 0; c < C; c++) q1[c] += (double)ar[c] - ca[c]; \
            continue;                                                                   \
        }                                                                               \
        const float *br = b + n * C;                                                    \
        _Pragma("omp simd") for (int c = 0; c < C; c++) {                               \
            double u = (double)ar[c] - ca[c];                                           \
            q1[c] += u;                                                                 \
            q2[c] += u * ((double)br[c] - cb[c]);                                       \
        }                                                                               \
    }
RP_SIMD_VARIANTS(chunk_sums, (double *restrict q1, double *restrict q2, const float *a, const double *ca,
                              const float *b, const double *cb, size_t n0, size_t n1, int C))

/* The act variants take the gradient a ReLU (act 1) or ReLU6 (act 2) after the batch norm
 * hands back, as relu*_backward_ex writes it into a fresh buffer: 0 + (mask ? g : 0), the
 * mask from the activation's output v. The mask is two selects of loaded values (the loops
 * stay branch-free and vectorise), the same value as (v > 0 && v < 6) ? g : 0, NaN included. */
#define MASK_RELU(g, v) ((v) > 0.0f ? (g) : 0.0f)
#define MASK_RELU6(g, v) ((v) < 6.0f ? MASK_RELU(g, v) : 0.0f)

/* chunk_sums(q1, q2, g masked, 0, x, m): q1 += act_grad; q2 += act_grad (x - m). The
 * masked gradients of 256 channels go through a buffer first: GCC vectorises neither a float
 * select feeding double sums nor the two in one loop. */
#define MASKED_ROW(MASK)                                                                \
    _Pragma("omp simd") for (int c = 0; c < cn; c++) {                                  \
        float gv = gr[c0 + c], vv = vr[c0 + c];                                         \
        buf[c] = 0.0f + MASK(gv, vv);                                                   \
    }
/* q1 += buf; q2 += buf (x - m) over the cn channels from c0. */
#define ADD_BUF_SUMS                                                                    \
    _Pragma("omp simd") for (int k = 0; k < cn; k++) {                                  \
        double u = (double)buf[k];                                                      \
        q1[c0 + k] += u;                                                                \
        q2[c0 + k] += u * ((double)xr[c0 + k] - m[c0 + k]);                             \
    }
#define chunk_sums_act_BODY                                                             \
    float buf[256];                                                                     \
    for (size_t n = n0; n < n1; n++) {                                                  \
        const float *gr = g + n * C, *vr = v + n * C, *xr = x + n * C;                  \
        for (int c0 = 0; c0 < C; c0 += 256) {                                           \
            int cn = C - c0 < 256 ? C - c0 : 256;                                       \
            if (act == ACT_RELU6) {                                                     \
                MASKED_ROW(MASK_RELU6)                                                  \
            } else {                                                                    \
                MASKED_ROW(MASK_RELU)                                                   \
            }                                                                           \
            ADD_BUF_SUMS                                                                \
        }                                                                               \
    }
RP_SIMD_VARIANTS(chunk_sums_act, (double *restrict q1, double *restrict q2, const float *g, const float *v,
                                  act_kind act, const float *x, const double *m, size_t n0, size_t n1, int C))

/* The same with the mask from the forward's bits (actmask.h) instead of the activation's
 * output: the same masked values. Rows go in groups of CSB_ROWS (their g and x stay in L2
 * while each channel block passes); a block of NV vectors of channels keeps its 4 NV sums in
 * double vectors in registers over the group's rows, from and back to q1 and q2 (the sums in
 * memory, loaded and stored at every row, ran 1.2-2.6x slower on MobileNetV2's large shapes).
 * Each channel still adds its rows in order: the same bits. */
#define CSB_ROWS 32
#define CSB_BLOCKS(NV)                                                                  \
    for (; c0 + (NV) * RP_VL <= C; c0 += (NV) * RP_VL) {                                \
        rp_dvec a_[2 * (NV)], b_[2 * (NV)], m_[2 * (NV)];                               \
        float mb_[(NV) * RP_VL];                                                        \
        _Pragma("GCC unroll 4") for (int v = 0; v < 2 * (NV); v++) {                    \
            a_[v] = RP_LDQ(q1 + c0 + v * RP_DL);                                       \
            b_[v] = RP_LDQ(q2 + c0 + v * RP_DL);                                       \
            m_[v] = RP_LDQ(m + c0 + v * RP_DL);                                        \
        }                                                                               \
        for (size_t n = r0; n < r1; n++) {                                              \
            const float *gr = g + n * C + c0, *xr = x + n * C + c0;                     \
            const uint8_t *br = bits + n * RB;                                          \
            _Pragma("GCC unroll 2") for (int v = 0; v < (NV); v++) {                    \
                rp_vec gm = (rp_vec)((rp_veci)RP_LDV(gr + v * RP_VL) & RP_MASKV(br, c0 + v * RP_VL)); \
                RP_STV(mb_ + v * RP_VL, 0.0f + gm);                                     \
            }                                                                           \
            _Pragma("GCC unroll 4") for (int v = 0; v < 2 * (NV); v++) {                \
                rp_dvec u = RP_LDD(mb_ + v * RP_DL);                                    \
                a_[v] += u;                                                             \
                b_[v] += u * (RP_LDD(xr + v * RP_DL) - m_[v]);                          \
            }                                                                           \
        }                                                                               \
        _Pragma("GCC unroll 4") for (int v = 0; v < 2 * (NV); v++) {                    \
            RP_STQ(q1 + c0 + v * RP_DL, a_[v]);                                         \
            RP_STQ(q2 + c0 + v * RP_DL, b_[v]);                                         \
        }                                                                               \
    }
/* Half a vector of channels (one double vector), its mask bit by bit. */
#define CSB_HALF                                                                        \
    if (c0 + RP_DL <= C) {                                                              \
        rp_dvec a_ = RP_LDQ(q1 + c0), b_ = RP_LDQ(q2 + c0), m_ = RP_LDQ(m + c0);     \
        float mb_[RP_DL];                                                               \
        for (size_t n = r0; n < r1; n++) {                                              \
            const float *gr = g + n * C + c0;                                           \
            const uint8_t *br = bits + n * RB;                                          \
            for (int l = 0; l < RP_DL; l++) mb_[l] = 0.0f + (RP_MASK_BIT(br, c0 + l) ? gr[l] : 0.0f); \
            rp_dvec u = RP_LDD(mb_);                                                    \
            a_ += u;                                                                    \
            b_ += u * (RP_LDD(x + n * C + c0) - m_);                                    \
        }                                                                               \
        RP_STQ(q1 + c0, a_);                                                            \
        RP_STQ(q2 + c0, b_);                                                            \
        c0 += RP_DL;                                                                    \
    }
#define chunk_sums_bits_BODY                                                            \
    const size_t RB = act_mask_row_bytes(C);                                            \
    for (size_t r0 = n0; r0 < n1; r0 += CSB_ROWS) {                                     \
        size_t r1 = r0 + CSB_ROWS < n1 ? r0 + CSB_ROWS : n1;                            \
        int c0 = 0;                                                                     \
        CSB_BLOCKS(2) CSB_BLOCKS(1) CSB_HALF                                            \
        for (size_t n = r0; n < r1 && c0 < C; n++) {                                    \
            const float *gr = g + n * C, *xr = x + n * C;                               \
            const uint8_t *br = bits + n * RB;                                          \
            for (int c = c0; c < C; c++) {                                              \
                double u = (double)(0.0f + (RP_MASK_BIT(br, c) ? gr[c] : 0.0f));        \
                q1[c] += u;                                                             \
                q2[c] += u * ((double)xr[c] - m[c]);                                    \
            }                                                                           \
        }                                                                               \
    }
RP_SIMD_VARIANTS(chunk_sums_bits, (double *restrict q1, double *restrict q2, const float *g, const uint8_t *bits,
                                   const float *x, const double *m, size_t n0, size_t n1, int C))

/* As the reference's channel_sums: fixed chunks, partials combined in chunk order. With
 * act (then b = x, cb = m, ca = 0 and s2 != NULL), a is the gradient of the activation after
 * the batch norm and v its output: the sums of the masked gradient (chunk_sums_act). */
static void channel_sums(double *s1, double *s2, const float *a, const double *ca, const float *b,
                         const double *cb, size_t N, int C, double *part, const float *v, act_kind act,
                         const uint8_t *bits)
{
    int K = n_chunks(N);
    double *p1 = part, *p2 = part + (size_t)K * C;
    memset(part, 0, (size_t)2 * K * C * sizeof *part);
    rp_simd simd = rp_simd_level();
#pragma omp parallel for schedule(static) if (N * (size_t)C > 32768)
    for (int k = 0; k < K; k++) {
        size_t n0 = N * k / K, n1 = N * (k + 1) / K;
        if (act && bits)
            RP_SIMD_CALL(simd, chunk_sums_bits, (p1 + (size_t)k * C, p2 + (size_t)k * C, a, bits, b, cb, n0, n1, C));
        else if (act)
            RP_SIMD_CALL(simd, chunk_sums_act, (p1 + (size_t)k * C, p2 + (size_t)k * C, a, v, act, b, cb, n0, n1, C));
        else
            RP_SIMD_CALL(simd, chunk_sums,
                         (p1 + (size_t)k * C, s2 ? p2 + (size_t)k * C : NULL, a, ca, b, cb, n0, n1, C));
    }
    for (int c = 0; c < C; c++) {
        double t1 = 0.0, t2 = 0.0;
        for (int k = 0; k < K; k++) {
            t1 += p1[(size_t)k * C + c];
            t2 += p2[(size_t)k * C + c];
        }
        s1[c] = t1;
        if (s2) s2[c] = t2;
    }
}

/* Rows per parallel block of the elementwise passes: about 16K floats. */
static size_t block_rows(int C) { return C >= 16384 ? 1 : (size_t)16384 / (size_t)C; }

/* act applies ReLU or ReLU6 to the result with relu*_forward's expressions. */
#define normalise_rows_BODY                                                             \
    for (size_t n = n0; n < n1; n++) {                                                  \
        const float *xr = x + n * C;                                                    \
        float *yr = y + n * C;                                                          \
        if (act == ACT_RELU6) {                                                         \
            _Pragma("omp simd") for (int c = 0; c < C; c++) {                           \
                float v = (xr[c] - mean[c]) * (invstd[c] * gamma[c]) + beta[c];         \
                v = v > 0.0f ? v : 0.0f;                                                \
                yr[c] = v < 6.0f ? v : 6.0f;                                            \
            }                                                                           \
        } else if (act == ACT_RELU) {                                                   \
            _Pragma("omp simd") for (int c = 0; c < C; c++) {                           \
                float v = (xr[c] - mean[c]) * (invstd[c] * gamma[c]) + beta[c];         \
                yr[c] = v > 0.0f ? v : 0.0f;                                            \
            }                                                                           \
        } else {                                                                        \
            _Pragma("omp simd") for (int c = 0; c < C; c++)                             \
                yr[c] = (xr[c] - mean[c]) * (invstd[c] * gamma[c]) + beta[c];           \
        }                                                                               \
    }
RP_SIMD_VARIANTS(normalise_rows, (float *restrict y, const float *restrict x, const float *mean,
                                  const float *invstd, const float *gamma, const float *beta,
                                  size_t n0, size_t n1, int C, act_kind act))

/* The same rows in place (y == x), for a producer's epilogue (conv2d_forward's). */
#define normalise_rows_inplace_BODY normalise_rows_BODY
RP_SIMD_VARIANTS(normalise_rows_inplace, (float *y, const float *x, const float *mean, const float *invstd,
                                          const float *gamma, const float *beta, size_t n0, size_t n1, int C,
                                          act_kind act))

void batchnorm_eval_apply(float *y, size_t rows, int C, const float *mean, const float *invstd, const float *gamma,
                          const float *beta, act_kind act)
{
    RP_SIMD_CALL(rp_simd_level(), normalise_rows_inplace, (y, y, mean, invstd, gamma, beta, 0, rows, C, act));
}

/* y = act((x - mean) * (invstd * gamma) + beta); bits (when act): its mask, block by block. */
static void normalise(float *y, const float *x, const float *mean, const float *invstd,
                      const float *gamma, const float *beta, size_t N, int C, act_kind act, uint8_t *bits)
{
    rp_simd simd = rp_simd_level();
    size_t R = block_rows(C);
    long nblk = (long)((N + R - 1) / R);
#pragma omp parallel for schedule(static) if (N * (size_t)C > 32768)
    for (long i = 0; i < nblk; i++) {
        size_t n0 = (size_t)i * R, n1 = n0 + R < N ? n0 + R : N;
        RP_SIMD_CALL(simd, normalise_rows, (y, x, mean, invstd, gamma, beta, n0, n1, C, act));
        if (bits && act)
            act_mask_pack(bits + n0 * act_mask_row_bytes(C), y + n0 * C, n1 - n0, C,
                          act == ACT_RELU6 ? ACT_RELU6 : ACT_RELU);
    }
}

void batchnorm_forward_train(float *y, float *mean, float *invstd, float *running_mean,
                             float *running_var, const float *x, const float *gamma,
                             const float *beta, size_t N, int C, size_t P, float eps, float momentum,
                             double *work)
{
    batchnorm_forward_train_ex(y, mean, invstd, running_mean, running_var, x, gamma, beta, N, C, P,
                               eps, momentum, work, ACT_NONE, NULL, NULL);
}

/* q1 += u, q2 += u*u over rows [0, P), u = x - x[row 0] in double. Blocks of NB double vectors
 * (4, then 2, then 1: 2 RP_VL channels and down) keep their sums in registers over all the rows
 * (the sums in memory, loaded and stored at every row, ran 1.4-2.2x slower); each channel still
 * sums the rows in order. */
#define SS_BLOCKS(NB)                                                                   \
    for (; c0 + (NB) * RP_DL <= C; c0 += (NB) * RP_DL) {                                \
        rp_dvec s_[NB], a_[NB], b_[NB];                                                 \
        _Pragma("GCC unroll 4") for (int v = 0; v < (NB); v++) {                        \
            s_[v] = RP_LDD(x + c0 + v * RP_DL);                                         \
            a_[v] = b_[v] = (rp_dvec){0};                                               \
        }                                                                               \
        for (size_t n = 0; n < P; n++) {                                                \
            const float *xr = x + n * C + c0;                                           \
            _Pragma("GCC unroll 4") for (int v = 0; v < (NB); v++) {                    \
                rp_dvec u = RP_LDD(xr + v * RP_DL) - s_[v];                             \
                a_[v] += u;                                                             \
                b_[v] += u * u;                                                         \
            }                                                                           \
        }                                                                               \
        _Pragma("GCC unroll 4") for (int v = 0; v < (NB); v++) {                        \
            RP_STQ(q1 + c0 + v * RP_DL, a_[v]); /* (lane by lane, GCC went through the stack) */ \
            RP_STQ(q2 + c0 + v * RP_DL, b_[v]);                                         \
        }                                                                               \
    }
#define sample_sums_BODY                                                                \
    int c0 = 0;                                                                         \
    SS_BLOCKS(4) SS_BLOCKS(2) SS_BLOCKS(1)                                              \
    for (int c = c0; c < C; c++) {                                                      \
        double a = 0.0, b = 0.0;                                                        \
        for (size_t n = 0; n < P; n++) {                                                \
            double u = (double)x[n * C + c] - (double)x[c];                             \
            a += u;                                                                     \
            b += u * u;                                                                 \
        }                                                                               \
        q1[c] = a, q2[c] = b;                                                           \
    }
RP_SIMD_VARIANTS(sample_sums, (double *restrict q1, double *restrict q2, const float *restrict x, size_t P, int C))

void batchnorm_sample_sums(double *q, const float *x, size_t P, int C)
{
    RP_SIMD_CALL(rp_simd_level(), sample_sums, (q, q + C, x, P, C));
}

/* s1, s2 (C) = the batch's sums around x's first row: from the samples' sums when a producer
 * formed them (sums), else computed here per sample (in work's q part, 2C per sample). */
static void shifted_sums(double *s1, double *s2, const float *x, size_t N, int C, size_t P, const double *sums,
                         double *work)
{
    double *q = work + 4 * (size_t)C;
    size_t S = N / P;
    if (!sums) {
        rp_simd simd = rp_simd_level();
#pragma omp parallel for schedule(static) if (N * (size_t)C > 32768)
        for (size_t b = 0; b < S; b++)
            RP_SIMD_CALL(simd, sample_sums, (q + b * 2 * C, q + b * 2 * C + C, x + b * P * C, P, C));
        sums = q;
    }
    batchnorm_stats_combine(s1, s2, sums, x, S, P, C);
}

void batchnorm_forward_train_ex(float *y, float *mean, float *invstd, float *running_mean,
                                float *running_var, const float *x, const float *gamma,
                                const float *beta, size_t N, int C, size_t P, float eps, float momentum,
                                double *work, act_kind act, const double *sums, uint8_t *bits)
{
    double *s1 = work, *s2 = work + C, *m = work + 3 * (size_t)C;
    for (int c = 0; c < C; c++) m[c] = x[c]; /* the reference's shift */
    shifted_sums(s1, s2, x, N, C, P, sums, work);
    for (int c = 0; c < C; c++) {
        double d = s1[c] / (double)N;
        double var = s2[c] / (double)N - d * d;
        batchnorm_train_channel(&mean[c], &invstd[c], &running_mean[c], &running_var[c], m[c] + d, var, N, eps,
                                momentum);
    }
    normalise(y, x, mean, invstd, gamma, beta, N, C, act, bits);
}

void batchnorm_moments(double *mean, double *m2, const float *x, size_t N, int C, size_t P, const double *sums,
                       double *work)
{
    double *s1 = work, *s2 = work + C;
    shifted_sums(s1, s2, x, N, C, P, sums, work);
    for (int c = 0; c < C; c++) {
        double d = s1[c] / (double)N; /* the mean minus the shift, x's first row */
        mean[c] = (double)x[c] + d;
        m2[c] = s2[c] - s1[c] * d;
        if (m2[c] < 0.0) m2[c] = 0.0; /* rounding */
    }
}

void batchnorm_normalise(float *y, const float *x, const float *mean, const float *invstd, const float *gamma,
                         const float *beta, size_t N, int C, act_kind act, uint8_t *bits)
{
    normalise(y, x, mean, invstd, gamma, beta, N, C, act, bits);
}

void batchnorm_train_channel(float *mean, float *invstd, float *running_mean, float *running_var, double mean_d,
                             double var, size_t N, float eps, float momentum)
{
    if (var < 0.0) var = 0.0;
    *mean = (float)mean_d;
    *invstd = (float)(1.0 / sqrt(var + (double)eps));
    *running_mean = (float)((1.0 - momentum) * *running_mean + momentum * mean_d);
    if (N > 1) *running_var = (float)((1.0 - momentum) * *running_var + momentum * var * (double)N / (double)(N - 1));
}

void batchnorm_forward_eval(float *y, float *mean, float *invstd, const float *running_mean,
                            const float *running_var, const float *x, const float *gamma,
                            const float *beta, size_t N, int C, float eps)
{
    batchnorm_forward_eval_ex(y, mean, invstd, running_mean, running_var, x, gamma, beta, N, C, eps,
                              ACT_NONE);
}

void batchnorm_eval_stats(float *mean, float *invstd, const float *running_mean, const float *running_var, int C,
                          float eps)
{
    for (int c = 0; c < C; c++) {
        mean[c] = running_mean[c];
        invstd[c] = (float)(1.0 / sqrt((double)running_var[c] + (double)eps));
    }
}

void batchnorm_forward_eval_ex(float *y, float *mean, float *invstd, const float *running_mean,
                               const float *running_var, const float *x, const float *gamma,
                               const float *beta, size_t N, int C, float eps, act_kind act)
{
    batchnorm_eval_stats(mean, invstd, running_mean, running_var, C, eps);
    normalise(y, x, mean, invstd, gamma, beta, N, C, act, NULL);
}

/* acc: dx += ...; else dx = 0 + ... (the bits of adding into zeros). */
#define bn_dx_rows_BODY                                                                 \
    for (size_t n = n0; n < n1; n++) {                                                  \
        const float *dyr = dy + n * C, *xr = x + n * C;                                 \
        float *dxr = dx + n * C;                                                        \
        if (acc) {                                                                      \
            _Pragma("omp simd") for (int c = 0; c < C; c++)                             \
                dxr[c] += k1[c] * dyr[c] + k0[c] + k2[c] * (xr[c] - mean[c]);           \
        } else {                                                                        \
            _Pragma("omp simd") for (int c = 0; c < C; c++)                             \
                dxr[c] = 0.0f + (k1[c] * dyr[c] + k0[c] + k2[c] * (xr[c] - mean[c]));   \
        }                                                                               \
    }
RP_SIMD_VARIANTS(bn_dx_rows, (float *restrict dx, const float *restrict dy, const float *restrict x,
                              const float *mean, const float *k0, const float *k1, const float *k2,
                              size_t n0, size_t n1, int C, bool acc))

/* bn_dx_rows with the masked gradient of g for dy */
#define DX_ACT_ROW(MASK, ACC)                                                           \
    _Pragma("omp simd") for (int c = 0; c < C; c++) {                                   \
        float gv = gr[c], vv = vr[c];                                                   \
        float d = k1[c] * (0.0f + MASK(gv, vv)) + k0[c] + k2[c] * (xr[c] - mean[c]);    \
        dxr[c] = ACC ? dxr[c] + d : 0.0f + d;                                           \
    }
#define bn_dx_act_rows_BODY                                                             \
    for (size_t n = n0; n < n1; n++) {                                                  \
        const float *gr = g + n * C, *vr = v + n * C, *xr = x + n * C;                  \
        float *dxr = dx + n * C;                                                        \
        if (act == ACT_RELU6 && acc) {                                                  \
            DX_ACT_ROW(MASK_RELU6, 1)                                                   \
        } else if (act == ACT_RELU6) {                                                  \
            DX_ACT_ROW(MASK_RELU6, 0)                                                   \
        } else if (acc) {                                                               \
            DX_ACT_ROW(MASK_RELU, 1)                                                    \
        } else {                                                                        \
            DX_ACT_ROW(MASK_RELU, 0)                                                    \
        }                                                                               \
    }
RP_SIMD_VARIANTS(bn_dx_act_rows, (float *restrict dx, const float *restrict g, const float *restrict v,
                                  act_kind act, const float *restrict x, const float *mean, const float *k0,
                                  const float *k1, const float *k2, size_t n0, size_t n1, int C, bool acc))

/* bn_dx_act_rows with the mask from the forward's bits: the same operations, 16 channels at a
 * time. */
#define bn_dx_bits_rows_BODY                                                            \
    const size_t RB = act_mask_row_bytes(C);                                            \
    for (size_t n = n0; n < n1; n++) {                                                  \
        const float *gr = g + n * C, *xr = x + n * C;                                   \
        const uint8_t *br = bits + n * RB;                                              \
        float *dxr = dx + n * C;                                                        \
        int c = cs;                                                                     \
        for (; c + RP_VL <= ce; c += RP_VL) {                                           \
            rp_vec gm = (rp_vec)((rp_veci)RP_LDV(gr + c) & RP_MASKV(br, c));            \
            rp_vec d = RP_LDV(k1 + c) * (0.0f + gm) + RP_LDV(k0 + c) +                  \
                       RP_LDV(k2 + c) * (RP_LDV(xr + c) - RP_LDV(mean + c));            \
            rp_vec o = 0.0f + d;                                                        \
            if (acc) o = RP_LDV(dxr + c) + d;                                           \
            RP_STV(dxr + c, o);                                                         \
        }                                                                               \
        for (; c < ce; c++) {                                                           \
            float gm = RP_MASK_BIT(br, c) ? gr[c] : 0.0f;                               \
            float d = k1[c] * (0.0f + gm) + k0[c] + k2[c] * (xr[c] - mean[c]);          \
            dxr[c] = acc ? dxr[c] + d : 0.0f + d;                                       \
        }                                                                               \
    }
RP_SIMD_VARIANTS(bn_dx_bits_rows, (float *restrict dx, const float *restrict g, const uint8_t *restrict bits,
                                   const float *restrict x, const float *mean, const float *k0, const float *k1,
                                   const float *k2, size_t n0, size_t n1, int C, int cs, int ce, bool acc))

/* Evaluation mode without parameter gradients: dx = k1 * dy (dy masked when act), which is
 * what the rows above give (k0 = k2 = 0) for finite x, without reading x: a conv that did
 * this batch norm's forward (a conv's epilogue) never wrote it. */
#define DX_EVAL_ROW(GRAD, ACC)                                                          \
    _Pragma("omp simd") for (int c = 0; c < C; c++) {                                   \
        float gv = gr[c], vv = vr ? vr[c] : 0.0f;                                       \
        float d = k1[c] * (GRAD) + 0.0f;                                                \
        (void)vv;                                                                       \
        dxr[c] = ACC ? dxr[c] + d : 0.0f + d;                                           \
    }
#define bn_dx_eval_rows_BODY                                                            \
    for (size_t n = n0; n < n1; n++) {                                                  \
        const float *gr = g + n * C, *vr = v ? v + n * C : NULL;                        \
        float *dxr = dx + n * C;                                                        \
        if (act == ACT_RELU6) {                                                         \
            if (acc) DX_EVAL_ROW((0.0f + MASK_RELU6(gv, vv)), 1)                        \
            else DX_EVAL_ROW((0.0f + MASK_RELU6(gv, vv)), 0)                            \
        } else if (act == ACT_RELU) {                                                   \
            if (acc) DX_EVAL_ROW((0.0f + MASK_RELU(gv, vv)), 1)                         \
            else DX_EVAL_ROW((0.0f + MASK_RELU(gv, vv)), 0)                             \
        } else {                                                                        \
            if (acc) DX_EVAL_ROW(gv, 1)                                                 \
            else DX_EVAL_ROW(gv, 0)                                                     \
        }                                                                               \
    }
RP_SIMD_VARIANTS(bn_dx_eval_rows, (float *restrict dx, const float *restrict g, const float *restrict v, act_kind act,
                                   const float *k1, size_t n0, size_t n1, int C, bool acc))

void batchnorm_eval_k1(float *k1, const float *gamma, const float *invstd, int C)
{
    for (int c = 0; c < C; c++) k1[c] = (float)((double)gamma[c] * invstd[c]); /* as below */
}

/* The same (write mode) with the mask from bits: 0 + (k1 * (0 + masked g) + 0). */
#define bn_dx_eval_bits_rows_BODY                                                       \
    const size_t RB = act_mask_row_bytes(C);                                            \
    for (size_t r = 0; r < rows; r++) {                                                 \
        const float *gr = g + r * C;                                                    \
        const uint8_t *br = bits + r * RB;                                              \
        float *tr = dx + r * C;                                                         \
        int c = 0;                                                                      \
        for (; c + RP_VL <= C; c += RP_VL) {                                            \
            rp_vec gm = (rp_vec)((rp_veci)RP_LDV(gr + c) & RP_MASKV(br, c));            \
            rp_vec d = RP_LDV(k1 + c) * (0.0f + gm) + 0.0f;                             \
            RP_STV(tr + c, 0.0f + d);                                                   \
        }                                                                               \
        for (; c < C; c++) {                                                            \
            float gm = RP_MASK_BIT(br, c) ? gr[c] : 0.0f;                               \
            float d = k1[c] * (0.0f + gm) + 0.0f;                                       \
            tr[c] = 0.0f + d;                                                           \
        }                                                                               \
    }
RP_SIMD_VARIANTS(bn_dx_eval_bits_rows, (float *restrict dx, const float *restrict g, const uint8_t *restrict bits,
                                        const float *restrict k1, size_t rows, int C))

void batchnorm_eval_dx_rows(float *dx, const float *dy, const float *act_y, const uint8_t *bits, act_kind act,
                            const float *k1, size_t rows, int C, bool acc)
{
    if (act && bits) {
        RP_ASSERT(!acc);
        RP_SIMD_CALL(rp_simd_level(), bn_dx_eval_bits_rows, (dx, dy, bits, k1, rows, C));
        return;
    }
    RP_SIMD_CALL(rp_simd_level(), bn_dx_eval_rows, (dx, dy, act_y, act, k1, 0, rows, C, acc));
}

void batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                        const float *mean, const float *invstd, const float *gamma, size_t N,
                        int C, int train, double *work)
{
    batchnorm_backward_ex(dx, dgamma, dbeta, dy, x, mean, invstd, gamma, N, C, train, work, true);
}

void batchnorm_backward_ex(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                           const float *mean, const float *invstd, const float *gamma, size_t N,
                           int C, int train, double *work, bool acc)
{
    batchnorm_backward_act(dx, dgamma, dbeta, dy, NULL, NULL, ACT_NONE, x, mean, invstd, gamma, N, C, train,
                           work, acc);
}

/* See batchnorm.h: work's first 2C doubles <- sdy, sdyx (its next 2C are scratch here). */
void batchnorm_grad_sums(double *work, const float *dy, const float *act_y, const uint8_t *bits, act_kind act,
                         const float *x, const float *mean, size_t N, int C)
{
    double *sdy = work, *sdyx = work + C, *zero = work + 2 * (size_t)C, *m = work + 3 * (size_t)C;
    double *part = work + 4 * (size_t)C;
    for (int c = 0; c < C; c++) {
        zero[c] = 0.0;
        m[c] = mean[c];
    }
    channel_sums(sdy, sdyx, dy, zero, x, m, N, C, part, act_y, act, bits);
}

void batchnorm_param_grads(float *dgamma, float *dbeta, const double *work, const float *invstd, int C)
{
    for (int c = 0; c < C; c++) {
        if (dbeta) dbeta[c] += (float)work[c];
        if (dgamma) dgamma[c] += (float)(work[C + c] * invstd[c]);
    }
}

const float *batchnorm_dx_coeffs(double *work, const float *invstd, const float *gamma, int C, int train,
                                 double n_div)
{
    const double *sdy = work, *sdyx = work + C;
    float *k0 = (float *)(work + 4 * (size_t)C), *k1 = k0 + C, *k2 = k1 + C;
    for (int c = 0; c < C; c++) {
        double a = (double)gamma[c] * invstd[c];
        k1[c] = (float)a;
        k0[c] = train ? (float)(-a * sdy[c] / n_div) : 0.0f;
        k2[c] = train ? (float)(-a * invstd[c] * invstd[c] * sdyx[c] / n_div) : 0.0f;
    }
    return k0;
}

void batchnorm_dx_bits_tile(float *dx, const float *g, const uint8_t *bits, const float *x, const float *mean,
                            const float *k, size_t rows, int C, int c0, int c1)
{
    RP_SIMD_CALL(rp_simd_level(), bn_dx_bits_rows, (dx, g, bits, x, mean, k, k + C, k + 2 * (size_t)C, 0, rows, C,
                                                    c0, c1, false));
}

/* dx from the sums in work (batchnorm_grad_sums, or a whole job's): k0 = -a sdy / n_div,
 * k2 = -a invstd^2 sdyx / n_div in training. */
void batchnorm_backward_dx(float *dx, const float *dy, const float *act_y, const uint8_t *bits, act_kind act,
                           const float *x, const float *mean, const float *invstd, const float *gamma, size_t N,
                           int C, int train, bool param_rows, double n_div, double *work, bool acc)
{
    const float *k0 = batchnorm_dx_coeffs(work, invstd, gamma, C, train, n_div), *k1 = k0 + C, *k2 = k1 + C;
    rp_simd simd = rp_simd_level();
    size_t R = block_rows(C);
    long nblk = (long)((N + R - 1) / R);
#pragma omp parallel for schedule(static) if (N * (size_t)C > 32768)
    for (long i = 0; i < nblk; i++) {
        size_t n0 = (size_t)i * R, n1 = n0 + R < N ? n0 + R : N;
        if (!train && !param_rows)
            RP_SIMD_CALL(simd, bn_dx_eval_rows, (dx, dy, act_y, act, k1, n0, n1, C, acc));
        else if (act && bits)
            RP_SIMD_CALL(simd, bn_dx_bits_rows, (dx, dy, bits, x, mean, k0, k1, k2, n0, n1, C, 0, C, acc));
        else if (act)
            RP_SIMD_CALL(simd, bn_dx_act_rows, (dx, dy, act_y, act, x, mean, k0, k1, k2, n0, n1, C, acc));
        else
            RP_SIMD_CALL(simd, bn_dx_rows, (dx, dy, x, mean, k0, k1, k2, n0, n1, C, acc));
    }
}

/* See batchnorm.h and the reference: dx += k1 * dy + k0 + k2 * (x - mean) per channel. */
void batchnorm_backward_act(float *dx, float *dgamma, float *dbeta, const float *dy, const float *act_y,
                            const uint8_t *bits, act_kind act, const float *x, const float *mean, const float *invstd,
                            const float *gamma, size_t N, int C, int train, double *work, bool acc)
{
    if (dgamma || dbeta || (dx && train)) {
        batchnorm_grad_sums(work, dy, act_y, bits, act, x, mean, N, C);
        batchnorm_param_grads(dgamma, dbeta, work, invstd, C);
    }
    if (!dx) return;
    batchnorm_backward_dx(dx, dy, act_y, bits, act, x, mean, invstd, gamma, N, C, train, dgamma || dbeta,
                          (double)N, work, acc);
}
