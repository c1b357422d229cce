/* Training objectives wrap the base model: they call its forward/backward as often as
 * they need, and the model never knows it was wrapped. */
#ifndef RP_ROBUST_OBJECTIVE_H
#define RP_ROBUST_OBJECTIVE_H

#include "nn/model.h"
#include "rampart.h"

struct rp_objective {
    rp_ctx *ctx;
    rp_model *m;
    rp_objective_config cfg;
    int max_batch;
    float *dlogits;  /* (max_batch, K) */
    float *logits;   /* (max_batch, K) copy of the clean logits */
    float *x_adv;    /* (max_batch, H, W, C) */
    float *dx;       /* (max_batch, H, W, C) */
    rp_rng rng;      /* attack stream */
};

#endif
