/* rampart eval: one table, rows = conditions (clean; each noise at each severity; each
 * corruption at each severity; each attack at each eps), columns = models; the evaluation
 * checklist's warnings under it; the corruption summary (eval_corruptions.c). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_dist.h"
#include "cmd_report.h"
#include "eval_corruptions.h"
#include "jsonl.h"
#include "rampart.h"

typedef struct eval_opts {
    cli_list models, attacks, eps, noises, severities;
    const char *data, *norm, *source, *corruptions, *reference, *precision;
    cli_arch arch; /* bare state_dicts */
    int limit, batch, threads, steps, restarts, queries, seed;
    bool json, adapt_bn;
    const char *report; /* --report FILE.html */
    jsonl_run run;      /* --json rows' run id */
} eval_opts;

/* What every JSON row of one model says about its inputs (docs/json.md). */
typedef struct eval_ident {
    const char *sha[CLI_MAX_LIST + 1]; /* model content hashes, by column */
    const jsonl_testset *test;
    const unsigned char *correct;      /* (conds, M, n) per-example correctness */
    const rp_dataset *ds;              /* class names */
    int M, n;
} eval_ident;

#define MAX_CONDS 256

static const rp_attack_kind DEFAULT_ATTACKS[] = {RP_ATTACK_FGSM,   RP_ATTACK_PGD,   RP_ATTACK_APGD_CE, RP_ATTACK_APGD_T,
                                                 RP_ATTACK_SQUARE, RP_ATTACK_NOISE, RP_ATTACK_WORST};
static const char *const DEFAULT_NOISES[] = {"gaussian", "shot", "impulse"};

static int parse_eps(const char *s, float *out)
{
    rp_ctx *ctx = rp_ctx_create(1);
    int rc = rp_parse_eps(ctx, s, out) == RP_OK ? 0 : -1;
    if (rc) fprintf(stderr, "rampart eval: %s\n", rp_ctx_error(ctx));
    rp_ctx_destroy(ctx);
    return rc;
}

static void attack_list(void)
{
    fprintf(stderr, " (one of:");
    for (int k = 0; k <= RP_ATTACK_WORST; k++) fprintf(stderr, " %s", rp_attack_name((rp_attack_kind)k));
    fprintf(stderr, ", or none)\n");
}

/* The table's rows from the flags; returns the count or -1 after printing the problem. */
static int build_conditions(const eval_opts *o, int H, int W, rp_eval_condition *conds)
{
    int n = 0;
    conds[n++] = (rp_eval_condition){.kind = RP_EVAL_CLEAN};
    bool defaults = o->attacks.n == 0 && o->noises.n == 0 && !o->corruptions;
    rp_norm norm;
    if (!strcmp(o->norm, "linf")) norm = RP_NORM_LINF;
    else if (!strcmp(o->norm, "l2")) norm = RP_NORM_L2;
    else {
        fprintf(stderr, "rampart eval: unknown norm '%s' (one of: linf, l2)\n", o->norm);
        return -1;
    }
    /* noise rows */
    const char *noises[8]; /* the noises' own names (rp_eval_noise_strength) */
    int n_noise = 0;
    if (defaults)
        for (size_t i = 0; i < sizeof DEFAULT_NOISES / sizeof DEFAULT_NOISES[0]; i++) noises[n_noise++] = DEFAULT_NOISES[i];
    for (int i = 0; i < o->noises.n; i++) {
        if (!strcmp(o->noises.items[i], "none")) continue;
        float strength;
        if (n_noise == 8 ||
            rp_eval_noise_strength(NULL, o->noises.items[i], 1, H, W, &strength, &noises[n_noise]) != RP_OK) {
            fprintf(stderr, "rampart eval: unknown noise '%s' (one of: gaussian, shot, impulse, speckle, or none)\n",
                    o->noises.items[i]);
            return -1;
        }
        n_noise++;
    }
    int sev[5] = {1, 3, 5}, n_sev = 3;
    if (o->severities.n && n_noise > 0) { /* the corruptions' syntax: "1,3", "1-5" */
        char spec[256] = "";
        for (int i = 0; i < o->severities.n; i++)
            snprintf(spec + strlen(spec), sizeof spec - strlen(spec), "%s%s", i ? "," : "", o->severities.items[i]);
        bool on[6];
        rp_ctx *pctx = rp_ctx_create(1);
        if (rp_corruption_parse_severities(pctx, spec, on) != RP_OK) {
            fprintf(stderr, "rampart eval: bad severity '%s' (1..5)\n", spec);
            rp_ctx_destroy(pctx);
            return -1;
        }
        rp_ctx_destroy(pctx);
        n_sev = 0;
        for (int s = 1; s <= 5; s++)
            if (on[s]) sev[n_sev++] = s;
    }
    for (int k = 0; k < n_noise; k++)
        for (int s = 0; s < n_sev && n < MAX_CONDS; s++) {
            conds[n] = (rp_eval_condition){.kind = RP_EVAL_NOISE, .noise = noises[k], .severity = sev[s]};
            if (rp_eval_noise_strength(NULL, noises[k], sev[s], H, W, &conds[n].strength, NULL) != RP_OK) return -1;
            n++;
        }
    if (o->corruptions && (n = eval_corruption_conditions(o->corruptions, &o->severities, conds, n, MAX_CONDS)) < 0)
        return -1;
    /* attack rows, grouped by eps */
    rp_attack_kind kinds[16];
    int n_att = 0;
    if (defaults)
        for (size_t i = 0; i < sizeof DEFAULT_ATTACKS / sizeof DEFAULT_ATTACKS[0]; i++) kinds[n_att++] = DEFAULT_ATTACKS[i];
    for (int i = 0; i < o->attacks.n; i++) {
        if (!strcmp(o->attacks.items[i], "none")) continue;
        int k = rp_attack_kind_from_name(o->attacks.items[i]);
        if (k < 0) {
            fprintf(stderr, "rampart eval: unknown attack '%s'", o->attacks.items[i]);
            attack_list();
            return -1;
        }
        kinds[n_att++] = (rp_attack_kind)k;
    }
    float eps[CLI_MAX_LIST];
    for (int i = 0; i < o->eps.n; i++)
        if (parse_eps(o->eps.items[i], &eps[i]) != 0) return -1;
    for (int e = 0; e < o->eps.n; e++)
        for (int a = 0; a < n_att && n < MAX_CONDS; a++) {
            rp_attack_config c = rp_attack_defaults(kinds[a], eps[e]);
            c.norm = norm;
            c.seed = (uint64_t)o->seed;
            c.restarts = o->restarts;
            if (kinds[a] == RP_ATTACK_PGD || kinds[a] == RP_ATTACK_APGD_CE || kinds[a] == RP_ATTACK_APGD_T ||
                kinds[a] == RP_ATTACK_WORST)
                c.steps = o->steps;
            if (kinds[a] == RP_ATTACK_SQUARE) c.steps = o->queries;
            if (kinds[a] == RP_ATTACK_WORST) c.square_queries = o->queries;
            conds[n++] = (rp_eval_condition){.kind = RP_EVAL_ATTACK, .attack = c};
        }
    return n;
}

static const char *norm_name(rp_norm n) { return n == RP_NORM_LINF ? "linf" : n == RP_NORM_L2 ? "l2" : "l1"; }

/* "pgd-20 linf eps 0.1 (25.5/255)", "gaussian sev 3 (0.08)", "clean". */
static void row_label(const rp_eval_condition *c, char *buf, size_t size)
{
    char e[48] = "";
    if (c->kind == RP_EVAL_CLEAN) snprintf(buf, size, "clean");
    else if (c->kind == RP_EVAL_NOISE) snprintf(buf, size, "%s sev %d (%g)", c->noise, c->severity, (double)c->strength);
    else if (c->kind == RP_EVAL_CORRUPTION) eval_corruption_label(c, buf, size);
    else {
        const rp_attack_config *a = &c->attack;
        char name[48];
        int k = snprintf(name, sizeof name, "%s", rp_attack_name(a->kind));
        if (a->kind == RP_ATTACK_PGD || a->kind == RP_ATTACK_APGD_CE || a->kind == RP_ATTACK_APGD_T)
            k += snprintf(name + k, sizeof name - (size_t)k, "-%d", a->steps);
        if (a->restarts > 1) snprintf(name + k, sizeof name - (size_t)k, "x%d", a->restarts);
        rp_eps_text(NULL, a->eps, e, sizeof e); /* 32 bytes always suffice */
        snprintf(buf, size, "%s %s eps %s", name, norm_name(a->norm), e);
    }
}

static void model_header(const char *path, char *buf, size_t size)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(buf, size, "%s", base);
    char *dot = strstr(buf, ".safetensors");
    if (dot) *dot = '\0';
}

/* The float as the shortest decimal that reads back to it: 0.05, not 0.05000000074505806. */
static double dec(float v)
{
    char b[32];
    snprintf(b, sizeof b, "%.9g", (double)v);
    for (int p = 6; p <= 9; p++) {
        snprintf(b, sizeof b, "%.*g", p, (double)v);
        if (strtof(b, NULL) == v) break;
    }
    return strtod(b, NULL);
}

static void json_row(const eval_opts *o, const eval_ident *id, int ci, int m, const char *model,
                     const rp_eval_condition *c, const rp_eval_result *r, const rp_attack_config *resolved)
{
    cJSON *j = jsonl_row(&o->run, "eval");
    jsonl_add_model(j, model, id->sha[m]);
    cJSON_AddStringToObject(j, "condition", c->kind == RP_EVAL_CLEAN        ? "clean"
                                            : c->kind == RP_EVAL_NOISE      ? c->noise
                                            : c->kind == RP_EVAL_CORRUPTION ? "corruption"
                                                                            : rp_attack_name(c->attack.kind));
    if (c->kind == RP_EVAL_CORRUPTION) eval_corruption_json_fields(j, c, r);
    if (c->kind == RP_EVAL_NOISE) {
        cJSON_AddNumberToObject(j, "severity", c->severity);
        cJSON_AddNumberToObject(j, "strength", dec(c->strength));
    }
    if (c->kind == RP_EVAL_ATTACK) {
        const rp_attack_config *a = resolved ? resolved : &c->attack;
        if (isinf(a->eps)) cJSON_AddStringToObject(j, "eps", "inf");
        else {
            cJSON_AddNumberToObject(j, "eps", dec(a->eps));
            cJSON_AddNumberToObject(j, "eps_255", dec(a->eps * 255.0f));
        }
        cJSON_AddStringToObject(j, "norm", norm_name(a->norm));
        cJSON_AddNumberToObject(j, "steps", a->steps);
        cJSON_AddNumberToObject(j, "restarts", a->restarts);
        if (a->kind == RP_ATTACK_PGD || a->kind == RP_ATTACK_FGSM_RS) cJSON_AddNumberToObject(j, "step_size", dec(a->step_size));
        if (a->kind == RP_ATTACK_WORST) cJSON_AddNumberToObject(j, "square_queries", a->square_queries);
        if (o->source) cJSON_AddStringToObject(j, "source", o->source);
        cJSON_AddNumberToObject(j, "max_norm", dec(r->max_norm));
        cJSON_AddBoolToObject(j, "in_ball", r->in_ball);
    }
    if (c->kind != RP_EVAL_CLEAN) cJSON_AddNumberToObject(j, "seed", o->seed);
    if (o->reference && !strcmp(model, o->reference)) cJSON_AddBoolToObject(j, "reference", true);
    cJSON_AddNumberToObject(j, "n", r->n);
    if (r->not_applicable) cJSON_AddNullToObject(j, "accuracy"); /* never a zero */
    else cJSON_AddNumberToObject(j, "accuracy", r->accuracy);
    if (isfinite(r->ece)) cJSON_AddNumberToObject(j, "ece", r->ece);
    if (o->adapt_bn) cJSON_AddBoolToObject(j, "adapt_bn", true);
    cJSON_AddNumberToObject(j, "seconds", r->seconds);
    jsonl_add_testset(j, id->test, c->kind == RP_EVAL_CLEAN ? id->ds : NULL);
    const unsigned char *ok = id->correct + ((size_t)ci * id->M + m) * id->n;
    if (!r->not_applicable) {
        jsonl_add_class_correct(j, id->test, ok);
        jsonl_add_bitmap(j, "correct_b64", ok, id->n);
    }
    jsonl_write(&o->run, j);
}

static void json_warning(const eval_opts *o, const eval_ident *id, int m, const char *model, const rp_warning *w)
{
    cJSON *j = jsonl_row(&o->run, "eval_warning");
    cJSON_AddStringToObject(j, "warning", w->message);
    cJSON_AddStringToObject(j, "check", w->check);
    jsonl_add_model(j, model, id->sha[m]);
    jsonl_add_testset(j, id->test, NULL);
    jsonl_write(&o->run, j);
}

typedef struct progress_state {
    cli_progress p;
    int cond;
    const rp_eval_condition *conds;
} progress_state;

static void on_progress(void *arg, int cond, int done, int total)
{
    progress_state *ps = arg;
    if (cond != ps->cond) {
        if (ps->cond != -2) cli_progress_end(&ps->p);
        char label[64];
        if (cond >= 0) row_label(&ps->conds[cond], label, sizeof label);
        else snprintf(label, sizeof label, "clean");
        cli_progress_start(&ps->p, label, total);
        ps->cond = cond;
    }
    cli_progress_update(&ps->p, done, "");
}

/* Resolved attack settings (defaults filled in by the attack library) for reporting. */
static rp_attack_config resolved_config(rp_ctx *ctx, rp_model *m, const rp_attack_config *c)
{
    rp_attack *a = NULL;
    rp_attack_config r = *c;
    if (rp_attack_create(ctx, m, c, 1, &a) == RP_OK) r = *rp_attack_get_config(a);
    rp_attack_destroy(a);
    return r;
}

/* With --corruptions the table gains a column of seconds per condition (all models). */
static void print_table(const eval_opts *o, const char *const *heads, int M, const rp_eval_condition *conds,
                        int n_conds, const rp_eval_result *res, int n, int total, int K)
{
    char lab[96];
    printf("%-44s", "condition");
    for (int m = 0; m < M; m++) printf("  %14.14s", heads[m]);
    printf(o->corruptions ? "  %9s\n" : "\n", "seconds");
    for (int c = 0; c < n_conds; c++) {
        row_label(&conds[c], lab, sizeof lab);
        printf("%-44s", lab);
        for (int m = 0; m < M; m++) {
            const rp_eval_result *r = &res[(size_t)c * M + m];
            if (r->not_applicable) printf("  %14s", "n/a");
            else printf("  %13.2f%%", 100.0 * r->accuracy);
        }
        if (o->corruptions) printf("  %9.2f", res[(size_t)c * M].seconds);
        printf("\n");
    }
    printf("\nn = %d of %d test images of %s, %d classes, seed %d", n, total, o->data, K, o->seed);
    if (o->source) printf("; attacks crafted on %s (transfer)", o->source);
    if (o->corruptions) {
        printf(".\nCorruptions: each image corrupted from the stream of (seed, its index), the same for every "
               "model; n/a: the corruption is the identity on these images (saturate on grayscale)");
    }
    printf(".\nAttacks: robust = correct on both x and x_adv; worst = per-example worst case over the attacks at "
           "that eps;\nPGD from a random start, step 2.5 eps/steps; %d restart(s); Square %d queries.\n",
           o->restarts, o->queries);
}

/* models[0..M): the --model files, then the reference model when it is not one of them
 * (ref: its column, or -1). */
static int run(const eval_opts *o, rp_ctx *ctx, rp_dataset *ds, rp_model **models, int M, int ref, rp_model *source)
{
    int H, W, C, K = rp_dataset_num_classes(ds);
    rp_dataset_shape(ds, &H, &W, &C);
    static rp_eval_condition conds[MAX_CONDS];
    int n_conds = build_conditions(o, H, W, conds);
    if (n_conds < 0) return CLI_EXIT_USAGE;
    int total = rp_dataset_size(ds), n = o->limit > 0 && o->limit < total ? o->limit : total;
    const char *paths[CLI_MAX_LIST + 1];
    char heads[CLI_MAX_LIST + 1][64];
    const char *head_ptrs[CLI_MAX_LIST + 1];
    for (int m = 0; m < M; m++) {
        paths[m] = m < o->models.n ? o->models.items[m] : o->reference;
        model_header(paths[m], heads[m], sizeof heads[m]);
        head_ptrs[m] = heads[m];
    }
    rp_eval_result *res = calloc((size_t)n_conds * M, sizeof *res);
    unsigned char *correct = malloc((size_t)n_conds * M * n);
    char sha[CLI_MAX_LIST + 1][65];
    jsonl_testset test = {0};
    eval_ident id = {.test = &test, .correct = correct, .M = M, .n = n, .ds = ds};
    if (!res || !correct || !jsonl_testset_of(&test, ds, o->data, "test", n)) {
        free(res), free(correct);
        fprintf(stderr, "rampart eval: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    for (int m = 0; m < M; m++) id.sha[m] = jsonl_file_sha256(paths[m], sha[m]) ? sha[m] : NULL;
    progress_state ps = {.cond = -2, .conds = conds};
    rp_eval_options eo = {.n = n, .batch = o->batch, .seed = (uint64_t)o->seed, .source = source,
                          .adapt_bn = o->adapt_bn, .progress = on_progress, .progress_arg = &ps,
                          .correct = correct, .dist = cli_dist()}; /* under mpirun: shared among ranks */
    double t0 = cli_now();
    rp_status s = rp_evaluate_conditions(ctx, models, M, ds, conds, n_conds, &eo, res);
    if (ps.cond != -2) cli_progress_end(&ps.p);
    if (s != RP_OK) {
        free(res), free(correct);
        jsonl_testset_free(&test);
        return cli_fail("eval", ctx);
    }
    if (!o->json) print_table(o, head_ptrs, M, conds, n_conds, res, n, total, K);
    bool rows_out = o->json || o->report; /* --report reads the rows from run.copy */
    rp_warning w[64];
    for (int m = 0; m < M; m++) {
        if (rows_out)
            for (int c = 0; c < n_conds; c++) {
                rp_attack_config r = conds[c].kind == RP_EVAL_ATTACK
                                         ? resolved_config(ctx, source ? source : models[m], &conds[c].attack)
                                         : conds[c].attack;
                json_row(o, &id, c, m, paths[m], &conds[c], &res[(size_t)c * M + m], &r);
            }
        int nw = 0; /* the checklist: about attacks and noise, corruption rows stay out */
        if (rp_evaluate_checklist(ctx, conds, n_conds, res, M, m, K, source != NULL, 0.0, w, 64, &nw) != RP_OK)
            fprintf(stderr, "rampart eval: the checklist: %s\n", rp_ctx_error(ctx));
        for (int i = 0; i < nw && i < 64; i++) {
            if (rows_out) json_warning(o, &id, m, paths[m], &w[i]);
            if (!o->json) printf("warning (%s) [%s]: %s\n", paths[m], w[i].check, w[i].message);
        }
    }
    eval_corruption_report cr = {.paths = paths, .heads = head_ptrs, .M = M, .ref = ref, .json = o->json,
                                 .run = &o->run, .sha = id.sha};
    eval_corruption_summary(&cr, conds, n_conds, res);
    if (o->report && !o->json) { /* the text summary went to stdout: the rows too, for the page */
        cr.json = true;
        eval_corruption_summary(&cr, conds, n_conds, res);
    }
    char dur[32];
    cli_format_duration(dur, sizeof dur, cli_now() - t0);
    if (cli_main_rank()) fprintf(stderr, "rampart eval: %d conditions x %d models on %d images in %s\n", n_conds, M, n, dur);
    free(res), free(correct);
    jsonl_testset_free(&test);
    if (!rows_out) return CLI_EXIT_OK;
    jsonl_emit_run(&o->run, o->threads, o->seed);
    if (!o->report || !cli_main_rank()) return CLI_EXIT_OK; /* one page per job */
    rewind(o->run.copy);
    return report_from_stream("(rows of this evaluation)", o->run.copy, o->report);
}

/* Load path and check it fits the data; messages name the file. */
static int load_model(rp_ctx *ctx, const eval_opts *o, const char *path, const rp_dataset *ds, rp_model **out)
{
    int H, W, C;
    rp_dataset_shape(ds, &H, &W, &C);
    float mean[4], std[4];
    rp_dataset_norm(ds, mean, std);
    cli_arch a = o->arch;
    if (a.num_classes == 0) a.num_classes = rp_dataset_num_classes(ds);
    if (cli_load_model(ctx, path, &a, H, W, C, mean, std, o->batch, out) != RP_OK) return cli_fail("eval", ctx);
    if (rp_check_model_fits(ctx, *out, H, W, C, rp_dataset_num_classes(ds)) != RP_OK) {
        fprintf(stderr, "rampart eval: %s: %s\n", path, rp_ctx_error(ctx));
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

int cmd_eval(int argc, char **argv)
{
    eval_opts o = {0};
    cli_flag flags[] = {
        {"--model", CLI_LIST, &o.models, NULL, "checkpoint to evaluate (repeat for several: one column each)"},
        {"--data", CLI_STRING, &o.data, "fashion-mnist", "data set (its test split)"},
        {"--arch", CLI_STRING, &o.arch.arch, NULL,
         "the --model files are bare state_dicts (e.g. torchvision's) of this architecture, normalised as the data "
         "set is (folder:/tiny-imagenet: ImageNet's mean/std)"},
        {"--num-classes", CLI_INT, &o.arch.num_classes, "0", "with --arch: the classifier's classes (0: the data's)"},
        {"--width", CLI_FLOAT, &o.arch.width, "1", "with --arch: mobilenet_v2's width multiplier"},
        {"--attack", CLI_LIST, &o.attacks, NULL,
         "attacks: fgsm, fgsm-rs, pgd, apgd-ce, apgd-t, square, noise (random sign), worst, none; with neither "
         "--attack nor --noise: the full table (fgsm pgd apgd-ce apgd-t square noise worst; gaussian shot impulse)"},
        {"--eps", CLI_LIST, &o.eps, "0.05,0.1,0.2", "attack radii in [0,1] pixels: X, K/255 or inf"},
        {"--norm", CLI_STRING, &o.norm, "linf", "attack norm: linf or l2"},
        {"--steps", CLI_INT, &o.steps, "20", "PGD/APGD iterations"},
        {"--restarts", CLI_INT, &o.restarts, "1", "attack restarts"},
        {"--queries", CLI_INT, &o.queries, "1000", "Square's queries (AutoAttack uses 5000)"},
        {"--noise", CLI_LIST, &o.noises, NULL, "noise corruptions: gaussian, shot, impulse, speckle, none"},
        {"--corruptions", CLI_STRING, &o.corruptions, NULL,
         "common corruptions: all, imagenet-c, extra, a family (noise, blur, weather, digital, geometric, occlusion) "
         "or names (fog, jpeg_compression, ...), comma-separated; with neither --attack nor --noise only clean and "
         "these rows"},
        {"--severity", CLI_LIST, &o.severities, NULL,
         "severities 1..5 of --noise (default: 1,3,5) and --corruptions (\"1,3\" or \"1-5\"; default: 1-5); 28 px: "
         "this project's table, <= 32 px: CIFAR-10-C's, 64 px: Tiny-ImageNet-C's"},
        {"--reference-model", CLI_STRING, &o.reference, NULL,
         "with --corruptions: the model CE and mCE are relative to (AlexNet's role in ImageNet-C)"},
        {"--source-model", CLI_STRING, &o.source, NULL, "craft the attacks on this checkpoint (transfer)"},
        {"--limit", CLI_INT, &o.limit, "500", "evaluate the first N test images (0: all; the default table costs up to ~5,000 passes per image)"},
        {"--batch", CLI_INT, &o.batch, "256", "batch size"},
        {"--seed", CLI_INT, &o.seed, "0", "seed for attacks, noise and corruptions"},
        {"--threads", CLI_INT, &o.threads, "2", "CPU threads"},
        CLI_PRECISION_FLAG(&o.precision),
        {"--adapt-bn", CLI_BOOL, &o.adapt_bn, "false", "test-time batch-norm adaptation: every batch of the clean, "
         "noise and corruption rows normalised with its own statistics (models with batch norm; no attacks)"},
        {"--report", CLI_STRING, &o.report, NULL, "also write this self-contained HTML report of the rows (as "
         "rampart report FILE.jsonl --out FILE.html would)"},
        {"--json", CLI_BOOL, &o.json, "false", "one JSON object per model and condition (with the expected "
         "calibration error, ece, for clean, noise and corruption rows), then warnings, on stdout"},
    };
    int p = cli_parse("eval", "Evaluate models under noise, corruptions and attacks: one table, conditions x models.", flags,
                      (int)(sizeof flags / sizeof flags[0]), argc, argv);
    if (p) return p > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if (o.models.n == 0) {
        fprintf(stderr, "rampart eval: give at least one --model FILE\n");
        return CLI_EXIT_USAGE;
    }
    if (!o.arch.arch && (o.arch.num_classes != 0 || o.arch.width != 1.0f)) {
        fprintf(stderr, "rampart eval: --num-classes and --width describe a bare state_dict: give --arch too\n");
        return CLI_EXIT_USAGE;
    }
    if (o.limit < 0 || o.batch < 1 || o.batch > 4096 || o.threads < 1 || o.steps < 1 || o.restarts < 1 || o.queries < 1) {
        fprintf(stderr, "rampart eval: --limit must be >= 0, --batch 1..4096, --threads, --steps, --restarts and "
                        "--queries >= 1\n");
        return CLI_EXIT_USAGE;
    }
    if (o.adapt_bn && (o.attacks.n > 0 || (!o.corruptions && o.noises.n == 0))) {
        fprintf(stderr, "rampart eval: --adapt-bn adapts the clean, noise and corruption rows; give --corruptions or "
                        "--noise and no --attack\n");
        return CLI_EXIT_USAGE;
    }
    if (o.reference && !o.corruptions) {
        fprintf(stderr, "rampart eval: --reference-model is for corruption errors: give --corruptions too\n");
        return CLI_EXIT_USAGE;
    }
    { /* flag errors before any file is read */
        static rp_eval_condition probe[MAX_CONDS];
        if (build_conditions(&o, 28, 28, probe) < 0) return CLI_EXIT_USAGE;
    }
    int prc = cli_set_precision("eval", o.precision);
    if (prc) return prc;
    jsonl_run_init(&o.run, "eval", argc, argv);
    if (o.report) {
        o.run.copy = tmpfile();
        o.run.out = o.json ? stdout : NULL;
        if (!o.run.copy) {
            fprintf(stderr, "rampart eval: --report: cannot make a temporary file\n");
            return CLI_EXIT_FAIL;
        }
    }
    rp_set_threads(o.threads);
    rp_ctx *ctx = rp_ctx_create(o.threads);
    rp_dataset *ds = NULL;
    rp_model *models[CLI_MAX_LIST + 1] = {0}, *source = NULL;
    int rc = CLI_EXIT_OK, M = o.models.n, ref = -1;
    for (int i = 0; o.reference && i < o.models.n; i++) /* a --model that is also the reference: one column */
        if (!strcmp(o.models.items[i], o.reference)) ref = i;
    if (o.reference && ref < 0) ref = M++;
    if (rp_dataset_open(ctx, o.data, false, &ds) != RP_OK) {
        rc = cli_fail("eval", ctx);
        goto done;
    }
    for (int i = 0; i < M && rc == CLI_EXIT_OK; i++)
        rc = load_model(ctx, &o, i < o.models.n ? o.models.items[i] : o.reference, ds, &models[i]);
    if (rc == CLI_EXIT_OK && o.source) rc = load_model(ctx, &o, o.source, ds, &source);
    if (rc == CLI_EXIT_OK) rc = run(&o, ctx, ds, models, M, ref, source);
done:
    for (int i = 0; i < M; i++) rp_model_destroy(models[i]);
    rp_model_destroy(source);
    rp_dataset_destroy(ds);
    rp_ctx_destroy(ctx);
    if (o.run.copy) fclose(o.run.copy);
    return rc;
}
