/* rampart attack: attack the first N test images of a data set and write what came out:
 * DIR/adversarial.safetensors (x, x_adv, y, pred_clean, pred_adv) and DIR/grid.png (rows:
 * original | perturbation magnified to the full range | adversarial; labels true/predicted). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "cli_dist.h"
#include "jsonl.h"

typedef struct attack_opts {
    const char *model, *data, *attack, *eps, *norm, *out, *precision;
    int limit, steps, restarts, queries, seed, threads;
    bool json;
    jsonl_run run;
} attack_opts;

typedef struct outcome {
    int n, H, W, C, K;
    float *x, *x_adv;             /* (n, H, W, C) */
    float *y, *pred, *pred_adv;   /* (n), class indices as floats (written as I64) */
    float max_norm;
    bool in_ball;
    long passes;
} outcome;

static int argmax(const float *v, int K)
{
    int b = 0;
    for (int k = 1; k < K; k++)
        if (v[k] > v[b]) b = k;
    return b;
}

static const char *norm_name(rp_norm n) { return n == RP_NORM_LINF ? "linf" : "l2"; }

/* Attack in batches; fills o. */
static rp_status attack_all(rp_ctx *ctx, rp_model *m, const rp_dataset *ds, const rp_attack_config *cfg, outcome *o,
                            rp_attack_config *resolved)
{
    size_t X = (size_t)o->H * o->W * o->C;
    int batch = o->n < 256 ? o->n : 256;
    rp_attack *a = NULL;
    int *idx = malloc((size_t)batch * sizeof *idx);
    int32_t *y = malloc((size_t)batch * sizeof *y);
    if (!idx || !y) {
        free(idx), free(y);
        return rp_fail(ctx, RP_ERR_NOMEM, "attack: out of memory");
    }
    rp_status s = rp_model_reserve(m, batch);
    if (s == RP_OK) s = rp_attack_create(ctx, m, cfg, batch, &a);
    if (s == RP_OK) *resolved = *rp_attack_get_config(a);
    o->in_ball = true;
    int first, count; /* under mpirun: this rank's batches; the example numbers key the random draws */
    cli_shard(o->n, batch, &first, &count);
    if (s == RP_OK) rp_attack_seek(a, first);
    for (int start = first; start < first + count && s == RP_OK; start += batch) {
        int B = first + count - start < batch ? first + count - start : batch;
        for (int i = 0; i < B; i++) idx[i] = start + i;
        float *x = o->x + (size_t)start * X, *xa = o->x_adv + (size_t)start * X;
        rp_dataset_gather(ds, idx, B, x, y);
        const float *logits = rp_model_forward(m, x, B, false);
        for (int b = 0; b < B; b++) {
            o->y[start + b] = (float)y[b];
            o->pred[start + b] = (float)argmax(logits + (size_t)b * o->K, o->K);
        }
        long passes = 0;
        s = rp_attack_run(a, x, y, NULL, B, xa, NULL, &passes);
        if (s != RP_OK) break;
        o->passes += passes;
        float mx = 0.0f;
        o->in_ball = rp_attack_check_ball(x, xa, B, X, cfg->norm, cfg->eps, cfg->clip_min, cfg->clip_max, &mx) &&
                     o->in_ball;
        if (mx > o->max_norm) o->max_norm = mx;
        logits = rp_model_forward(m, xa, B, false);
        for (int b = 0; b < B; b++) o->pred_adv[start + b] = (float)argmax(logits + (size_t)b * o->K, o->K);
    }
    rp_attack_destroy(a);
    free(idx), free(y);
    return s;
}

/* Under mpirun: every rank's examples and checks, so rank 0 holds what one process would. */
static int gather_outcome(outcome *o)
{
    if (cli_ranks() == 1) return 0;
    int batch = o->n < 256 ? o->n : 256, N = cli_ranks();
    size_t X = (size_t)o->H * o->W * o->C;
    int rc = cli_gather_rows(o->x, X * sizeof(float), o->n, batch);
    if (!rc) rc = cli_gather_rows(o->x_adv, X * sizeof(float), o->n, batch);
    for (int k = 0; k < 3 && !rc; k++) rc = cli_gather_rows(o->y + (size_t)k * o->n, sizeof(float), o->n, batch);
    double mine[3] = {o->in_ball, o->max_norm, (double)o->passes}, *all = malloc((size_t)N * sizeof mine);
    if (!rc && (!all || rp_dist_allgather(cli_dist(), mine, sizeof mine, all, NULL) != RP_OK)) {
        fprintf(stderr, "rampart attack: rank %d: cannot gather the results\n", cli_rank());
        rc = CLI_EXIT_FAIL;
    }
    for (int k = 0; !rc && k < N; k++) {
        o->in_ball = k ? o->in_ball && all[3 * k] != 0 : all[0] != 0;
        o->max_norm = k && o->max_norm > (float)all[3 * k + 1] ? o->max_norm : (float)all[3 * k + 1];
        o->passes = (k ? o->passes : 0) + (long)all[3 * k + 2];
    }
    free(all);
    return rc;
}

static rp_status write_tensors(rp_ctx *ctx, const char *path, const outcome *o, const attack_opts *ao,
                               const rp_attack_config *r)
{
    rp_tensor_entry t[5] = {
        {"x", RP_TENSOR_F32, 4, {o->n, o->H, o->W, o->C}, o->x},
        {"x_adv", RP_TENSOR_F32, 4, {o->n, o->H, o->W, o->C}, o->x_adv},
        {"y", RP_TENSOR_I64, 1, {o->n}, o->y},
        {"pred_clean", RP_TENSOR_I64, 1, {o->n}, o->pred},
        {"pred_adv", RP_TENSOR_I64, 1, {o->n}, o->pred_adv},
    };
    char eps[32], steps[16], restarts[16], seed[24], step[32], maxn[32];
    snprintf(eps, sizeof eps, "%.9g", (double)r->eps);
    snprintf(steps, sizeof steps, "%d", r->steps);
    snprintf(restarts, sizeof restarts, "%d", r->restarts);
    snprintf(seed, sizeof seed, "%d", ao->seed);
    snprintf(step, sizeof step, "%.9g", (double)r->step_size);
    snprintf(maxn, sizeof maxn, "%.9g", (double)o->max_norm);
    const char *keys[] = {"model", "data", "attack", "eps", "norm", "steps", "restarts", "step_size", "seed",
                          "max_norm", "layout"};
    const char *vals[] = {ao->model, ao->data, rp_attack_name(r->kind), eps, norm_name(r->norm), steps, restarts, step,
                          seed, maxn, "NHWC, pixels in [0,1]"};
    return rp_tensors_write(ctx, path, t, 5, keys, vals, (int)(sizeof keys / sizeof keys[0]));
}

/* Grid: bands of up to 8 columns, each band three rows (original, perturbation, adversarial). */
static rp_status write_grid(rp_ctx *ctx, const char *path, const outcome *o, const rp_dataset *ds, const char *title)
{
    enum { COLS = 8, GAP = 6, MAX_SHOW = 64 };
    int show = o->n < MAX_SHOW ? o->n : MAX_SHOW, cols = show < COLS ? show : COLS, bands = (show + COLS - 1) / COLS;
    int side = o->H > o->W ? o->H : o->W, s = side >= 84 ? 1 : 84 / side;
    int cw = s * o->W, ch = s * o->H;
    char widest[48];
    snprintf(widest, sizeof widest, "T:%d P:%d", o->K - 1, o->K - 1);
    int ts = rp_text_width(widest, 2) <= cw ? 2 : 1, strip = rp_text_height(ts) + 4;
    int left = rp_text_width("DELTA", 2) + 2 * GAP, top = 2 * (rp_text_height(2) + 6) + GAP;
    int band_h = 3 * (ch + strip) + 2 * GAP;
    int Wc = left + cols * (cw + GAP) + GAP;
    if (Wc < rp_text_width(title, 2) + 2 * GAP) Wc = rp_text_width(title, 2) + 2 * GAP;
    /* legend: "0 T-SHIRT/TOP" ... wrapped to the width */
    int legend_lines = 0, lx = GAP;
    for (int k = 0; k < o->K && rp_dataset_class_name(ds, 0); k++) {
        char item[80];
        snprintf(item, sizeof item, "%d %s", k, rp_dataset_class_name(ds, k) ? rp_dataset_class_name(ds, k) : "");
        int w = rp_text_width(item, ts) + 4 * ts * 2;
        if (legend_lines == 0 || lx + w > Wc) legend_lines++, lx = GAP;
        lx += w;
    }
    int Hc = top + bands * (band_h + GAP) + legend_lines * (rp_text_height(ts) + 4) + GAP;
    rp_figure *fig = NULL;
    rp_status st = rp_figure_create(ctx, Hc, Wc, 24, &fig);
    if (st != RP_OK) return st;
    size_t X = (size_t)o->H * o->W * o->C;
    double maxabs = 0.0;
    for (size_t i = 0; i < (size_t)show * X; i++) maxabs = fmax(maxabs, fabs((double)o->x_adv[i] - o->x[i]));
    char line[96];
    rp_figure_text(fig, GAP, GAP, title, 2, 255, 255, 255);
    snprintf(line, sizeof line, "DELTA MAGNIFIED X%.3g (GRAY = 0, LARGEST CHANGE %.3g)", maxabs > 0 ? 0.5 / maxabs : 1.0, maxabs);
    rp_figure_text(fig, GAP + rp_text_height(2) + 6, GAP, line, 2, 200, 200, 200);
    float *delta = malloc(X * sizeof *delta);
    if (!delta) {
        rp_figure_destroy(fig);
        return rp_fail(ctx, RP_ERR_NOMEM, "attack: out of memory");
    }
    static const char *const ROWS[3] = {"ORIG", "DELTA", "ADV"};
    for (int b = 0; b < bands; b++) {
        int y0 = top + b * (band_h + GAP);
        for (int r = 0; r < 3; r++)
            rp_figure_text(fig, y0 + r * (ch + strip + GAP) + ch / 2 - 5, GAP, ROWS[r], 2, 255, 255, 255);
        for (int c = 0; c < cols && b * COLS + c < show; c++) {
            int i = b * COLS + c, x0 = left + c * (cw + GAP);
            const float *xi = o->x + (size_t)i * X, *ai = o->x_adv + (size_t)i * X;
            for (size_t k = 0; k < X; k++) delta[k] = maxabs > 0 ? (float)(0.5 + 0.5 * (ai[k] - xi[k]) / maxabs) : 0.5f;
            const float *imgs[3] = {xi, delta, ai};
            for (int r = 0; r < 3; r++) {
                int yy = y0 + r * (ch + strip + GAP);
                rp_figure_image(fig, yy, x0, imgs[r], o->H, o->W, o->C, s);
                if (r == 1) continue;
                int yl = (int)o->y[i], p = (int)(r == 0 ? o->pred[i] : o->pred_adv[i]);
                if (r == 0) snprintf(line, sizeof line, "T:%d P:%d", yl, p);
                else snprintf(line, sizeof line, "P:%d", p);
                bool ok = p == yl;
                rp_figure_text(fig, yy + ch + 2, x0, line, ts, ok ? 90 : 255, ok ? 220 : 80, ok ? 90 : 80);
            }
        }
    }
    free(delta);
    int ly = top + bands * (band_h + GAP), lxx = GAP;
    for (int k = 0; k < o->K && rp_dataset_class_name(ds, 0); k++) {
        char item[80];
        snprintf(item, sizeof item, "%d %s", k, rp_dataset_class_name(ds, k) ? rp_dataset_class_name(ds, k) : "");
        int w = rp_text_width(item, ts) + 4 * ts * 2;
        if (k > 0 && lxx + w > Wc) ly += rp_text_height(ts) + 4, lxx = GAP;
        rp_figure_text(fig, ly, lxx, item, ts, 200, 200, 200);
        lxx += w;
    }
    st = rp_figure_write_png(fig, path);
    rp_figure_destroy(fig);
    return st;
}

/* --json: one row of kind "attack" (docs/json.md). */
static void json_summary(const attack_opts *ao, const rp_dataset *ds, const outcome *o, const rp_attack_config *r)
{
    cJSON *j = jsonl_row(&ao->run, "attack");
    char sha[65];
    jsonl_add_model(j, ao->model, jsonl_file_sha256(ao->model, sha) ? sha : NULL);
    jsonl_testset t;
    if (jsonl_testset_of(&t, ds, ao->data, "test", o->n)) jsonl_add_testset(j, &t, NULL);
    jsonl_testset_free(&t);
    cJSON_AddStringToObject(j, "attack", rp_attack_name(r->kind));
    if (isinf(r->eps)) cJSON_AddStringToObject(j, "eps", "inf");
    else cJSON_AddNumberToObject(j, "eps", r->eps), cJSON_AddNumberToObject(j, "eps_255", r->eps * 255.0);
    cJSON_AddStringToObject(j, "norm", norm_name(r->norm));
    cJSON_AddNumberToObject(j, "steps", r->steps);
    cJSON_AddNumberToObject(j, "restarts", r->restarts);
    cJSON_AddNumberToObject(j, "seed", ao->seed);
    cJSON_AddNumberToObject(j, "n", o->n);
    unsigned char *ok = malloc((size_t)o->n * 2);
    int clean = 0, adv = 0;
    for (int i = 0; ok && i < o->n; i++) {
        ok[i] = o->pred[i] == o->y[i];
        ok[o->n + i] = ok[i] && o->pred_adv[i] == o->y[i];
        clean += ok[i], adv += ok[o->n + i];
    }
    cJSON_AddNumberToObject(j, "clean_accuracy", o->n ? (double)clean / o->n : 0.0);
    cJSON_AddNumberToObject(j, "accuracy", o->n ? (double)adv / o->n : 0.0);
    if (ok) jsonl_add_bitmap(j, "clean_correct_b64", ok, o->n), jsonl_add_bitmap(j, "correct_b64", ok + o->n, o->n);
    free(ok);
    cJSON_AddNumberToObject(j, "max_norm", o->max_norm);
    cJSON_AddBoolToObject(j, "in_ball", o->in_ball);
    cJSON_AddStringToObject(j, "out", ao->out);
    cJSON *files = cJSON_AddArrayToObject(j, "files");
    cJSON_AddItemToArray(files, cJSON_CreateString("grid.png"));
    cJSON_AddItemToArray(files, cJSON_CreateString("adversarial.safetensors"));
    jsonl_emit(j);
}

static int run(const attack_opts *ao, rp_ctx *ctx, const rp_attack_config *cfg)
{
    rp_dataset *ds = NULL;
    rp_model *m = NULL;
    outcome o = {0};
    int rc = CLI_EXIT_FAIL;
    if (rp_dataset_open(ctx, ao->data, false, &ds) != RP_OK || rp_model_load(ctx, ao->model, 256, &m) != RP_OK) {
        rc = cli_fail("attack", ctx);
        goto done;
    }
    rp_dataset_shape(ds, &o.H, &o.W, &o.C);
    if (rp_check_model_fits(ctx, m, o.H, o.W, o.C, rp_dataset_num_classes(ds)) != RP_OK) {
        fprintf(stderr, "rampart attack: %s: %s\n", ao->model, rp_ctx_error(ctx));
        goto done;
    }
    o.K = rp_model_get_config(m)->num_classes;
    o.n = ao->limit < rp_dataset_size(ds) ? ao->limit : rp_dataset_size(ds);
    size_t X = (size_t)o.H * o.W * o.C;
    o.x = malloc((size_t)o.n * X * sizeof *o.x);
    o.x_adv = malloc((size_t)o.n * X * sizeof *o.x_adv);
    o.y = malloc((size_t)o.n * 3 * sizeof *o.y);
    if (!o.x || !o.x_adv || !o.y) {
        fprintf(stderr, "rampart attack: out of memory\n");
        goto done;
    }
    o.pred = o.y + o.n, o.pred_adv = o.y + 2 * o.n;
    rp_attack_config r = *cfg;
    if (attack_all(ctx, m, ds, cfg, &o, &r) != RP_OK) {
        rc = cli_fail("attack", ctx);
        goto done;
    }
    if ((rc = gather_outcome(&o)) != 0) goto done;
    rc = CLI_EXIT_FAIL;
    if (!cli_main_rank()) { /* rank 0 writes the files and the summary */
        rc = o.in_ball ? CLI_EXIT_OK : CLI_EXIT_FAIL;
        goto done;
    }
    if (mkdir(ao->out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "rampart attack: cannot create %s: %s\n", ao->out, strerror(errno));
        goto done;
    }
    char st_path[4096], png_path[4096], e[48], title[160];
    snprintf(st_path, sizeof st_path, "%s/adversarial.safetensors", ao->out);
    snprintf(png_path, sizeof png_path, "%s/grid.png", ao->out);
    int clean = 0, adv = 0;
    for (int i = 0; i < o.n; i++) clean += o.pred[i] == o.y[i], adv += o.pred_adv[i] == o.y[i];
    if (rp_eps_text(ctx, r.eps, e, sizeof e) != RP_OK) {
        rc = cli_fail("attack", ctx);
        goto done;
    }
    snprintf(title, sizeof title, "%s %s EPS %s  CLEAN %d/%d  ADV %d/%d", rp_attack_name(r.kind), norm_name(r.norm), e,
             clean, o.n, adv, o.n);
    if (write_tensors(ctx, st_path, &o, ao, &r) != RP_OK || write_grid(ctx, png_path, &o, ds, title) != RP_OK) {
        rc = cli_fail("attack", ctx);
        goto done;
    }
    FILE *say = ao->json ? stderr : stdout;
    if (ao->json) json_summary(ao, ds, &o, &r);
    fprintf(say, "%s %s eps %s, %d steps x %d restarts, on %d images of %s: clean %d/%d, adversarial %d/%d correct; "
           "largest perturbation %.6g (%s); %ld passes\n",
           rp_attack_name(r.kind), norm_name(r.norm), e, r.steps, r.restarts, o.n, ao->data, clean, o.n, adv, o.n,
           (double)o.max_norm, o.in_ball ? "inside the ball" : "OUTSIDE THE BALL", o.passes);
    fprintf(say, "wrote %s\nwrote %s\n", st_path, png_path);
    rc = o.in_ball ? CLI_EXIT_OK : CLI_EXIT_FAIL;
done:
    free(o.x), free(o.x_adv), free(o.y);
    rp_model_destroy(m);
    rp_dataset_destroy(ds);
    return rc;
}

int cmd_attack(int argc, char **argv)
{
    attack_opts ao = {0};
    cli_flag flags[] = {
        {"--model", CLI_STRING, &ao.model, NULL, "checkpoint to attack"},
        {"--data", CLI_STRING, &ao.data, "fashion-mnist", "data set (its test split)"},
        {"--attack", CLI_STRING, &ao.attack, "pgd", "fgsm, fgsm-rs, pgd, apgd-ce, apgd-t, square, noise, worst"},
        {"--eps", CLI_STRING, &ao.eps, "0.1", "radius in [0,1] pixels: X, K/255 or inf"},
        {"--norm", CLI_STRING, &ao.norm, "linf", "linf or l2"},
        {"--steps", CLI_INT, &ao.steps, "20", "PGD/APGD iterations"},
        {"--restarts", CLI_INT, &ao.restarts, "1", "restarts"},
        {"--queries", CLI_INT, &ao.queries, "1000", "Square's queries"},
        {"--limit", CLI_INT, &ao.limit, "16", "attack the first N test images"},
        {"--seed", CLI_INT, &ao.seed, "0", "attack seed"},
        {"--threads", CLI_INT, &ao.threads, "2", "CPU threads"},
        CLI_PRECISION_FLAG(&ao.precision),
        {"--out", CLI_STRING, &ao.out, NULL, "output directory (created if missing)"},
        {"--json", CLI_BOOL, &ao.json, "false", "a run line and one summary row (kind attack, docs/json.md) on stdout"},
    };
    int p = cli_parse("attack", "Attack test images; write the adversarial examples and a PNG grid.", flags,
                      (int)(sizeof flags / sizeof flags[0]), argc, argv);
    if (p) return p > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if (!ao.model || !ao.out) {
        fprintf(stderr, "rampart attack: give --model FILE and --out DIR\n");
        return CLI_EXIT_USAGE;
    }
    int kind = rp_attack_kind_from_name(ao.attack);
    rp_norm norm = !strcmp(ao.norm, "linf") ? RP_NORM_LINF : RP_NORM_L2;
    float eps = 0.0f;
    rp_ctx *ctx = rp_ctx_create(ao.threads > 0 ? ao.threads : 1);
    rp_status eps_ok = rp_parse_eps(ctx, ao.eps, &eps);
    if (kind < 0 || (strcmp(ao.norm, "linf") && strcmp(ao.norm, "l2"))) {
        if (kind < 0)
            fprintf(stderr, "rampart attack: unknown attack '%s' (one of: fgsm, fgsm-rs, pgd, apgd-ce, apgd-t, "
                            "square, noise, worst)\n", ao.attack);
        else fprintf(stderr, "rampart attack: unknown norm '%s' (one of: linf, l2)\n", ao.norm);
        rp_ctx_destroy(ctx);
        return CLI_EXIT_USAGE;
    }
    if (eps_ok != RP_OK) {
        fprintf(stderr, "rampart attack: %s\n", rp_ctx_error(ctx));
        rp_ctx_destroy(ctx);
        return CLI_EXIT_USAGE;
    }
    if (ao.limit < 1 || ao.steps < 1 || ao.restarts < 1 || ao.queries < 1 || ao.threads < 1) {
        fprintf(stderr, "rampart attack: --limit, --steps, --restarts, --queries and --threads must be >= 1\n");
        rp_ctx_destroy(ctx);
        return CLI_EXIT_USAGE;
    }
    rp_attack_config cfg = rp_attack_defaults((rp_attack_kind)kind, eps);
    cfg.norm = norm;
    cfg.seed = (uint64_t)ao.seed;
    cfg.restarts = ao.restarts;
    if (kind == RP_ATTACK_PGD || kind == RP_ATTACK_APGD_CE || kind == RP_ATTACK_APGD_T || kind == RP_ATTACK_WORST)
        cfg.steps = ao.steps;
    if (kind == RP_ATTACK_SQUARE) cfg.steps = ao.queries;
    if (kind == RP_ATTACK_WORST) cfg.square_queries = ao.queries;
    int prc = cli_set_precision("attack", ao.precision);
    if (prc) {
        rp_ctx_destroy(ctx);
        return prc;
    }
    rp_set_threads(ao.threads);
    jsonl_run_init(&ao.run, "attack", argc, argv);
    int rc = run(&ao, ctx, &cfg);
    if (ao.json && rc == CLI_EXIT_OK) jsonl_emit_run(&ao.run, ao.threads, ao.seed);
    rp_ctx_destroy(ctx);
    return rc;
}
