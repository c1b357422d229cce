/* rampart bench: images/s of one workload on random data (median over repetitions after
 * warm-up), optionally with a per-layer profile and the fraction of the machine's SGEMM
 * rate that the step reaches. Workloads:
 *   eval    forward in evaluation mode;
 *   train   one SGD-momentum step of cross-entropy (rp_train_step, erm);
 *   advreg  one adversarial-regularization step (rp_train_step, advreg, FGSM L-inf neighbour);
 *   pgd     PGD-10 L-inf in evaluation mode: random start, 10 x (forward, input gradient,
 *           signed step of 2.5 eps / 10, projection), a final forward. A fixed amount of
 *           work, as in bench/torch_mnv2.py: the attack API (rp_attack_run) stops early on
 *           examples it has fooled, so its rate depends on the model. */
#include <cblas.h>
#include <cjson/cJSON.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"

typedef struct bench_opts {
    const char *model, *mode, *precision;
    int num_classes, input_size, channels, batch, threads, repeat, warmup, steps, seed;
    float eps, width;
    bool json, profile, chains, train_fold, dw_bn;
} bench_opts;

typedef struct bench {
    const bench_opts *o;
    rp_ctx *ctx;
    rp_model *m;
    rp_optim *opt;
    rp_objective *obj;
    float *x, *x_adv, *dlogits, *grad;
    int32_t *y;
    uint64_t draws; /* calls that drew random numbers so far: the next call's round */
    rp_profile_row *rows; /* --profile's, from rp_model_profile_rows */
    int n_rows;
} bench;

static double median(double *v, int n)
{
    for (int i = 1; i < n; i++) /* insertion sort: n is small */
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }

/* PGD-10 L-inf on the batch (see the top of the file). */
static void pgd_step(bench *b)
{
    const int B = b->o->batch, K = b->o->num_classes;
    const size_t n = (size_t)B * b->o->input_size * b->o->input_size * b->o->channels;
    const float eps = b->o->eps, alpha = 2.5f * eps / 10.0f;
    rp_random_uniform(b->ctx, b->x_adv, n, (uint64_t)b->o->seed, b->draws++); /* the random start */
    for (size_t i = 0; i < n; i++) b->x_adv[i] = clampf(b->x[i] + eps * (2.0f * b->x_adv[i] - 1.0f), 0.0f, 1.0f);
    for (int k = 0; k < 10; k++) {
        const float *z = rp_model_forward(b->m, b->x_adv, B, false);
        rp_softmax_xent(z, b->y, B, K, 0.0f, b->dlogits, 1.0f, NULL);
        rp_model_backward(b->m, b->dlogits, b->grad, RP_GRAD_INPUT);
        const float *x = b->x, *grad = b->grad;
        float *xa = b->x_adv;
        /* as PyTorch's element-wise ops, on every thread, vectorised: x is in [0, 1], so the
         * two clamps are one to [max(x - eps, 0), min(x + eps, 1)] */
#pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < n; i++) {
            float g = grad[i], step = (float)((g > 0.0f) - (g < 0.0f)) * alpha, v = xa[i] + step;
            float lo = x[i] - eps, hi = x[i] + eps;
            lo = lo > 0.0f ? lo : 0.0f;
            hi = hi < 1.0f ? hi : 1.0f;
            v = v > lo ? v : lo;
            xa[i] = v < hi ? v : hi;
        }
    }
    rp_model_forward(b->m, b->x_adv, B, false);
}

/* One step of the workload; 0 or an exit code. */
static int step(bench *b)
{
    int B = b->o->batch;
    if (!strcmp(b->o->mode, "eval")) { /* no backward follows: outputs in their slots */
        const float *logits;
        return rp_model_infer(b->ctx, b->m, b->x, B, &logits) == RP_OK ? 0 : cli_fail("bench", b->ctx);
    }
    if (!strcmp(b->o->mode, "pgd")) {
        pgd_step(b);
        return 0;
    }
    rp_step_stats st;
    if (rp_train_step(b->obj, b->opt, b->x, b->y, B, &st) != RP_OK) return cli_fail("bench", b->ctx);
    return 0;
}

static int setup(bench *b)
{
    const bench_opts *o = b->o;
    rp_model_config cfg = {.arch = o->model, .num_classes = o->num_classes, .H = o->input_size,
                           .W = o->input_size, .C = o->channels, .max_batch = o->batch,
                           .seed = (uint64_t)o->seed, .width = o->width};
    for (int c = 0; c < 4; c++) cfg.mean[c] = 0.5f, cfg.std[c] = 0.25f;
    if (rp_model_create(b->ctx, &cfg, &b->m) != RP_OK) return cli_fail("bench", b->ctx);
    size_t X = (size_t)o->input_size * o->input_size * o->channels, n = (size_t)o->batch * X;
    b->x = malloc(n * sizeof *b->x);
    b->x_adv = malloc(n * sizeof *b->x_adv);
    b->grad = malloc(n * sizeof *b->grad);
    b->dlogits = malloc((size_t)o->batch * o->num_classes * sizeof *b->dlogits);
    b->y = malloc((size_t)o->batch * sizeof *b->y);
    if (!b->x || !b->x_adv || !b->grad || !b->dlogits || !b->y) {
        fprintf(stderr, "rampart bench: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    int *y = malloc((size_t)o->batch * sizeof *y); /* random images and labels */
    if (!y) {
        fprintf(stderr, "rampart bench: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    rp_status s = rp_random_uniform(b->ctx, b->x, n, (uint64_t)o->seed, b->draws++);
    if (s == RP_OK) s = rp_resample(b->ctx, y, o->batch, o->num_classes, (uint64_t)o->seed, b->draws++);
    for (int i = 0; s == RP_OK && i < o->batch; i++) b->y[i] = (int32_t)y[i];
    free(y);
    if (s != RP_OK) return cli_fail("bench", b->ctx);
    if (!strcmp(o->mode, "eval") || !strcmp(o->mode, "pgd")) return 0;
    rp_optim_config oc = rp_optim_defaults(RP_SGD);
    oc.lr = 0.01f;
    oc.momentum = 0.9f;
    if (rp_optim_create(b->ctx, b->m, &oc, &b->opt) != RP_OK) return cli_fail("bench", b->ctx);
    rp_objective_config jc = rp_objective_defaults();
    if (!strcmp(o->mode, "advreg")) {
        jc.kind = RP_OBJ_ADVREG;
        jc.norm = RP_NORM_LINF;
        jc.step = o->eps;
        jc.eps = o->eps;
        jc.steps = 1;
    }
    if (rp_objective_create(b->ctx, b->m, &jc, o->batch, &b->obj) != RP_OK) return cli_fail("bench", b->ctx);
    return 0;
}

static void teardown(bench *b)
{
    if (b->obj) rp_objective_destroy(b->obj);
    if (b->opt) rp_optim_destroy(b->opt);
    if (b->m) rp_model_destroy(b->m);
    free(b->rows);
    free(b->x);
    free(b->x_adv);
    free(b->grad);
    free(b->dlogits);
    free(b->y);
}

/* Best of a few 1024^3 SGEMMs by OpenBLAS, in GFLOP/s: the machine's rate as the kernels use it,
 * OpenBLAS single-threaded on each of `threads` OpenMP threads, each taking a band of columns.
 * (OpenBLAS's own thread pool would compete with OpenMP threads that spin under
 * OMP_WAIT_POLICY=active: measured at 181 against 270 GFLOP/s on an Intel Xeon.) */
static double sgemm_gflops(int threads)
{
    enum { N = 1024 };
    float *a = calloc((size_t)3 * N * N, sizeof *a);
    if (!a) return 0.0;
    for (size_t i = 0; i < (size_t)2 * N * N; i++) a[i] = (float)(i % 7) * 0.25f;
    const float *b = a + (size_t)N * N;
    float *c = a + (size_t)2 * N * N;
    double best = 0.0;
    for (int r = 0; r < 6; r++) {
        double t0 = cli_now();
#pragma omp parallel num_threads(threads)
        {
            int t = omp_get_thread_num(), nt = omp_get_num_threads();
            int c0 = N * t / nt, c1 = N * (t + 1) / nt;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, c1 - c0, N, 1.0f, a, N, b + c0, N, 0.0f,
                        c + c0, N);
        }
        double dt = cli_now() - t0;
        if (r > 0 && 2.0 * N * N * N / dt > best) best = 2.0 * N * N * N / dt;
    }
    free(a);
    return best * 1e-9;
}

static int run_steps(bench *b, int steps, double *seconds)
{
    double t0 = cli_now();
    for (int s = 0; s < steps; s++) {
        int rc = step(b);
        if (rc) return rc;
    }
    *seconds = cli_now() - t0;
    return 0;
}

typedef struct bench_result {
    double median, min, max;
    int steps, repeat;
    double step_ms, step_gflop, sgemm_gflops, fma_gflops, bf16_gflops; /* from --profile */
} bench_result;

/* The profiled steps: every layer's (and chain's) time and FLOPs through the library's profile
 * rows; the step's FLOPs are their sum. */
static int bench_profile(bench *b, bench_result *res)
{
    rp_model_profile_start(b->m);
    double secs = 0.0;
    int rc = run_steps(b, res->steps, &secs);
    rp_model_profile_stop(b->m);
    if (rc) return rc;
    int max_rows = 2 * rp_model_num_layers(b->m);
    b->rows = malloc((size_t)max_rows * sizeof *b->rows);
    if (!b->rows) {
        fprintf(stderr, "rampart bench: out of memory for %d profile rows\n", max_rows);
        return CLI_EXIT_FAIL;
    }
    b->n_rows = rp_model_profile_rows(b->m, b->rows, max_rows);
    res->step_ms = secs * 1e3 / res->steps;
    double flop = 0.0;
    for (int k = 0; k < b->n_rows; k++) flop += b->rows[k].fwd_flop + b->rows[k].bwd_flop;
    res->step_gflop = flop * 1e-9 / res->steps;
    res->sgemm_gflops = sgemm_gflops(b->o->threads);
    res->fma_gflops = rp_fma_peak(b->o->threads);
    res->bf16_gflops = rp_bf16_peak(b->o->threads);
    return 0;
}

static void print_profile(const bench *b, const bench_result *res)
{
    double S = res->steps, layers = 0.0;
    printf("\n%-28s %-15s %9s %9s %8s %8s %6s\n", "layer", "kind", "fwd ms", "bwd ms", "fwd GF/s",
           "bwd GF/s", "share");
    for (int k = 0; k < b->n_rows; k++) {
        const rp_profile_row *r = &b->rows[k];
        double f = r->fwd_ms / S, bw = r->bwd_ms / S;
        layers += f + bw;
        printf("%-28.28s %-15.15s %9.3f %9.3f %8.1f %8.1f %5.1f%%\n", r->name, r->kind, f, bw,
               f > 0 ? r->fwd_flop / S / f * 1e-6 : 0.0, bw > 0 ? r->bwd_flop / S / bw * 1e-6 : 0.0,
               100.0 * (f + bw) / res->step_ms);
    }
    double rate = res->step_gflop / (res->step_ms * 1e-3);
    printf("\nstep %.2f ms (layers %.2f ms, rest %.2f ms); %.3f GFLOP per step = %.1f GFLOP/s\n",
           res->step_ms, layers, res->step_ms - layers, res->step_gflop, rate);
    printf("SGEMM 1024^3 on %d threads: %.1f GFLOP/s; the step reaches %.1f%% of it\n", b->o->threads,
           res->sgemm_gflops, res->sgemm_gflops > 0 ? 100.0 * rate / res->sgemm_gflops : 0.0);
    printf("FMA peak (%s) on %d threads: %.1f GFLOP/s; the step reaches %.1f%% of it\n", rp_simd_info(),
           b->o->threads, res->fma_gflops, res->fma_gflops > 0 ? 100.0 * rate / res->fma_gflops : 0.0);
    if (res->bf16_gflops > 0)
        printf("BF16 dot-product peak (AVX512_BF16) on %d threads: %.1f GFLOP/s, %.2fx the FMA peak%s\n",
               b->o->threads, res->bf16_gflops, res->fma_gflops > 0 ? res->bf16_gflops / res->fma_gflops : 0.0,
               res->fma_gflops > 0 && res->bf16_gflops < 1.25 * res->fma_gflops
                   ? " (--precision bf16 cannot pay here)"
                   : "");
    if (strstr(rp_kernel_info(), "Winograd"))
        printf("(FLOP are a direct convolution's multiply-adds x 2; 3x3 stride-1 convs with 16+ channels run\n"
               " Winograd F(2x2,3x3), 2.25x fewer in their products: their GF/s is the direct rate they match)\n");
}

static void json_profile(const bench *b, const bench_result *res, cJSON *o)
{
    double S = res->steps;
    cJSON_AddNumberToObject(o, "step_ms", res->step_ms);
    cJSON_AddNumberToObject(o, "step_gflop", res->step_gflop);
    cJSON_AddNumberToObject(o, "sgemm_gflops", res->sgemm_gflops);
    cJSON_AddNumberToObject(o, "sgemm_fraction", res->step_gflop / (res->step_ms * 1e-3) / res->sgemm_gflops);
    cJSON_AddNumberToObject(o, "fma_peak_gflops", res->fma_gflops);
    cJSON_AddNumberToObject(o, "bf16_peak_gflops", res->bf16_gflops);
    cJSON *arr = cJSON_AddArrayToObject(o, "layers"); /* chains run as one kernel included, in order */
    for (int k = 0; k < b->n_rows; k++) {
        const rp_profile_row *r = &b->rows[k];
        cJSON *l = cJSON_CreateObject();
        cJSON_AddStringToObject(l, "name", r->name);
        cJSON_AddStringToObject(l, "kind", r->kind);
        cJSON_AddNumberToObject(l, "fwd_ms", r->fwd_ms / S);
        cJSON_AddNumberToObject(l, "bwd_ms", r->bwd_ms / S);
        cJSON_AddNumberToObject(l, "fwd_gflop", r->fwd_flop / S * 1e-9);
        cJSON_AddNumberToObject(l, "bwd_gflop", r->bwd_flop / S * 1e-9);
        cJSON_AddItemToArray(arr, l);
    }
}

static void bench_report(const bench *b, const bench_result *res)
{
    const bench_opts *o = b->o;
    char cpu[128];
    cli_cpu_name(cpu, sizeof cpu);
    const char *simd = rp_simd_info(), *wait = getenv("OMP_WAIT_POLICY");
    struct rusage ru;
    double rss_mb = getrusage(RUSAGE_SELF, &ru) == 0 ? (double)ru.ru_maxrss / 1024.0 : 0.0; /* KiB on Linux */
    if (o->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "model", o->model);
        cJSON_AddStringToObject(j, "mode", o->mode);
        cJSON_AddNumberToObject(j, "batch", o->batch);
        cJSON_AddNumberToObject(j, "input_size", o->input_size);
        cJSON_AddNumberToObject(j, "channels", o->channels);
        cJSON_AddNumberToObject(j, "num_classes", o->num_classes);
        cJSON_AddNumberToObject(j, "width", o->width);
        cJSON_AddNumberToObject(j, "threads", o->threads);
        cJSON_AddNumberToObject(j, "images_per_s", res->median);
        cJSON_AddNumberToObject(j, "images_per_s_min", res->min);
        cJSON_AddNumberToObject(j, "images_per_s_max", res->max);
        cJSON_AddNumberToObject(j, "repeat", res->repeat);
        cJSON_AddNumberToObject(j, "steps_per_repeat", res->steps);
        cJSON_AddNumberToObject(j, "peak_rss_mb", rss_mb);
        cJSON_AddStringToObject(j, "cpu", cpu);
        cJSON_AddStringToObject(j, "simd", simd);
        cJSON_AddStringToObject(j, "blas", rp_blas_info());
        cJSON_AddStringToObject(j, "kernels", rp_kernel_info());
        cJSON_AddStringToObject(j, "precision", rp_precision_name(rp_get_precision()));
        cJSON_AddStringToObject(j, "omp_wait_policy", wait ? wait : "unset");
        if (o->profile) json_profile(b, res, j);
        char *s = cJSON_PrintUnformatted(j);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(j);
        return;
    }
    printf("rampart bench: %s %s, batch %d, input %dx%dx%d, %d classes, %d threads\n", o->model, o->mode,
           o->batch, o->input_size, o->input_size, o->channels, o->num_classes, o->threads);
    printf("cpu: %s; simd %s; kernels %s; precision %s; blas %s; OMP_WAIT_POLICY %s\n", cpu, simd, rp_kernel_info(),
           rp_precision_name(rp_get_precision()), rp_blas_info(), wait ? wait : "unset");
    printf("images/s: median %.1f (min %.1f, max %.1f) over %d repetitions of %d steps; peak RSS %.0f MB\n",
           res->median, res->min, res->max, res->repeat, res->steps, rss_mb);
    if (o->profile) print_profile(b, res);
}

int cmd_bench(int argc, char **argv)
{
    bench_opts o;
    cli_flag flags[] = {
        {"--model", CLI_STRING, &o.model, "mobilenet_v2", "architecture"},
        {"--num-classes", CLI_INT, &o.num_classes, "200", "classes"},
        {"--width", CLI_FLOAT, &o.width, "1", "mobilenet_v2's width multiplier"},
        {"--input-size", CLI_INT, &o.input_size, "64", "input height and width"},
        {"--channels", CLI_INT, &o.channels, "3", "input channels"},
        {"--batch", CLI_INT, &o.batch, "64", "batch size"},
        {"--threads", CLI_INT, &o.threads, "2", "CPU threads"},
        CLI_PRECISION_FLAG(&o.precision),
        {"--mode", CLI_STRING, &o.mode, "train", "workload: train, advreg, pgd, eval"},
        {"--repeat", CLI_INT, &o.repeat, "5", "timed repetitions (the median is reported)"},
        {"--warmup", CLI_INT, &o.warmup, "1", "untimed repetitions first"},
        {"--steps", CLI_INT, &o.steps, "0", "steps per repetition (0: enough for ~0.5 s)"},
        {"--eps", CLI_FLOAT, &o.eps, "0.001", "advreg step and radius; pgd radius (L-inf, step 2.5 eps / 10)"},
        {"--seed", CLI_INT, &o.seed, "1", "seed for weights and data"},
        {"--profile", CLI_BOOL, &o.profile, "false", "per-layer forward/backward ms and GFLOP/s"},
        {"--chains", CLI_BOOL, &o.chains, "true",
         "evaluation passes run conv chains (inverted residual blocks) as one kernel; --chains=false: layer by layer"},
        {"--train-fold", CLI_BOOL, &o.train_fold, "true",
         "training: expand convs do the batch norm after them (statistics from their input's moments); "
         "--train-fold=false: layer by layer"},
        {"--dw-bn", CLI_BOOL, &o.dw_bn, "true",
         "training: depthwise convs do the backward of the batch norm after them, its input gradient a tile at a "
         "time; --dw-bn=false: layer by layer"},
        {"--json", CLI_BOOL, &o.json, "false", "one JSON object on stdout"},
    };
    int rc = cli_parse("bench", "Images per second of one workload on random data, median over repetitions.",
                       flags, (int)(sizeof flags / sizeof flags[0]), argc, argv);
    if (rc) return rc > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    const char *modes[] = {"train", "advreg", "pgd", "eval"};
    bool known = false;
    for (int i = 0; i < 4; i++) known |= !strcmp(o.mode, modes[i]);
    if (!known || o.batch < 1 || o.threads < 1 || o.repeat < 1 || o.warmup < 0 || o.steps < 0 ||
        o.num_classes < 2 || o.input_size < 1 || o.channels < 1 || o.channels > 4 || !(o.eps > 0)) {
        fprintf(stderr, "rampart bench: bad arguments (--mode train|advreg|pgd|eval; positive sizes, "
                        "1..4 channels, at least 2 classes)\n");
        return CLI_EXIT_USAGE;
    }
    if ((rc = cli_set_precision("bench", o.precision))) return rc;
    rp_set_threads(o.threads);
    bench b = {.o = &o, .ctx = rp_ctx_create(o.threads)};
    if (!b.ctx) return CLI_EXIT_FAIL;
    rc = setup(&b);
    if (!rc && rp_model_set_plan_options(b.ctx, b.m, (o.chains ? 0u : RP_PLAN_NO_CHAIN) |
                                                         (o.train_fold ? 0u : RP_PLAN_NO_TRAIN_FOLD) |
                                                         (o.dw_bn ? 0u : RP_PLAN_NO_DW_BN)) != RP_OK)
        rc = cli_fail("bench", b.ctx);
    double secs = 0.0;
    int steps = o.steps;
    for (int w = 0; w < o.warmup && !rc; w++) rc = run_steps(&b, steps ? steps : 1, &secs);
    if (!rc && !steps) {
        rc = run_steps(&b, 1, &secs);
        steps = secs > 0.5 ? 1 : (int)(0.5 / (secs > 1e-4 ? secs : 1e-4)) + 1;
    }
    double *ips = calloc((size_t)o.repeat, sizeof *ips);
    for (int r = 0; r < o.repeat && !rc; r++) {
        rc = run_steps(&b, steps, &secs);
        ips[r] = (double)steps * o.batch / secs;
    }
    if (!rc) {
        bench_result res = {.steps = steps, .repeat = o.repeat};
        for (int r = 0; r < o.repeat; r++) {
            if (r == 0 || ips[r] < res.min) res.min = ips[r];
            if (r == 0 || ips[r] > res.max) res.max = ips[r];
        }
        res.median = median(ips, o.repeat);
        if (o.profile) rc = bench_profile(&b, &res);
        if (!rc) bench_report(&b, &res);
    }
    free(ips);
    teardown(&b);
    rp_ctx_destroy(b.ctx);
    return rc;
}
