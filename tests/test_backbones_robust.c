/* Every training objective, attack and explanation on the four large torchvision backbones
 * (efficientnet_b0, resnet50, resnext50_32x4d, densenet121), each at the smallest square input
 * whose last feature map is 2x2, so that CAM has a map (33 pixels; 61 for DenseNet, whose
 * transitions' 2x2 average pools round down), 10 classes, random weights from the models' own
 * initialisers, batches of 2-4. One model per backbone serves its three tests.
 *  - Objectives (one SGD step each, from the same weights): erm, advreg, fgsm, fast, pgd,
 *    trades, AugMix's consistency on erm and on pgd, and SAM on erm give a finite loss; every
 *    trainable tensor moves and so do the batch norms' running statistics (training mode); the
 *    adversarial objectives' x_adv stays inside the eps-ball and [0, 1].
 *  - Attacks (evaluation mode; labels the model's predictions on images first made confident,
 *    so every clean example is correct and noise rarely flips one): noise, fgsm, fgsm-rs, pgd
 *    (L-inf and L2), apgd-ce, apgd-t, square and the per-example worst case, with 1-2 steps and
 *    20 queries, keep x_adv inside the ball and [0, 1] (element by element here, and by
 *    rp_attack_check_ball); success is the model's prediction on x_adv; each attack lowers the
 *    mean margin z_y - max_{k != y} z_k (and raises the cross-entropy, for those that maximise
 *    it) below the clean images' and below noise's of the same eps, and fools at least as many
 *    examples as noise; the worst case fools at least half, more than noise and at least as
 *    many as APGD-CE; no weight or running statistic changes.
 *  - Explanations (evaluation mode): every method's maps are finite and vary over each image
 *    (attr too for the gradient methods, which the others leave alone; the low-resolution map
 *    for the CAM family); saliency's signed map has a positive and a negative part; Integrated
 *    Gradients is complete up to the gap it reports; guided backpropagation is the vanilla
 *    gradient on EfficientNet (no ReLU) and differs from it on the others; the CAM family's
 *    default layer is the last conv stage, the node global average pooling reads (ResNet's
 *    "layer4.2", DenseNet's final "relu", EfficientNet's "features.8.2"), 2x2, where Grad-CAM =
 *    CAM / (h w) (Selvaraju et al. sec. 3.1); no weight or running statistic changes.
 * Internal headers, for what the public API does not expose: nn/model.h (the parameter and
 * buffer arrays, rp_model_copy_buffers, the batch-norm calibration rp_model_adapt_bn_*, graph
 * nodes) and robust/objective.h (an objective's x_adv, rp_objective_set_sam). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_testutil.h"
#include "rampart.h"
#include "robust/objective.h"

enum { K = 10, MAX_B = 8, B_OBJ = 2, B_ATK = 4, B_XAI = 2 };
#define EPS (8.0f / 255.0f)         /* the objectives' */
#define ATK_EPS (1.0f / 255.0f)     /* the attacks' L-inf radius: random backbones are that fragile */
#define ATK_EPS_L2 (16.0f / 255.0f) /* and L2 */
enum { SQUARE_QUERIES = 20 };

typedef struct backbone {
    const char *arch;
    int H;                 /* the smallest square input with a 2x2 last feature map */
    const char *cam_layer; /* the last conv stage's output: the node feeding avgpool */
    bool has_relu;         /* guided backpropagation differs from the gradient */
} backbone;

static const backbone EFFNET = {"efficientnet_b0", 33, "features.8.2", false};
static const backbone RESNET50 = {"resnet50", 33, "layer4.2", true};
static const backbone RESNEXT = {"resnext50_32x4d", 33, "layer4.2", true};
static const backbone DENSENET = {"densenet121", 61, "relu", true};

typedef struct fixture {
    rp_ctx *ctx;
    rp_model *m;
    int H;
    size_t X; /* H * W * 3 */
} fixture;

static void ok(rp_ctx *ctx, rp_status s, const char *what)
{
    if (s != RP_OK) fail_msg("%s: %s: %s", what, rp_status_name(s), rp_ctx_error(ctx));
}

/* The model of the backbone the running test is about, made once for its three tests (each
 * sets the running statistics it needs; the objectives put the weights back). */
static fixture CUR;

static void close_backbone(void)
{
    rp_model_destroy(CUR.m);
    rp_ctx_destroy(CUR.ctx);
    CUR = (fixture){0};
}

static fixture *use_backbone(const backbone *b)
{
    if (CUR.m && !strcmp(CUR.m->arch, b->arch)) return &CUR;
    close_backbone();
    CUR = (fixture){.ctx = rp_ctx_create(2), .H = b->H, .X = (size_t)b->H * b->H * 3};
    rp_model_config c = mtu_config(b->arch, K, b->H, MAX_B);
    CUR.m = mtu_create(CUR.ctx, &c);
    return &CUR;
}

static int teardown(void **state)
{
    (void)state;
    close_backbone();
    return 0;
}

/* OWNED: B images of U(0, 1). */
static float *images(const fixture *f, int B, uint64_t seed)
{
    float *x = malloc((size_t)B * f->X * sizeof *x);
    assert_non_null(x);
    tu_fill_uniform(x, (size_t)B * f->X, 0.0f, 1.0f, seed);
    return x;
}

/* The initial running statistics (mean 0, variance 1) are not those of a random network's
 * activations: set them to x's batch statistics (momentum 1), as training would bring them
 * close to, so that evaluation mode sees the network training mode does. */
static void calibrate_bn(fixture *f, const float *x, int B)
{
    float *saved = NULL;
    ok(f->ctx, rp_model_adapt_bn_begin(f->ctx, f->m, &saved), "adapt-bn");
    rp_model_adapt_bn_batch(f->m, x, B);
    free(saved); /* keep the calibrated statistics */
}

/* ---- snapshots of the weights and running statistics ------------------------------------- */

typedef struct snapshot {
    float *w;   /* every trainable tensor, in order */
    float *buf; /* rp_model_copy_buffers' layout */
} snapshot;

static snapshot take(const rp_model *m)
{
    size_t n = 0;
    for (int i = 0; i < m->g.n_params; i++)
        if (m->g.params[i].trainable) n += m->g.params[i].numel;
    snapshot s = {malloc(n * sizeof(float)), malloc((rp_model_buffer_floats(m) + 1) * sizeof(float))};
    assert_true(s.w && s.buf);
    n = 0;
    for (int i = 0; i < m->g.n_params; i++) {
        const rp_param *p = &m->g.params[i];
        if (!p->trainable) continue;
        memcpy(s.w + n, p->data, p->numel * sizeof(float));
        n += p->numel;
    }
    rp_model_copy_buffers((rp_model *)m, s.buf, true);
    return s;
}

/* How many trainable tensors differ from the snapshot (*first_same: the first that does not,
 * or NULL); whether any buffer float does. */
static int changed_tensors(const rp_model *m, const snapshot *s, const char **first_same, bool *buffers)
{
    int n_changed = 0;
    size_t off = 0;
    if (first_same) *first_same = NULL;
    for (int i = 0; i < m->g.n_params; i++) {
        const rp_param *p = &m->g.params[i];
        if (!p->trainable) continue;
        bool diff = memcmp(s->w + off, p->data, p->numel * sizeof(float)) != 0;
        n_changed += diff;
        if (!diff && first_same && !*first_same) *first_same = p->name;
        off += p->numel;
    }
    size_t nb = rp_model_buffer_floats(m);
    float *now = malloc((nb + 1) * sizeof(float));
    assert_non_null(now);
    rp_model_copy_buffers((rp_model *)m, now, true);
    *buffers = memcmp(now, s->buf, nb * sizeof(float)) != 0;
    free(now);
    return n_changed;
}

static int trainable_tensors(const rp_model *m)
{
    int n = 0;
    for (int i = 0; i < m->g.n_params; i++) n += m->g.params[i].trainable;
    return n;
}

static void expect_untouched(const rp_model *m, const snapshot *s, const char *what)
{
    bool buffers;
    int n = changed_tensors(m, s, NULL, &buffers);
    if (n || buffers)
        fail_msg("%s %s changed %d weight tensors%s", m->arch, what, n, buffers ? " and running statistics" : "");
}

/* Back to the snapshot's weights and running statistics. */
static void restore(rp_model *m, const snapshot *s)
{
    size_t off = 0;
    for (int i = 0; i < m->g.n_params; i++) {
        rp_param *p = &m->g.params[i];
        if (!p->trainable) continue;
        memcpy(p->data, s->w + off, p->numel * sizeof(float));
        off += p->numel;
    }
    rp_model_copy_buffers(m, s->buf, false);
}

static void drop(snapshot *s)
{
    free(s->w), free(s->buf);
}

/* Every element of x_adv (B images of X floats) within eps of x (L-inf) and inside [0, 1];
 * fails naming the first that is not. Independent of rp_attack_check_ball. */
static void expect_in_box(const char *what, const float *x, const float *xa, int B, size_t X, float eps)
{
    float tol = 1e-6f + 1e-6f * eps;
    for (size_t k = 0; k < (size_t)B * X; k++)
        if (!(xa[k] >= 0.0f && xa[k] <= 1.0f && fabsf(xa[k] - x[k]) <= eps + tol))
            fail_msg("%s: element %zu of image %zu is %.9g, clean %.9g (eps %g, range [0, 1])", what, k % X, k / X,
                     (double)xa[k], (double)x[k], (double)eps);
}

/* ---- objectives ----------------------------------------------------------------------------- */

typedef struct objective_case {
    const char *name;
    rp_objective_config cfg;
    float sam_rho;
} objective_case;

static void objectives(const backbone *b)
{
    fixture *f = use_backbone(b);
    float *x = images(f, B_OBJ, 11), *views = images(f, 2 * B_OBJ, 12);
    int32_t y[B_OBJ] = {1, 7};
    rp_objective_config base = rp_objective_defaults();
    base.norm = RP_NORM_LINF, base.eps = EPS, base.random_init = true, base.seed = 3;
    objective_case cases[10];
    int n = 0;
    cases[n++] = (objective_case){"erm", base, 0};
    cases[n] = (objective_case){"advreg", rp_objective_defaults(), 0}; /* NSL's: L2, unbounded */
    cases[n++].cfg.kind = RP_OBJ_ADVREG;
    cases[n] = (objective_case){"fgsm", base, 0};
    cases[n].cfg.kind = RP_OBJ_FGSM, cases[n++].cfg.random_init = false;
    cases[n] = (objective_case){"fast", base, 0};
    cases[n++].cfg.kind = RP_OBJ_FAST;
    cases[n] = (objective_case){"pgd", base, 0};
    cases[n].cfg.kind = RP_OBJ_PGD, cases[n++].cfg.steps = 2;
    cases[n] = (objective_case){"trades", base, 0};
    cases[n].cfg.kind = RP_OBJ_TRADES, cases[n++].cfg.random_init = false;
    cases[n] = (objective_case){"erm + consistency", base, 0};
    cases[n++].cfg.consistency = 12.0f;
    cases[n] = (objective_case){"pgd + consistency", base, 0};
    cases[n].cfg.kind = RP_OBJ_PGD, cases[n++].cfg.consistency = 12.0f;
    cases[n++] = (objective_case){"erm + sam", base, 0.05f};
    const int all = trainable_tensors(f->m);
    calibrate_bn(f, views, 2 * B_OBJ); /* the inner maximisations run in evaluation mode */
    snapshot s = take(f->m);             /* every objective steps from here */
    for (int c = 0; c < n; c++) {
        const objective_case *oc = &cases[c];
        rp_objective *o;
        rp_optim *opt;
        mtu_objective(f->ctx, f->m, &oc->cfg, B_OBJ, 0.1f, &o, &opt);
        if (oc->sam_rho > 0) ok(f->ctx, rp_objective_set_sam(o, oc->sam_rho), "sam");
        restore(f->m, &s);
        rp_step_stats st;
        ok(f->ctx, rp_train_step_views(o, opt, x, views, y, B_OBJ, &st), oc->name);
        if (!isfinite(st.loss) || !isfinite(st.clean_loss) || !isfinite(st.adv_loss) || !(st.loss > 0.0f))
            fail_msg("%s %s: loss %g (clean %g, adversarial %g)", b->arch, oc->name, (double)st.loss,
                     (double)st.clean_loss, (double)st.adv_loss);
        if (oc->cfg.consistency > 0 && !(st.consistency_loss > 0.0f && isfinite(st.consistency_loss)))
            fail_msg("%s %s: consistency loss %g", b->arch, oc->name, (double)st.consistency_loss);
        const char *same;
        bool buffers;
        int moved = changed_tensors(f->m, &s, &same, &buffers);
        printf("# %s %-18s loss %.4f (clean %.4f, adversarial %.4f, JS %.4f): %d of %d tensors moved\n", b->arch,
               oc->name, (double)st.loss, (double)st.clean_loss, (double)st.adv_loss, (double)st.consistency_loss,
               moved, all);
        if (moved != all)
            fail_msg("%s %s: only %d of %d trainable tensors moved (%s did not)", b->arch, oc->name, moved, all, same);
        if (!buffers) fail_msg("%s %s: the batch norms' running statistics did not move", b->arch, oc->name);
        if (oc->cfg.kind != RP_OBJ_ERM) {
            char what[96];
            snprintf(what, sizeof what, "%s %s x_adv", b->arch, oc->name);
            expect_in_box(what, x, o->x_adv, B_OBJ, f->X, oc->cfg.kind == RP_OBJ_ADVREG ? INFINITY : EPS);
        }
        ok(f->ctx, rp_model_check_finite(f->ctx, f->m), oc->name);
        rp_optim_destroy(opt);
        rp_objective_destroy(o);
    }
    restore(f->m, &s);
    drop(&s);
    free(x), free(views);
}

/* ---- attacks ---------------------------------------------------------------------------------- */

/* Per example in evaluation mode: cross-entropy of x against y, the margin z_y - max_{k != y} z_k,
 * and whether it is misclassified (margin < 0, ties aside). */
typedef struct scores {
    float ce[B_ATK], margin[B_ATK];
    bool wrong[B_ATK];
} scores;

static void score(rp_model *m, const float *x, const int32_t *y, scores *s)
{
    const float *z = rp_model_forward(m, x, B_ATK, false);
    for (int i = 0; i < B_ATK; i++, z += K) {
        int hit = 0;
        s->ce[i] = rp_softmax_xent(z, y + i, 1, K, 0.0f, NULL, 1.0f, &hit);
        s->wrong[i] = !hit;
        float other = -INFINITY;
        for (int k = 0; k < K; k++)
            if (k != y[i] && z[k] > other) other = z[k];
        s->margin[i] = z[y[i]] - other;
    }
}

static double mean(const float *v, int n)
{
    double s = 0.0;
    for (int i = 0; i < n; i++) s += v[i];
    return s / n;
}

static int count(const bool *v, int n)
{
    int c = 0;
    for (int i = 0; i < n; i++) c += v[i];
    return c;
}

/* x_adv of attack cfg on (x, y), checked to be inside the ball and [0, 1], its success flags
 * those of the model's predictions; sc gets its scores. */
static void attack(fixture *f, const rp_attack_config *cfg, const float *x, const int32_t *y, float *xa, scores *sc)
{
    const char *name = rp_attack_name(cfg->kind);
    rp_attack *a = NULL;
    ok(f->ctx, rp_attack_create(f->ctx, f->m, cfg, B_ATK, &a), name);
    bool succ[B_ATK];
    long passes = 0;
    ok(f->ctx, rp_attack_run(a, x, y, NULL, B_ATK, xa, succ, &passes), name);
    rp_attack_destroy(a);
    char what[96];
    snprintf(what, sizeof what, "%s %s (%s)", f->m->arch, name, cfg->norm == RP_NORM_L2 ? "L2" : "L-inf");
    expect_in_box(what, x, xa, B_ATK, f->X, cfg->norm == RP_NORM_LINF ? cfg->eps : INFINITY);
    float mx = 0;
    if (!rp_attack_check_ball(x, xa, B_ATK, f->X, cfg->norm, cfg->eps, 0.0f, 1.0f, &mx))
        fail_msg("%s: outside the ball or [0, 1] (largest norm %g, eps %g)", what, (double)mx, (double)cfg->eps);
    score(f->m, xa, y, sc);
    for (int i = 0; i < B_ATK; i++)
        if (succ[i] != sc->wrong[i])
            fail_msg("%s: example %d reported %s but is %s", what, i, succ[i] ? "fooled" : "robust",
                     sc->wrong[i] ? "misclassified" : "classified correctly");
    printf("# %-34s %2ld passes, norm %.4f, fooled %d, CE %7.3f, mean margin %+8.3f\n", what, passes, (double)mx,
           count(sc->wrong, B_ATK), mean(sc->ce, B_ATK), mean(sc->margin, B_ATK));
}

/* An attack of kind with few steps / queries (WORST: APGD-CE, APGD-T on the top two other
 * classes and Square, in turn, on the examples still robust). */
static rp_attack_config few_steps(rp_attack_kind kind, rp_norm norm)
{
    rp_attack_config c = rp_attack_defaults(kind, norm == RP_NORM_L2 ? ATK_EPS_L2 : ATK_EPS);
    c.norm = norm;
    if (kind == RP_ATTACK_PGD || kind == RP_ATTACK_APGD_CE || kind == RP_ATTACK_APGD_T || kind == RP_ATTACK_WORST)
        c.steps = 2;
    if (kind == RP_ATTACK_SQUARE) c.steps = SQUARE_QUERIES;
    c.square_queries = SQUARE_QUERIES, c.n_target_classes = 2, c.seed = 5;
    return c;
}

/* Make the examples confidently classified as y: random weights leave margins of hundredths,
 * which noise of 0.5/255 already flips. Steps of signed gradient DEscent on the cross-entropy,
 * kept in [0, 1], through the public forward and backward; an example keeps its step only if
 * its margin grew, else its next step is half as long: a fixed step overshoots on these fragile
 * networks now and then (ResNet-50 turned one example's margin from +0.26 to -0.25), and on
 * which example depends on the CPU's rounding. */
static void sharpen(fixture *f, float *x, const int32_t *y, int steps, float step)
{
    const size_t X = (size_t)f->X;
    float *g = malloc(2 * B_ATK * X * sizeof *g), *xn = g + B_ATK * X, dl[B_ATK * K], len[B_ATK];
    assert_non_null(g);
    scores now, next;
    score(f->m, x, y, &now);
    for (int i = 0; i < B_ATK; i++) len[i] = step;
    for (int s = 0; s < steps; s++) {
        const float *z = rp_model_forward(f->m, x, B_ATK, false);
        rp_softmax_xent(z, y, B_ATK, K, 0.0f, dl, 1.0f, NULL);
        rp_model_backward(f->m, dl, g, RP_GRAD_INPUT);
        for (size_t k = 0; k < B_ATK * X; k++) {
            float a = len[k / X], v = x[k] - (g[k] > 0.0f ? a : g[k] < 0.0f ? -a : 0.0f);
            xn[k] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
        }
        score(f->m, xn, y, &next);
        for (int i = 0; i < B_ATK; i++) {
            if (!(next.margin[i] > now.margin[i])) {
                len[i] *= 0.5f;
                continue;
            }
            memcpy(x + i * X, xn + i * X, X * sizeof *x);
            now.margin[i] = next.margin[i];
        }
    }
    free(g);
}

static void attacks(const backbone *b)
{
    fixture *f = use_backbone(b);
    float *x = images(f, B_ATK, 21), *xa = images(f, B_ATK, 22);
    calibrate_bn(f, x, B_ATK);
    snapshot s = take(f->m);
    int32_t y[B_ATK];
    const float *z = rp_model_forward(f->m, x, B_ATK, false);
    for (int i = 0; i < B_ATK; i++) { /* the model's own predictions */
        y[i] = 0;
        for (int k = 1; k < K; k++)
            if (z[i * K + k] > z[i * K + y[i]]) y[i] = k;
    }
    scores before, clean, noise, sc, apgd_ce = {0};
    score(f->m, x, y, &before);
    sharpen(f, x, y, 4, 0.25f / 255.0f);
    score(f->m, x, y, &clean);
    /* every clean example is correct, and descending the input gradient made them more so (a
     * sharpening step is kept only where it raises the margin: none kept, none raised) */
    assert_int_equal(count(clean.wrong, B_ATK), 0);
    if (!(mean(clean.margin, B_ATK) > mean(before.margin, B_ATK)))
        fail_msg("%s: sharpening left the mean margin at %g (before %g)", b->arch, mean(clean.margin, B_ATK),
                 mean(before.margin, B_ATK));
    printf("# %-34s clean: CE %.3f, mean margin %+.3f\n", b->arch, mean(clean.ce, B_ATK), mean(clean.margin, B_ATK));
    rp_attack_config nc = few_steps(RP_ATTACK_NOISE, RP_NORM_LINF);
    attack(f, &nc, x, y, xa, &noise);
    static const struct { rp_attack_kind kind; rp_norm norm; bool ce; } LIST[] = {
        {RP_ATTACK_FGSM, RP_NORM_LINF, true},    {RP_ATTACK_FGSM_RS, RP_NORM_LINF, true},
        {RP_ATTACK_PGD, RP_NORM_LINF, true},     {RP_ATTACK_PGD, RP_NORM_L2, true},
        {RP_ATTACK_APGD_CE, RP_NORM_LINF, true}, {RP_ATTACK_APGD_T, RP_NORM_LINF, false},
        {RP_ATTACK_SQUARE, RP_NORM_LINF, false}, {RP_ATTACK_WORST, RP_NORM_LINF, true},
    };
    for (size_t a = 0; a < sizeof LIST / sizeof LIST[0]; a++) {
        rp_attack_config c = few_steps(LIST[a].kind, LIST[a].norm);
        attack(f, &c, x, y, xa, &sc);
        const char *name = rp_attack_name(c.kind);
        int fooled = count(sc.wrong, B_ATK);
        double margin = mean(sc.margin, B_ATK), ce = mean(sc.ce, B_ATK);
        /* the loss it maximises (CE, or the margin for APGD-T's DLR and Square) went up */
        if (!(margin < mean(clean.margin, B_ATK)) || (LIST[a].ce && !(ce > mean(clean.ce, B_ATK))))
            fail_msg("%s %s: mean margin %g, CE %g; clean %g, %g", b->arch, name, margin, ce, mean(clean.margin, B_ATK),
                     mean(clean.ce, B_ATK));
        /* and further than by noise of the same eps */
        if (fooled < count(noise.wrong, B_ATK) || !(margin < mean(noise.margin, B_ATK)))
            fail_msg("%s %s: fooled %d, mean margin %g; noise of the same eps %d, %g", b->arch, name, fooled, margin,
                     count(noise.wrong, B_ATK), mean(noise.margin, B_ATK));
        if (c.kind == RP_ATTACK_APGD_CE) apgd_ce = sc;
        if (c.kind == RP_ATTACK_WORST) { /* it starts with APGD-CE; it fools at least half */
            if (fooled < count(apgd_ce.wrong, B_ATK) || fooled <= count(noise.wrong, B_ATK) || 2 * fooled < B_ATK)
                fail_msg("%s worst case fooled %d of %d (APGD-CE %d, noise %d)", b->arch, fooled, B_ATK,
                         count(apgd_ce.wrong, B_ATK), count(noise.wrong, B_ATK));
        }
    }
    expect_untouched(f->m, &s, "attacks"); /* evaluation mode: no running statistic moved */
    drop(&s);
    free(x), free(xa);
}

/* ---- explanations ------------------------------------------------------------------------------ */

/* Each of the B rows of n values finite and not all equal. */
static void expect_varied(const char *what, const float *v, int B, size_t n)
{
    for (int i = 0; i < B; i++) {
        const float *r = v + (size_t)i * n;
        float lo = INFINITY, hi = -INFINITY;
        for (size_t k = 0; k < n; k++) {
            if (!isfinite(r[k])) fail_msg("%s: image %d holds %g at %zu", what, i, (double)r[k], k);
            lo = r[k] < lo ? r[k] : lo, hi = r[k] > hi ? r[k] : hi;
        }
        if (!(hi > lo)) fail_msg("%s: image %d is constant (%g)", what, i, (double)lo);
    }
}

static bool is_gradient_method(rp_xai_method m)
{
    return m == RP_XAI_SALIENCY || m == RP_XAI_GRADXINPUT || m == RP_XAI_SMOOTHGRAD || m == RP_XAI_IG ||
           m == RP_XAI_GUIDED;
}

static bool is_cam(rp_xai_method m)
{
    return m == RP_XAI_CAM || m == RP_XAI_GRADCAM || m == RP_XAI_GRADCAMPP;
}

static void explanations(const backbone *b)
{
    fixture *f = use_backbone(b);
    const size_t P = (size_t)f->H * f->H, X = f->X;
    float *x = images(f, B_XAI, 31);
    calibrate_bn(f, x, B_XAI);
    snapshot s = take(f->m);
    rp_explain_config cfg = rp_explain_defaults();
    cfg.chunk = MAX_B, cfg.sg_samples = 4, cfg.ig_steps = 8;
    cfg.occ_window = cfg.occ_stride = f->H / 3; /* 9 or 16 windows */
    rp_explainer *ex = NULL;
    ok(f->ctx, rp_explainer_create(f->ctx, f->m, &cfg, &ex), "explainer");
    /* the CAM family's layer is the last conv stage: the node global average pooling reads */
    const char *layer = rp_explainer_layer(ex);
    assert_non_null(layer);
    assert_string_equal(layer, b->cam_layer);
    assert_int_equal(f->m->g.nodes[mtu_node(f->m, "avgpool")].in[0], mtu_node(f->m, layer));
    int h = 0, w = 0;
    ok(f->ctx, rp_explainer_layer_shape(ex, &h, &w), "layer shape");
    assert_int_equal(h, 2);
    assert_int_equal(w, 2);
    const size_t hw = (size_t)h * w;
    int32_t t[B_XAI];
    ok(f->ctx, rp_xai_targets(ex, x, NULL, B_XAI, RP_TARGET_PRED, 0, t), "targets");
    float *map = malloc(B_XAI * P * sizeof *map), *sig = malloc(B_XAI * P * sizeof *sig);
    float *attr = malloc(B_XAI * X * sizeof *attr), *grad = malloc(B_XAI * X * sizeof *grad);
    float *low = malloc(B_XAI * hw * sizeof *low), *cam = malloc(B_XAI * hw * sizeof *cam);
    assert_true(map && sig && attr && grad && low && cam);
    for (int mi = 0; mi < RP_XAI_COUNT; mi++) {
        rp_xai_method m = (rp_xai_method)mi;
        char what[96];
        snprintf(what, sizeof what, "%s %s", b->arch, rp_xai_method_name(m));
        double gap[B_XAI], df[B_XAI];
        for (size_t k = 0; k < B_XAI * X; k++) attr[k] = NAN; /* left untouched by all but the gradient methods */
        ok(f->ctx, rp_xai_explain(ex, m, x, t, B_XAI, &(rp_xai_result){map, sig, attr, low, gap, df}), what);
        expect_varied(what, sig, B_XAI, P);
        if (is_cam(m)) { /* ReLU'd: may be all zero */
            for (size_t k = 0; k < B_XAI * P; k++)
                if (!(map[k] >= 0.0f && isfinite(map[k]))) fail_msg("%s: map[%zu] = %g", what, k, (double)map[k]);
            expect_varied(what, low, B_XAI, hw); /* ReLU'd too, but a 2x2 map of a random model varies */
        } else {
            expect_varied(what, map, B_XAI, P);
        }
        if (is_gradient_method(m)) expect_varied(what, attr, B_XAI, X);
        else
            for (size_t k = 0; k < B_XAI * X; k++)
                if (!isnan(attr[k])) fail_msg("%s wrote attr[%zu]", what, k);
        if (m == RP_XAI_SALIENCY) { /* both signs: the positive and the negative parts are maps */
            memcpy(grad, attr, B_XAI * X * sizeof *grad);
            for (int i = 0; i < B_XAI; i++) {
                float pos = 0, neg = 0;
                for (size_t p = 0; p < P; p++) {
                    float v = sig[i * P + p];
                    pos = v > pos ? v : pos, neg = -v > neg ? -v : neg;
                }
                if (!(pos > 0 && neg > 0))
                    fail_msg("%s: image %d: largest positive %g, negative %g", what, i, (double)pos, (double)neg);
            }
        }
        if (m == RP_XAI_IG) /* complete up to the reported gap */
            for (int i = 0; i < B_XAI; i++) {
                double sum = 0;
                for (size_t p = 0; p < P; p++) sum += sig[i * P + p];
                if (!(fabs(sum - df[i] - gap[i]) <= 1e-3 * (1 + fabs(df[i]))))
                    fail_msg("%s: image %d: sum %g, f(x) - f(0) %g, gap %g", what, i, sum, df[i], gap[i]);
            }
        if (m == RP_XAI_GUIDED) { /* the vanilla gradient unless there are ReLUs to guide */
            double d = mtu_rel_l2(attr, grad, B_XAI * X);
            if (b->has_relu ? !(d > 1e-2) : !(d < 1e-5))
                fail_msg("%s: guided vs the vanilla gradient: relative L2 %g", what, d);
        }
    }
    /* on a GAP + linear head, Grad-CAM = CAM / (h w) (raw maps, Selvaraju et al. sec. 3.1) */
    rp_explainer_destroy(ex);
    cfg.cam_relu = false;
    ok(f->ctx, rp_explainer_create(f->ctx, f->m, &cfg, &ex), "explainer");
    ok(f->ctx, rp_xai_explain(ex, RP_XAI_CAM, x, t, B_XAI, &(rp_xai_result){.map = map, .lowres = cam}), "cam");
    ok(f->ctx, rp_xai_explain(ex, RP_XAI_GRADCAM, x, t, B_XAI, &(rp_xai_result){.map = map, .lowres = low}), "gradcam");
    float scale = 0;
    for (size_t k = 0; k < B_XAI * hw; k++) {
        cam[k] /= (float)hw;
        scale = fabsf(cam[k]) > scale ? fabsf(cam[k]) : scale;
    }
    tu_assert_close("Grad-CAM = CAM / (h w)", low, cam, B_XAI * hw, 1e-3f, 1e-4f * scale);
    rp_explainer_destroy(ex);
    expect_untouched(f->m, &s, "explanations"); /* evaluation mode: no running statistic moved */
    drop(&s);
    free(map), free(sig), free(attr), free(grad), free(low), free(cam), free(x);
}

/* ---- the cases ---------------------------------------------------------------------------------- */

#define CASES(tag, spec)                                                                                   \
    static void test_##tag##_objectives(void **state) { (void)state; objectives(&spec); }                  \
    static void test_##tag##_attacks(void **state) { (void)state; attacks(&spec); }                        \
    static void test_##tag##_explanations(void **state) { (void)state; explanations(&spec); }
CASES(efficientnet_b0, EFFNET)
CASES(resnet50, RESNET50)
CASES(resnext50_32x4d, RESNEXT)
CASES(densenet121, DENSENET)

#define TESTS(tag) cmocka_unit_test(test_##tag##_objectives), cmocka_unit_test(test_##tag##_attacks), \
                   cmocka_unit_test(test_##tag##_explanations)

/* argv[1], when given, picks the tests by name (cmocka's filter: "*resnet50*"). */
int main(int argc, char **argv)
{
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    const struct CMUnitTest tests[] = {TESTS(efficientnet_b0), TESTS(resnet50), TESTS(resnext50_32x4d),
                                       TESTS(densenet121)};
    return cmocka_run_group_tests(tests, NULL, teardown);
}
