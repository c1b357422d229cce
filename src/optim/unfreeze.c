/* Parameter groups and gradual unfreezing (unfreeze.h). */
#include "optim/unfreeze.h"

#include <ctype.h>
#include <string.h>

#include "nn/model.h"

/* The group key of a parameter name, into key. */
static void group_key(const char *name, char *key)
{
    size_t first = strcspn(name, ".");
    size_t len = first;
    if (name[first] == '.' && first > 0 && !isdigit((unsigned char)name[first - 1])) {
        const char *next = name + first + 1;
        size_t n = strspn(next, "0123456789");
        if (n > 0 && (next[n] == '.' || next[n] == '\0')) len = first + 1 + n;
    }
    if (len >= RP_GROUP_NAME) len = RP_GROUP_NAME - 1;
    memcpy(key, name, len);
    key[len] = '\0';
}

int rp_model_groups(const rp_model *m, char (*names)[RP_GROUP_NAME], int max)
{
    char last[RP_GROUP_NAME] = "", key[RP_GROUP_NAME];
    int n = 0;
    for (int i = 0; i < m->g.n_params; i++) {
        const rp_param *p = &m->g.params[i];
        if (!p->trainable) continue;
        group_key(p->name, key);
        if (n > 0 && !strcmp(key, last)) continue;
        bool seen = false; /* a group whose parameters are not contiguous stays one group */
        for (int k = 0; k < n && k < max; k++) seen = seen || !strcmp(names[k], key);
        if (seen) continue;
        if (n < max) memcpy(names[n], key, RP_GROUP_NAME);
        memcpy(last, key, RP_GROUP_NAME);
        n++;
    }
    return n;
}

size_t rp_model_num_unfrozen(const rp_model *m)
{
    size_t n = 0;
    for (int i = 0; m && i < m->g.n_params; i++)
        if (m->g.params[i].trainable && !m->g.params[i].frozen) n += m->g.params[i].numel;
    return n;
}

struct rp_unfreeze {
    rp_model *m;
    char (*groups)[RP_GROUP_NAME];
    int n_groups, n_frozen; /* groups [0, n_frozen) are frozen */
    int patience;
    float threshold;
    int *at;
    int n_at;
    double best;
    bool have_best;
    int bad; /* epochs since the last improvement (or unfreeze) */
};

/* Freeze or unfreeze group g: every parameter named "<group>." or "<group>" exactly. */
static void set_group(rp_unfreeze *u, int g, bool frozen)
{
    char prefix[RP_GROUP_NAME + 1];
    snprintf(prefix, sizeof prefix, "%s.", u->groups[g]);
    rp_model_freeze(u->m, prefix, frozen);
    for (int i = 0; i < u->m->g.n_params; i++) /* a bare top-level tensor, e.g. "pos_embed" */
        if (u->m->g.params[i].trainable && !strcmp(u->m->g.params[i].name, u->groups[g]))
            u->m->g.params[i].frozen = frozen;
}

rp_status rp_unfreeze_create(rp_ctx *ctx, rp_model *m, const rp_unfreeze_config *cfg, rp_unfreeze **out)
{
    if (out) *out = NULL;
    if (!m || !cfg || !out)
        return rp_fail(ctx, RP_ERR_ARG, "rp_unfreeze_create: %s is NULL", !m ? "the model" : !cfg ? "cfg" : "out");
    if (cfg->n_at < 0 || (cfg->n_at > 0 && !cfg->at))
        return rp_fail(ctx, RP_ERR_ARG, "unfreeze schedule: %d epochs at %s", cfg->n_at, cfg->at ? "a list" : "NULL");
    for (int i = 0; i < cfg->n_at; i++)
        if (cfg->at[i] < 1 || (i > 0 && cfg->at[i] <= cfg->at[i - 1]))
            return rp_fail(ctx, RP_ERR_ARG, "unfreeze schedule: epochs must be positive and increasing (entry %d is %d)",
                           i + 1, cfg->at[i]);
    if (cfg->patience < 0 || !(cfg->threshold >= 0.0f && cfg->threshold < 1.0f))
        return rp_fail(ctx, RP_ERR_ARG, "unfreeze on plateau: patience %d must be >= 0, threshold %g in [0, 1)",
                       cfg->patience, (double)cfg->threshold);
    int n = rp_model_groups(m, NULL, 0);
    if (n < 2)
        return rp_fail(ctx, RP_ERR_ARG, "model %s has %d parameter group(s): nothing to freeze below the head",
                       m->arch, n);
    rp_unfreeze *u = calloc(1, sizeof *u);
    if (u) u->groups = calloc((size_t)n, sizeof *u->groups);
    if (u && cfg->n_at > 0) u->at = malloc((size_t)cfg->n_at * sizeof *u->at);
    if (!u || !u->groups || (cfg->n_at > 0 && !u->at)) {
        rp_unfreeze_destroy(u);
        return rp_fail(ctx, RP_ERR_NOMEM, "unfreeze: out of memory");
    }
    u->m = m;
    u->n_groups = rp_model_groups(m, u->groups, n);
    u->patience = cfg->patience;
    u->threshold = cfg->threshold;
    u->n_at = cfg->n_at;
    if (cfg->n_at > 0) memcpy(u->at, cfg->at, (size_t)cfg->n_at * sizeof *u->at);
    u->n_frozen = n - 1;
    for (int g = 0; g < n - 1; g++) set_group(u, g, true);
    *out = u;
    return RP_OK;
}

void rp_unfreeze_destroy(rp_unfreeze *u)
{
    if (!u) return;
    free(u->groups);
    free(u->at);
    free(u);
}

static const char *unfreeze_next(rp_unfreeze *u)
{
    if (u->n_frozen == 0) return NULL;
    int g = --u->n_frozen;
    set_group(u, g, false);
    u->bad = 0;
    return u->groups[g];
}

const char *rp_unfreeze_epoch_start(rp_unfreeze *u, int epoch)
{
    for (int i = 0; u && i < u->n_at; i++)
        if (u->at[i] == epoch) return unfreeze_next(u);
    return NULL;
}

const char *rp_unfreeze_epoch_end(rp_unfreeze *u, double loss, char *why, size_t why_size)
{
    if (why && why_size) why[0] = '\0';
    if (!u || u->patience <= 0) return NULL;
    if (!u->have_best || loss < u->best * (1.0 - (double)u->threshold)) {
        u->best = loss;
        u->have_best = true;
        u->bad = 0;
        return NULL;
    }
    if (++u->bad < u->patience || u->n_frozen == 0) return NULL;
    if (why && why_size)
        snprintf(why, why_size, "training loss %.4g has not improved on %.4g by %g%% for %d epoch%s", loss, u->best,
                 100.0 * u->threshold, u->bad, u->bad == 1 ? "" : "s");
    return unfreeze_next(u);
}

int rp_unfreeze_frozen(const rp_unfreeze *u) { return u ? u->n_frozen : 0; }
int rp_unfreeze_groups(const rp_unfreeze *u) { return u ? u->n_groups : 0; }
const char *rp_unfreeze_group(const rp_unfreeze *u, int i)
{
    return u && i >= 0 && i < u->n_groups ? u->groups[i] : NULL;
}

rp_unfreeze_state rp_unfreeze_get_state(const rp_unfreeze *u)
{
    return (rp_unfreeze_state){.n_frozen = u->n_frozen, .best = u->best, .have_best = u->have_best, .bad = u->bad};
}

rp_status rp_unfreeze_set_state(rp_ctx *ctx, rp_unfreeze *u, const rp_unfreeze_state *s)
{
    if (s->n_frozen < 0 || s->n_frozen >= u->n_groups || s->bad < 0)
        return rp_fail(ctx, RP_ERR_ARG, "unfreeze state: %d frozen groups of %d, %d epochs without improvement",
                       s->n_frozen, u->n_groups, s->bad);
    for (int g = 0; g < u->n_groups - 1; g++) set_group(u, g, g < s->n_frozen);
    u->n_frozen = s->n_frozen;
    u->best = s->best;
    u->have_best = s->have_best;
    u->bad = s->bad;
    return RP_OK;
}
