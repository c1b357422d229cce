/* The augmentation queries' public face (include/rampart.h): rp_augment_mix_index and
 * rp_augment_families with every argument checked, so a caller's ops array is never trusted.
 * No logic of its own. */
#include "data/augment.h"

/* ops[0..n_ops) as the queries take them: a count in range, an array, known kinds. */
static rp_status check_ops(rp_ctx *ctx, const char *fn, const rp_augment_op *ops, int n_ops)
{
    if (n_ops < 0 || n_ops > RP_AUGMENT_MAX_OPS)
        return rp_fail(ctx, RP_ERR_ARG, "%s: n_ops %d outside 0..%d", fn, n_ops, RP_AUGMENT_MAX_OPS);
    if (n_ops > 0 && !ops) return rp_fail(ctx, RP_ERR_ARG, "%s: ops is NULL with %d ops", fn, n_ops);
    for (int k = 0; k < n_ops; k++)
        if ((int)ops[k].kind < 0 || ops[k].kind >= RP_AUG_COUNT)
            return rp_fail(ctx, RP_ERR_ARG, "%s: op %d has unknown kind %d", fn, k, (int)ops[k].kind);
    return RP_OK;
}

rp_status rp_augment_mixing_op(rp_ctx *ctx, const rp_augment_op *ops, int n_ops, int *index)
{
    if (!index) return rp_fail(ctx, RP_ERR_ARG, "rp_augment_mixing_op: index is NULL");
    RP_TRY(check_ops(ctx, "rp_augment_mixing_op", ops, n_ops));
    *index = rp_augment_mix_index(ops, n_ops);
    return RP_OK;
}

rp_status rp_augment_corruption_families(rp_ctx *ctx, const rp_augment_op *ops, int n_ops, unsigned *families)
{
    if (!families) return rp_fail(ctx, RP_ERR_ARG, "rp_augment_corruption_families: families is NULL");
    RP_TRY(check_ops(ctx, "rp_augment_corruption_families", ops, n_ops));
    *families = rp_augment_families(ops, n_ops);
    return RP_OK;
}
