/* Batch normalisation, SIMD versions of the reference kernels in batchnorm.c: the same
 * chunks, the same double sums and float expressions in the same order, so the results are
 * bit-identical; only the loops over channels run through run-time selected SIMD variants. */
#include <math.h>
#include <string.h>

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

/* As the reference's channel_sums: fixed chunks, partials combined in chunk order. */
static void channel_sums(double *s1, double *s2, const float *a, const double *ca, const float *b,
                         const double *cb, size_t N, int C, double *part)
{
    int K = n_chunks(N);
    double *p1 = part, *p2 = part + (size_t)K * C;
    memset(part, 0, (size_t)2 * K * C * sizeof *part);
    rp_simd simd = rp_simd_level();
#pragma omp parallel for schedule(static) if (N * (size_t)C > 32768)
    for (int k = 0; k < K; k++)
        RP_SIMD_CALL(simd, chunk_sums, (p1 + (size_t)k * C, s2 ? p2 + (size_t)k * C : NULL, a, ca, b, cb,
                                        N * k / K, N * (k + 1) / K, C));
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
        if (act == BN_ACT_RELU6) {                                                      \
            _Pragma("omp simd") for (int c = 0; c < C; c++) {                           \
                float v = (xr[c] - mean[c]) * (invstd[c] * gamma[c]) + beta[c];         \
                v = v > 0.0f ? v : 0.0f;                                                \
                yr[c] = v < 6.0f ? v : 6.0f;                                            \
            }                                                                           \
        } else if (act == BN_ACT_RELU) {                                                \
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
                                  size_t n0, size_t n1, int C, int act))

/* y = act((x - mean) * (invstd * gamma) + beta) */
static void normalise(float *y, const float *x, const float *mean, const float *invstd,
                      const float *gamma, const float *beta, size_t N, int C, int act)
{
    rp_simd simd = rp_simd_level();
    size_t R = block_rows(C);
    long nblk = (long)((N + R - 1) / R);
#pragma omp parallel for schedule(static) if (N * (size_t)C > 32768)
    for (long i = 0; i < nblk; i++) {
        size_t n0 = (size_t)i * R, n1 = n0 + R < N ? n0 + R : N;
        RP_SIMD_CALL(simd, normalise_rows, (y, x, mean, invstd, gamma, beta, n0, n1, C, act));
    }
}

void batchnorm_forward_train(float *y, float *mean, float *invstd, float *running_mean,
                             float *running_var, const float *x, const float *gamma,
                             const float *beta, size_t N, int C, float eps, float momentum,
                             double *work)
{
    batchnorm_forward_train_ex(y, mean, invstd, running_mean, running_var, x, gamma, beta, N, C,
                               eps, momentum, work, BN_ACT_NONE);
}

void batchnorm_forward_train_ex(float *y, float *mean, float *invstd, float *running_mean,
                                float *running_var, const float *x, const float *gamma,
                                const float *beta, size_t N, int C, float eps, float momentum,
                                double *work, int act)
{
    double *s1 = work, *s2 = work + C, *m = work + 3 * (size_t)C;
    double *part = work + 4 * (size_t)C;
    for (int c = 0; c < C; c++) m[c] = x[c]; /* the reference's shift: one pass */
    channel_sums(s1, s2, x, m, x, m, N, C, part);
    for (int c = 0; c < C; c++) {
        double d = s1[c] / (double)N;
        double var = s2[c] / (double)N - d * d;
        if (var < 0.0) var = 0.0;
        mean[c] = (float)(m[c] + d);
        invstd[c] = (float)(1.0 / sqrt(var + (double)eps));
        running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * (m[c] + d));
        if (N > 1)
            running_var[c] = (float)((1.0 - momentum) * running_var[c] +
                                     momentum * var * (double)N / (double)(N - 1));
    }
    normalise(y, x, mean, invstd, gamma, beta, N, C, act);
}

void batchnorm_forward_eval(float *y, float *mean, float *invstd, const float *running_mean,
                            const float *running_var, const float *x, const float *gamma,
                            const float *beta, size_t N, int C, float eps)
{
    batchnorm_forward_eval_ex(y, mean, invstd, running_mean, running_var, x, gamma, beta, N, C, eps,
                              BN_ACT_NONE);
}

void batchnorm_forward_eval_ex(float *y, float *mean, float *invstd, const float *running_mean,
                               const float *running_var, const float *x, const float *gamma,
                               const float *beta, size_t N, int C, float eps, int act)
{
    for (int c = 0; c < C; c++) {
        mean[c] = running_mean[c];
        invstd[c] = (float)(1.0 / sqrt((double)running_var[c] + (double)eps));
    }
    normalise(y, x, mean, invstd, gamma, beta, N, C, act);
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

void batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                        const float *mean, const float *invstd, const float *gamma, size_t N,
                        int C, int train, double *work)
{
    batchnorm_backward_ex(dx, dgamma, dbeta, dy, x, mean, invstd, gamma, N, C, train, work, true);
}

/* See batchnorm.h and the reference: dx += k1 * dy + k0 + k2 * (x - mean) per channel. */
void batchnorm_backward_ex(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                           const float *mean, const float *invstd, const float *gamma, size_t N,
                           int C, int train, double *work, bool acc)
{
    double *sdy = work, *sdyx = work + C, *zero = work + 2 * (size_t)C, *m = work + 3 * (size_t)C;
    double *part = work + 4 * (size_t)C;
    float *k0 = (float *)part, *k1 = k0 + C, *k2 = k1 + C;
    for (int c = 0; c < C; c++) {
        zero[c] = 0.0;
        m[c] = mean[c];
    }
    if (dgamma || dbeta || (dx && train)) {
        channel_sums(sdy, sdyx, dy, zero, x, m, N, C, part);
        for (int c = 0; c < C; c++) {
            if (dbeta) dbeta[c] += (float)sdy[c];
            if (dgamma) dgamma[c] += (float)(sdyx[c] * invstd[c]);
        }
    }
    if (!dx) return;
    for (int c = 0; c < C; c++) {
        double a = (double)gamma[c] * invstd[c];
        k1[c] = (float)a;
        k0[c] = train ? (float)(-a * sdy[c] / (double)N) : 0.0f;
        k2[c] = train ? (float)(-a * invstd[c] * invstd[c] * sdyx[c] / (double)N) : 0.0f;
    }
    rp_simd simd = rp_simd_level();
    size_t R = block_rows(C);
    long nblk = (long)((N + R - 1) / R);
#pragma omp parallel for schedule(static) if (N * (size_t)C > 32768)
    for (long i = 0; i < nblk; i++) {
        size_t n0 = (size_t)i * R, n1 = n0 + R < N ? n0 + R : N;
        RP_SIMD_CALL(simd, bn_dx_rows, (dx, dy, x, mean, k0, k1, k2, n0, n1, C, acc));
    }
}
