/* The objectives' corruption families, public (include/rampart.h): rp_objective_families with
 * its arguments checked. No logic of its own. */
#include "robust/objective.h"

rp_status rp_objective_corruption_families(rp_ctx *ctx, const rp_objective_config *cfg, unsigned *families)
{
    if (!cfg || !families)
        return rp_fail(ctx, RP_ERR_ARG, "rp_objective_corruption_families: %s is NULL", !cfg ? "cfg" : "families");
    if ((int)cfg->kind < (int)RP_OBJ_ERM || (int)cfg->kind > (int)RP_OBJ_TRADES)
        return rp_fail(ctx, RP_ERR_ARG, "rp_objective_corruption_families: unknown objective kind %d", (int)cfg->kind);
    *families = rp_objective_families(cfg);
    return RP_OK;
}
