/* A model made of bare tensors for the optimizer tests: one do-nothing node that owns
 * the parameters, so tests set values and gradients by hand (the optimizer only walks
 * m->g.params). Built without an architecture builder, so it needs no layer but this. */
#ifndef RP_TESTS_OPTIM_FIXTURE_H
#define RP_TESTS_OPTIM_FIXTURE_H

#include <stdlib.h>
#include <string.h>

#include "nn/model.h"
#include "testutil.h"

typedef struct fx_tensor {
    const char *name;
    int64_t numel;  /* a 1-D tensor of this many elements */
    bool trainable; /* false: a buffer (no gradient, no optimizer state) */
} fx_tensor;

static void fx_nop(rp_node *n, const rp_pass *p)
{
    (void)n;
    (void)p;
}

static const rp_layer_ops FX_HOLDER_OPS = {.kind = RP_LAYER_OTHER, .name = "param_holder", .forward = fx_nop,
                                           .backward = fx_nop};

/* OWNED (free with fx_model_free). Values and gradients start at 0. */
static rp_model *fx_model(rp_ctx *ctx, const fx_tensor *t, int n)
{
    rp_model *m = calloc(1, sizeof *m);
    assert_non_null(m);
    m->ctx = ctx;
    rp_graph_init(&m->g, ctx, (rp_shape){1, 1, 1});
    int in = RP_INPUT;
    assert_int_equal(rp_graph_add(&m->g, &FX_HOLDER_OPS, "holder", &in, 1, (rp_shape){1, 1, 1}, NULL, 0), 0);
    for (int i = 0; i < n; i++)
        assert_int_equal(rp_graph_param(&m->g, t[i].name, 1, &t[i].numel, RP_LAYOUT_TORCH, t[i].trainable,
                                        RP_INIT_ZERO, 0.0f),
                         i);
    assert_int_equal(rp_graph_finalize(&m->g, 1, 0), RP_OK);
    return m;
}

static void fx_model_free(rp_model *m)
{
    rp_graph_free(&m->g);
    free(m);
}

#endif
