/* Class activation maps on a node A (h,w,K channels), the last spatial feature map unless
 * cfg.layer names one:
 *   CAM (Zhou et al. 2016)       M = sum_k W[t,k] A_k, W the linear head after a global average
 *                                pool of A (GAP -> [flatten/dropout] -> linear must end the model);
 *   Grad-CAM (Selvaraju et al.)  M = sum_k alpha_k A_k, alpha_k = mean_ij dY_t/dA_kij;
 *   Grad-CAM++ (Chattopadhay)    M = sum_k w_k A_k, w_k = sum_ij relu(g) a_ij,
 *                                a = g^2 / (2 g^2 + sum_ij(A_k) g^3 + 1e-7), a = 0 where g = 0
 *                                (pytorch-grad-cam's closed form, which assumes exp(Y)).
 * Y_t is the target LOGIT. On a GAP + linear head dY_t/dA_kij = W[t,k] / (h w), so Grad-CAM is
 * exactly CAM / (h w) (Selvaraju et al. sec. 3.1) — when A is taken AFTER the last activation.
 * cfg.counterfactual negates g (CAM: W), explaining what speaks against the target;
 * cfg.cam_relu applies the ReLU of the papers (off: the raw signed map). Maps are returned at
 * the layer's resolution; rp_xai_explain upsamples them bilinearly to the input. */
#include <stdlib.h>
#include <string.h>

#include "explain/explain.h"

bool rp_xai_cam_shape(rp_explainer *ex, int *h, int *w)
{
    if (ex->layer < 0) {
        rp_fail(ex->ctx, RP_ERR_UNSUPPORTED, "explain: %s; give a layer name", ex->layer_error);
        return false;
    }
    rp_shape s = ex->m->g.nodes[ex->layer].out_shape;
    *h = s.H, *w = s.W;
    return true;
}

rp_status rp_explainer_layer_shape(rp_explainer *ex, int *h, int *w)
{
    if (!ex) return RP_ERR_ARG; /* no context to name it in */
    if (!h || !w) return rp_fail(ex->ctx, RP_ERR_ARG, "explain: layer shape: h or w is NULL");
    return rp_xai_cam_shape(ex, h, w) ? RP_OK : RP_ERR_UNSUPPORTED;
}

/* The linear head's weight (OUT, IN) when the layer feeds GAP -> [flatten|dropout]* -> the last
 * node, a linear layer; NULL (with the reason in ctx) otherwise. */
static const float *cam_head(rp_explainer *ex)
{
    const rp_graph *g = &ex->m->g;
    const rp_node *last = &g->nodes[g->n_nodes - 1];
    int n = last->in[0];
    while (n >= 0 && (g->nodes[n].ops->kind == RP_LAYER_FLATTEN || g->nodes[n].ops->kind == RP_LAYER_DROPOUT))
        n = g->nodes[n].in[0];
    const char *lname = g->nodes[ex->layer].name;
    if (last->ops->kind != RP_LAYER_LINEAR || n < 0 || g->nodes[n].ops->kind != RP_LAYER_GLOBAL_AVGPOOL ||
        g->nodes[n].in[0] != ex->layer) {
        rp_fail(ex->ctx, RP_ERR_UNSUPPORTED,
                "explain: CAM needs layer %s to feed global average pooling and a linear head that ends "
                "model %s; use gradcam (equal to CAM on such heads)", lname, ex->m->arch);
        return NULL;
    }
    return last->param[0].data;
}

/* map (h*w) for one image from A (h*w, K) and per-channel weights wk (K). */
static void weighted_sum(float *map, const float *A, const double *wk, int hw, int K)
{
    for (int p = 0; p < hw; p++) {
        double s = 0.0;
        for (int k = 0; k < K; k++) s += wk[k] * A[(size_t)p * K + k];
        map[p] = (float)s;
    }
}

/* Per-channel weights of one image from A and g = dY_t/dA (both (hw, K)). */
static void channel_weights(rp_xai_method m, const float *A, const float *G, int hw, int K, double sign,
                            double *wk)
{
    for (int k = 0; k < K; k++) {
        double sg = 0.0, sa = 0.0, spp = 0.0;
        for (int p = 0; p < hw; p++) {
            sg += G[(size_t)p * K + k];
            sa += A[(size_t)p * K + k];
        }
        if (m == RP_XAI_GRADCAM) {
            wk[k] = sign * sg / hw;
            continue;
        }
        for (int p = 0; p < hw; p++) { /* Grad-CAM++ */
            double g = sign * G[(size_t)p * K + k];
            if (g == 0.0) continue;
            double g2 = g * g, a = g2 / (2.0 * g2 + sa * g2 * g + 1e-7);
            spp += (g > 0.0 ? g : 0.0) * a;
        }
        wk[k] = spp;
    }
}

rp_status rp_xai_cam(rp_explainer *ex, rp_xai_method m, const float *x, const int32_t *t, int B, float *map)
{
    RP_ASSERT(m == RP_XAI_CAM || m == RP_XAI_GRADCAM || m == RP_XAI_GRADCAMPP);
    RP_TRY(rp_xai_check(ex, x, t, B));
    int h, w;
    if (!rp_xai_cam_shape(ex, &h, &w)) return RP_ERR_UNSUPPORTED;
    const float *W = m == RP_XAI_CAM ? cam_head(ex) : NULL;
    if (m == RP_XAI_CAM && !W) return RP_ERR_UNSUPPORTED;
    const rp_node *node = &ex->m->g.nodes[ex->layer];
    const int K = node->out_shape.C, hw = h * w;
    const size_t A_n = (size_t)hw * K;
    const double sign = ex->cfg.counterfactual ? -1.0 : 1.0;
    double *wk = malloc((size_t)K * sizeof(double));
    if (!wk) return rp_fail(ex->ctx, RP_ERR_NOMEM, "explain: out of memory");
    for (int s = 0; s < B; s += ex->chunk) {
        int n = B - s < ex->chunk ? B - s : ex->chunk;
        rp_model_forward(ex->m, x + (size_t)s * ex->X, n, false);
        if (m != RP_XAI_CAM) {
            memset(ex->dl, 0, (size_t)n * ex->K * sizeof(float));
            for (int i = 0; i < n; i++) ex->dl[(size_t)i * ex->K + t[s + i]] = 1.0f;
            rp_model_backward(ex->m, ex->dl, NULL, 0); /* fills node->dy; no input gradient */
        }
        for (int i = 0; i < n; i++) {
            const float *A = node->y + (size_t)i * A_n;
            if (m == RP_XAI_CAM) {
                const float *Wt = W + (size_t)t[s + i] * K;
                for (int k = 0; k < K; k++) wk[k] = sign * Wt[k];
            } else {
                channel_weights(m, A, node->dy + (size_t)i * A_n, hw, K, sign, wk);
            }
            float *mi = map + (size_t)(s + i) * hw;
            weighted_sum(mi, A, wk, hw, K);
            if (ex->cfg.cam_relu)
                for (int p = 0; p < hw; p++) mi[p] = mi[p] > 0.0f ? mi[p] : 0.0f;
        }
    }
    free(wk);
    return rp_xai_check_result(ex, rp_xai_method_name(m), map, (size_t)B * hw);
}
