#include "kernels/batchnorm.h"

/* The reference kernels (plain loops); batchnorm_fast.c has the SIMD versions. */

#include <math.h>
#include <string.h>

static int n_chunks(size_t N) { return N < BN_CHUNKS ? (int)N : BN_CHUNKS; }

size_t batchnorm_work_doubles(int C, size_t samples)
{
    size_t parts = samples > BN_CHUNKS ? samples : BN_CHUNKS;
    return (size_t)2 * parts * C + (size_t)4 * C;
}

void batchnorm_stats_combine(double *s1, double *s2, const double *q, const float *x, size_t S, size_t P, int C)
{
    for (int c = 0; c < C; c++) s1[c] = s2[c] = 0.0;
    for (size_t b = 0; b < S; b++) {
        const double *q1 = q + b * 2 * C, *q2 = q1 + C;
        const float *m = x + b * P * C; /* the sample's shift, its first row */
        for (int c = 0; c < C; c++) {
            double d = (double)m[c] - (double)x[c]; /* to the batch's shift, exact */
            s1[c] += q1[c] + (double)P * d;
            s2[c] += q2[c] + 2.0 * d * q1[c] + (double)P * d * d;
        }
    }
}

/* s1[c] = sum_n (a[n,c] - ca[c]);  s2[c] = sum_n (a[n,c] - ca[c]) * (b[n,c] - cb[c]) when
 * s2 != NULL. part holds 2 * n_chunks(N) * C doubles of chunk partials. */
static void channel_sums(double *s1, double *s2, const float *a, const double *ca,
                         const float *b, const double *cb, size_t N, int C, double *part)
{
    int K = n_chunks(N);
    double *p1 = part, *p2 = part + (size_t)K * C;
    memset(part, 0, (size_t)2 * K * C * sizeof *part);
#pragma omp parallel for schedule(static) if (N * (size_t)C > 32768)
    for (int k = 0; k < K; k++) {
        double *q1 = p1 + (size_t)k * C, *q2 = p2 + (size_t)k * C;
        for (size_t n = N * k / K; n < N * (k + 1) / K; n++) {
            const float *ar = a + n * C;
            if (!s2) {
#pragma omp simd
                for (int c = 0; c < C; c++) q1[c] += (double)ar[c] - ca[c];
                continue;
            }
            const float *br = b + n * C;
#pragma omp simd
            for (int c = 0; c < C; c++) {
                double u = (double)ar[c] - ca[c];
                q1[c] += u;
                q2[c] += u * ((double)br[c] - cb[c]);
            }
        }
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

/* y = (x - mean) * (invstd * gamma) + beta */
static void normalise(float *y, const float *x, const float *mean, const float *invstd,
                      const float *gamma, const float *beta, size_t N, int C)
{
#pragma omp parallel for schedule(static) if (N * (size_t)C > 32768)
    for (size_t n = 0; n < N; n++) {
        const float *xr = x + n * C;
        float *yr = y + n * C;
#pragma omp simd
        for (int c = 0; c < C; c++) yr[c] = (xr[c] - mean[c]) * (invstd[c] * gamma[c]) + beta[c];
    }
}

void batchnorm_forward_train_ref(float *y, float *mean, float *invstd, float *running_mean,
                             float *running_var, const float *x, const float *gamma,
                             const float *beta, size_t N, int C, size_t P, float eps, float momentum,
                             double *work)
{
    double *s1 = work, *s2 = work + C, *m = work + 3 * (size_t)C;
    double *q = work + 4 * (size_t)C;
    /* one pass around a shift per sample, its first row: u = x - x[first] is exact in double,
     * u*u too (24-bit mantissas), and E[u] is of the order of the spread, so E[u^2] - E[u]^2
     * does not cancel as E[x^2] - E[x]^2 would for large means; the samples' sums are then
     * moved to the batch's shift (its first row) and added in order */
    size_t S = N / P;
    for (int c = 0; c < C; c++) m[c] = x[c];
#pragma omp parallel for schedule(static) if (N * (size_t)C > 32768)
    for (size_t b = 0; b < S; b++) {
        const float *xb = x + b * P * C;
        double *q1 = q + b * 2 * C, *q2 = q1 + C;
        for (int c = 0; c < C; c++) q1[c] = q2[c] = 0.0;
        for (size_t n = 0; n < P; n++)
            for (int c = 0; c < C; c++) {
                double u = (double)xb[n * C + c] - (double)xb[c];
                q1[c] += u;
                q2[c] += u * u;
            }
    }
    batchnorm_stats_combine(s1, s2, q, x, S, P, C);
    for (int c = 0; c < C; c++) {
        double d = s1[c] / (double)N; /* the mean minus the shift */
        double var = s2[c] / (double)N - d * d;
        if (var < 0.0) var = 0.0;
        mean[c] = (float)(m[c] + d);
        invstd[c] = (float)(1.0 / sqrt(var + (double)eps));
        running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * (m[c] + d));
        if (N > 1)
            running_var[c] = (float)((1.0 - momentum) * running_var[c] +
                                     momentum * var * (double)N / (double)(N - 1));
    }
    normalise(y, x, mean, invstd, gamma, beta, N, C);
}

void batchnorm_forward_eval_ref(float *y, float *mean, float *invstd, const float *running_mean,
                            const float *running_var, const float *x, const float *gamma,
                            const float *beta, size_t N, int C, float eps)
{
    for (int c = 0; c < C; c++) {
        mean[c] = running_mean[c];
        invstd[c] = (float)(1.0 / sqrt((double)running_var[c] + (double)eps));
    }
    normalise(y, x, mean, invstd, gamma, beta, N, C);
}

/* With xhat = (x - mean) * invstd and the sums Sdy = sum dy, Sdyx = sum dy * (x - mean):
 *   dbeta += Sdy,  dgamma += Sdyx * invstd,
 *   eval:  dx += gamma * invstd * dy
 *   train: dx += gamma * invstd * (dy - Sdy/N - xhat * Sdyx * invstd / N)
 * i.e. dx += k1 * dy + k0 + k2 * (x - mean) per channel. */
void batchnorm_backward_ref(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                        const float *mean, const float *invstd, const float *gamma, size_t N,
                        int C, int train, double *work)
{
    double *sdy = work, *sdyx = work + C, *zero = work + 2 * (size_t)C, *m = work + 3 * (size_t)C;
    double *part = work + 4 * (size_t)C;
    float *k0 = (float *)part, *k1 = k0 + C, *k2 = k1 + C; /* part is free after the sums */
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
#pragma omp parallel for schedule(static) if (N * (size_t)C > 32768)
    for (size_t n = 0; n < N; n++) {
        const float *dyr = dy + n * C, *xr = x + n * C;
        float *dxr = dx + n * C;
#pragma omp simd
        for (int c = 0; c < C; c++) dxr[c] += k1[c] * dyr[c] + k0[c] + k2[c] * (xr[c] - mean[c]);
    }
}
