/* Shared pieces of the rampart command: flag tables, progress display, exit codes.
 * Only tools/ prints or exits. */
#ifndef RP_TOOLS_CLI_H
#define RP_TOOLS_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "rampart.h"

typedef enum cli_type { CLI_INT, CLI_FLOAT, CLI_STRING, CLI_BOOL, CLI_LIST } cli_type;

#define CLI_MAX_LIST 16

typedef struct cli_list {
    const char *items[CLI_MAX_LIST];
    int n;
} cli_list;

typedef struct cli_flag {
    const char *name;  /* "--epochs" */
    cli_type type;
    void *dest;        /* int*, float*, const char**, bool*, cli_list* */
    const char *deflt; /* shown in --help and parsed before the arguments; NULL: none */
    const char *help;
} cli_flag;

/* Parse argv (after the subcommand) against flags; prints usage for --help (returns 1),
 * an error for an unknown flag or bad value (returns -1), 0 on success. */
int cli_parse(const char *cmd, const char *summary, cli_flag *flags, int n_flags, int argc, char **argv);

/* Exit codes. */
enum { CLI_EXIT_OK = 0, CLI_EXIT_FAIL = 1, CLI_EXIT_USAGE = 2 };

/* --precision VALUE (fp32, bf16): the matrix products' precision, process-wide
 * (rp_set_precision). CLI_EXIT_OK, CLI_EXIT_USAGE for an unknown value, CLI_EXIT_FAIL where the
 * CPU cannot, each error on one line. */
#define CLI_PRECISION_FLAG(dest)                                                                 \
    {"--precision", CLI_STRING, dest, "fp32",                                                    \
     "matrix products of the convolutions and linear layers: fp32, or bf16 (BF16 operands, FP32 " \
     "sums, on AVX512_BF16 CPUs; weights, batch norms, depthwise convs and the rest stay FP32)"}
int cli_set_precision(const char *cmd, const char *value);

/* Print "rampart CMD: message" from the context and return CLI_EXIT_FAIL. */
int cli_fail(const char *cmd, rp_ctx *ctx);

/* Progress: a bar on a terminal, a plain line every ~10% otherwise; always on stderr. */
typedef struct cli_progress {
    bool tty;
    bool quiet; /* not the job's rank 0: draws nothing */
    double t0;
    int total, last_pct;
    char label[64];
} cli_progress;
void cli_progress_start(cli_progress *p, const char *label, int total);
/* done items so far, plus a short status string. */
void cli_progress_update(cli_progress *p, int done, const char *status);
void cli_progress_end(cli_progress *p);

/* A bare state_dict's architecture, from the command line (--arch, --num-classes, --width). */
typedef struct cli_arch {
    const char *arch; /* NULL: the file is a rampart checkpoint and describes itself */
    int num_classes;
    float width;
} cli_arch;

/* The model in path, for batches up to batch: a rampart checkpoint (rp_model_load); or,
 * when a->arch is set, a bare state_dict (torchvision's, as scripts/export_torchvision.py
 * writes it) loaded into a->arch built for an H x W x C input with a->num_classes classes
 * and the normalisation mean/std (a rampart checkpoint's own normalisation wins). */
rp_status cli_load_model(rp_ctx *ctx, const char *path, const cli_arch *a, int H, int W, int C, const float *mean,
                         const float *std, int batch, rp_model **out);

/* Layers, output shapes, parameters and FLOPs of a model, one line each, and totals. */
void cli_print_summary(FILE *f, const rp_model *m);

double cli_now(void);
/* The CPU's model name from /proc/cpuinfo ("unknown" when there is none). */
void cli_cpu_name(char *buf, size_t n);
/* "3m12s" style. */
void cli_format_duration(char *buf, size_t n, double seconds);

/* Subcommands (one file each). */
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_models(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_attack(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_corrupt(int argc, char **argv);
int cmd_report(int argc, char **argv);

#endif
