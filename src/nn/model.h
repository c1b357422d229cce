/* A model: the base classifier, a graph built by an architecture's builder function. */
#ifndef RP_NN_MODEL_H
#define RP_NN_MODEL_H

#include "nn/graph.h"
#include "rampart.h"

/* Adds the architecture's layers to g (whose input is cfg's H,W,C) and returns the
 * logits node, or -1 with g->status set. */
typedef int (*rp_arch_builder)(rp_graph *g, const rp_model_config *cfg);

typedef struct rp_arch {
    const char *name;
    rp_arch_builder build;
    const char *about;
} rp_arch;

#define RP_MODEL_MAX_META 8

struct rp_model {
    rp_ctx *ctx; /* BORROWED from the creator */
    rp_model_config cfg;
    char arch[32];
    rp_graph g;
    char *meta_key[RP_MODEL_MAX_META], *meta_val[RP_MODEL_MAX_META]; /* OWNED: extra checkpoint metadata */
    int n_meta;
};

/* Test-time batch-norm adaptation (Schneider et al. 2020; Nado et al. 2020, "prediction-time
 * batch normalization"): between begin and end, rp_model_adapt_bn_batch sets every batch norm's
 * running statistics to those of the batch x (one training-mode forward, momentum 1), so the
 * evaluation-mode forward that follows normalises with the statistics of the data it sees.
 * begin saves the running statistics (OWNED *saved, RP_ERR_ARG when the model has no batch
 * norm); end restores them exactly and frees *saved. Dropout and stochastic depth are off in
 * that forward (EfficientNet has batch norms after its stochastic depth): the statistics are
 * the evaluated model's, the same for every pass over the same batch. */
rp_status rp_model_adapt_bn_begin(rp_ctx *ctx, rp_model *m, float **saved);
/* The buffers (non-trainable parameters: batch norms' running statistics) as one array: their
 * number of floats, and a copy into saved (save) or back from it. */
size_t rp_model_buffer_floats(const rp_model *m);
void rp_model_copy_buffers(rp_model *m, float *saved, bool save);
void rp_model_adapt_bn_batch(rp_model *m, const float *x, int B);
void rp_model_adapt_bn_end(rp_model *m, float *saved);

/* rp_model_infer (rampart.h) without its argument checks, for the library's own callers. */
const float *rp_model_infer_unchecked(rp_model *m, const float *x, int B);

/* NULL when unknown. */
const rp_arch *rp_arch_find(const char *name);

/* Builders (one file each). */
int rp_build_smallcnn(rp_graph *g, const rp_model_config *cfg);
int rp_build_mlp(rp_graph *g, const rp_model_config *cfg);
int rp_build_mobilenet_v2(rp_graph *g, const rp_model_config *cfg);
/* mobilenet_v2 with another classifier dropout than torchvision's 0.2 (tests use 0). */
int rp_build_mobilenet_v2_dropout(rp_graph *g, const rp_model_config *cfg, float dropout);
int rp_build_resnet18(rp_graph *g, const rp_model_config *cfg);
int rp_build_resnet18_cifar(rp_graph *g, const rp_model_config *cfg);
int rp_build_resnet50(rp_graph *g, const rp_model_config *cfg);
int rp_build_resnext50_32x4d(rp_graph *g, const rp_model_config *cfg);
int rp_build_densenet121(rp_graph *g, const rp_model_config *cfg);
int rp_build_efficientnet_b0(rp_graph *g, const rp_model_config *cfg);
/* efficientnet_b0 with another classifier dropout and stochastic depth than torchvision's 0.2 and
 * 0.2 (tests use 0 and 0). */
int rp_build_efficientnet_b0_opts(rp_graph *g, const rp_model_config *cfg, float dropout, float sd_prob);

/* torchvision's MobileNetV2 / EfficientNet head on x: global average pool, flatten, dropout
 * "classifier.0", linear "classifier.1" to `classes` with weights drawn by init at scale and a
 * zero bias. Returns the logits node (< 0 after an error). */
int rp_build_pooled_classifier(rp_graph *g, int x, int classes, float dropout, rp_init init, float scale);

#endif
