/* rampart explain's pictures: panels (image | map | overlay, with labels and top-5 as text), the
 * overlays alone, and the adversarial view. Colours and scaling: src/explain/overlay.h. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_explain.h"

/* The method's name in file and tensor names ("gradcam++" -> "gradcampp"). */
const char *xp_tag(rp_xai_method m) { return m == RP_XAI_GRADCAMPP ? "gradcampp" : rp_xai_method_name(m); }

const char *xp_class_name(const inputs *in, int k)
{
    return in->names && k >= 0 && k < in->K && in->names[k] ? in->names[k] : "";
}

int xp_argmax(const float *v, int K)
{
    int b = 0;
    for (int k = 1; k < K; k++)
        if (v[k] > v[b]) b = k;
    return b;
}

/* The (up to) 5 largest of z, best first; returns how many. */
int xp_top5(const float *z, int K, int *order)
{
    int n = K < 5 ? K : 5;
    for (int j = 0; j < n; j++) {
        order[j] = -1;
        for (int k = 0; k < K; k++) {
            bool used = false;
            for (int q = 0; q < j; q++) used |= order[q] == k;
            if (!used && (order[j] < 0 || z[k] > z[order[j]])) order[j] = k;
        }
    }
    return n;
}

void xp_softmax(const float *z, int K, double *p)
{
    float mx = z[xp_argmax(z, K)];
    double s = 0.0;
    for (int k = 0; k < K; k++) s += p[k] = exp((double)z[k] - mx);
    for (int k = 0; k < K; k++) p[k] /= s;
}

/* Logits of n images in chunks of B into z (n, K). */
void xp_all_logits(rp_model *m, const float *x, int n, size_t X, int K, int B, float *z)
{
    for (int s = 0; s < n; s += B) {
        int b = n - s < B ? n - s : B;
        memcpy(z + (size_t)s * K, rp_model_forward(m, x + (size_t)s * X, b, false), (size_t)b * K * sizeof(float));
    }
}

/* ---- panels ------------------------------------------------------------------------------------ */


static rp_status write_panel(rp_ctx *ctx, const char *path, const panel *p)
{
    int tw = p->W * p->f, th = p->H * p->f, th2 = rp_text_height(2);
    int left = 0;
    for (int r = 0; r < p->rows; r++) {
        int w = rp_text_width(p->row_label[r], 2);
        if (w + GAP > left) left = w + GAP;
    }
    int width = left + GAP + p->cols * (tw + GAP), top = GAP + th2 + GAP;
    for (int c = 0; c < p->cols; c++) /* captions wider than a tile widen the panel */
        if (rp_text_width(p->caption[c], 2) > tw) tw = rp_text_width(p->caption[c], 2);
    width = left + GAP + p->cols * (tw + GAP);
    for (int l = 0; l < p->n_lines; l++)
        if (rp_text_width(p->line[l], 2) + 2 * GAP > width) width = rp_text_width(p->line[l], 2) + 2 * GAP;
    int height = top + p->rows * (th + GAP) + p->n_lines * (th2 + 4) + GAP;
    rp_figure *fig = NULL;
    RP_TRY(rp_figure_create(ctx, height, width, 24, &fig));
    rp_status s = RP_OK;
    for (int c = 0; c < p->cols && s == RP_OK; c++) {
        int x0 = left + GAP + c * (tw + GAP);
        s = rp_figure_text(fig, GAP, x0, p->caption[c], 2, 230, 230, 230);
        for (int r = 0; r < p->rows && s == RP_OK; r++)
            if (p->tile[r][c])
                s = rp_figure_image(fig, top + r * (th + GAP), x0, p->tile[r][c], p->H, p->W, p->tile_c[r][c], p->f);
    }
    for (int r = 0; r < p->rows && s == RP_OK; r++)
        s = rp_figure_text(fig, top + r * (th + GAP) + th / 2 - th2 / 2, GAP, p->row_label[r], 2, 255, 255, 255);
    for (int l = 0; l < p->n_lines && s == RP_OK; l++)
        s = rp_figure_text(fig, top + p->rows * (th + GAP) + l * (th2 + 4), GAP, p->line[l], 2, 220, 220, 220);
    if (s == RP_OK) s = rp_figure_write_png(fig, path);
    rp_figure_destroy(fig);
    return s;
}

static rp_status write_overlay_png(rp_ctx *ctx, const char *path, const float *rgb, int H, int W, int f)
{
    rp_figure *fig = NULL;
    RP_TRY(rp_figure_create(ctx, H * f, W * f, 0, &fig));
    rp_status s = rp_figure_image(fig, 0, 0, rgb, H, W, 3, f);
    if (s == RP_OK) s = rp_figure_write_png(fig, path);
    rp_figure_destroy(fig);
    return s;
}


float xp_map_scale(const render *rd, const float *map, size_t n)
{
    float s = 0.0f; /* --clip is checked in (0, 100] when parsed */
    return rp_xai_map_scale(NULL, map, n, rd->clip, &s) == RP_OK ? s : 0.0f;
}

/* "P 4 COAT 93.1%" */
static void describe(char *buf, size_t n, const inputs *in, const char *what, int k, double prob)
{
    snprintf(buf, n, "%s %d %s %.1f%%", what, k, xp_class_name(in, k), 100.0 * prob);
}

/* Panel and overlay of image i for one method. */
rp_status xp_image_panel(rp_ctx *ctx, const explain_opts *o, const inputs *in, const result *r, int i,
                             const int32_t *t, const float *z, const render *rd, const rp_explain_config *ec,
                             float shared, cJSON *files)
{
    const int H = in->H, W = in->W;
    const size_t HW = (size_t)H * W;
    const float *img = in->x + (size_t)i * in->X, *map = r->map + (size_t)i * HW, *sgn = r->sgn + (size_t)i * HW;
    bool is_signed = rp_xai_map_is_signed(r->m, ec);
    rp_colormap cm = is_signed ? rd->cm_signed : rd->cm_unsigned;
    float scale = shared >= 0.0f ? shared : xp_map_scale(rd, map, HW);
    float *buf = malloc(4 * HW * 3 * sizeof(float)), *pos = malloc(2 * HW * sizeof(float));
    if (!buf || !pos) {
        free(buf), free(pos);
        return rp_fail(ctx, RP_ERR_NOMEM, "explain: out of memory");
    }
    float *col = buf, *ovl = buf + HW * 3, *pc = buf + 2 * HW * 3, *nc = buf + 3 * HW * 3, *neg = pos + HW;
    rp_status st = rp_xai_map_colorize(ctx, map, H, W, scale, is_signed, cm, col);
    if (st == RP_OK) st = rp_xai_map_overlay(ctx, img, in->C, map, H, W, scale, is_signed, cm, rd->alpha, ovl);
    panel p = {.rows = 1, .cols = 3, .H = H, .W = W, .f = rd->f};
    const char *mname = rp_xai_method_name(r->m);
    p.tile[0][0] = img, p.tile_c[0][0] = in->C, p.caption[0] = "IMAGE";
    p.tile[0][1] = col, p.tile_c[0][1] = 3, p.caption[1] = r->m == RP_XAI_SALIENCY ? "ABS GRAD" : mname;
    p.tile[0][2] = ovl, p.tile_c[0][2] = 3, p.caption[2] = "OVERLAY";
    if (r->m == RP_XAI_SALIENCY) { /* positive and negative parts of the channel-summed gradient */
        for (size_t k = 0; k < HW; k++) pos[k] = sgn[k] > 0 ? sgn[k] : 0, neg[k] = sgn[k] < 0 ? -sgn[k] : 0;
        float ss = xp_map_scale(rd, sgn, HW);
        if (st == RP_OK) st = rp_xai_map_colorize(ctx, pos, H, W, ss, false, rd->cm_unsigned, pc);
        if (st == RP_OK) st = rp_xai_map_colorize(ctx, neg, H, W, ss, false, rd->cm_unsigned, nc);
        p.cols = 5;
        p.tile[0][3] = pc, p.tile_c[0][3] = 3, p.caption[3] = "POSITIVE";
        p.tile[0][4] = nc, p.tile_c[0][4] = 3, p.caption[4] = "NEGATIVE";
    }
    double *prob = malloc((size_t)in->K * sizeof(double));
    if (!prob) {
        free(buf), free(pos);
        return rp_fail(ctx, RP_ERR_NOMEM, "explain: out of memory");
    }
    const float *zi = z + (size_t)i * in->K;
    xp_softmax(zi, in->K, prob);
    int pred = xp_argmax(zi, in->K);
    char a[96], b[96];
    snprintf(p.line[p.n_lines++], sizeof p.line[0], "%s%s  TARGET %d %s", mname, ec->counterfactual &&
             r->low ? " (COUNTERFACTUAL)" : "", t[i], xp_class_name(in, t[i]));
    describe(a, sizeof a, in, "PRED", pred, prob[pred]);
    if (in->y) snprintf(b, sizeof b, "  TRUE %d %s", in->y[i], xp_class_name(in, in->y[i]));
    else b[0] = 0;
    snprintf(p.line[p.n_lines++], sizeof p.line[0], "%s%s", a, b);
    int order[5], top = xp_top5(zi, in->K, order);
    int len = snprintf(p.line[p.n_lines], sizeof p.line[0], "TOP%d:", top);
    for (int j = 0; j < top && len < (int)sizeof p.line[0]; j++)
        len += snprintf(p.line[p.n_lines] + len, sizeof p.line[0] - (size_t)len, " %s %.1f", xp_class_name(in, order[j])[0]
                        ? xp_class_name(in, order[j]) : "?", 100.0 * prob[order[j]]);
    p.n_lines++;
    snprintf(p.line[p.n_lines++], sizeof p.line[0], "SCALE %.3g (%s, %g PCT OF ABS MAP)", (double)scale,
             rp_colormap_name(cm), (double)rd->clip);
    if (r->gap)
        snprintf(p.line[p.n_lines++], sizeof p.line[0], "IG GAP %.3g (F(X)-F(X') %.3g)", r->gap[i], r->df[i]);
    char path[4096], name[64];
    snprintf(name, sizeof name, "%03d_%s.png", i, xp_tag(r->m));
    snprintf(path, sizeof path, "%s/%s", o->out, name);
    rp_status s = st == RP_OK ? write_panel(ctx, path, &p) : st;
    cJSON_AddStringToObject(files, mname, name);
    if (s == RP_OK) {
        snprintf(path, sizeof path, "%s/%03d_%s_overlay.png", o->out, i, xp_tag(r->m));
        s = write_overlay_png(ctx, path, ovl, H, W, rd->f);
    }
    free(buf), free(pos), free(prob);
    return s;
}

/* ---- targets and the adversarial view ------------------------------------------------------------ */


/* One model's attack on the inputs: adversarial images, predictions and targets. */
typedef struct adv_side {
    float *x_adv, *z, *z_adv; /* (n,X) (n,K) (n,K) */
    int32_t *t, *t_adv;
} adv_side;

static rp_status attack_model(rp_ctx *ctx, rp_model *m, rp_explainer *ex, const inputs *in, const rp_attack_config *ac,
                              target_rule tr, adv_side *a)
{
    a->x_adv = malloc((size_t)in->n * in->X * sizeof(float));
    a->z = malloc(2 * (size_t)in->n * in->K * sizeof(float));
    a->t = malloc(3 * (size_t)in->n * sizeof(int32_t));
    if (!a->x_adv || !a->z || !a->t) return rp_fail(ctx, RP_ERR_NOMEM, "explain: out of memory");
    a->z_adv = a->z + (size_t)in->n * in->K, a->t_adv = a->t + in->n;
    int32_t *labels = a->t + 2 * in->n;
    xp_all_logits(m, in->x, in->n, in->X, in->K, rp_explainer_get_config(ex)->chunk, a->z);
    for (int i = 0; i < in->n; i++) labels[i] = in->y ? in->y[i] : xp_argmax(a->z + (size_t)i * in->K, in->K);
    rp_attack *at = NULL;
    RP_TRY(rp_model_reserve(m, in->n));
    RP_TRY(rp_attack_create(ctx, m, ac, in->n, &at));
    rp_status s = rp_attack_run(at, in->x, labels, NULL, in->n, a->x_adv, NULL, NULL);
    rp_attack_destroy(at);
    RP_TRY(s);
    xp_all_logits(m, a->x_adv, in->n, in->X, in->K, rp_explainer_get_config(ex)->chunk, a->z_adv);
    RP_TRY(rp_xai_targets(ex, in->x, in->y, in->n, tr.kind, tr.cls, a->t));
    return rp_xai_targets(ex, a->x_adv, in->y, in->n, tr.kind, tr.cls, a->t_adv);
}

static void free_side(adv_side *a)
{
    free(a->x_adv), free(a->z), free(a->t);
    memset(a, 0, sizeof *a);
}

/* Panels adv_NNN_METHOD.png: one row per model, clean | map | adversarial | map. */
rp_status xp_adversarial(rp_ctx *ctx, const explain_opts *o, rp_model **models, rp_explainer **exs, int nm,
                             const inputs *in, const rp_xai_method *ms, int n_ms, const rp_attack_config *ac,
                             target_rule tr, const render *rd, cJSON *root)
{
    const size_t HW = (size_t)in->H * in->W;
    adv_side side[P_ROWS] = {{0}};
    float *maps = malloc(2 * (size_t)nm * in->n * HW * sizeof(float)), *ovl = malloc(4 * (size_t)nm * HW * 3 * sizeof(float));
    rp_status s = maps && ovl ? RP_OK : rp_fail(ctx, RP_ERR_NOMEM, "explain: out of memory");
    cJSON *ja = cJSON_AddArrayToObject(root, "adversarial");
    for (int j = 0; j < nm && s == RP_OK; j++) {
        s = attack_model(ctx, models[j], exs[j], in, ac, tr, &side[j]);
        if (s != RP_OK) break;
        cJSON *jm = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(jm, "images");
        cJSON_AddStringToObject(jm, "model", j ? o->compare : o->model);
        for (int i = 0; i < in->n; i++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "pred_clean", xp_argmax(side[j].z + (size_t)i * in->K, in->K));
            cJSON_AddNumberToObject(e, "pred_adv", xp_argmax(side[j].z_adv + (size_t)i * in->K, in->K));
            cJSON_AddItemToArray(arr, e);
        }
        cJSON_AddItemToArray(ja, jm);
    }
    char e[48];
    for (int k = 0; k < n_ms && s == RP_OK; k++) {
        bool sg = rp_xai_map_is_signed(ms[k], rp_explainer_get_config(exs[0]));
        rp_colormap cm = sg ? rd->cm_signed : rd->cm_unsigned;
        for (int j = 0; j < nm && s == RP_OK; j++) {
            float *mc = maps + (size_t)(2 * j) * in->n * HW, *ma = mc + (size_t)in->n * HW;
            s = rp_xai_explain(exs[j], ms[k], in->x, side[j].t, in->n, &(rp_xai_result){.map = mc});
            if (s == RP_OK) s = rp_xai_explain(exs[j], ms[k], side[j].x_adv, side[j].t_adv, in->n, &(rp_xai_result){.map = ma});
        }
        for (int i = 0; i < in->n && s == RP_OK; i++) {
            panel p = {.rows = nm, .cols = 4, .H = in->H, .W = in->W, .f = rd->f,
                       .caption = {"CLEAN", rp_xai_method_name(ms[k]), "ADVERSARIAL", rp_xai_method_name(ms[k])}};
            for (int j = 0; j < nm; j++) {
                const float *mc = maps + ((size_t)(2 * j) * in->n + i) * HW, *ma = mc + (size_t)in->n * HW;
                /* each map on its own scale (clean and adversarial targets may differ); one per row
                   with --shared-scale */
                float sc = xp_map_scale(rd, mc, HW), sa = xp_map_scale(rd, ma, HW);
                if (o->shared_scale) sc = sa = fmaxf(sc, sa);
                float *oc = ovl + (size_t)(2 * j) * HW * 3, *oa = oc + HW * 3;
                const float *xa = side[j].x_adv + (size_t)i * in->X;
                s = rp_xai_map_overlay(ctx, in->x + (size_t)i * in->X, in->C, mc, in->H, in->W, sc, sg, cm, rd->alpha, oc);
                if (s == RP_OK) s = rp_xai_map_overlay(ctx, xa, in->C, ma, in->H, in->W, sa, sg, cm, rd->alpha, oa);
                if (s != RP_OK) break;
                p.tile[j][0] = in->x + (size_t)i * in->X, p.tile_c[j][0] = in->C;
                p.tile[j][1] = oc, p.tile_c[j][1] = 3;
                p.tile[j][2] = xa, p.tile_c[j][2] = in->C;
                p.tile[j][3] = oa, p.tile_c[j][3] = 3;
                const char *path = j ? o->compare : o->model, *base = strrchr(path, '/');
                base = base ? base + 1 : path; /* the row is named after the checkpoint's file stem */
                int stem = (int)(strchr(base, '.') ? strchr(base, '.') - base : (ptrdiff_t)strlen(base));
                snprintf(p.row_label[j], sizeof p.row_label[j], "%.*s", stem < 12 ? stem : 12, base);
                const float *zc = side[j].z + (size_t)i * in->K, *za = side[j].z_adv + (size_t)i * in->K;
                int pc = xp_argmax(zc, in->K), pa = xp_argmax(za, in->K);
                double *pr = malloc((size_t)in->K * sizeof(double));
                if (!pr) { s = rp_fail(ctx, RP_ERR_NOMEM, "explain: out of memory"); break; }
                char a1[96], a2[96];
                xp_softmax(zc, in->K, pr);
                describe(a1, sizeof a1, in, "CLEAN P", pc, pr[pc]);
                xp_softmax(za, in->K, pr);
                describe(a2, sizeof a2, in, "ADV P", pa, pr[pa]);
                free(pr);
                snprintf(p.line[p.n_lines++], sizeof p.line[0], "%.*s: %s, %s", stem < 12 ? stem : 12, base, a1, a2);
            }
            if (s != RP_OK) break;
            if (in->y) snprintf(p.line[p.n_lines++], sizeof p.line[0], "TRUE %d %s", in->y[i], xp_class_name(in, in->y[i]));
            if ((s = rp_eps_text(ctx, ac->eps, e, sizeof e)) != RP_OK) break;
            snprintf(p.line[p.n_lines++], sizeof p.line[0], "%s %s EPS %s, %d STEPS, AGAINST EACH MODEL, TARGET %s",
                     rp_attack_name(ac->kind), ac->norm == RP_NORM_LINF ? "LINF" : "L2", e, ac->steps, o->target);
            char path[4096];
            snprintf(path, sizeof path, "%s/adv_%03d_%s.png", o->out, i, xp_tag(ms[k]));
            s = write_panel(ctx, path, &p);
        }
    }
    for (int j = 0; j < nm; j++) free_side(&side[j]);
    free(maps), free(ovl);
    return s;
}
