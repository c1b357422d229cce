/* The corruption suite's public face (include/rampart.h): corruptions by name and index, with
 * every argument checked, over the registry in corrupt.c. No logic of its own. */
#include <string.h>

#include "data/corrupt.h"

int rp_corruption_count(void) { return RP_CORR_COUNT; }

rp_status rp_corruption_describe(rp_ctx *ctx, int i, rp_corruption_info *out)
{
    if (!out) return rp_fail(ctx, RP_ERR_ARG, "corruption: out is NULL");
    if (i < 0 || i >= RP_CORR_COUNT)
        return rp_fail(ctx, RP_ERR_ARG, "corruption index %d outside 0..%d", i, RP_CORR_COUNT - 1);
    rp_corruption c = (rp_corruption)i;
    *out = (rp_corruption_info){
        .name = rp_corruption_name(c),
        .family = rp_corruption_family_name(rp_corruption_family_of(c)),
        .imagenet_c = rp_corruption_in_imagenet_c(c),
        .held_out = rp_corruption_held_out(c),
        .grayscale = rp_corruption_applies(c, 1),
    };
    return RP_OK;
}

rp_status rp_corruption_find(rp_ctx *ctx, const char *name, int *index)
{
    if (!index) return rp_fail(ctx, RP_ERR_ARG, "corruption: index is NULL");
    rp_corruption c;
    if (!name || !rp_corruption_parse(name, &c))
        return rp_fail(ctx, RP_ERR_ARG, "unknown corruption '%s' (rp_corruption_describe lists them)",
                       name ? name : "(null)");
    *index = (int)c;
    return RP_OK;
}

rp_status rp_corruption_select(rp_ctx *ctx, const char *spec, bool *selected)
{
    if (!selected) return rp_fail(ctx, RP_ERR_ARG, "corruptions: selected is NULL");
    return rp_corruption_parse_list(ctx, spec, selected);
}

const char *rp_corruption_table_name(int H, int W) { return rp_corrupt_table_name(rp_corrupt_table_for(H, W)); }

rp_status rp_corrupt(rp_ctx *ctx, const char *name, int severity, float *x, int B, int H, int W, int C,
                     uint64_t seed, uint64_t first_index)
{
    int c;
    RP_TRY(rp_corruption_find(ctx, name, &c));
    if (severity < 1 || severity > 5)
        return rp_fail(ctx, RP_ERR_ARG, "corruption %s: severity %d outside 1..5", name, severity);
    if (B < 0 || H < 1 || W < 1 || (C != 1 && C != 3))
        return rp_fail(ctx, RP_ERR_ARG, "corruption %s: batch of %d images of %dx%dx%d (C must be 1 or 3)", name, B,
                       H, W, C);
    if (B > 0 && !x) return rp_fail(ctx, RP_ERR_ARG, "corruption %s: x is NULL", name);
    if (B == 0) return RP_OK;
    return rp_corrupt_batch(ctx, (rp_corruption)c, severity, x, B, H, W, C, seed, first_index);
}
