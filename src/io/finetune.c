/* Initialising a model from a weights file for fine-tuning (finetune.h). A classifier of
 * another size is handled by loading the file, strictly, into a twin of the model built
 * with the file's number of classes, then copying every tensor but the classifier: the
 * checkpoint loader's checks and messages apply unchanged. */
#include "io/finetune.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "nn/model.h"

static bool is_head(const rp_model *m, int i)
{
    const rp_node *last = &m->g.nodes[m->g.n_nodes - 1];
    return i >= last->first_param && i < last->first_param + last->n_params;
}

/* Rows the file holds for the first head tensor with rows (0 when the file lacks it). */
static int file_classes(const rp_model *m, const rp_st_file *f)
{
    for (int i = 0; i < m->g.n_params; i++) {
        const rp_st_tensor *t = is_head(m, i) ? rp_st_find(f, m->g.params[i].name) : NULL;
        if (t && t->ndim >= 1) return t->shape[0] > 1000000 ? 1000000 : (int)t->shape[0];
    }
    return 0;
}

static rp_status load_with_new_head(rp_ctx *ctx, rp_model *m, const char *path, int K)
{
    rp_model_config cfg = m->cfg;
    cfg.num_classes = K;
    cfg.max_batch = 1;
    rp_model *twin = NULL;
    rp_status s = rp_model_create(ctx, &cfg, &twin);
    if (s != RP_OK && ctx) {
        char why[sizeof ctx->msg];
        snprintf(why, sizeof why, "%s", ctx->msg);
        return rp_fail(ctx, s, "%s: a %s with the file's %d classes cannot be built: %s", path, m->arch, K, why);
    }
    if (s == RP_OK) s = rp_model_load_weights(ctx, twin, path, false);
    for (int i = 0; s == RP_OK && i < m->g.n_params; i++) {
        rp_param *p = &m->g.params[i];
        if (is_head(m, i)) continue;
        int k = rp_graph_find_param(&twin->g, p->name);
        RP_ASSERT(k >= 0 && twin->g.params[k].numel == p->numel && twin->g.params[k].layout == p->layout);
        memcpy(p->data, twin->g.params[k].data, p->numel * sizeof *p->data);
    }
    rp_model_destroy(twin);
    return s;
}

rp_status rp_model_init_from(rp_ctx *ctx, rp_model *m, const char *path, rp_init_report *rep)
{
    if (!m || !path) return rp_fail(ctx, RP_ERR_ARG, "rp_model_init_from: %s is NULL", !m ? "the model" : "path");
    rp_init_report r = {0};
    for (int i = 0; i < m->g.n_params; i++)
        if (is_head(m, i)) {
            size_t at = strlen(r.head);
            snprintf(r.head + at, sizeof r.head - at, "%s%s", at ? ", " : "", m->g.params[i].name);
        }
    rp_st_file *f = NULL;
    RP_TRY(rp_st_open(ctx, path, &f));
    r.file_classes = file_classes(m, f);
    rp_st_close(f);
    r.reinit = r.file_classes > 0 && r.file_classes != m->cfg.num_classes;
    rp_status s = r.reinit ? load_with_new_head(ctx, m, path, r.file_classes) : rp_model_load_weights(ctx, m, path, false);
    if (rep) *rep = r;
    return s;
}

rp_status rp_checkpoint_norm(rp_ctx *ctx, const char *path, int C, float *mean, float *std, bool *found)
{
    if (!path || !mean || !std || !found)
        return rp_fail(ctx, RP_ERR_ARG, "rp_checkpoint_norm: %s is NULL",
                       !path ? "path" : !mean ? "mean" : !std ? "std" : "found");
    if (C < 1 || C > 4) return rp_fail(ctx, RP_ERR_ARG, "rp_checkpoint_norm: C = %d outside [1, 4]", C);
    *found = false;
    rp_st_file *f = NULL;
    RP_TRY(rp_st_open(ctx, path, &f));
    const char *format = rp_st_meta(f, "format"), *input = rp_st_meta(f, "input");
    int h, w, c, used = 0;
    float mu[4], sd[4];
    if (format && !strcmp(format, RP_CHECKPOINT_FORMAT) && input && sscanf(input, "%dx%dx%d%n", &h, &w, &c, &used) == 3 &&
        !input[used] && c == C && C <= 4 && rp_json_floats(rp_st_meta(f, "mean"), mu, C) &&
        rp_json_floats(rp_st_meta(f, "std"), sd, C)) {
        memcpy(mean, mu, (size_t)C * sizeof *mean);
        memcpy(std, sd, (size_t)C * sizeof *std);
        *found = true;
    }
    rp_st_close(f);
    return RP_OK;
}
