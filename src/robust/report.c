#include "robust/report.h"

#include "core/status.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

rp_status rp_parse_eps(rp_ctx *ctx, const char *s, float *out)
{
    if (!s || !out) return rp_fail(ctx, RP_ERR_ARG, "rp_parse_eps: %s is NULL", !s ? "the text" : "out");
    if (!strcmp(s, "inf")) {
        *out = INFINITY;
        return RP_OK;
    }
    char *end = NULL;
    double v = strtod(s, &end);
    if (end != s && *end == '/') {
        const char *den = end + 1;
        double d = strtod(den, &end);
        v = end != den && d > 0 ? v / d : NAN;
    }
    if (end == s || *end || isnan(v) || isinf(v))
        return rp_fail(ctx, RP_ERR_ARG, "bad eps '%s' (a number, K/255 or inf)", s);
    if (v < 0) return rp_fail(ctx, RP_ERR_ARG, "eps must be >= 0 (got %s)", s);
    *out = (float)v;
    return RP_OK;
}

const char *rp_format_eps(char *buf, size_t size, float eps)
{
    if (isinf(eps)) snprintf(buf, size, "inf");
    else snprintf(buf, size, "%.4g (%.4g/255)", (double)eps, (double)eps * 255.0);
    return buf;
}

rp_status rp_eps_text(rp_ctx *ctx, float eps, char *buf, size_t size)
{
    char text[64];
    rp_format_eps(text, sizeof text, eps);
    if (!buf || strlen(text) >= size)
        return rp_fail(ctx, RP_ERR_ARG, "rp_eps_text: %s", !buf ? "buf is NULL" : "the buffer is too small");
    memcpy(buf, text, strlen(text) + 1);
    return RP_OK;
}

rp_report_row rp_report_row_of(const rp_condition *c, const rp_cond_result *r, bool transfer)
{
    rp_report_row row = {.kind = c->kind, .accuracy = r->accuracy, .transfer = transfer};
    if (c->kind == RP_COND_ATTACK) {
        row.attack = c->attack.kind;
        row.norm = c->attack.norm;
        row.eps = c->attack.eps;
        row.steps = c->attack.steps;
        row.restarts = c->attack.restarts;
        row.ball_checked = r->ball_checked;
        row.in_ball = r->in_ball;
        row.max_norm = r->max_norm;
    }
    if (c->kind == RP_COND_CLEAN) {
        row.determinism_checked = true;
        row.deterministic = r->deterministic;
    }
    return row;
}

typedef struct sink {
    rp_warning *out;
    int max, n;
} sink;

__attribute__((format(printf, 3, 4))) static void warn(sink *s, const char *check, const char *fmt, ...)
{
    if (s->n < s->max) {
        rp_warning *w = &s->out[s->n];
        snprintf(w->check, sizeof w->check, "%s", check);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->message, sizeof w->message, fmt, ap);
        va_end(ap);
    }
    s->n++;
}

static const char *upper_name(rp_attack_kind k)
{
    switch (k) {
    case RP_ATTACK_FGSM: return "FGSM";
    case RP_ATTACK_FGSM_RS: return "FGSM-RS";
    case RP_ATTACK_PGD: return "PGD";
    case RP_ATTACK_APGD_CE: return "APGD-CE";
    case RP_ATTACK_APGD_T: return "APGD-T";
    case RP_ATTACK_SQUARE: return "Square";
    case RP_ATTACK_NOISE: return "random noise";
    case RP_ATTACK_WORST: return "worst case";
    }
    return "?";
}

static bool is_white_box_gradient(rp_attack_kind k)
{
    return k == RP_ATTACK_FGSM || k == RP_ATTACK_FGSM_RS || k == RP_ATTACK_PGD || k == RP_ATTACK_APGD_CE ||
           k == RP_ATTACK_APGD_T;
}

static bool is_iterative(rp_attack_kind k)
{
    return k == RP_ATTACK_PGD || k == RP_ATTACK_APGD_CE || k == RP_ATTACK_APGD_T;
}

static bool is_attack(const rp_report_row *r) { return r->kind == RP_COND_ATTACK && !r->transfer; }

static bool same_ball(const rp_report_row *a, const rp_report_row *b) { return a->norm == b->norm && a->eps == b->eps; }

/* accuracy under the strongest white-box gradient attack at (norm, eps), -1 when none; *who gets its index */
static double best_white_box(const rp_report_row *rows, int n, const rp_report_row *at, int *who)
{
    double best = -1.0;
    for (int j = 0; j < n; j++)
        if (is_attack(&rows[j]) && is_white_box_gradient(rows[j].attack) && same_ball(&rows[j], at) &&
            (best < 0.0 || rows[j].accuracy < best)) {
            best = rows[j].accuracy;
            *who = j;
        }
    return best;
}

static void check_monotone(const rp_report_row *rows, int n, double slack, sink *s)
{
    char e1[48], e2[48];
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            const rp_report_row *a = &rows[i], *b = &rows[j];
            if (!is_attack(a) || !is_attack(b) || a->attack != b->attack || a->norm != b->norm) continue;
            if (a->attack == RP_ATTACK_NOISE) continue; /* a random baseline, not an attack */
            if (a->steps != b->steps || a->restarts != b->restarts) continue;
            /* b has the next larger eps after a: report each rise once */
            if (!(b->eps > a->eps)) continue;
            bool next = true;
            for (int k = 0; k < n; k++)
                if (is_attack(&rows[k]) && rows[k].attack == a->attack && rows[k].norm == a->norm &&
                    rows[k].steps == a->steps && rows[k].restarts == a->restarts && rows[k].eps > a->eps &&
                    rows[k].eps < b->eps)
                    next = false;
            if (!next || !(b->accuracy > a->accuracy + slack)) continue;
            warn(s, "eps-monotone", "accuracy rises with eps under %s (%.2f%% at eps %s -> %.2f%% at eps %s): %s",
                 upper_name(a->attack), 100.0 * a->accuracy, rp_format_eps(e1, sizeof e1, a->eps),
                 100.0 * b->accuracy, rp_format_eps(e2, sizeof e2, b->eps),
                 a->attack == RP_ATTACK_FGSM || a->attack == RP_ATTACK_FGSM_RS
                     ? "gradient masking suspected; trust the iterative attacks"
                     : "the attack is not converging or gradients are masked");
        }
}

static void check_steps(const rp_report_row *rows, int n, double slack, sink *s)
{
    char e[48];
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            const rp_report_row *a = &rows[i], *b = &rows[j];
            if (!is_attack(a) || !is_attack(b) || a->attack != b->attack || !same_ball(a, b)) continue;
            bool stronger = b->steps >= a->steps && b->restarts >= a->restarts &&
                            (b->steps > a->steps || b->restarts > a->restarts);
            if (stronger && b->accuracy > a->accuracy + slack)
                warn(s, "steps-restarts",
                     "%s with %d steps x %d restarts leaves more accuracy (%.2f%%) than with %d x %d (%.2f%%) at "
                     "eps %s: more iterations must never help the model; the attack is unstable",
                     upper_name(a->attack), b->steps, b->restarts, 100.0 * b->accuracy, a->steps, a->restarts,
                     100.0 * a->accuracy, rp_format_eps(e, sizeof e, a->eps));
        }
}

static void check_pairs(const rp_report_row *rows, int n, double slack, sink *s)
{
    char e[48];
    for (int i = 0; i < n; i++) {
        const rp_report_row *a = &rows[i];
        if (!is_attack(a)) continue;
        rp_format_eps(e, sizeof e, a->eps);
        if (is_iterative(a->attack))
            for (int j = 0; j < n; j++)
                if (is_attack(&rows[j]) && rows[j].attack == RP_ATTACK_FGSM && same_ball(&rows[j], a) &&
                    a->accuracy > rows[j].accuracy + slack)
                    warn(s, "iterative-vs-fgsm",
                         "%s leaves more accuracy (%.2f%%) than single-step FGSM (%.2f%%) at eps %s: the iterative "
                         "attack is failing (too few steps or too small a step) or gradients are masked",
                         upper_name(a->attack), 100.0 * a->accuracy, 100.0 * rows[j].accuracy, e);
        int who = -1;
        double wb = best_white_box(rows, n, a, &who);
        if (wb < 0.0) continue;
        if (a->attack == RP_ATTACK_SQUARE && a->accuracy + slack < wb)
            warn(s, "blackbox-vs-whitebox",
                 "black-box Square (%.2f%%) beats the best white-box attack (%s, %.2f%%) at eps %s: gradient "
                 "masking suspected",
                 100.0 * a->accuracy, upper_name(rows[who].attack), 100.0 * wb, e);
        if (a->attack == RP_ATTACK_NOISE && wb > 0.0 && a->accuracy <= wb + slack)
            warn(s, "noise-vs-whitebox",
                 "random noise of the same eps %s is as strong (%.2f%%) as the best white-box attack (%s, %.2f%%): "
                 "gradients are obfuscated or the attack is broken",
                 e, 100.0 * a->accuracy, upper_name(rows[who].attack), 100.0 * wb);
    }
}

static void check_large_eps(const rp_report_row *rows, int n, int num_classes, sink *s)
{
    float largest = -1.0f;
    for (int i = 0; i < n; i++)
        if (is_attack(&rows[i]) && rows[i].norm == RP_NORM_LINF && isfinite(rows[i].eps) && rows[i].eps > largest)
            largest = rows[i].eps;
    double chance = num_classes > 0 ? 1.0 / num_classes : 0.0, best = 2.0;
    int who = -1;
    for (int i = 0; i < n; i++)
        if (is_attack(&rows[i]) && rows[i].norm == RP_NORM_LINF && rows[i].eps == largest &&
            rows[i].attack != RP_ATTACK_NOISE && rows[i].accuracy < best) {
            best = rows[i].accuracy;
            who = i;
        }
    char e[48];
    if (largest >= 0.3f && who >= 0 && best > chance)
        warn(s, "large-eps",
             "accuracy at L-inf eps %s is still %.2f%% under the strongest attack (%s), above chance (%.2f%%): "
             "robust accuracy must fall to about 0 as eps grows; the attack is broken or gradients are masked",
             rp_format_eps(e, sizeof e, largest), 100.0 * best, upper_name(rows[who].attack), 100.0 * chance);
    for (int i = 0; i < n; i++)
        if (is_attack(&rows[i]) && isinf(rows[i].eps) && rows[i].attack != RP_ATTACK_NOISE && rows[i].accuracy > 0.0)
            warn(s, "unbounded", "unbounded %s leaves %.2f%% accuracy: an unbounded attack must reach 100%% success",
                 upper_name(rows[i].attack), 100.0 * rows[i].accuracy);
}

int rp_report_check(const rp_report_row *rows, int n_rows, int num_classes, double slack, rp_warning *out,
                    int max_out)
{
    sink s = {.out = out, .max = max_out, .n = 0};
    char e[48];
    for (int i = 0; i < n_rows; i++) {
        const rp_report_row *r = &rows[i];
        if (r->kind == RP_COND_CLEAN && r->determinism_checked && !r->deterministic)
            warn(&s, "nondeterministic",
                 "the same input gave different logits: the model is randomized (dropout or batch statistics at "
                 "evaluation?); gradient attacks then need EoT");
        if (r->kind == RP_COND_ATTACK && r->ball_checked && !r->in_ball)
            warn(&s, "ball", "%s%s perturbations leave the eps-ball or the pixel range at eps %s (largest norm %.6g)",
                 upper_name(r->attack), r->transfer ? " (transfer)" : "", rp_format_eps(e, sizeof e, r->eps),
                 (double)r->max_norm);
    }
    check_monotone(rows, n_rows, slack, &s);
    check_steps(rows, n_rows, slack, &s);
    check_pairs(rows, n_rows, slack, &s);
    check_large_eps(rows, n_rows, num_classes, &s);
    return s.n;
}
