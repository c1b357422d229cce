/* Vanilla gradient saliency (Simonyan et al. 2014) and gradient * input: the gradient of the
 * target logit with respect to the input pixels, in batches of cfg.chunk images. */
#include "explain/explain.h"

rp_status rp_xai_input_gradient(rp_explainer *ex, const float *x, const int32_t *t, int B, float *grad,
                                bool guided, const char *what)
{
    RP_TRY(rp_xai_check(ex, x, t, B));
    for (int s = 0; s < B; s += ex->chunk) {
        int n = B - s < ex->chunk ? B - s : ex->chunk;
        rp_xai_grad(ex, x + (size_t)s * ex->X, t + s, n, grad + (size_t)s * ex->X, NULL, guided);
    }
    return rp_xai_check_result(ex, what, grad, (size_t)B * ex->X);
}

rp_status rp_xai_saliency(rp_explainer *ex, const float *x, const int32_t *t, int B, float *grad)
{
    return rp_xai_input_gradient(ex, x, t, B, grad, false, "saliency");
}

rp_status rp_xai_gradxinput(rp_explainer *ex, const float *x, const int32_t *t, int B, float *attr)
{
    RP_TRY(rp_xai_input_gradient(ex, x, t, B, attr, false, "gradxinput"));
    for (size_t k = 0; k < (size_t)B * ex->X; k++) attr[k] *= x[k];
    return RP_OK;
}
