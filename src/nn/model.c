#include "nn/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const rp_arch ARCHS[] = {
    {"smallcnn", rp_build_smallcnn, "conv32-pool-conv64-pool-fc128-fc (Fashion-MNIST's everyday CNN)"},
    {"mlp", rp_build_mlp, "flatten-fc256-fc (a linear-ish baseline)"},
    {"mobilenet_v2", rp_build_mobilenet_v2, "torchvision's MobileNetV2 (width multiplier, dropout 0.2)"},
    {"resnet18", rp_build_resnet18, "torchvision's ResNet-18 (7x7 stride-2 stem, max-pool)"},
    {"resnet18_cifar", rp_build_resnet18_cifar, "ResNet-18 with a 3x3 stride-1 stem, no max-pool (CIFAR)"},
    {"resnet50", rp_build_resnet50, "torchvision's ResNet-50 (Bottleneck blocks, stride on the 3x3 conv: v1.5)"},
    {"resnext50_32x4d", rp_build_resnext50_32x4d, "torchvision's ResNeXt-50 32x4d (3x3 convs in 32 groups)"},
    {"densenet121", rp_build_densenet121, "torchvision's DenseNet-121 (growth 32, blocks 6/12/24/16, BN-ReLU-conv)"},
    {"efficientnet_b0", rp_build_efficientnet_b0, "torchvision's EfficientNet-B0 (SiLU, squeeze-and-excitation, stochastic depth 0.2, dropout 0.2)"},
};
#define N_ARCHS ((int)(sizeof ARCHS / sizeof ARCHS[0]))

const rp_arch *rp_arch_find(const char *name)
{
    for (int i = 0; i < N_ARCHS; i++)
        if (strcmp(ARCHS[i].name, name) == 0) return &ARCHS[i];
    return NULL;
}

const char *const *rp_model_archs(void)
{
    static const char *names[N_ARCHS + 1];
    for (int i = 0; i < N_ARCHS; i++) names[i] = ARCHS[i].name;
    names[N_ARCHS] = NULL;
    return names;
}

rp_status rp_model_create(rp_ctx *ctx, const rp_model_config *cfg, rp_model **out)
{
    *out = NULL;
    const rp_arch *arch = cfg->arch ? rp_arch_find(cfg->arch) : NULL;
    if (!arch) return rp_fail(ctx, RP_ERR_ARG, "unknown model architecture '%s'", cfg->arch ? cfg->arch : "(null)");
    if (cfg->num_classes < 2) return rp_fail(ctx, RP_ERR_ARG, "model %s: num_classes %d < 2", arch->name, cfg->num_classes);
    if (cfg->H < 1 || cfg->W < 1 || cfg->C < 1 || cfg->C > 4)
        return rp_fail(ctx, RP_ERR_ARG, "model %s: bad input size %dx%dx%d", arch->name, cfg->H, cfg->W, cfg->C);
    for (int c = 0; c < cfg->C; c++)
        if (!(cfg->std[c] > 0.0f) || !isfinite(cfg->mean[c]))
            return rp_fail(ctx, RP_ERR_ARG, "model %s: normalisation channel %d has mean %g std %g",
                           arch->name, c, (double)cfg->mean[c], (double)cfg->std[c]);
    rp_model *m = calloc(1, sizeof *m);
    if (!m) return rp_fail(ctx, RP_ERR_NOMEM, "out of memory");
    m->ctx = ctx;
    m->cfg = *cfg;
    snprintf(m->arch, sizeof m->arch, "%s", arch->name);
    m->cfg.arch = m->arch;
    if (m->cfg.max_batch < 1) m->cfg.max_batch = 1;
    rp_graph_init(&m->g, ctx, (rp_shape){cfg->H, cfg->W, cfg->C});
    int logits = arch->build(&m->g, &m->cfg);
    rp_status s = m->g.status;
    if (s == RP_OK && logits != m->g.n_nodes - 1)
        s = rp_fail(ctx, RP_ERR_ARG, "model %s: logits must be the last node", arch->name);
    if (s == RP_OK) {
        rp_shape o = m->g.nodes[logits].out_shape;
        if (o.H != 1 || o.W != 1 || o.C != cfg->num_classes)
            s = rp_fail(ctx, RP_ERR_SHAPE, "model %s: logits shape %dx%dx%d, expected 1x1x%d",
                        arch->name, o.H, o.W, o.C, cfg->num_classes);
    }
    if (s == RP_OK) s = rp_graph_finalize(&m->g, m->cfg.max_batch, cfg->seed);
    if (s != RP_OK) {
        rp_model_destroy(m);
        return s;
    }
    *out = m;
    return RP_OK;
}

void rp_model_destroy(rp_model *m)
{
    if (!m) return;
    rp_graph_free(&m->g);
    for (int i = 0; i < m->n_meta; i++) free(m->meta_key[i]), free(m->meta_val[i]);
    free(m);
}

static char *dup_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

rp_status rp_model_set_meta(rp_ctx *ctx, rp_model *m, const char *key, const char *value)
{
    static const char *const RESERVED[] = {"format", "arch", "num_classes", "input", "mean", "std", "width",
                                           "class_names"};
    for (size_t i = 0; i < sizeof RESERVED / sizeof RESERVED[0]; i++)
        if (!strcmp(key, RESERVED[i])) return rp_fail(ctx, RP_ERR_ARG, "metadata key '%s' is the model's own", key);
    int at = 0;
    while (at < m->n_meta && strcmp(m->meta_key[at], key)) at++;
    if (at == RP_MODEL_MAX_META) return rp_fail(ctx, RP_ERR_ARG, "more than %d metadata keys", RP_MODEL_MAX_META);
    char *v = dup_string(value), *k = at < m->n_meta ? m->meta_key[at] : dup_string(key);
    if (!v || !k) {
        free(v);
        if (at == m->n_meta) free(k);
        return rp_fail(ctx, RP_ERR_NOMEM, "metadata '%s': out of memory", key);
    }
    if (at == m->n_meta) m->n_meta++;
    else free(m->meta_val[at]);
    m->meta_key[at] = k;
    m->meta_val[at] = v;
    return RP_OK;
}

const rp_model_config *rp_model_get_config(const rp_model *m) { return &m->cfg; }

rp_status rp_model_reserve(rp_model *m, int B)
{
    RP_TRY(rp_graph_reserve(&m->g, B));
    if (B > m->cfg.max_batch) m->cfg.max_batch = B;
    return RP_OK;
}

const float *rp_model_forward(rp_model *m, const float *x, int B, bool train)
{
    return rp_graph_forward(&m->g, x, B, train);
}

const float *rp_model_infer_unchecked(rp_model *m, const float *x, int B) { return rp_graph_infer(&m->g, x, B); }

rp_status rp_model_infer(rp_ctx *ctx, rp_model *m, const float *x, int B, const float **logits)
{
    if (!m || !x || !logits)
        return rp_fail(ctx, RP_ERR_ARG, "rp_model_infer: %s is NULL", !m ? "the model" : !x ? "x" : "logits");
    *logits = NULL;
    if (B < 1 || B > m->g.max_batch)
        return rp_fail(ctx, RP_ERR_ARG, "rp_model_infer: batch %d outside [1, %d] (rp_model_reserve grows it)", B,
                       m->g.max_batch);
    *logits = rp_graph_infer(&m->g, x, B);
    return RP_OK;
}

void rp_model_backward(rp_model *m, const float *dlogits, float *dx, int flags)
{
    rp_graph_backward(&m->g, dlogits, (flags & RP_GRAD_INPUT) ? dx : NULL, (flags & RP_GRAD_PARAMS) != 0);
}

void rp_model_zero_grad(rp_model *m) { rp_graph_zero_grad(&m->g); }

int rp_model_num_tensors(const rp_model *m) { return m->g.n_params; }

size_t rp_model_num_params(const rp_model *m)
{
    size_t n = 0;
    for (int i = 0; i < m->g.n_params; i++)
        if (m->g.params[i].trainable) n += m->g.params[i].numel;
    return n;
}

uint64_t rp_model_weights_hash(const rp_model *m)
{
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < m->g.n_params; i++) {
        const unsigned char *b = (const unsigned char *)m->g.params[i].data;
        for (size_t k = 0; k < m->g.params[i].numel * sizeof(float); k++) h = (h ^ b[k]) * 1099511628211ULL;
    }
    return h;
}

/* Whether v[0..n) holds no NaN or infinity: x * 0 is 0 for finite x and NaN otherwise, and
 * the sum vectorises (the search for the first bad element runs only when this fails). */
static bool all_finite(const float *v, size_t n)
{
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (size_t i = 0; i < n; i++) s += v[i] * 0.0f;
    return s == 0.0f;
}

rp_status rp_model_check_finite(rp_ctx *ctx, const rp_model *m)
{
    /* every training step reads all the weights and gradients here (28 MB for MobileNetV2):
     * the threads split the parameters; the first bad one is then named in order */
    int ok = 1;
#pragma omp parallel for schedule(dynamic) reduction(&& : ok)
    for (int i = 0; i < m->g.n_params; i++) {
        const rp_param *p = &m->g.params[i];
        ok = ok && all_finite(p->data, p->numel) && (!p->grad || all_finite(p->grad, p->numel));
    }
    for (int i = 0; !ok && i < m->g.n_params; i++) {
        const rp_param *p = &m->g.params[i];
        if (all_finite(p->data, p->numel) && (!p->grad || all_finite(p->grad, p->numel))) continue;
        for (size_t k = 0; k < p->numel; k++) {
            if (!isfinite(p->data[k]))
                return rp_fail(ctx, RP_ERR_NUMERIC, "parameter %s holds %g at element %zu", p->name,
                               (double)p->data[k], k);
            if (p->grad && !isfinite(p->grad[k]))
                return rp_fail(ctx, RP_ERR_NUMERIC, "gradient of %s holds %g at element %zu", p->name,
                               (double)p->grad[k], k);
        }
    }
    return RP_OK;
}

int rp_model_freeze(rp_model *m, const char *prefix, bool frozen)
{
    int count = 0;
    size_t len = strlen(prefix);
    for (int i = 0; i < m->g.n_params; i++) {
        rp_param *p = &m->g.params[i];
        if (p->trainable && strncmp(p->name, prefix, len) == 0) {
            p->frozen = frozen;
            count++;
        }
    }
    return count;
}

/* The buffers (non-trainable parameters: running statistics, batch counts) in one array. */
size_t rp_model_buffer_floats(const rp_model *m)
{
    size_t n = 0;
    for (int i = 0; i < m->g.n_params; i++)
        if (!m->g.params[i].trainable) n += m->g.params[i].numel;
    return n;
}

void rp_model_copy_buffers(rp_model *m, float *saved, bool save)
{
    size_t at = 0;
    for (int i = 0; i < m->g.n_params; i++) {
        rp_param *p = &m->g.params[i];
        if (p->trainable) continue;
        if (save) memcpy(saved + at, p->data, p->numel * sizeof(float));
        else memcpy(p->data, saved + at, p->numel * sizeof(float));
        at += p->numel;
    }
}

rp_status rp_model_adapt_bn_begin(rp_ctx *ctx, rp_model *m, float **saved)
{
    *saved = NULL;
    if (rp_graph_bn_adapt(&m->g, false) == 0)
        return rp_fail(ctx, RP_ERR_ARG, "adapt-bn: the model (%s) has no batch norm to adapt", m->arch);
    *saved = malloc((rp_model_buffer_floats(m) + 1) * sizeof(float));
    if (!*saved) return rp_fail(ctx, RP_ERR_NOMEM, "adapt-bn: out of memory");
    rp_model_copy_buffers(m, *saved, true);
    return RP_OK;
}

void rp_model_adapt_bn_batch(rp_model *m, const float *x, int B)
{
    rp_graph_bn_adapt(&m->g, true);
    rp_model_forward(m, x, B, true);
    rp_graph_bn_adapt(&m->g, false);
}

void rp_model_adapt_bn_end(rp_model *m, float *saved)
{
    if (!saved) return;
    rp_model_copy_buffers(m, saved, false);
    free(saved);
}

int rp_build_pooled_classifier(rp_graph *g, int x, int classes, float dropout, rp_init init, float scale)
{
    x = rp_g_global_avgpool(g, x, "avgpool");
    x = rp_g_flatten(g, x, "flatten");
    x = rp_g_dropout(g, x, "classifier.0", dropout);
    int logits = rp_g_linear(g, x, "classifier.1", classes, true);
    if (logits >= 0) {
        rp_param *p = &g->params[g->nodes[logits].first_param];
        p[0].init = init, p[0].init_scale = scale;
        p[1].init = RP_INIT_ZERO;
    }
    return logits;
}
