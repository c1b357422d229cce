/* rampart explain: attribution maps of a model's predictions on images or test images.
 *
 * Writes into --out DIR:
 *   NNN_METHOD.png          panel: image | map | overlay (saliency adds its positive and negative
 *                           parts), with the target, prediction, label and top-5 as text;
 *   NNN_METHOD_overlay.png  the overlay alone, at input size magnified by an integer factor;
 *   adv_NNN_METHOD.png      (--adversarial) clean and adversarial image with their maps, one row
 *                           per model (--model and --compare-model);
 *   maps.safetensors        the raw float maps (see write_tensors), images, targets, logits;
 *   explain.json            per image: source, label, prediction, top-5 probabilities, target,
 *                           files, IG completeness; the configuration; --sanity's tables.
 * Colours (src/explain/colormap.h): viridis for maps >= 0, blue-white-red for signed maps (0 is
 * white); the overlay is (1 - alpha) image + alpha colour. Maps are divided by the --clip
 * percentile of |map| (never min-max normalised: a constant map is one flat colour). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <unistd.h>

#include "cli_dist.h"
#include "cmd_explain.h"
#include "jsonl.h"

enum { MAX_TENSORS = 96 };
typedef struct tensors {
    rp_tensor_entry e[MAX_TENSORS];
    char *names[MAX_TENSORS];
    float *own[MAX_TENSORS];
    int n;
} tensors;
/* Keeps data (taking ownership when own) under name in the tensor list. */
static void add_tensor(tensors *t, const char *name, rp_tensor_dtype dt, int ndim, const int64_t *shape, float *data,
                       bool own)
{
    if (t->n == MAX_TENSORS) {
        if (own) free(data);
        return;
    }
    t->names[t->n] = strdup(name);
    t->own[t->n] = own ? data : NULL;
    rp_tensor_entry *e = &t->e[t->n++];
    e->name = t->names[t->n - 1];
    e->dtype = dt;
    e->ndim = ndim;
    for (int d = 0; d < ndim; d++) e->shape[d] = shape[d];
    e->data = data;
}

static void free_tensors(tensors *t)
{
    for (int i = 0; i < t->n; i++) free(t->names[i]), free(t->own[i]);
}
/* ---- inputs ---------------------------------------------------------------------------------- */

static rp_status load_inputs(rp_ctx *ctx, const explain_opts *o, const rp_model *m, inputs *in)
{
    const rp_model_config *mc = rp_model_get_config(m);
    in->H = mc->H, in->W = mc->W, in->C = mc->C, in->K = mc->num_classes;
    in->X = (size_t)in->H * in->W * in->C;
    rp_dataset *ds = NULL;
    if (o->images.n > 0) {
        in->n = o->images.n;
    } else {
        RP_TRY(rp_dataset_open(ctx, o->data, false, &ds));
        int H, W, C;
        rp_dataset_shape(ds, &H, &W, &C);
        if (H != in->H || W != in->W || C != in->C || rp_dataset_num_classes(ds) > in->K) {
            rp_status s = rp_fail(ctx, RP_ERR_SHAPE, "data %s has %dx%dx%d images and %d classes; model %s expects "
                                  "%dx%dx%d and has %d classes", o->data, H, W, C, rp_dataset_num_classes(ds),
                                  o->model, in->H, in->W, in->C, in->K);
            rp_dataset_destroy(ds);
            return s;
        }
        int avail = rp_dataset_size(ds) - o->start;
        in->n = o->limit < avail ? o->limit : avail;
        if (in->n < 1) {
            rp_dataset_destroy(ds);
            return rp_fail(ctx, RP_ERR_ARG, "data %s has no image at index %d", o->data, o->start);
        }
    }
    in->x = malloc((size_t)in->n * in->X * sizeof(float));
    in->source = calloc((size_t)in->n, sizeof *in->source);
    in->names = calloc((size_t)in->K, sizeof *in->names);
    if (ds) in->y = malloc((size_t)in->n * sizeof(int32_t));
    if (!in->x || !in->source || !in->names || (ds && !in->y)) {
        rp_dataset_destroy(ds);
        return rp_fail(ctx, RP_ERR_NOMEM, "explain: out of memory for %d images", in->n);
    }
    rp_status s = RP_OK;
    if (ds) {
        for (int i = 0; i < in->n; i++) {
            int idx = o->start + i;
            rp_dataset_gather(ds, &idx, 1, in->x + (size_t)i * in->X, in->y + i);
            snprintf(in->source[i], sizeof in->source[i], "%s#%d", o->data, idx);
        }
        for (int k = 0; k < in->K && k < rp_dataset_num_classes(ds); k++)
            if (rp_dataset_class_name(ds, k)) in->names[k] = strdup(rp_dataset_class_name(ds, k));
        rp_dataset_destroy(ds);
    } else {
        for (int i = 0; i < in->n && s == RP_OK; i++) {
            s = rp_image_load(ctx, o->images.items[i], in->H, in->W, in->C, in->x + (size_t)i * in->X);
            snprintf(in->source[i], sizeof in->source[i], "%s", o->images.items[i]);
        }
    }
    if (s == RP_OK && !in->names[0]) {
        s = rp_checkpoint_class_names(ctx, o->model, &in->owned_names, &in->n_owned);
        for (int k = 0; k < in->n_owned && k < in->K; k++) in->names[k] = strdup(in->owned_names[k]);
    }
    return s;
}

static void free_inputs(inputs *in)
{
    free(in->x), free(in->y), free(in->source);
    for (int k = 0; in->names && k < in->K; k++) free((char *)in->names[k]);
    free(in->names);
    rp_checkpoint_free_names(in->owned_names, in->n_owned);
}

/* ---- methods ------------------------------------------------------------------------------------- */

static void free_result(result *r)
{
    free(r->map), free(r->sgn), free(r->attr), free(r->low), free(r->gap), free(r->df);
    memset(r, 0, sizeof *r);
}

static rp_status run_method(rp_ctx *ctx, rp_explainer *ex, rp_xai_method m, const inputs *in, const int32_t *t,
                            result *r)
{
    memset(r, 0, sizeof *r);
    r->m = m;
    size_t HW = (size_t)in->H * in->W;
    bool cam = m == RP_XAI_CAM || m == RP_XAI_GRADCAM || m == RP_XAI_GRADCAMPP;
    if (cam) RP_TRY(rp_explainer_layer_shape(ex, &r->h, &r->w));
    r->map = malloc((size_t)in->n * HW * sizeof(float));
    r->sgn = malloc((size_t)in->n * HW * sizeof(float));
    if (cam) r->low = malloc((size_t)in->n * r->h * r->w * sizeof(float));
    else if (m != RP_XAI_OCCLUSION) r->attr = malloc((size_t)in->n * in->X * sizeof(float));
    if (m == RP_XAI_IG) r->gap = malloc((size_t)in->n * sizeof(double)), r->df = malloc((size_t)in->n * sizeof(double));
    if (!r->map || !r->sgn || (cam && !r->low) || (!cam && m != RP_XAI_OCCLUSION && !r->attr) ||
        (m == RP_XAI_IG && (!r->gap || !r->df)))
        return rp_fail(ctx, RP_ERR_NOMEM, "explain: out of memory for %s", rp_xai_method_name(m));
    /* under mpirun each rank explains its run of whole chunks (the chunks one process forms, so
       the same bits) and the maps are gathered */
    int first, count, chunk = rp_explainer_get_config(ex)->chunk;
    cli_shard(in->n, chunk, &first, &count);
    size_t lo = cam ? (size_t)r->h * r->w : 0, f = (size_t)first;
    rp_xai_result xr = {.map = r->map + f * HW, .signed_map = r->sgn + f * HW, .attr = r->attr ? r->attr + f * in->X : NULL,
                        .lowres = r->low ? r->low + f * lo : NULL, .ig_gap = r->gap ? r->gap + f : NULL,
                        .ig_delta_f = r->df ? r->df + f : NULL};
    rp_status s = count ? rp_xai_explain(ex, m, in->x + f * in->X, t + first, count, &xr) : RP_OK;
    if (cli_ranks() > 1) { /* every rank learns of a failure, then the rows are gathered */
        size_t failed = 0;
        if (rp_dist_total(cli_dist(), s != RP_OK, &failed) != RP_OK || failed)
            return s != RP_OK ? s : rp_fail(ctx, RP_ERR_IO, "explain: another rank failed (see its message)");
        int rc = cli_gather_rows(r->map, HW * sizeof(float), in->n, chunk);
        if (!rc) rc = cli_gather_rows(r->sgn, HW * sizeof(float), in->n, chunk);
        if (!rc && r->attr) rc = cli_gather_rows(r->attr, in->X * sizeof(float), in->n, chunk);
        if (!rc && r->low) rc = cli_gather_rows(r->low, lo * sizeof(float), in->n, chunk);
        if (!rc && r->gap) rc = cli_gather_rows(r->gap, sizeof(double), in->n, chunk);
        if (!rc && r->df) rc = cli_gather_rows(r->df, sizeof(double), in->n, chunk);
        if (rc) return rp_fail(ctx, RP_ERR_IO, "explain: gathering the maps failed");
    }
    return s;
}

/* Raw maps into the tensor list (copies: results are freed per method). */
static void keep_maps(tensors *ts, const result *r, const inputs *in)
{
    char name[96];
    const char *mt = xp_tag(r->m);
    int64_t n = in->n, H = in->H, W = in->W;
    float *copy;
    size_t HW = (size_t)H * W;
    struct { const char *suffix; const float *v; size_t count; int nd; int64_t shape[4]; } parts[] = {
        {"map", r->map, (size_t)n * HW, 3, {n, H, W}},
        {"signed", r->sgn, (size_t)n * HW, 3, {n, H, W}},
        {"attr", r->attr, (size_t)n * in->X, 4, {n, H, W, in->C}},
        {"lowres", r->low, (size_t)n * r->h * r->w, 3, {n, r->h, r->w}},
    };
    for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) {
        if (!parts[k].v || !(copy = malloc(parts[k].count * sizeof(float)))) continue;
        memcpy(copy, parts[k].v, parts[k].count * sizeof(float));
        snprintf(name, sizeof name, "%s.%s", mt, parts[k].suffix);
        add_tensor(ts, name, RP_TENSOR_F32, parts[k].nd, parts[k].shape, copy, true);
    }
    if (r->gap && (copy = malloc(2 * (size_t)n * sizeof(float)))) {
        for (int i = 0; i < n; i++) copy[i] = (float)r->gap[i], copy[n + i] = (float)r->df[i];
        add_tensor(ts, "ig.gap", RP_TENSOR_F32, 1, (int64_t[]){n}, copy, true);
        add_tensor(ts, "ig.delta_f", RP_TENSOR_F32, 1, (int64_t[]){n}, copy + n, false);
    }
}

/* ---- sanity -------------------------------------------------------------------------------------- */

static rp_status sanity(rp_ctx *ctx, const explain_opts *o, rp_explainer *ex, const inputs *in, const int32_t *t,
                        const result *res, int n_res, cJSON *root)
{
    cJSON *js = cJSON_AddObjectToObject(root, "sanity");
    cJSON *jr = cJSON_AddArrayToObject(js, "randomization"), *jd = cJSON_AddArrayToObject(js, "deletion_insertion");
    printf("\nModel parameter randomization (cascading from the logits down; Spearman rank correlation of each\n"
           "image's map with the intact model's map, mean over %d images; near 0 = the map depends on the model):\n",
           in->n);
    printf("  %-11s %-24s %9s %12s\n", "method", "randomized through", "rho(map)", "rho(signed)");
    for (int k = 0; k < n_res; k++) {
        rp_sanity_row rows[256];
        int nr = 0;
        RP_TRY(rp_sanity_randomization(ex, res[k].m, in->x, t, in->n, (uint64_t)o->seed, rows, 256, &nr));
        for (int r = 0; r < nr; r++) {
            printf("  %-11s %-24s %+9.3f %+12.3f\n", r ? "" : rp_xai_method_name(res[k].m), rows[r].layer,
                   rows[r].rho_map, rows[r].rho_signed);
            cJSON *row = cJSON_CreateObject();
            cJSON_AddStringToObject(row, "method", rp_xai_method_name(res[k].m));
            cJSON_AddStringToObject(row, "randomized_through", rows[r].layer);
            cJSON_AddNumberToObject(row, "rho_map", rows[r].rho_map);
            cJSON_AddNumberToObject(row, "rho_signed", rows[r].rho_signed);
            cJSON_AddItemToArray(jr, row);
        }
    }
    size_t HW = (size_t)in->H * in->W;
    float *rnd = malloc((size_t)in->n * HW * sizeof(float));
    double *d = malloc(4 * (size_t)in->n * sizeof(double));
    if (!rnd || !d) {
        free(rnd), free(d);
        return rp_fail(ctx, RP_ERR_NOMEM, "explain: out of memory");
    }
    for (int i = 0; i < in->n; i++) rp_xai_random_map(rnd + (size_t)i * HW, HW, (uint64_t)o->seed);
    rp_status s = rp_xai_deletion_insertion(ex, in->x, t, in->n, rnd, o->del_steps, (uint64_t)o->seed, d + 2 * in->n,
                                            d + 3 * in->n);
    double rd = 0, ri = 0;
    for (int i = 0; i < in->n; i++) rd += d[2 * in->n + i] / in->n, ri += d[3 * in->n + i] / in->n;
    printf("\nDeletion / insertion AUC (%d steps; softmax probability of the target as pixels are removed (set to 0)\n"
           "or put back into a blurred image in the map's order; deletion: LOWER is better, insertion: HIGHER is\n"
           "better; mean over %d images, compared with a random map):\n", o->del_steps, in->n);
    printf("  %-11s %9s %9s %10s %9s\n", "method", "deletion", "random", "insertion", "random");
    for (int k = 0; k < n_res && s == RP_OK; k++) {
        s = rp_xai_deletion_insertion(ex, in->x, t, in->n, res[k].map, o->del_steps, (uint64_t)o->seed, d, d + in->n);
        double md = 0, mi = 0;
        for (int i = 0; i < in->n; i++) md += d[i] / in->n, mi += d[in->n + i] / in->n;
        printf("  %-11s %9.3f %9.3f %10.3f %9.3f\n", rp_xai_method_name(res[k].m), md, rd, mi, ri);
        cJSON *row = cJSON_CreateObject();
        cJSON_AddStringToObject(row, "method", rp_xai_method_name(res[k].m));
        cJSON_AddNumberToObject(row, "deletion_auc", md);
        cJSON_AddNumberToObject(row, "deletion_auc_random", rd);
        cJSON_AddNumberToObject(row, "insertion_auc", mi);
        cJSON_AddNumberToObject(row, "insertion_auc_random", ri);
        cJSON_AddItemToArray(jd, row);
    }
    free(rnd), free(d);
    return s;
}

/* ---- the command ------------------------------------------------------------------------------- */

static cJSON *image_json(const inputs *in, int i, const float *z, const int32_t *t)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "index", i);
    cJSON_AddStringToObject(e, "source", in->source[i]);
    if (in->y) cJSON_AddNumberToObject(e, "label", in->y[i]), cJSON_AddStringToObject(e, "label_name", xp_class_name(in, in->y[i]));
    const float *zi = z + (size_t)i * in->K;
    int pred = xp_argmax(zi, in->K);
    cJSON_AddNumberToObject(e, "pred", pred);
    cJSON_AddStringToObject(e, "pred_name", xp_class_name(in, pred));
    cJSON_AddNumberToObject(e, "target", t[i]);
    double *p = malloc((size_t)in->K * sizeof(double));
    if (!p) return e;
    xp_softmax(zi, in->K, p);
    cJSON *top = cJSON_AddArrayToObject(e, "top5");
    int order[5], n = xp_top5(zi, in->K, order);
    for (int j = 0; j < n; j++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddNumberToObject(c, "class", order[j]);
        cJSON_AddStringToObject(c, "name", xp_class_name(in, order[j]));
        cJSON_AddNumberToObject(c, "prob", p[order[j]]);
        cJSON_AddNumberToObject(c, "logit", zi[order[j]]);
        cJSON_AddItemToArray(top, c);
    }
    free(p);
    cJSON_AddObjectToObject(e, "files");
    return e;
}

static rp_status write_json(rp_ctx *ctx, const char *path, cJSON *root)
{
    char *text = cJSON_Print(root);
    if (!text) return rp_fail(ctx, RP_ERR_NOMEM, "%s: out of memory", path);
    size_t n = strlen(text);
    text[n] = '\n'; /* cJSON_Print's terminator becomes the file's last newline */
    rp_status s = rp_file_write_atomic(ctx, path, text, n + 1);
    free(text);
    return s;
}

static rp_status write_tensors(rp_ctx *ctx, const explain_opts *o, tensors *ts, const rp_explainer *ex, cJSON *root)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/maps.safetensors", o->out);
    const char *layer = rp_explainer_layer(ex);
    const char *keys[] = {"model", "target", "layer", "layout", "reduction"};
    const char *vals[] = {o->model, o->target, layer ? layer : "",
                          "images (N,H,W,C) in [0,1]; METHOD.map/.signed (N,H,W); METHOD.attr (N,H,W,C); METHOD.lowres "
                          "(N,h,w) at the CAM layer",
                          "signed = sum over channels; map = max_c |attr| (saliency, smoothgrad, guided), the signed map "
                          "(gradxinput, ig, occlusion), the upsampled CAM (ReLU'd unless --relu false)"};
    rp_status s = rp_tensors_write(ctx, path, ts->e, ts->n, keys, vals, 5);
    if (s == RP_OK) cJSON_AddStringToObject(root, "maps", "maps.safetensors");
    return s;
}

static int parse_target(const char *s, target_rule *tr)
{
    char *end;
    if (!strcmp(s, "pred")) *tr = (target_rule){RP_TARGET_PRED, 0};
    else if (!strcmp(s, "true")) *tr = (target_rule){RP_TARGET_TRUE, 0};
    else {
        long k = strtol(s, &end, 10);
        if (end == s || *end || k < 0 || k > 1 << 20) return -1;
        *tr = (target_rule){RP_TARGET_CLASS, (int)k};
    }
    return 0;
}

/* Methods from --method: names or "all"; *explicit_cam tells whether CAM was named. */
static int parse_methods(const cli_list *l, rp_xai_method *ms, bool *all)
{
    int n = 0;
    *all = false;
    for (int i = 0; i < l->n; i++) {
        if (!strcmp(l->items[i], "all")) {
            *all = true;
            for (int m = 0; m < RP_XAI_COUNT; m++) ms[m] = (rp_xai_method)m;
            return RP_XAI_COUNT;
        }
        int m = rp_xai_method_from_name(l->items[i]);
        if (m < 0) {
            fprintf(stderr, "rampart explain: unknown method '%s' (one of: all", l->items[i]);
            for (int k = 0; k < RP_XAI_COUNT; k++) fprintf(stderr, ", %s", rp_xai_method_name((rp_xai_method)k));
            fprintf(stderr, ")\n");
            return -1;
        }
        bool dup = false;
        for (int k = 0; k < n; k++) dup |= ms[k] == (rp_xai_method)m;
        if (!dup) ms[n++] = (rp_xai_method)m;
    }
    return n;
}

typedef struct setup {
    rp_explain_config ec;
    rp_xai_method ms[RP_XAI_COUNT];
    int n_ms;
    bool all;
    target_rule tr;
    render rd;
    rp_attack_config ac;
} setup;

static int run(rp_ctx *ctx, const explain_opts *o, setup *su)
{
    rp_model *models[P_ROWS] = {NULL, NULL};
    rp_explainer *exs[P_ROWS] = {NULL, NULL};
    inputs in = {0};
    tensors ts = {0};
    result *res = calloc(RP_XAI_COUNT, sizeof *res);
    float *z = NULL;
    int32_t *t = NULL;
    int rc = CLI_EXIT_FAIL, n_res = 0, nm = o->adversarial && o->compare ? 2 : 1;
    cJSON *root = cJSON_CreateObject();
    const char *paths[P_ROWS] = {o->model, o->compare};
    rp_status s = res ? RP_OK : rp_fail(ctx, RP_ERR_NOMEM, "out of memory");
    for (int j = 0; j < nm && s == RP_OK; j++) s = rp_model_load(ctx, paths[j], su->ec.chunk, &models[j]);
    if (s == RP_OK) s = load_inputs(ctx, o, models[0], &in);
    su->rd.f = rp_view_scale(in.H > 0 ? in.H : 1, in.W > 0 ? in.W : 1, o->view);
    if (s == RP_OK && nm == 2 && rp_check_model_fits(ctx, models[1], in.H, in.W, in.C, in.K) != RP_OK)
        s = rp_fail(ctx, RP_ERR_SHAPE, "--compare-model %s does not fit --model %s: %s", o->compare, o->model,
                    rp_ctx_error(ctx));
    if (s == RP_OK && su->tr.kind == RP_TARGET_TRUE && !in.y)
        s = rp_fail(ctx, RP_ERR_ARG, "--target true needs labels: use --data, or --target pred or a class index");
    for (int j = 0; j < nm && s == RP_OK; j++) s = rp_explainer_create(ctx, models[j], &su->ec, &exs[j]);
    if (s == RP_OK && (mkdir(o->out, 0777) != 0 && errno != EEXIST))
        s = rp_fail(ctx, RP_ERR_IO, "cannot create %s: %s", o->out, strerror(errno));
    z = malloc((size_t)in.n * in.K * sizeof(float));
    t = malloc((size_t)in.n * sizeof(int32_t));
    if (s == RP_OK && (!z || !t)) s = rp_fail(ctx, RP_ERR_NOMEM, "out of memory");
    if (s == RP_OK) s = rp_xai_targets(exs[0], in.x, in.y, in.n, su->tr.kind, su->tr.cls, t);
    if (s != RP_OK) goto done;
    xp_all_logits(models[0], in.x, in.n, in.X, in.K, su->ec.chunk, z);
    cJSON_AddStringToObject(root, "model", o->model);
    cJSON_AddStringToObject(root, "target", o->target);
    if (rp_explainer_layer(exs[0])) cJSON_AddStringToObject(root, "layer", rp_explainer_layer(exs[0]));
    cJSON *jimg = cJSON_AddArrayToObject(root, "images");
    for (int i = 0; i < in.n; i++) cJSON_AddItemToArray(jimg, image_json(&in, i, z, t));
    add_tensor(&ts, "images", RP_TENSOR_F32, 4, (int64_t[]){in.n, in.H, in.W, in.C}, in.x, false);
    add_tensor(&ts, "logits", RP_TENSOR_F32, 2, (int64_t[]){in.n, in.K}, z, false);
    float *tf = malloc(2 * (size_t)in.n * sizeof(float));
    if (tf) {
        for (int i = 0; i < in.n; i++) tf[i] = (float)t[i], tf[in.n + i] = in.y ? (float)in.y[i] : -1.0f;
        add_tensor(&ts, "targets", RP_TENSOR_I64, 1, (int64_t[]){in.n}, tf, true);
        if (in.y) add_tensor(&ts, "labels", RP_TENSOR_I64, 1, (int64_t[]){in.n}, tf + in.n, false);
    }
    for (int k = 0; k < su->n_ms; k++) {
        result *r = &res[n_res];
        s = run_method(ctx, exs[0], su->ms[k], &in, t, r);
        if (s == RP_ERR_UNSUPPORTED && su->all) { /* "all" skips what this model cannot do */
            fprintf(stderr, "rampart explain: skipping %s: %s\n", rp_xai_method_name(su->ms[k]), rp_ctx_error(ctx));
            free_result(r);
            continue;
        }
        if (s != RP_OK) goto done;
        n_res++;
        float shared = o->shared_scale ? xp_map_scale(&su->rd, r->map, (size_t)in.n * in.H * in.W) : -1.0f;
        for (int i = 0; i < in.n && s == RP_OK && cli_main_rank(); i++) /* rank 0 writes the panels */
            s = xp_image_panel(ctx, o, &in, r, i, t, z, &su->rd, &su->ec, shared,
                            cJSON_GetObjectItem(cJSON_GetArrayItem(jimg, i), "files"));
        if (s != RP_OK) goto done;
        if (r->gap)
            for (int i = 0; i < in.n; i++) {
                cJSON *e = cJSON_GetArrayItem(jimg, i);
                cJSON_AddNumberToObject(e, "ig_gap", r->gap[i]);
                cJSON_AddNumberToObject(e, "ig_delta_f", r->df[i]);
            }
        keep_maps(&ts, r, &in);
        printf("%-10s %d images%s%s", rp_xai_method_name(r->m), in.n, r->low ? " at layer " : "",
               r->low ? rp_explainer_layer(exs[0]) : "");
        double worst = 0.0; /* IG completeness: largest |sum(IG) - (f(x) - f(x'))| / |f(x) - f(x')| */
        for (int i = 0; r->gap && i < in.n; i++) worst = fmax(worst, fabs(r->gap[i]) / fmax(fabs(r->df[i]), 1e-12));
        if (r->gap) printf("; completeness gap at most %.3g%% of f(x) - f(baseline) (%d steps)", 100.0 * worst,
                           su->ec.ig_steps);
        printf("\n");
    }
    if (!cli_main_rank()) { /* the sanity checks, adversarial views and files are rank 0's */
        rc = CLI_EXIT_OK;
        goto done;
    }
    if (o->sanity && (s = sanity(ctx, o, exs[0], &in, t, res, n_res, root)) != RP_OK) goto done;
    if (o->adversarial &&
        (s = xp_adversarial(ctx, o, models, exs, nm, &in, su->ms, su->n_ms, &su->ac, su->tr, &su->rd, root)) != RP_OK)
        goto done;
    if ((s = write_tensors(ctx, o, &ts, exs[0], root)) != RP_OK) goto done;
    char path[4096];
    snprintf(path, sizeof path, "%s/explain.json", o->out);
    if ((s = write_json(ctx, path, root)) != RP_OK) goto done;
    printf("wrote %s/ (PNG panels and overlays, maps.safetensors, explain.json)\n", o->out);
    rc = CLI_EXIT_OK;
done:
    if (s != RP_OK) rc = cli_fail("explain", ctx);
    for (int k = 0; res && k < RP_XAI_COUNT; k++) free_result(&res[k]);
    free(res), free(z), free(t);
    free_tensors(&ts);
    free_inputs(&in);
    cJSON_Delete(root);
    for (int j = 0; j < P_ROWS; j++) rp_explainer_destroy(exs[j]), rp_model_destroy(models[j]);
    return rc;
}

/* --json: after a run that succeeded, one row of kind "explain"
 * (docs/json.md) naming the folder; the human lines go to stderr meanwhile. */
static int run_json(rp_ctx *ctx, const explain_opts *o, setup *su, int argc, char **argv)
{
    jsonl_run r;
    jsonl_run_init(&r, "explain", argc, argv);
    int saved = dup(STDOUT_FILENO);
    if (saved < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0) return run(ctx, o, su);
    int rc = run(ctx, o, su);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    if (rc != CLI_EXIT_OK) return rc;
    cJSON *j = jsonl_row(&r, "explain");
    char sha[65];
    jsonl_add_model(j, o->model, jsonl_file_sha256(o->model, sha) ? sha : NULL);
    if (o->compare) cJSON_AddStringToObject(j, "compare_model", o->compare);
    cJSON_AddStringToObject(j, "data", o->images.n ? "files" : o->data);
    cJSON_AddNumberToObject(j, "start", o->start);
    cJSON *ms = cJSON_AddArrayToObject(j, "methods");
    for (int k = 0; k < su->n_ms; k++) cJSON_AddItemToArray(ms, cJSON_CreateString(rp_xai_method_name(su->ms[k])));
    cJSON_AddBoolToObject(j, "adversarial", o->adversarial);
    if (o->adversarial) cJSON_AddStringToObject(j, "attack", o->attack), cJSON_AddStringToObject(j, "eps", o->eps);
    cJSON_AddNumberToObject(j, "seed", o->seed);
    cJSON_AddStringToObject(j, "out", o->out);
    cJSON_AddStringToObject(j, "explain_json", "explain.json");
    jsonl_emit(j);
    jsonl_emit_run(&r, o->threads, o->seed);
    return rc;
}

int cmd_explain(int argc, char **argv)
{
    explain_opts o = {0};
    bool json = false;
    cli_flag flags[] = {
        {"--model", CLI_STRING, &o.model, NULL, "checkpoint to explain"},
        {"--images", CLI_LIST, &o.images, NULL, "image files (PNG/JPEG, fitted to the model's input), comma-separated or repeated, up to 16"},
        {"--data", CLI_STRING, &o.data, "fashion-mnist", "data set whose test images are explained (without --images)"},
        {"--limit", CLI_INT, &o.limit, "8", "explain N test images"},
        {"--start", CLI_INT, &o.start, "0", "index of the first test image"},
        {"--method", CLI_LIST, &o.methods, "saliency,gradcam", "all, saliency, gradxinput, smoothgrad, ig, guided, cam, gradcam, gradcam++, occlusion"},
        {"--target", CLI_STRING, &o.target, "pred", "class explained: pred, true (the label) or a class index"},
        {"--layer", CLI_STRING, &o.layer, NULL, "CAM family: node name (default: the last spatial feature map)"},
        {"--relu", CLI_BOOL, &o.relu, "true", "CAM family: ReLU the map (false: raw signed map)"},
        {"--counterfactual", CLI_BOOL, &o.counterfactual, "false", "CAM family: negated gradients (evidence against the target)"},
        {"--samples", CLI_INT, &o.samples, "32", "SmoothGrad: noisy samples"},
        {"--sigma", CLI_FLOAT, &o.sigma, "0.15", "SmoothGrad: noise std in [0,1] pixel units"},
        {"--ig-steps", CLI_INT, &o.ig_steps, "64", "IG: midpoint Riemann steps"},
        {"--baseline", CLI_STRING, &o.baseline, "black", "IG: black, blur or an image file"},
        {"--blur", CLI_FLOAT, &o.blur, "0", "std in pixels of the blurred baseline and of insertion's start (0: side/10)"},
        {"--window", CLI_INT, &o.window, "0", "occlusion: window side in pixels (0: side/7, 4 at 28x28)"},
        {"--stride", CLI_INT, &o.stride, "0", "occlusion: stride in pixels (0: window/2)"},
        {"--occlusion-value", CLI_FLOAT, &o.occ_value, "0", "occlusion: value of the occluded pixels"},
        {"--colormap", CLI_STRING, &o.colormap, "auto", "auto (viridis, signed maps blue-white-red), viridis, jet, diverging"},
        {"--alpha", CLI_FLOAT, &o.alpha, "0.5", "overlay: weight of the map's colour"},
        {"--clip", CLI_FLOAT, &o.clip, "99", "display scale: this percentile of |map| (100: the max)"},
        {"--shared-scale", CLI_BOOL, &o.shared_scale, "false", "one display scale for all images of a method (and per row of an adversarial panel)"},
        {"--view", CLI_INT, &o.view, "112", "magnify images by an integer factor to at least this many pixels"},
        {"--out", CLI_STRING, &o.out, NULL, "output directory (created if missing)"},
        {"--sanity", CLI_BOOL, &o.sanity, "false", "randomization test and deletion/insertion AUC vs a random map"},
        {"--deletion-steps", CLI_INT, &o.del_steps, "20", "--sanity: points on the deletion/insertion curves"},
        {"--adversarial", CLI_BOOL, &o.adversarial, "false", "also explain adversarial examples (panels adv_*.png)"},
        {"--attack", CLI_STRING, &o.attack, "pgd", "--adversarial: fgsm, fgsm-rs, pgd, apgd-ce"},
        {"--eps", CLI_STRING, &o.eps, "0.1", "--adversarial: L-inf radius in [0,1] pixels (X or K/255)"},
        {"--attack-steps", CLI_INT, &o.attack_steps, "10", "--adversarial: PGD/APGD iterations"},
        {"--compare-model", CLI_STRING, &o.compare, NULL, "--adversarial: a second (e.g. robust) model, one row each"},
        {"--chunk", CLI_INT, &o.chunk, "32", "inputs per forward/backward pass"},
        {"--seed", CLI_INT, &o.seed, "0", "SmoothGrad noise, attacks, random maps"},
        {"--threads", CLI_INT, &o.threads, "2", "CPU threads"},
        {"--json", CLI_BOOL, &json, "false", "a run line and one summary row (kind explain, docs/json.md) on stdout; "
         "the human lines go to stderr"},
    };
    int p = cli_parse("explain", "Explain a model's predictions: attribution maps as PNG panels and raw floats.", flags,
                      (int)(sizeof flags / sizeof flags[0]), argc, argv);
    if (p) return p > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    setup su = {.ec = rp_explain_defaults()};
    int cm = !strcmp(o.colormap, "auto") ? -2 : rp_colormap_from_name(o.colormap), kind = rp_attack_kind_from_name(o.attack);
    const char *bad = !o.model || !o.out ? "give --model FILE and --out DIR"
                    : parse_target(o.target, &su.tr) ? "--target must be pred, true or a class index"
                    : cm == -1 ? "--colormap must be auto, viridis, jet or diverging"
                    : o.limit < 1 || o.start < 0 || o.chunk < 1 || o.threads < 1 || o.view < 1 || o.del_steps < 1
                        ? "--limit, --chunk, --threads, --view, --deletion-steps must be >= 1, --start >= 0"
                    : !(o.alpha >= 0 && o.alpha <= 1) || !(o.clip > 0 && o.clip <= 100) ? "--alpha in [0,1], --clip in (0,100]"
                    : o.compare && !o.adversarial ? "--compare-model needs --adversarial"
                    : o.adversarial && kind != RP_ATTACK_FGSM && kind != RP_ATTACK_FGSM_RS && kind != RP_ATTACK_PGD &&
                      kind != RP_ATTACK_APGD_CE ? "--attack must be fgsm, fgsm-rs, pgd or apgd-ce" : NULL;
    if (bad) {
        fprintf(stderr, "rampart explain: %s\n", bad);
        return CLI_EXIT_USAGE;
    }
    if ((su.n_ms = parse_methods(&o.methods, su.ms, &su.all)) <= 0) return CLI_EXIT_USAGE;
    rp_ctx *ctx = rp_ctx_create(o.threads);
    rp_set_threads(o.threads);
    float eps = 0.0f, *custom = NULL;
    int rc = CLI_EXIT_USAGE;
    if (o.adversarial && rp_parse_eps(ctx, o.eps, &eps) != RP_OK) {
        fprintf(stderr, "rampart explain: %s\n", rp_ctx_error(ctx));
        goto out;
    }
    rp_explain_config *ec = &su.ec;
    ec->chunk = o.chunk, ec->seed = (uint64_t)o.seed, ec->sg_sigma = o.sigma, ec->sg_samples = o.samples;
    ec->ig_steps = o.ig_steps, ec->blur_sigma = o.blur, ec->layer = o.layer, ec->cam_relu = o.relu;
    ec->counterfactual = o.counterfactual, ec->occ_window = o.window, ec->occ_stride = o.stride, ec->occ_value = o.occ_value;
    if (!strcmp(o.baseline, "blur")) ec->ig_baseline = RP_BASELINE_BLUR;
    else if (strcmp(o.baseline, "black")) { /* an image file, fitted to the model's input */
        rp_model *m = NULL;
        rc = CLI_EXIT_FAIL;
        if (rp_model_load(ctx, o.model, 1, &m) == RP_OK) {
            const rp_model_config *mc = rp_model_get_config(m);
            custom = malloc((size_t)mc->H * mc->W * mc->C * sizeof(float));
            if (custom && rp_image_load(ctx, o.baseline, mc->H, mc->W, mc->C, custom) == RP_OK) rc = CLI_EXIT_OK;
        }
        rp_model_destroy(m);
        if (rc != CLI_EXIT_OK) {
            rc = cli_fail("explain", ctx);
            goto out;
        }
        ec->ig_baseline = RP_BASELINE_CUSTOM, ec->ig_custom = custom;
    }
    su.rd = (render){.cm_unsigned = cm >= 0 ? (rp_colormap)cm : RP_CMAP_VIRIDIS,
                     .cm_signed = cm >= 0 ? (rp_colormap)cm : RP_CMAP_DIVERGING, .alpha = o.alpha, .clip = o.clip};
    if (o.adversarial) {
        su.ac = rp_attack_defaults((rp_attack_kind)kind, eps);
        su.ac.seed = (uint64_t)o.seed;
        if (kind == RP_ATTACK_PGD || kind == RP_ATTACK_APGD_CE) su.ac.steps = o.attack_steps;
    }
    rc = json ? run_json(ctx, &o, &su, argc, argv) : run(ctx, &o, &su);
out:
    free(custom);
    rp_ctx_destroy(ctx);
    return rc;
}
