/* rampart train: a model on a data set with a plain or robust objective. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_dist.h"
#include "jsonl.h"
#include "recipe.h"
#include "train_resume.h"
#include "train_robust.h"

typedef struct train_opts {
    const char *data, *test_data, *model, *out, *optimizer, *schedule, *objective, *precision;
    int epochs, batch, threads, limit, test_limit, warmup, step_size;
    float lr, momentum, weight_decay, gamma, label_smoothing;
    float sam;       /* --sam: SAM's radius (0: off) */
    float ema;       /* --ema: the weight average's decay (0: off) */
    bool nesterov, json;
    int seed;
    const char *augment; float augment_prob; /* --augment ("none": no augmentation) */
    const char *consistency, *recipe_name;   /* --consistency, --recipe */
    const recipe *recipe;                    /* the spliced recipe, or NULL */
    const char *init, *unfreeze_plateau; /* fine-tuning */
    cli_list unfreeze_at;
    bool freeze, skip_bad;
    int workers;
    float width;     /* mobilenet_v2's multiplier */
    int num_classes; /* 0: the data's */
    bool summary;
    train_robust_opts robust; /* objective flags (train_robust.h) */
    jsonl_run run;            /* --json: the rows' run id */
    jsonl_testset test;       /* --json: the test images each epoch is measured on */
    bool resume;              /* --resume: go on from OUT.state */
    int save_every;           /* --save-every K steps (and every epoch end) */
    train_resume res;         /* OUT.state and the run's fingerprint */
} train_opts;

/* Where the log goes: stdout, or stderr when stdout carries --json rows; on ranks other than
 * 0 of an MPI job, stdout (which is /dev/null there). */
static FILE *log_of(const train_opts *o) { return o->json && cli_main_rank() ? stderr : stdout; }

static int parse_enum(const char *what, const char *v, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(v, names[i])) return i;
    fprintf(stderr, "rampart train: unknown %s '%s' (one of:", what, v);
    for (int i = 0; i < n; i++) fprintf(stderr, " %s", names[i]);
    fprintf(stderr, ")\n");
    return -1;
}

static void print_json_epoch(const train_opts *t, int epoch, double loss, int64_t seen, double train_acc, double test_acc, double test_loss, double seconds, double lr,
                             size_t trainable)
{
    cJSON *o = jsonl_row(&t->run, "train_epoch");
    char sha[65];
    jsonl_add_model(o, t->out, jsonl_file_sha256(t->out, sha) ? sha : NULL);
    cJSON_AddStringToObject(o, "arch", t->model);
    cJSON_AddStringToObject(o, "objective", t->objective);
    cJSON_AddStringToObject(o, "recipe", t->recipe ? t->recipe->name : "none");
    cJSON_AddNumberToObject(o, "seed", t->seed);
    cJSON_AddNumberToObject(o, "epochs", t->epochs);
    cJSON_AddStringToObject(o, "train_data", t->data);
    jsonl_add_testset(o, &t->test, NULL);
    cJSON_AddStringToObject(o, "event", "epoch");
    cJSON_AddNumberToObject(o, "epoch", epoch);
    cJSON_AddNumberToObject(o, "loss", loss);
    cJSON_AddNumberToObject(o, "train_accuracy", train_acc);
    cJSON_AddNumberToObject(o, "test_accuracy", test_acc);
    cJSON_AddNumberToObject(o, "test_loss", test_loss);
    cJSON_AddNumberToObject(o, "images", (double)seen);
    cJSON_AddNumberToObject(o, "seconds", seconds);
    cJSON_AddNumberToObject(o, "images_per_s", (double)seen / seconds);
    cJSON_AddNumberToObject(o, "lr", lr);
    cJSON_AddNumberToObject(o, "trainable", (double)trainable); /* parameters not frozen in this epoch */
    jsonl_emit(o);
}

/* The rest of epoch pos->epoch over the shuffled training set, from batch pos->batch, its
 * sums kept in pos; every --save-every steps the training state. Returns 0 or an exit code. */
static int run_epoch(const train_opts *o, rp_loader *loader, rp_objective *obj, const rp_train_parts *parts,
                     rp_ctx *ctx, rp_train_position *pos)
{
    int batches = rp_loader_batches(loader), epoch = pos->epoch;
    cli_progress pr;
    char label[32];
    snprintf(label, sizeof label, "epoch %d/%d", epoch, o->epochs);
    cli_progress_start(&pr, label, batches);
    int64_t seen0 = pos->seen;
    for (int b = pos->batch; b < batches; b++) {
        rp_batch bt; /* shuffled by (seed, epoch), augmented in the loader's threads */
        if (!rp_loader_next(loader, &bt) || bt.epoch != epoch || bt.index != b) { /* our own bug */
            cli_progress_end(&pr);
            fprintf(stderr, "rampart train: internal error: the loader handed out batch %d of epoch %d for batch %d "
                            "of epoch %d\n", bt.index + 1, bt.epoch, b + 1, epoch);
            return CLI_EXIT_FAIL;
        }
        int B = bt.B;
        rp_step_stats st;
        rp_objective_set_examples(obj, epoch, bt.idx); /* random starts keyed by (seed, epoch, sample) */
        if (rp_train_step_views(obj, parts->opt, bt.x, bt.views, bt.y, B, &st) != RP_OK) {
            cli_progress_end(&pr);
            fprintf(stderr, "rampart train: epoch %d batch %d: %s\n", epoch, b + 1, rp_ctx_error(ctx));
            return CLI_EXIT_FAIL;
        }
        pos->loss_sum += st.loss; /* the statistics are the whole batch's, every process's part */
        pos->seen += bt.B_all;
        pos->correct += st.correct;
        pos->steps++;
        pos->batch = b + 1;
        long step = (long)rp_optim_steps(parts->opt);
        if (o->save_every > 0 && step % o->save_every == 0 && b + 1 < batches && cli_main_rank()) {
            int e = train_resume_save(&o->res, ctx, parts, &o->robust, pos, NULL);
            if (e) return e;
        }
        train_resume_fault(&o->res, step);
        if ((b & 7) == 0 || b == batches - 1) {
            char status[128];
            double el = cli_now() - pr.t0;
            snprintf(status, sizeof status, "loss %.4f acc %.4f %.0f img/s", pos->loss_sum / (double)pos->steps,
                     (double)pos->correct / (double)pos->seen, (double)(pos->seen - seen0) / (el > 0 ? el : 1e-9));
            cli_progress_update(&pr, b + 1, status);
        }
    }
    cli_progress_end(&pr);
    return 0;
}

/* Under mpirun -np N (N > 1): each rank steps on its piece of every batch, the gradients are
 * summed and batch norms use the whole batch's statistics (rp_objective_set_dist); dropout and
 * stochastic depth draw each example's masks by (seed, epoch, sample), as one process does
 * (rp_objective_set_examples names the samples). */
static int start_data_parallel(const train_opts *o, rp_ctx *ctx, rp_objective *obj, rp_loader_config *lc)
{
    if (cli_ranks() == 1) return 0;
    if (o->batch < cli_ranks()) {
        fprintf(stderr, "rampart train: --batch %d is smaller than the %d processes\n", o->batch, cli_ranks());
        return CLI_EXIT_USAGE;
    }
    lc->part = cli_rank(), lc->parts = cli_ranks();
    if (rp_objective_set_dist(obj, cli_dist()) != RP_OK) return cli_fail("train", ctx);
    fprintf(log_of(o), "data-parallel: %d processes, each %d or %d images of every batch of %d\n",
            cli_ranks(), o->batch / cli_ranks(), (o->batch + cli_ranks() - 1) / cli_ranks(), o->batch);
    return 0;
}

/* Every rank holds the same weights (a hash compared across ranks); a difference stops the job. */
static int check_same_weights(rp_ctx *ctx, const rp_model *m, int epoch)
{
    if (cli_ranks() == 1) return 0;
    uint64_t h = rp_model_weights_hash(m);
    char what[64];
    snprintf(what, sizeof what, "the weights after epoch %d", epoch);
    return rp_dist_check_same(cli_dist(), h, what) == RP_OK ? 0 : cli_fail("train", ctx);
}

/* Fine-tuning: --init FILE loads weights (the classifier is re-initialised when the class
 * counts differ); --freeze and the --unfreeze-* schedules train the head first. */
static int start_finetune(const train_opts *o, rp_ctx *ctx, rp_model *m, rp_unfreeze **unfreeze)
{
    FILE *log = log_of(o);
    if (o->init) {
        rp_init_report r;
        if (rp_model_init_from(ctx, m, o->init, &r) != RP_OK) return cli_fail("train", ctx);
        if (r.reinit)
            fprintf(log, "init: weights from %s; classifier (%s) re-initialised: the file has %d classes, the data %d\n",
                    o->init, r.head, r.file_classes, rp_model_get_config(m)->num_classes);
        else fprintf(log, "init: all weights from %s\n", o->init);
    }
    int at[CLI_MAX_LIST];
    rp_unfreeze_config uc = {.at = at, .n_at = o->unfreeze_at.n, .threshold = 0.01f};
    for (int i = 0; i < o->unfreeze_at.n; i++) {
        char *end;
        long e = strtol(o->unfreeze_at.items[i], &end, 10);
        if (*end || e < 1 || e > 1000000) {
            fprintf(stderr, "rampart train: --unfreeze-at: '%s' is not an epoch number\n", o->unfreeze_at.items[i]);
            return CLI_EXIT_USAGE;
        }
        at[i] = (int)e;
    }
    if (o->unfreeze_plateau) {
        int used = 0;
        if (sscanf(o->unfreeze_plateau, "%d%n,%f%n", &uc.patience, &used, &uc.threshold, &used) < 1 ||
            o->unfreeze_plateau[used] || uc.patience < 1) {
            fprintf(stderr, "rampart train: --unfreeze-on-plateau: expected PATIENCE[,THRESHOLD], got '%s'\n",
                    o->unfreeze_plateau);
            return CLI_EXIT_USAGE;
        }
    }
    if (!o->freeze && !uc.n_at && !uc.patience) return 0;
    if (rp_unfreeze_create(ctx, m, &uc, unfreeze) != RP_OK) return cli_fail("train", ctx);
    int G = rp_unfreeze_groups(*unfreeze);
    fprintf(log, "freeze: training only the head %s (%zu of %zu parameters); %d groups below it, unfrozen top-down",
            rp_unfreeze_group(*unfreeze, G - 1), rp_model_num_unfrozen(m), rp_model_num_params(m), G - 1);
    for (int i = 0; i < uc.n_at; i++) fprintf(log, "%s%d", i ? "," : " at epochs ", at[i]);
    if (uc.patience)
        fprintf(log, "%s when the training loss improves by less than %g%% for %d epoch%s", uc.n_at ? " and" : "",
                100.0 * uc.threshold, uc.patience, uc.patience == 1 ? "" : "s");
    fprintf(log, "\n");
    return 0;
}

static void log_unfreeze(const train_opts *o, const rp_model *m, int epoch, const char *group, const char *why)
{
    FILE *log = log_of(o);
    fprintf(log, "epoch %d: unfroze %s (%s); %zu of %zu parameters trainable\n", epoch, group, why,
            rp_model_num_unfrozen(m), rp_model_num_params(m));
    if (!o->json) return;
    cJSON *j = jsonl_row(&o->run, "train_event");
    cJSON_AddStringToObject(j, "model", o->out);
    cJSON_AddStringToObject(j, "event", "unfreeze");
    cJSON_AddNumberToObject(j, "epoch", epoch);
    cJSON_AddStringToObject(j, "group", group);
    cJSON_AddStringToObject(j, "reason", why);
    cJSON_AddNumberToObject(j, "trainable", (double)rp_model_num_unfrozen(m));
    jsonl_emit(j);
}

static void family_list(unsigned bits, bool in, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    const char *const *names = rp_corruption_family_names();
    for (int f = 0; f < RP_CORRUPTION_FAMILIES && used < n; f++)
        if (((bits >> f) & 1u) == in) used += (size_t)snprintf(buf + used, n - used, "%s%s", used ? "," : "", names[f]);
}

/* A float flag as the decimal the user most likely typed (0.1, not 0.100000001). */
static double as_typed(float v)
{
    char b[32];
    snprintf(b, sizeof b, "%.7g", (double)v);
    return strtod(b, NULL);
}

/* The recipe in the log and in the checkpoint's metadata ("recipe"): the flags that shape
 * robustness (augmentation, objective, consistency, SAM, the optimiser), and the corruption
 * families its training touches (the rest are what it may be judged on:
 * bench/corruptions_fmnist). */
static int set_recipe_meta(const train_opts *o, rp_ctx *ctx, rp_model *m, const rp_objective_config *ocfg)
{
    rp_augment_op ops[RP_AUGMENT_MAX_OPS];
    int n_ops = 0;
    const char *spec = strcmp(o->augment, "none") ? o->augment : "";
    unsigned aug_fam = 0, obj_fam = 0;
    if (rp_augment_parse(ctx, spec, o->augment_prob, ops, &n_ops) != RP_OK ||
        rp_augment_corruption_families(ctx, ops, n_ops, &aug_fam) != RP_OK ||
        rp_objective_corruption_families(ctx, ocfg, &obj_fam) != RP_OK)
        return cli_fail("train", ctx);
    unsigned fam = aug_fam | obj_fam;
    char touched[128], judged[128], expansion[256] = "";
    family_list(fam, true, touched, sizeof touched);
    family_list(fam, false, judged, sizeof judged);
    if (o->recipe) recipe_expansion(o->recipe, expansion, sizeof expansion);
    FILE *log = log_of(o);
    if (o->recipe) fprintf(log, "recipe %s = %s\n", o->recipe->name, expansion);
    fprintf(log, "training touches corruption families: %s; unseen: %s\n", touched[0] ? touched : "none",
            judged[0] ? judged : "none");
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "recipe", o->recipe ? o->recipe->name : "none");
    if (o->recipe) cJSON_AddStringToObject(j, "expansion", expansion);
    cJSON_AddStringToObject(j, "objective", o->objective);
    cJSON_AddStringToObject(j, "augment", o->augment);
    cJSON_AddNumberToObject(j, "augment_prob", o->augment_prob);
    cJSON_AddStringToObject(j, "consistency", o->consistency);
    cJSON_AddNumberToObject(j, "sam", o->sam);
    cJSON_AddStringToObject(j, "optimizer", o->optimizer);
    cJSON_AddNumberToObject(j, "lr", as_typed(o->lr));
    cJSON_AddNumberToObject(j, "momentum", as_typed(o->momentum));
    cJSON_AddBoolToObject(j, "nesterov", o->nesterov);
    cJSON_AddNumberToObject(j, "weight_decay", as_typed(o->weight_decay));
    cJSON_AddNumberToObject(j, "ema", as_typed(o->ema));
    cJSON_AddStringToObject(j, "touches", touched);
    cJSON_AddStringToObject(j, "unseen", judged);
    char *str = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    rp_status s = str ? rp_model_set_meta(ctx, m, "recipe", str) : rp_fail(ctx, RP_ERR_NOMEM, "out of memory");
    free(str);
    return s == RP_OK ? 0 : cli_fail("train", ctx);
}

/* "none" or "jsd[:LAMBDA]" (lambda 12 as the paper). */
static int parse_consistency(const char *spec, float *lambda)
{
    *lambda = 0.0f;
    if (!strcmp(spec, "none")) return 0;
    if (!strncmp(spec, "jsd", 3) && (!spec[3] || spec[3] == ':')) {
        char *end = NULL;
        *lambda = spec[3] ? strtof(spec + 4, &end) : 12.0f;
        if ((!spec[3] || (end != spec + 4 && !*end)) && *lambda > 0.0f && *lambda < 1e6f) return 0;
    }
    fprintf(stderr, "rampart train: --consistency '%s': expected none or jsd[:LAMBDA] with LAMBDA > 0\n", spec);
    return -1;
}

static int train(const train_opts *o, rp_ctx *ctx, rp_dataset *train, rp_dataset *test,
                 const rp_objective_config *ocfg, const rp_optim_config *optc_in)
{
    int H, W, C;
    rp_dataset_shape(train, &H, &W, &C);
    int data_classes = rp_dataset_num_classes(train);
    if (o->num_classes > 0 && o->num_classes < data_classes) {
        fprintf(stderr, "rampart train: --num-classes %d, but the data has %d classes\n", o->num_classes, data_classes);
        return CLI_EXIT_USAGE;
    }
    rp_model_config mc = {.arch = o->model, .num_classes = o->num_classes > 0 ? o->num_classes : data_classes,
                          .H = H, .W = W, .C = C, .max_batch = o->batch, .seed = (uint64_t)o->seed,
                          .width = o->width};
    rp_dataset_norm(train, mc.mean, mc.std);
    bool norm_from_init = false;
    if (o->init && rp_checkpoint_norm(ctx, o->init, C, mc.mean, mc.std, &norm_from_init) != RP_OK)
        return cli_fail("train", ctx);
    if (norm_from_init) /* the weights were trained on inputs normalised so */
        fprintf(log_of(o), "init: normalisation (mean/std) from %s\n", o->init);
    rp_model *m = NULL;
    rp_loader *loader = NULL;
    rp_unfreeze *unfreeze = NULL;
    rp_objective *obj = NULL;
    rp_optim *opt = NULL;
    int rc = CLI_EXIT_FAIL;
    int n = rp_dataset_size(train), steps_per_epoch = (n + o->batch - 1) / o->batch;
    rp_optim_config optc = *optc_in;
    optc.total_steps = (long)steps_per_epoch * o->epochs;
    optc.step_size *= steps_per_epoch; /* given in epochs */
    rp_loader_config lc = {.batch = o->batch, .workers = o->workers, .seed = (uint64_t)o->seed, .shuffle = true,
                           .first_epoch = 1, .epochs = o->epochs, .augment_prob = o->augment_prob,
                           .augment = strcmp(o->augment, "none") ? o->augment : NULL,
                           .views = ocfg->consistency > 0.0f};
    const char *names[1024] = {0};
    int K = rp_dataset_num_classes(train);
    for (int k = 0; k < K && k < 1023; k++) names[k] = rp_dataset_class_name(train, k);
    FILE *log = log_of(o);
    if (rp_model_create(ctx, &mc, &m) != RP_OK || rp_objective_create(ctx, m, ocfg, o->batch, &obj) != RP_OK ||
        rp_objective_set_sam(obj, o->sam) != RP_OK || rp_optim_create(ctx, m, &optc, &opt) != RP_OK) {
        rc = cli_fail("train", ctx);
        goto done;
    }
    if (set_recipe_meta(o, ctx, m, ocfg) != 0) goto done;
    if (strcmp(o->precision, "fp32") && rp_model_set_meta(ctx, m, "precision", o->precision) != RP_OK) {
        rc = cli_fail("train", ctx);
        goto done;
    }
    if (o->summary) cli_print_summary(log, m);
    if ((rc = start_finetune(o, ctx, m, &unfreeze)) != 0) goto done;
    rp_train_parts parts = {m, opt, unfreeze};
    rp_train_position pos = {.epoch = 1};
    if (o->resume && (rc = train_resume_load(&o->res, ctx, &parts, &o->robust, o->out, &pos, log)) != 0) goto done;
    if (pos.epoch > o->epochs) {
        fprintf(log, "resume: %s already finished all %d epochs\n", o->res.path, o->epochs);
        goto done; /* rc is 0 */
    }
    rc = CLI_EXIT_FAIL;
    lc.first_epoch = pos.epoch, lc.first_batch = pos.batch, lc.epochs = o->epochs - pos.epoch + 1;
    if ((rc = start_data_parallel(o, ctx, obj, &lc)) != 0) goto done;
    rc = CLI_EXIT_FAIL;
    if (rp_loader_create(ctx, train, &lc, &loader) != RP_OK) {
        rc = cli_fail("train", ctx);
        goto done;
    }
    if (cli_main_rank())
        fprintf(stderr,
                "rampart train: %s on %d images %dx%dx%d, %d classes, %zu parameters, %s, %d threads, %s products\n",
                o->model, n, H, W, C, K, rp_model_num_params(m), o->objective, o->threads, o->precision);
    double t_all = cli_now();
    for (int epoch = pos.epoch; epoch <= o->epochs; epoch++) {
        if (pos.batch == 0) { /* a fresh epoch (a resumed one has had its start) */
            pos = (rp_train_position){.epoch = epoch, .seconds = pos.seconds};
            const char *group = unfreeze ? rp_unfreeze_epoch_start(unfreeze, epoch) : NULL;
            if (group) log_unfreeze(o, m, epoch, group, "--unfreeze-at");
        }
        double lr = rp_optim_lr(opt), t0 = cli_now();
        int64_t seen_before = pos.seen; /* a resumed epoch's first part ran in an earlier process */
        int e = run_epoch(o, loader, obj, &parts, ctx, &pos);
        if (e) { rc = e; goto done; }
        double secs = cli_now() - t0, test_acc = 0, test_loss = 0;
        if ((e = check_same_weights(ctx, m, epoch)) != 0) {
            rc = e;
            goto done;
        }
        /* the epoch's test, checkpoint and robust watch see the weight average (--ema) */
        if ((o->ema > 0.0f && rp_optim_swap_average(opt) != RP_OK) ||
            rp_evaluate(ctx, m, test, o->test_limit, 256, &test_acc, &test_loss) != RP_OK ||
            (cli_main_rank() && rp_model_save(ctx, m, o->out, names[0] ? names : NULL) != RP_OK)) {
            rc = cli_fail("train", ctx);
            goto done;
        }
        e = train_robust_epoch(&o->robust, ctx, m, epoch, o->json ? &o->run : NULL, o->out, log_of(o));
        if (o->ema > 0.0f && rp_optim_swap_average(opt) != RP_OK) e = cli_fail("train", ctx);
        if (e != 0) {
            rc = e;
            goto done;
        }
        double train_acc = (double)pos.correct / (double)pos.seen, loss = pos.loss_sum / (double)pos.steps;
        if (o->json) print_json_epoch(o, epoch, loss, pos.seen, train_acc, test_acc, test_loss, secs, lr,
                                     rp_model_num_unfrozen(m));
        fprintf(log, "epoch %d/%d  loss %.4f  train acc %.4f  test acc %.4f  %.1fs  %.0f img/s  lr %.4g\n", epoch,
                o->epochs, loss, train_acc, test_acc, secs, (double)(pos.seen - seen_before) / secs, lr);
        fflush(stdout);
        char why[160];
        const char *group = unfreeze ? rp_unfreeze_epoch_end(unfreeze, loss, why, sizeof why) : NULL;
        if (group) log_unfreeze(o, m, epoch, group, why);
        pos = (rp_train_position){.epoch = epoch + 1, .seconds = pos.seconds + secs};
        if (cli_main_rank() && (e = train_resume_save(&o->res, ctx, &parts, &o->robust, &pos, o->out)) != 0) {
            rc = e;
            goto done;
        }
    }
    char dur[32];
    cli_format_duration(dur, sizeof dur, cli_now() - t_all);
    if (cli_main_rank()) fprintf(log_of(o), "saved %s (%s)\n", o->out, dur);
    if (o->json) jsonl_emit_run(&o->run, o->threads, o->seed);
    rc = CLI_EXIT_OK;
done:
    rp_loader_destroy(loader);
    rp_unfreeze_destroy(unfreeze);
    rp_optim_destroy(opt);
    rp_objective_destroy(obj);
    rp_model_destroy(m);
    return rc;
}

/* --skip-bad: how many images were left out, and the first reasons. */
static void report_skipped(const rp_dataset *ds, const char *spec, const char *what)
{
    const char *note;
    int n = rp_dataset_skipped(ds, &note);
    if (n > 0)
        fprintf(stderr, "rampart train: --skip-bad left out %d unreadable %s image%s of %s; first:\n%s\n", n, what,
                n == 1 ? "" : "s", spec, note);
}

static int train_main(train_opts *op, int argc, char **argv);

/* The settings a resumed run must share with the run it continues: everything that shapes
 * the weights (threads and workers do not: results do not depend on them). */
static cJSON *fingerprint(const train_opts *o, const rp_objective_config *oc, const rp_optim_config *pc)
{
    cJSON *f = cJSON_CreateObject();
    train_resume_flag(f, "model", "%s width %.9g classes %d", o->model, (double)o->width, o->num_classes);
    train_resume_flag(f, "data", "%s limit %d", o->data, o->limit);
    train_resume_flag(f, "epochs", "%d", o->epochs);
    train_resume_flag(f, "batch", "%d", o->batch);
    train_resume_flag(f, "seed", "%d", o->seed);
    train_resume_flag(f, "optimizer", "%s lr %.9g momentum %.9g nesterov %d weight decay %.9g", o->optimizer,
                      (double)pc->lr, (double)pc->momentum, pc->nesterov, (double)pc->weight_decay);
    train_resume_flag(f, "schedule", "%s warmup %d step %d gamma %.9g", o->schedule, pc->warmup_steps,
                      pc->step_size, (double)pc->gamma);
    train_resume_flag(f, "objective", "%s %d eps %.9g step %.9g steps %d random %d clip %.9g,%.9g multiplier %.9g "
                      "alpha %.9g beta %.9g smoothing %.9g", o->objective, (int)oc->norm, (double)oc->eps,
                      (double)oc->step, oc->steps, oc->random_init, (double)oc->clip_min, (double)oc->clip_max,
                      (double)oc->multiplier, (double)oc->alpha, (double)oc->beta, (double)oc->label_smoothing);
    train_resume_flag(f, "augment", "%s prob %.9g", o->augment, (double)o->augment_prob);
    train_resume_flag(f, "consistency", "%.9g", (double)oc->consistency);
    if (o->sam > 0.0f) train_resume_flag(f, "sam", "%.9g", (double)o->sam); /* older states have none */
    if (pc->ema_decay > 0.0f) train_resume_flag(f, "ema", "%.9g", (double)pc->ema_decay); /* likewise */
    train_resume_flag(f, "init", "%s", o->init ? o->init : "none");
    if (strcmp(o->precision, "fp32")) train_resume_flag(f, "precision", "%s", o->precision); /* older: fp32 */
    char at[256] = "";
    for (int i = 0, used = 0; i < o->unfreeze_at.n && used < (int)sizeof at; i++)
        used += snprintf(at + used, sizeof at - (size_t)used, "%s%s", i ? "," : "", o->unfreeze_at.items[i]);
    train_resume_flag(f, "freeze", "%d at %s plateau %s", o->freeze, at, o->unfreeze_plateau ? o->unfreeze_plateau : "");
    return f;
}

/* --json: the run id, and the identity of the test images every epoch row names. */
static int json_start(train_opts *o, const rp_dataset *te, int argc, char **argv)
{
    jsonl_run_init(&o->run, "train", argc, argv);
    int n = rp_dataset_size(te);
    if (o->test_limit > 0 && o->test_limit < n) n = o->test_limit;
    if (jsonl_testset_of(&o->test, te, o->test_data ? o->test_data : o->data, "test", n)) return 0;
    fprintf(stderr, "rampart train: out of memory\n");
    return CLI_EXIT_FAIL;
}

int cmd_train(int argc_user, char **argv_user)
{
    train_opts o = {0};
    int argc;
    char **argv;
    if (recipe_splice(argc_user, argv_user, &o.recipe, &argc, &argv) != 0) return CLI_EXIT_USAGE;
    int rc = train_main(&o, argc, argv);
    free(argv);
    return rc;
}

static int train_main(train_opts *op, int argc, char **argv)
{
    train_opts o = *op;
    cli_flag flags[] = {
        {"--data", CLI_STRING, &o.data, "fashion-mnist", "training data: fashion-mnist, mnist, idx:IMAGES,LABELS, cifar10:DIR, folder:DIR[,SIZE][,gray], tiny-imagenet:DIR[,SIZE]"},
        {"--test-data", CLI_STRING, &o.test_data, NULL, "evaluation data (default: the test split of --data)"},
        {"--model", CLI_STRING, &o.model, "smallcnn", "architecture: smallcnn, mlp, mobilenet_v2, efficientnet_b0, resnet18, "
         "resnet18_cifar, resnet50, resnext50_32x4d, densenet121 (rampart models lists them)"},
        {"--width", CLI_FLOAT, &o.width, "1", "mobilenet_v2: width multiplier"},
        {"--num-classes", CLI_INT, &o.num_classes, "0", "classes of the model's head (0: the data's)"},
        {"--summary", CLI_BOOL, &o.summary, "false", "print layers, output shapes, parameters and FLOPs first"},
        {"--objective", CLI_STRING, &o.objective, "erm", "training objective: erm, advreg (NSL adversarial "
         "regularization), fgsm (Goodfellow), fast (FGSM-RS, Wong), pgd (Madry), trades (Zhang)"},
        TRAIN_ROBUST_FLAGS(o.robust),
        {"--epochs", CLI_INT, &o.epochs, "10", "passes over the training data"},
        {"--batch", CLI_INT, &o.batch, "128", "batch size"},
        {"--optimizer", CLI_STRING, &o.optimizer, "sgd", "sgd or adamw"},
        {"--lr", CLI_FLOAT, &o.lr, "0.05", "peak learning rate"},
        {"--momentum", CLI_FLOAT, &o.momentum, "0.9", "SGD momentum"},
        {"--nesterov", CLI_BOOL, &o.nesterov, "false", "Nesterov momentum"},
        {"--weight-decay", CLI_FLOAT, &o.weight_decay, "0", "weight decay (SGD: L2; AdamW: decoupled)"},
        {"--schedule", CLI_STRING, &o.schedule, "cosine", "learning-rate schedule: constant, step, cosine"},
        {"--warmup", CLI_INT, &o.warmup, "0", "linear warm-up steps"},
        {"--step-size", CLI_INT, &o.step_size, "5", "step schedule: epochs between decays"},
        {"--gamma", CLI_FLOAT, &o.gamma, "0.1", "step schedule: decay factor"},
        {"--ema", CLI_FLOAT, &o.ema, "0", "weight averaging: keep an exponential moving average of the weights with "
         "this decay per step (e.g. 0.999; 0: off); every epoch's test and the checkpoint use the average"},
        {"--label-smoothing", CLI_FLOAT, &o.label_smoothing, "0", "cross-entropy label smoothing"},
        {"--limit", CLI_INT, &o.limit, "0", "use only the first N training images (0: all)"},
        {"--test-limit", CLI_INT, &o.test_limit, "0", "evaluate on the first N test images (0: all)"},
        {"--seed", CLI_INT, &o.seed, "1", "seed for initialisation, shuffling and attacks"},
        {"--threads", CLI_INT, &o.threads, "2", "CPU threads"},
        CLI_PRECISION_FLAG(&o.precision),
        {"--out", CLI_STRING, &o.out, "model.safetensors", "checkpoint path (written atomically after every epoch)"},
        {"--json", CLI_BOOL, &o.json, "false", "one JSON object per epoch on stdout"},
        {"--resume", CLI_BOOL, &o.resume, "false", "go on from the training state OUT.state (written beside the "
         "checkpoint every epoch) exactly where the run stopped; the flags must be the run's"},
        {"--save-every", CLI_INT, &o.save_every, "0", "also write the training state every K steps (0: at epoch ends "
         "only)"},
        {"--augment", CLI_STRING, &o.augment, "none", "augmentations NAME[:STRENGTH][@PROB],...: flip, crop:PAD, "
         "brightness:S, contrast:S, saturation:S, jitter:S, gaussian:SIGMA, shot:C, saltpepper:AMOUNT, erase:AREA, "
         "randconv:K, elastic[:SEVERITY], augmix[:SEVERITY], prime (e.g. flip,crop:4,gaussian:0.1@0.3; see "
         "src/data/augment.h)"},
        {"--augment-prob", CLI_FLOAT, &o.augment_prob, "0.5", "probability of each augmentation without @PROB "
         "(augmix and prime: 1)"},
        {"--consistency", CLI_STRING, &o.consistency, "none", "jsd[:LAMBDA]: AugMix's Jensen-Shannon consistency "
         "over the clean image and two views of the mixing augmentation (lambda 12); needs --augment augmix or prime"},
        {"--sam", CLI_FLOAT, &o.sam, "0", "sharpness-aware minimisation (Foret et al.) around the objective: the "
         "radius RHO of the weight perturbation (0: off; paper 0.05); twice the passes"},
        {"--recipe", CLI_STRING, &o.recipe_name, "none", "a named set of flags, given before yours (yours win): "
         "generalize (AugMix + JSD with the AugMix paper's optimiser, the best measured on unseen corruptions)"},
        {"--workers", CLI_INT, &o.workers, "2", "threads decoding image files and preparing batches ahead (0: none)"},
        {"--skip-bad", CLI_BOOL, &o.skip_bad, "false", "leave unreadable image files out (counted) instead of failing"},
        {"--init", CLI_STRING, &o.init, NULL, "fine-tune from these weights (.safetensors: a rampart checkpoint or a "
         "PyTorch state_dict); a classifier of another size is re-initialised"},
        {"--freeze", CLI_BOOL, &o.freeze, "false", "train only the head (the last layer) at first"},
        {"--unfreeze-at", CLI_LIST, &o.unfreeze_at, NULL, "epochs E1,E2,... at whose start the next group of "
         "layers is unfrozen, top-down (implies --freeze)"},
        {"--unfreeze-on-plateau", CLI_STRING, &o.unfreeze_plateau, NULL, "PATIENCE[,THRESHOLD]: unfreeze the next "
         "group when the training loss has not improved by THRESHOLD (relative, default 0.01) for PATIENCE epochs "
         "(implies --freeze)"},
    };
    int p = cli_parse("train", "Train a classifier; the checkpoint holds the base model alone.", flags,
                      (int)(sizeof flags / sizeof flags[0]), argc, argv);
    if (p) return p > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if (o.epochs < 1 || o.batch < 1 || o.threads < 1 || o.limit < 0 || o.test_limit < 0 || !(o.lr > 0) ||
        o.workers < 0 || o.workers > 64 || o.num_classes < 0 || !(o.width > 0) || o.save_every < 0 ||
        !(o.sam >= 0 && isfinite(o.sam)) || !(o.ema >= 0 && o.ema < 1)) {
        fprintf(stderr, "rampart train: --epochs, --batch, --threads and --lr must be positive, limits, --sam and "
                        "--save-every >= 0, --workers in 0..64, --num-classes >= 0, --width > 0, --ema in [0, 1)\n");
        return CLI_EXIT_USAGE;
    }
    static const char *const OPTS[] = {"sgd", "adamw"}, *const SCHEDS[] = {"constant", "step", "cosine"},
                             *const OBJS[] = {"erm", "advreg", "fgsm", "fast", "pgd", "trades"};
    int ok = parse_enum("optimizer", o.optimizer, OPTS, 2), sk = parse_enum("schedule", o.schedule, SCHEDS, 3),
        objk = parse_enum("objective", o.objective, OBJS, 6);
    if (ok < 0 || sk < 0 || objk < 0) return CLI_EXIT_USAGE;
    rp_optim_config optc = {.kind = ok == 0 ? RP_SGD : RP_ADAMW, .lr = o.lr, .momentum = o.momentum,
                            .nesterov = o.nesterov, .weight_decay = o.weight_decay, .beta1 = 0.9f,
                            .beta2 = 0.999f, .eps = 1e-8f, .schedule = (rp_schedule)sk,
                            .warmup_steps = o.warmup, .step_size = o.step_size, .gamma = o.gamma,
                            .ema_decay = o.ema};
    rp_objective_config ocfg = rp_objective_defaults();
    ocfg.kind = (rp_objective_kind)objk;
    ocfg.label_smoothing = o.label_smoothing;
    ocfg.seed = (uint64_t)o.seed;
    if (train_robust_config(&o.robust, &ocfg) != 0) return CLI_EXIT_USAGE;
    if (parse_consistency(o.consistency, &ocfg.consistency) != 0) return CLI_EXIT_USAGE;
    if (ocfg.consistency > 0.0f) {
        rp_augment_op ops[RP_AUGMENT_MAX_OPS];
        int n_ops = 0, mix = -1;
        rp_ctx *pctx = rp_ctx_create(1);
        const char *spec = strcmp(o.augment, "none") ? o.augment : "";
        bool parsed = rp_augment_parse(pctx, spec, o.augment_prob, ops, &n_ops) == RP_OK &&
                      rp_augment_mixing_op(pctx, ops, n_ops, &mix) == RP_OK;
        rp_ctx_destroy(pctx);
        if (parsed && mix < 0) {
            fprintf(stderr, "rampart train: --consistency %s needs an augmentation that makes two views of every image "
                            "(--augment augmix or prime), not '%s'\n", o.consistency, o.augment);
            return CLI_EXIT_USAGE;
        }
    }

    int prc = cli_set_precision("train", o.precision);
    if (prc) return prc;
    if (train_resume_init(&o.res, o.out, o.save_every, fingerprint(&o, &ocfg, &optc)) != 0) {
        train_resume_free(&o.res);
        return CLI_EXIT_FAIL;
    }
    rp_set_threads(o.threads);
    rp_ctx *ctx = rp_ctx_create(o.threads);
    rp_dataset *tr = NULL, *te = NULL;
    int rc;
    rp_data_options dopt = {.workers = o.workers > 0 ? o.workers : 1, .skip_bad = o.skip_bad};
    if (rp_dataset_open_ex(ctx, o.data, true, &dopt, &tr) != RP_OK ||
        rp_dataset_open_ex(ctx, o.test_data ? o.test_data : o.data, false, &dopt, &te) != RP_OK) {
        rc = cli_fail("train", ctx);
    } else {
        report_skipped(tr, o.data, "training");
        report_skipped(te, o.test_data ? o.test_data : o.data, "test");
        /* an explicit --test-data is used whole; the default is the test split */
        if (o.limit > 0 && o.limit < rp_dataset_size(tr)) rp_dataset_truncate(tr, o.limit);
        rc = o.json ? json_start(&o, te, argc, argv) : 0;
        if (!rc) rc = train_robust_holdout(&o.robust, &ocfg, ctx, tr);
        if (!rc) rc = train(&o, ctx, tr, te, &ocfg, &optc);
        train_robust_free(&o.robust);
        jsonl_testset_free(&o.test);
    }
    rp_dataset_destroy(tr);
    rp_dataset_destroy(te);
    rp_ctx_destroy(ctx);
    train_resume_free(&o.res);
    return rc;
}
