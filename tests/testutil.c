#define _XOPEN_SOURCE 700 /* nftw */
#include "testutil.h"

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/rng.h"

void tu_fill_uniform(float *x, size_t n, float lo, float hi, uint64_t seed)
{
    rp_rng r;
    rp_rng_seed(&r, seed, 77);
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * rp_rng_uniform(&r);
}

void tu_fill_away_from(float *x, size_t n, float lo, float hi, const float *kinks, int n_kinks,
                       float gap, uint64_t seed)
{
    rp_rng r;
    rp_rng_seed(&r, seed, 78);
    for (size_t i = 0; i < n; i++) {
        for (;;) {
            float v = lo + (hi - lo) * rp_rng_uniform(&r);
            int ok = 1;
            for (int k = 0; k < n_kinks; k++)
                if (fabsf(v - kinks[k]) < gap) ok = 0;
            if (ok) { x[i] = v; break; }
        }
    }
}

void tu_assert_close(const char *what, const float *a, const float *b, size_t n, float rtol,
                     float atol)
{
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        if (!(d <= atol + rtol * fabsf(b[i]))) {
            fail_msg("%s: element %zu of %zu: got %.8g, expected %.8g (|diff| %.3g > %.3g + %.3g*|expected|)",
                     what, i, n, (double)a[i], (double)b[i], (double)d, (double)atol, (double)rtol);
        }
    }
}

static double loss_of(rp_graph *g, const float *x, const float *r, int B, bool train)
{
    const float *y = rp_graph_forward(g, x, B, train);
    size_t n = (size_t)B * rp_shape_numel(g->nodes[g->n_nodes - 1].out_shape);
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)y[i] * r[i];
    return s;
}

static void check_coords(const char *what, float *v, const float *analytic, size_t n, rp_graph *g,
                         const float *x, const float *r, const tu_gc_opts *o)
{
    size_t checks = (size_t)o->max_checks < n ? (size_t)o->max_checks : n;
    for (size_t c = 0; c < checks; c++) {
        size_t i = checks == n ? c : c * n / checks;
        float keep = v[i];
        v[i] = keep + o->eps;
        double lp = loss_of(g, x, r, o->B, o->train);
        v[i] = keep - o->eps;
        double lm = loss_of(g, x, r, o->B, o->train);
        v[i] = keep;
        float numeric = (float)((lp - lm) / (2.0 * o->eps));
        float d = fabsf(analytic[i] - numeric);
        if (!(d <= o->atol + o->rtol * fabsf(numeric)))
            fail_msg("gradcheck %s[%zu]: backward %.6g, finite differences %.6g", what, i,
                     (double)analytic[i], (double)numeric);
    }
}

void tu_gradcheck(rp_shape in, tu_build_fn build, void *arg, const tu_gc_opts *o)
{
    rp_ctx *ctx = rp_ctx_create(1);
    rp_graph g;
    rp_graph_init(&g, ctx, in);
    int last = build(&g, RP_INPUT, arg);
    assert_true(last >= 0);
    assert_int_equal(rp_graph_finalize(&g, o->B, o->seed), RP_OK);
    if (o->after_finalize) o->after_finalize(&g, arg);
    size_t nx = (size_t)o->B * rp_shape_numel(in);
    size_t ny = (size_t)o->B * rp_shape_numel(g.nodes[last].out_shape);
    float *x = malloc(nx * sizeof *x), *dx = malloc(nx * sizeof *dx), *r = malloc(ny * sizeof *r);
    if (o->x0)
        memcpy(x, o->x0, nx * sizeof *x);
    else if (o->n_kinks)
        tu_fill_away_from(x, nx, o->lo, o->hi, o->kinks, o->n_kinks, 4 * o->eps, o->seed + 1);
    else
        tu_fill_uniform(x, nx, o->lo, o->hi, o->seed + 1);
    tu_fill_uniform(r, ny, -1.0f, 1.0f, o->seed + 2);

    /* BatchNorm updates running statistics in training mode: the checks only read
     * outputs, and running statistics do not feed back into training outputs. */
    rp_graph_forward(&g, x, o->B, o->train);
    rp_graph_zero_grad(&g);
    rp_graph_backward(&g, r, dx, true);

    check_coords("input", x, dx, nx, &g, x, r, o);
    for (int p = 0; p < g.n_params; p++) {
        rp_param *pp = &g.params[p];
        if (!pp->trainable) continue;
        float *grad = malloc(pp->numel * sizeof *grad);
        memcpy(grad, pp->grad, pp->numel * sizeof *grad);
        check_coords(pp->name, pp->data, grad, pp->numel, &g, x, r, o);
        free(grad);
    }
    free(x);
    free(dx);
    free(r);
    rp_graph_free(&g);
    rp_ctx_destroy(ctx);
}

const char *tu_ref_path(char *buf, size_t size, const char *name)
{
    const char *dir = getenv("RAMPART_REF_DIR");
    snprintf(buf, size, "%s/%s", dir ? dir : "ref", name);
    return buf;
}

static char tmp_dir[256];
static pid_t tmp_owner;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* At exit, in the process that made it (not a forked child): the directory and everything in
 * it, unless RAMPART_KEEP_TEST_TMP is set (then its path is printed). */
static void remove_tmpdir(void)
{
    if (!tmp_dir[0] || getpid() != tmp_owner) return;
    if (getenv("RAMPART_KEEP_TEST_TMP")) {
        fprintf(stderr, "test files kept in %s\n", tmp_dir);
        return;
    }
    nftw(tmp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *tu_tmpdir(void)
{
    if (!tmp_dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmp_dir, sizeof tmp_dir, "%s/rampart-test-XXXXXX", base ? base : "/tmp");
        if (!mkdtemp(tmp_dir)) fail_msg("mkdtemp failed");
        tmp_owner = getpid();
        atexit(remove_tmpdir);
    }
    return tmp_dir;
}

void tu_write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("cannot write %s", path);
    if (n && fwrite(data, 1, n, f) != n) fail_msg("short write to %s", path);
    fclose(f);
}

void tu_graph_init(tu_graph *o, rp_shape in)
{
    o->ctx = rp_ctx_create(1);
    rp_graph_init(&o->g, o->ctx, in);
}

void tu_graph_free(tu_graph *o)
{
    rp_graph_free(&o->g);
    rp_ctx_destroy(o->ctx);
}

void tu_expect_status(rp_status got, rp_status want, const rp_ctx *ctx, const char *msg)
{
    if (got != want)
        fail_msg("status %s, expected %s (%s)", rp_status_name(got), rp_status_name(want), rp_ctx_error(ctx));
    if (msg && !strstr(rp_ctx_error(ctx), msg)) fail_msg("message \"%s\" lacks \"%s\"", rp_ctx_error(ctx), msg);
}
