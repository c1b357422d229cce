#include "cli.h"
#include "cli_dist.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int set_value(const char *cmd, cli_flag *f, const char *v)
{
    char *end = NULL;
    errno = 0;
    switch (f->type) {
    case CLI_INT: {
        long x = strtol(v, &end, 10);
        if (errno || end == v || *end) goto bad;
        *(int *)f->dest = (int)x;
        return 0;
    }
    case CLI_FLOAT: {
        float x = strtof(v, &end);
        if (errno || end == v || *end || !isfinite(x)) goto bad;
        *(float *)f->dest = x;
        return 0;
    }
    case CLI_STRING: *(const char **)f->dest = v; return 0;
    case CLI_BOOL:
        if (!strcmp(v, "true") || !strcmp(v, "1")) *(bool *)f->dest = true;
        else if (!strcmp(v, "false") || !strcmp(v, "0")) *(bool *)f->dest = false;
        else goto bad;
        return 0;
    case CLI_LIST: {
        cli_list *l = f->dest;
        if (l->n == CLI_MAX_LIST) {
            fprintf(stderr, "rampart %s: too many values for %s (at most %d)\n", cmd, f->name, CLI_MAX_LIST);
            return -1;
        }
        l->items[l->n++] = v;
        return 0;
    }
    }
bad:
    fprintf(stderr, "rampart %s: bad value '%s' for %s\n", cmd, v, f->name);
    return -1;
}

static void usage(const char *cmd, const char *summary, const cli_flag *flags, int n)
{
    printf("usage: rampart %s [options]\n\n%s\n\noptions:\n", cmd, summary);
    for (int i = 0; i < n; i++) {
        const char *arg = flags[i].type == CLI_INT ? " N" : flags[i].type == CLI_FLOAT ? " X"
                        : flags[i].type == CLI_BOOL ? "" : " VALUE";
        char left[64];
        snprintf(left, sizeof left, "%s%s", flags[i].name, arg);
        printf("  %-24s %s", left, flags[i].help);
        if (flags[i].deflt) printf(" (default: %s)", flags[i].deflt);
        printf("\n");
    }
    printf("  %-24s %s\n", "--help", "show this help");
}

/* Copies of comma-separated values: list items point into them until exit, as into argv.
 * Kept reachable here so that leak checkers do not report them. */
static char *list_copy(const char *v)
{
    static char *copies[4 * CLI_MAX_LIST];
    static int n_copies;
    char *c = strdup(v);
    if (c && n_copies < (int)(sizeof copies / sizeof copies[0])) copies[n_copies++] = c;
    return c;
}

int cli_parse(const char *cmd, const char *summary, cli_flag *flags, int n_flags, int argc, char **argv)
{
    /* every destination starts defined: its default, or zero/NULL/false/empty */
    for (int i = 0; i < n_flags; i++) {
        switch (flags[i].type) {
        case CLI_INT: *(int *)flags[i].dest = 0; break;
        case CLI_FLOAT: *(float *)flags[i].dest = 0.0f; break;
        case CLI_STRING: *(const char **)flags[i].dest = NULL; break;
        case CLI_BOOL: *(bool *)flags[i].dest = false; break;
        case CLI_LIST: ((cli_list *)flags[i].dest)->n = 0; break;
        }
        if (flags[i].deflt && flags[i].type != CLI_LIST && set_value(cmd, &flags[i], flags[i].deflt) != 0)
            return -1;
    }
    /* a list flag given on the command line replaces its default items */
    enum { MAX_FLAGS = 256 };
    if (n_flags > MAX_FLAGS) {
        fprintf(stderr, "rampart %s: internal error: more than %d flags\n", cmd, MAX_FLAGS);
        return -1;
    }
    bool seen_list[MAX_FLAGS] = {0};
    for (int a = 0; a < argc; a++) {
        const char *arg = argv[a];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            usage(cmd, summary, flags, n_flags);
            return 1;
        }
        const char *eq = strchr(arg, '=');
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        cli_flag *f = NULL;
        int fi = -1;
        for (int i = 0; i < n_flags; i++)
            if (strlen(flags[i].name) == len && !strncmp(flags[i].name, arg, len)) f = &flags[i], fi = i;
        if (!f) {
            fprintf(stderr, "rampart %s: unknown option '%s' (see rampart %s --help)\n", cmd, arg, cmd);
            return -1;
        }
        const char *v = eq ? eq + 1 : NULL;
        if (f->type == CLI_BOOL && !v) v = "true";
        if (!v) {
            if (a + 1 >= argc) {
                fprintf(stderr, "rampart %s: %s needs a value\n", cmd, f->name);
                return -1;
            }
            v = argv[++a];
        }
        if (f->type == CLI_LIST) seen_list[fi] = true;
        /* comma-separated lists: --eps 0.05,0.1 */
        if (f->type == CLI_LIST && strchr(v, ',')) {
            char *copy = list_copy(v);
            for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ","))
                if (set_value(cmd, f, tok) != 0) return -1;
            continue;
        }
        if (set_value(cmd, f, v) != 0) return -1;
    }
    /* lists never given keep their default items */
    for (int i = 0; i < n_flags; i++) {
        if (flags[i].type != CLI_LIST || seen_list[i] || !flags[i].deflt) continue;
        char *copy = list_copy(flags[i].deflt);
        for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ","))
            if (set_value(cmd, &flags[i], tok) != 0) return -1;
    }
    return 0;
}

/* A message, never a choice (kernels and results stay what --precision asked for): where this CPU's
 * BF16 dot products are not clearly faster than its FP32 multiply-adds, BF16 products only add
 * rounding. Measured (about 0.6 s), since CPUID does not say: AMD Zen 4 runs VDPBF16PS at twice
 * its FMA rate, the Intel Xeons measured here at half. */
static void note_slow_bf16(const char *cmd)
{
    double fma = rp_fma_peak(1), bf16 = rp_bf16_peak(1);
    if (bf16 > 0.0 && bf16 < 1.25 * fma)
        fprintf(stderr,
                "rampart %s: note: this CPU's BF16 dot products measure %.0f GFLOP/s per core against %.0f for FP32 "
                "multiply-adds: --precision bf16 is likely slower than fp32 here\n",
                cmd, bf16, fma);
}

int cli_set_precision(const char *cmd, const char *value)
{
    rp_precision p;
    if (!strcmp(value, "fp32")) {
        p = RP_PRECISION_FP32;
    } else if (!strcmp(value, "bf16")) {
        p = RP_PRECISION_BF16;
    } else {
        fprintf(stderr, "rampart %s: --precision '%s': one of fp32, bf16\n", cmd, value);
        return CLI_EXIT_USAGE;
    }
    rp_ctx *ctx = rp_ctx_create(1);
    if (!ctx) return CLI_EXIT_FAIL;
    int rc = rp_set_precision(ctx, p) == RP_OK ? CLI_EXIT_OK : CLI_EXIT_FAIL;
    if (rc) fprintf(stderr, "rampart %s: --%s\n", cmd, rp_ctx_error(ctx));
    if (!rc && p == RP_PRECISION_BF16) note_slow_bf16(cmd);
    rp_ctx_destroy(ctx);
    return rc;
}

int cli_fail(const char *cmd, rp_ctx *ctx)
{
    fprintf(stderr, "rampart %s: %s\n", cmd, rp_ctx_error(ctx));
    return CLI_EXIT_FAIL;
}

rp_status cli_load_model(rp_ctx *ctx, const char *path, const cli_arch *a, int H, int W, int C, const float *mean,
                         const float *std, int batch, rp_model **out)
{
    *out = NULL;
    if (!a || !a->arch) return rp_model_load(ctx, path, batch, out);
    rp_model_config c = {.arch = a->arch, .num_classes = a->num_classes, .H = H, .W = W, .C = C,
                         .max_batch = batch, .width = a->width};
    for (int k = 0; k < C; k++) c.mean[k] = mean[k], c.std[k] = std[k];
    bool own_norm = false;
    rp_status s = rp_checkpoint_norm(ctx, path, C, c.mean, c.std, &own_norm);
    rp_model *m = NULL;
    if (s == RP_OK) s = rp_model_create(ctx, &c, &m);
    if (s == RP_OK) s = rp_model_load_weights(ctx, m, path, false);
    if (s != RP_OK) {
        rp_model_destroy(m);
        return s;
    }
    *out = m;
    return RP_OK;
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cli_format_duration(char *buf, size_t n, double s)
{
    if (s < 60) snprintf(buf, n, "%.1fs", s);
    else if (s < 3600) snprintf(buf, n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(buf, n, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

void cli_progress_start(cli_progress *p, const char *label, int total)
{
    p->tty = isatty(fileno(stderr));
    p->quiet = !cli_main_rank(); /* one progress line per job */
    p->t0 = cli_now();
    p->total = total > 0 ? total : 1;
    p->last_pct = -1;
    snprintf(p->label, sizeof p->label, "%s", label);
}

void cli_progress_update(cli_progress *p, int done, const char *status)
{
    if (p->quiet) return;
    int pct = (int)(100.0 * done / p->total);
    double el = cli_now() - p->t0;
    char eta[32];
    cli_format_duration(eta, sizeof eta, done > 0 ? el * (p->total - done) / done : 0.0);
    if (p->tty) {
        int width = 24, fill = width * done / p->total;
        char bar[32];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
        bar[width] = 0;
        fprintf(stderr, "\r%s [%s] %3d%% %s ETA %s\033[K", p->label, bar, pct, status, eta);
        fflush(stderr);
    } else if (pct / 10 != p->last_pct / 10 && pct < 100) {
        fprintf(stderr, "%s %3d%% %s ETA %s\n", p->label, pct, status, eta);
    }
    p->last_pct = pct;
}

void cli_progress_end(cli_progress *p)
{
    if (p->tty && !p->quiet) fprintf(stderr, "\r\033[K");
}

void cli_cpu_name(char *buf, size_t n)
{
    snprintf(buf, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) || !colon) continue;
        snprintf(buf, n, "%s", colon + 2);
        buf[strcspn(buf, "\n")] = '\0';
        break;
    }
    fclose(f);
}
