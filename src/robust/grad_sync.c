/* Data-parallel steps' gradient sum (rp_objective_set_dist): every trainable gradient,
 * weighted by B / (the global batch) in float, packed into gbuf and summed over the processes
 * in rank order (rp_dist_sum_f32's bits). With overlap (rp_dist_overlap, the default), gbuf is
 * summed in buckets that start during the step's last parameter-gradient pass, as soon as the
 * backward has made their gradients final, so the messages move while the earlier layers'
 * backward still runs; without, in one blocking sum after the passes. The bits are the same.
 *
 * Buckets: consecutive parameters, cut from the last parameter backwards (the order the
 * backward finishes them) once a bucket holds BUCKET_FLOATS values, at parameter edges (a
 * larger tensor is a bucket of its own). 1 MiB: at the ~1.8 GB/s of two processes on one host
 * (docs/scaling.md) it moves in ~0.6 ms, far above the ~2 us a message costs, and a model of a
 * few MB still gets several buckets, the first of them started after the classifier's
 * backward. */
#include <stdlib.h>
#include <string.h>

#include "robust/objective.h"

enum { BUCKET_FLOATS = 1 << 18 };

void rp_obj_sync_free(rp_objective *o)
{
    rp_grad_sync *s = &o->sync;
    rp_dist_bsum_destroy(s->bsum);
    free(s->bucket_param);
    free(s->offset);
    *s = (rp_grad_sync){0};
}

/* Bucket starts (parameter indices) from the last parameter down into starts; returns how many. */
static int cut_buckets(const rp_graph *g, size_t size, int *starts)
{
    int n = 0;
    size_t held = 0;
    for (int i = g->n_params - 1; i >= 0; i--) {
        const rp_param *p = &g->params[i];
        held += p->trainable ? p->numel : 0;
        if (held >= size) starts[n++] = i, held = 0;
    }
    if (n == 0 || held > 0) starts[n++] = 0;
    else starts[n - 1] = 0; /* the first parameters hold no gradient: the lowest bucket takes them */
    return n;
}

rp_status rp_obj_sync_init(rp_objective *o)
{
    if (o->sync.dist == o->dist) return RP_OK;
    rp_obj_sync_free(o);
    const rp_graph *g = &o->m->g;
    rp_grad_sync *s = &o->sync;
    s->dist = o->dist;
    int P = g->n_params;
    s->offset = malloc(((size_t)P + 1) * sizeof *s->offset);
    s->bucket_param = malloc(((size_t)P + 2) * sizeof *s->bucket_param);
    size_t *ends = malloc(((size_t)P + 1) * sizeof *ends);
    if (!s->offset || !s->bucket_param || !ends) {
        free(ends);
        rp_obj_sync_free(o);
        return rp_fail(o->ctx, RP_ERR_NOMEM, "objective: out of memory for the gradient buckets");
    }
    s->offset[0] = 0;
    for (int i = 0; i < P; i++) s->offset[i + 1] = s->offset[i] + (g->params[i].trainable ? g->params[i].numel : 0);
    int *bp = s->bucket_param;
    int nb = cut_buckets(g, o->bucket_floats ? o->bucket_floats : BUCKET_FLOATS, bp); /* descending */
    for (int k = 0; k < nb / 2; k++) { /* ascending */
        int t = bp[k];
        bp[k] = bp[nb - 1 - k], bp[nb - 1 - k] = t;
    }
    bp[nb] = P;
    for (int k = 0; k < nb; k++) ends[k] = s->offset[bp[k + 1]];
    s->n_buckets = nb;
    rp_status st = s->offset[P] > 0 ? rp_dist_bsum_create(o->dist, o->gbuf, ends, nb, &s->bsum) : RP_OK;
    free(ends);
    if (st != RP_OK) rp_obj_sync_free(o);
    return st;
}

/* gbuf's values of parameters [lo, hi) <- their gradients * w (or the reverse: unpack). */
static void pack(rp_objective *o, int lo, int hi, float w, bool unpack)
{
    const rp_graph *g = &o->m->g;
    for (int i = lo; i < hi; i++) {
        const rp_param *p = &g->params[i];
        float *v = o->gbuf + o->sync.offset[i];
        if (!p->trainable) continue;
        if (unpack) memcpy(p->grad, v, p->numel * sizeof *p->grad);
        else
            for (size_t k = 0; k < p->numel; k++) v[k] = p->grad[k] * w;
    }
}

static void start_bucket(rp_objective *o)
{
    rp_grad_sync *s = &o->sync;
    int k = s->next--;
    s->early += o->m->g.grad_ready != NULL; /* called by the backward */
    pack(o, s->bucket_param[k], s->bucket_param[k + 1], s->weight, false);
    (void)rp_dist_bsum_start(s->bsum, k); /* a failure comes back from the wait */
}

/* The graph's grad_ready hook: the parameters from `first` on are final. */
static void grads_ready(void *arg, int first)
{
    rp_objective *o = arg;
    rp_grad_sync *s = &o->sync;
    while (s->next >= 0 && s->bucket_param[s->next] >= first) start_bucket(o);
    rp_dist_bsum_progress(s->bsum);
}

rp_status rp_obj_sync_begin(rp_objective *o, int B)
{
    rp_grad_sync *s = &o->sync;
    if (s->in_round) (void)rp_dist_bsum_wait(s->bsum); /* a step that failed midway left it */
    s->in_round = false;
    s->overlapping = s->bsum && rp_dist_overlap(o->dist);
    s->next = s->n_buckets - 1;
    s->early = 0;
    if (!s->overlapping) return RP_OK;
    /* the weight before the passes, as rp_obj_sync_reduce forms it from the statistics' sum */
    double Bg = B;
    RP_TRY(rp_dist_sum_f64(o->dist, &Bg, 1));
    if (!(Bg > 0)) return rp_fail(o->ctx, RP_ERR_ARG, "objective: an empty global batch");
    s->weight = (float)(B / Bg);
    s->in_round = true;
    return RP_OK;
}

void rp_obj_sync_arm(rp_objective *o, bool last_param_pass)
{
    bool on = last_param_pass && o->sync.overlapping;
    rp_graph_set_grad_ready(&o->m->g, on ? grads_ready : NULL, o);
}

rp_status rp_obj_sync_reduce(rp_objective *o, int B, rp_step_stats *st)
{
    rp_grad_sync *s = &o->sync;
    double v[7] = {B, (double)st->loss * B, (double)st->clean_loss * B, st->correct, (double)st->adv_loss * B,
                   st->adv_correct, (double)st->consistency_loss * B};
    rp_status r = rp_dist_sum_f64(o->dist, v, 7); /* meanwhile the buckets under way move on */
    double Bg = v[0];
    if (r == RP_OK && !(Bg > 0)) r = rp_fail(o->ctx, RP_ERR_ARG, "objective: an empty global batch");
    if (r != RP_OK) return r;
    *st = (rp_step_stats){.loss = (float)(v[1] / Bg), .clean_loss = (float)(v[2] / Bg), .correct = (int)v[3],
                          .adv_loss = (float)(v[4] / Bg), .adv_correct = (int)v[5],
                          .consistency_loss = (float)(v[6] / Bg)};
    int P = o->m->g.n_params;
    if (s->overlapping) { /* the buckets no pass started (a piece with no rows: all of them) */
        while (s->next >= 0) start_bucket(o);
        s->in_round = false;
        RP_TRY(rp_dist_bsum_wait(s->bsum));
    } else {
        pack(o, 0, P, (float)(B / Bg), false);
        RP_TRY(rp_dist_sum_f32(o->dist, o->gbuf, s->offset[P]));
    }
    pack(o, 0, P, 0.0f, true);
    return RP_OK;
}
