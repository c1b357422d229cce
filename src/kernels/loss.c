/* Softmax cross-entropy and KL divergence over logits, numerically stable (log-softmax
 * by subtracting the row maximum), rows in order and summed in double. */
#include "kernels/loss.h"

#include <math.h>

#include "core/status.h"

/* log(sum_k exp(l[k])) of one row, via the row maximum. */
static double log_sum_exp(const float *l, int K)
{
    float m = l[0];
    for (int k = 1; k < K; k++)
        if (l[k] > m) m = l[k];
    double s = 0.0;
    for (int k = 0; k < K; k++) s += exp((double)l[k] - m);
    return (double)m + log(s);
}

/* Index of the first maximum. */
static int argmax(const float *l, int K)
{
    int best = 0;
    for (int k = 1; k < K; k++)
        if (l[k] > l[best]) best = k;
    return best;
}

/* Target t = (1 - s) onehot(y) + s/K, as CrossEntropyLoss(label_smoothing=s):
 *   loss_row = -sum_k t_k log p_k,   d loss_row / d l_k = p_k - t_k. */
float rp_softmax_xent(const float *logits, const int32_t *y, int B, int K, float smoothing,
                      float *dlogits, float scale, int *correct)
{
    RP_ASSERT(B >= 0 && K >= 1 && smoothing >= 0.0f && smoothing < 1.0f);
    if (B == 0) { /* an empty piece of a data-parallel batch */
        if (correct) *correct = 0;
        return 0.0f;
    }
    double total = 0.0, off = (double)smoothing / K, on = 1.0 - smoothing + off;
    double g = (double)scale / B;
    int hits = 0;
    for (int b = 0; b < B; b++) {
        const float *l = logits + (size_t)b * K;
        int yb = y[b];
        RP_ASSERT(yb >= 0 && yb < K);
        double lse = log_sum_exp(l, K), sum_logp = 0.0;
        if (smoothing > 0.0f)
            for (int k = 0; k < K; k++) sum_logp += (double)l[k] - lse;
        total += -(1.0 - smoothing) * ((double)l[yb] - lse) - off * sum_logp;
        hits += argmax(l, K) == yb;
        if (!dlogits) continue;
        float *d = dlogits + (size_t)b * K;
        for (int k = 0; k < K; k++) {
            double t = k == yb ? on : off;
            d[k] = (float)(g * (exp((double)l[k] - lse) - t));
        }
    }
    if (correct) *correct = hits;
    return (float)(total / B);
}

/* Per row, with d_k = log P_k - log Q_k and L = sum_k P_k d_k:
 *   dL/dq_k = Q_k - P_k,   dL/dp_k = P_k (d_k - L). */
float rp_kl_div_logits(const float *p_logits, const float *q_logits, int B, int K, float *dp,
                       float *dq, float scale)
{
    RP_ASSERT(B >= 0 && K >= 1);
    if (B == 0) return 0.0f; /* an empty piece of a data-parallel batch */
    double total = 0.0, g = (double)scale / B;
    for (int b = 0; b < B; b++) {
        const float *p = p_logits + (size_t)b * K, *q = q_logits + (size_t)b * K;
        double lp = log_sum_exp(p, K), lq = log_sum_exp(q, K), row = 0.0;
        for (int k = 0; k < K; k++) {
            double logP = (double)p[k] - lp, logQ = (double)q[k] - lq;
            row += exp(logP) * (logP - logQ);
        }
        total += row;
        for (int k = 0; k < K; k++) {
            double logP = (double)p[k] - lp, logQ = (double)q[k] - lq, P = exp(logP);
            if (dp) dp[(size_t)b * K + k] = (float)(g * P * (logP - logQ - row));
            if (dq) dq[(size_t)b * K + k] = (float)(g * (exp(logQ) - P));
        }
    }
    return (float)(total / B);
}

/* The mixture M_k of example b's views at class k, and dJS/dp_vk's bracket for view v:
 * log p_vk - log M_k where M is not clamped (the M terms cancel), else the clamp's constant. */
static double jsd_mix(const float *z, const double *lse, int V, int B, int b, int K, int k)
{
    double m = 0.0;
    for (int v = 0; v < V; v++) m += exp((double)z[((size_t)v * B + b) * K + k] - lse[v]);
    return m / V;
}

static double jsd_bracket(double logp, double m)
{
    const double floor_m = 1e-7;
    return m > floor_m ? logp - log(m < 1.0 ? m : 1.0) : logp + 1.0 - log(floor_m);
}

float rp_jsd_logits(const float *z, int V, int B, int K, float *dz, float scale)
{
    RP_ASSERT(V >= 1 && V <= 8 && B >= 0 && K >= 1);
    if (B == 0) return 0.0f; /* an empty piece of a data-parallel batch */
    const double g = (double)scale / ((double)V * B);
    double total = 0.0;
    for (int b = 0; b < B; b++) {
        double lse[8], dot[8] = {0}; /* dot[v] = sum_k p_vk dJS/dp_vk, for the softmax's backward */
        for (int v = 0; v < V; v++) lse[v] = log_sum_exp(z + ((size_t)v * B + b) * K, K);
        for (int k = 0; k < K; k++) {
            double m = jsd_mix(z, lse, V, B, b, K, k), logm = log(m > 1e-7 ? (m < 1.0 ? m : 1.0) : 1e-7);
            for (int v = 0; v < V; v++) {
                double logp = (double)z[((size_t)v * B + b) * K + k] - lse[v], p = exp(logp);
                total += p * (logp - logm);
                dot[v] += p * jsd_bracket(logp, m);
            }
        }
        for (int k = 0; dz && k < K; k++) { /* dz_vk = p_vk (dJS/dp_vk - dot_v) */
            double m = jsd_mix(z, lse, V, B, b, K, k);
            for (int v = 0; v < V; v++) {
                double logp = (double)z[((size_t)v * B + b) * K + k] - lse[v];
                dz[((size_t)v * B + b) * K + k] += (float)(g * exp(logp) * (jsd_bracket(logp, m) - dot[v]));
            }
        }
    }
    return (float)(total / ((double)V * B));
}
