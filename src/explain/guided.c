/* Guided backpropagation (Springenberg et al. 2015): the gradient of the target logit with
 * every ReLU passing only positive gradients where its input was positive, and every ReLU6
 * only where 0 < x < 6 (our convention: the upper clip masks as in the forward). The rule
 * lives in src/nn/relu.c behind rp_pass.guided. On a network without ReLUs it equals the
 * vanilla gradient. Expect maps that look like edge detectors and barely change when the
 * model is randomized (Adebayo et al. 2018): --sanity shows it. */
#include "explain/explain.h"

rp_status rp_xai_guided(rp_explainer *ex, const float *x, const int32_t *t, int B, float *grad)
{
    return rp_xai_input_gradient(ex, x, t, B, grad, true, "guided");
}
