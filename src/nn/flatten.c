/* Flatten: NHWC sample -> vector in PyTorch's NCHW flatten order (c, h, w), output
 * 1x1x(H*W*C), so that a following linear layer's weight is PyTorch's as it is.
 * Backward applies the inverse permutation. */
#include "kernels/transpose.h"
#include "nn/graph.h"

static void flatten_fwd(rp_node *n, const rp_pass *p)
{
    rp_shape s = n->in_shape[0];
    size_t HW = (size_t)s.H * s.W, D = HW * s.C;
#pragma omp parallel for schedule(static) if ((size_t)p->B * D > 65536)
    for (int b = 0; b < p->B; b++) {
        transpose_f32(n->y + (size_t)b * D, n->x[0] + (size_t)b * D, (int)HW, s.C, TRANSPOSE_WRITE);
    }
}

static void flatten_bwd(rp_node *n, const rp_pass *p)
{
    if (!n->dx[0]) return;
    rp_shape s = n->in_shape[0];
    size_t HW = (size_t)s.H * s.W, D = HW * s.C;
#pragma omp parallel for schedule(static) if ((size_t)p->B * D > 65536)
    for (int b = 0; b < p->B; b++) {
        /* written: 0 + dy, the bits of adding into zeros */
        transpose_f32(n->dx[0] + (size_t)b * D, n->dy + (size_t)b * D, s.C, (int)HW,
                      n->dx_write[0] ? TRANSPOSE_WRITE_ZERO : TRANSPOSE_ADD);
    }
}

static const rp_layer_ops flatten_ops = {.kind = RP_LAYER_FLATTEN, .name = "flatten", .forward = flatten_fwd,
                                         .backward = flatten_bwd};

int rp_g_flatten(rp_graph *g, int in, const char *name)
{
    if (g->status != RP_OK) return -1;
    size_t D = rp_shape_numel(rp_graph_shape(g, in));
    if (D > (size_t)1 << 30) {
        g->status = rp_fail(g->ctx, RP_ERR_SHAPE, "layer %s (flatten): %zu values per sample", name, D);
        return -1;
    }
    return rp_graph_add(g, &flatten_ops, name, &in, 1, (rp_shape){1, 1, (int)D}, NULL, 0);
}
