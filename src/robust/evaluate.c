#include <stdlib.h>

#include "core/status.h"
#include "nn/model.h"
#include "rampart.h"

rp_status rp_evaluate(rp_ctx *ctx, rp_model *m, const rp_dataset *ds, int n, int batch,
                      double *accuracy, double *mean_loss)
{
    int H, W, C;
    rp_dataset_shape(ds, &H, &W, &C);
    if (H != m->cfg.H || W != m->cfg.W || C != m->cfg.C)
        return rp_fail(ctx, RP_ERR_SHAPE, "data images are %dx%dx%d but the model expects %dx%dx%d",
                       H, W, C, m->cfg.H, m->cfg.W, m->cfg.C);
    if (rp_dataset_num_classes(ds) > m->cfg.num_classes)
        return rp_fail(ctx, RP_ERR_SHAPE, "data has %d classes but the model only %d",
                       rp_dataset_num_classes(ds), m->cfg.num_classes);
    if (n <= 0 || n > rp_dataset_size(ds)) n = rp_dataset_size(ds);
    if (batch < 1) batch = 256;
    RP_TRY(rp_model_reserve(m, batch));
    size_t X = (size_t)H * W * C;
    float *x = malloc((size_t)batch * X * sizeof *x);
    int32_t *y = malloc((size_t)batch * sizeof *y);
    int *idx = malloc((size_t)batch * sizeof *idx);
    if (!x || !y || !idx) {
        free(x), free(y), free(idx);
        return rp_fail(ctx, RP_ERR_NOMEM, "evaluate: out of memory");
    }
    long correct = 0;
    double loss_sum = 0.0;
    for (int start = 0; start < n; start += batch) {
        int B = n - start < batch ? n - start : batch;
        for (int i = 0; i < B; i++) idx[i] = start + i;
        rp_dataset_gather(ds, idx, B, x, y);
        const float *logits = rp_model_forward(m, x, B, false);
        int c = 0;
        loss_sum += (double)rp_softmax_xent(logits, y, B, m->cfg.num_classes, 0.0f, NULL, 1.0f, &c) * B;
        correct += c;
    }
    free(x), free(y), free(idx);
    *accuracy = (double)correct / n;
    if (mean_loss) *mean_loss = loss_sum / n;
    return RP_OK;
}
