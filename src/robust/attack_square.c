/* Square attack, L-inf (Andriushchenko et al., ECCV 2020): score-based random search, no
 * gradients. Start from vertical stripes x + eps * (random sign per column and channel); then
 * per query and example, set a random s x s window to x + eps * (a random sign per channel),
 * and keep the change when the margin loss max_{j != y} z_j - z_y grows. The window's area
 * is the fraction p of the image, halved on AutoAttack's schedule (queries 10, 50, 200, 500,
 * 1000, 2000, 4000, 6000, 8000 of 10,000, rescaled to the query budget). */
#include <math.h>
#include <string.h>

#include "robust/attack_internal.h"

static float p_schedule(int q, int queries, float p_init)
{
    static const int edges[] = {10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000};
    int i = (int)((long)q * 10000 / queries);
    float p = p_init;
    for (size_t e = 0; e < sizeof edges / sizeof edges[0]; e++)
        if (i > edges[e]) p *= 0.5f;
    return p;
}

static float clip(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Write into row v (a copy of the current point) a window at (vh, vw) of side s, pixel
 * value clip(x + eps * sign_c); redraw the signs (up to 10 times) while nothing changes. */
static void square_window(rp_attack *a, const rp_attack_config *c, rp_rng *rng, float *v, const float *xi, int s)
{
    int H = a->m->cfg.H, W = a->m->cfg.W, C = a->m->cfg.C;
    int vh = (int)rp_rng_below(rng, (uint32_t)(H - s + 1)), vw = (int)rp_rng_below(rng, (uint32_t)(W - s + 1));
    float sign[4];
    for (int tries = 0; tries < 10; tries++) {
        for (int ch = 0; ch < C; ch++) sign[ch] = rp_rng_u32(rng) & 1u ? 1.0f : -1.0f;
        bool changes = false;
        for (int h = vh; h < vh + s && !changes; h++)
            for (int w = vw; w < vw + s && !changes; w++)
                for (int ch = 0; ch < C; ch++) {
                    size_t k = ((size_t)h * W + w) * C + ch;
                    if (clip(xi[k] + c->eps * sign[ch], c->clip_min, c->clip_max) != v[k]) changes = true;
                }
        if (changes) break;
    }
    for (int h = vh; h < vh + s; h++)
        for (int w = vw; w < vw + s; w++)
            for (int ch = 0; ch < C; ch++) {
                size_t k = ((size_t)h * W + w) * C + ch;
                v[k] = clip(xi[k] + c->eps * sign[ch], c->clip_min, c->clip_max);
            }
}

void rp_atk_square_run(rp_attack *a, const rp_attack_config *c, int queries, const float *x,
                       const int32_t *y, int B, const int *list, int n, float *x_adv, bool *succ,
                       float *out_loss)
{
    (void)B;
    size_t X = a->X;
    int K = a->K, H = a->m->cfg.H, W = a->m->cfg.W, C = a->m->cfg.C;
    int *act = a->act;
    memcpy(act, list, (size_t)n * sizeof *act);
    for (int j = 0; j < n; j++) { /* stripes */
        int i = act[j];
        const float *xi = x + (size_t)i * X;
        float *v = a->cur + (size_t)i * X;
        for (int w = 0; w < W; w++)
            for (int ch = 0; ch < C; ch++) {
                float e = rp_rng_u32(&a->rngs[i]) & 1u ? c->eps : -c->eps;
                for (int h = 0; h < H; h++) {
                    size_t k = ((size_t)h * W + w) * C + ch;
                    v[k] = clip(xi[k] + e, c->clip_min, c->clip_max);
                }
            }
    }
    for (int q = 0; q < queries && n > 0; q++) {
        if (q == 0) {
            rp_atk_eval(a, RP_AOBJ_MARGIN, a->cur, act, n, y, NULL, false, a->loss);
        } else {
            float p = p_schedule(q, queries, c->p_init);
            int side = H < W ? H : W, s = (int)lround(sqrt((double)p * H * W));
            if (s > side - 1) s = side - 1;
            if (s < 1) s = 1;
            for (int j = 0; j < n; j++) {
                int i = act[j];
                float *v = a->xw + (size_t)j * X;
                memcpy(v, a->cur + (size_t)i * X, X * sizeof *v);
                square_window(a, c, &a->rngs[i], v, x + (size_t)i * X, s);
            }
            rp_atk_eval(a, RP_AOBJ_MARGIN, NULL, act, n, y, NULL, false, a->loss);
        }
        int m = 0;
        for (int j = 0; j < n; j++) {
            int i = act[j];
            const float *v = q == 0 ? a->cur + (size_t)i * X : a->xw + (size_t)j * X;
            if (rp_atk_fooled(a->logits + (size_t)j * K, K, y[i], -1, false)) {
                memcpy(x_adv + (size_t)i * X, v, X * sizeof *v);
                succ[i] = true;
                continue;
            }
            if (q == 0 || a->loss[j] > a->loss_best[i]) {
                a->loss_best[i] = a->loss[j];
                if (q) memcpy(a->cur + (size_t)i * X, v, X * sizeof *v);
            }
            act[m++] = i;
        }
        n = m;
    }
    for (int j = 0; j < n; j++) {
        int i = act[j];
        if (a->loss_best[i] > out_loss[i]) {
            memcpy(x_adv + (size_t)i * X, a->cur + (size_t)i * X, X * sizeof(float));
            out_loss[i] = a->loss_best[i];
        }
    }
}
