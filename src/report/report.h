/* The report (rp_report_write, rampart.h): one self-contained HTML page from the JSON lines of
 * train, eval, attack and explain (docs/json.md, docs/report.md). report_api.c is the public
 * entry (arguments, the page's file), report_read.c reads and checks the lines,
 * report_model.c indexes them (models by content hash, conditions, per-image correctness),
 * report_html.c writes the page's tables and report_plots.c its SVG plots and pictures. */
#ifndef RP_REPORT_REPORT_H
#define RP_REPORT_REPORT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>

#include "rampart.h"
#include "report_buf.h"

/* The JSON lines' schema version this reader takes (the command's writers: tools/jsonl.h). */
#define RP_RPT_JSON_SCHEMA 1

enum { RPT_MAX_MODELS = 16, RPT_MAX_CONDS = 512, RPT_MAX_TRAIN = 32, RPT_MAX_EXPLAIN = 16 };

typedef struct rp_rpt_row {
    cJSON *j;
    const char *kind; /* borrowed from j */
    char *file;       /* owned */
    int line;
} rp_rpt_row;

typedef enum rp_rpt_cond_kind { RPT_CLEAN, RPT_NOISE, RPT_CORRUPTION, RPT_ATTACK } rp_rpt_cond_kind;

/* One condition of the evaluation, shared by every model that has a row of it. */
typedef struct rp_rpt_cond {
    char key[160];    /* identifies the condition: kind, name, severity or attack settings */
    char label[128];  /* "pgd-20 linf eps 0.1", "fog sev 3" */
    rp_rpt_cond_kind kind;
    char group[48];   /* noise or corruption name; attack name */
    char norm[8];
    double x;         /* severity, or eps */
    bool worst, applicable;
    int row[RPT_MAX_MODELS]; /* the row of each model, or -1 */
} rp_rpt_cond;

typedef struct rp_rpt_model {
    char key[80];     /* model_sha256, or "path:" + the path when no hash is known */
    const char *path, *sha;
    char label[64];   /* the file's base name without .safetensors (made unique) */
} rp_rpt_model;

typedef struct rp_rpt_train {
    const char *run, *path, *sha; /* the run, its checkpoint and the last epoch's hash */
    int model;        /* index into models, or -1 when no eval row is of this checkpoint */
    char label[64];
    int rows[512], n; /* train_epoch rows in epoch order */
    int events[128], n_events; /* train_event rows */
} rp_rpt_train;

typedef struct rp_rpt_data {
    rp_rpt_row *rows;
    int n_rows, cap;
    rp_rpt_model models[RPT_MAX_MODELS];
    int n_models;
    rp_rpt_cond *conds;  /* (RPT_MAX_CONDS) */
    int n_conds;
    rp_rpt_train train[RPT_MAX_TRAIN];
    int n_train;
    int test_row;     /* the first eval row: its test set is the page's (-1: no eval rows) */
    int clean_row;    /* an eval clean row with class names, or -1 */
    char **skipped;   /* skip_bad: the problems, one line each */
    int n_skipped;
    rp_ctx *ctx;      /* BORROWED: where a fatal problem's message goes */
    void (*on_skipped)(void *arg, const char *problem); /* optional: each skipped problem */
    void *on_skipped_arg;
    const char *const *explain; /* --explain folders */
    int n_explain;
} rp_rpt_data;

typedef struct rp_rpt_opts {
    bool skip_bad;
    int bootstrap;    /* resamples */
    unsigned long long seed;
    const char *const *explain;
    int n_explain;
} rp_rpt_opts;

/* report_read.c ------------------------------------------------------------------------- */

/* Read every line of f (named name for messages) into d. A problem leaves "FILE:LINE: what" in
 * d->ctx and returns its status, or with skip_bad is recorded (and passed to d->on_skipped) and the line
 * left out. */
rp_status rp_rpt_read(rp_rpt_data *d, const char *name, FILE *f, bool skip_bad);
/* After all files: the eval rows must share one test set (else the same kind of problem). */
rp_status rp_rpt_check_test_set(rp_rpt_data *d, bool skip_bad);
void rp_rpt_free(rp_rpt_data *d);
/* Record (skip_bad) a problem, or leave it in d->ctx; returns the status when it is fatal (else RP_OK). */
rp_status rp_rpt_problem(rp_rpt_data *d, bool skip_bad, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* report_model.c ------------------------------------------------------------------------ */

/* Models, conditions and training runs from the rows; RP_ERR_UNSUPPORTED (message in d->ctx) when
 * there are too many. */
rp_status rp_rpt_index(rp_rpt_data *d);
/* Field helpers: a number (NaN when absent or null), a string (def when absent). */
double rp_rpt_num(const cJSON *j, const char *key);
/* A count field as a long: 0 unless it is a number in [0, 2^31) (absent, null, negative or huge
 * numbers have no defined conversion). */
long rp_rpt_count(const cJSON *j, const char *key);
const char *rp_rpt_str(const cJSON *j, const char *key, const char *def);
/* The n per-image correctness bytes of an eval row (malloc'd), or NULL when it has none. */
unsigned char *rp_rpt_correct(const rp_rpt_data *d, int row, int *n);
/* Per-image mean over the rows of model m in conditions of kind (applicable ones): v[0..n),
 * malloc'd; NULL when there are none or they lack bitmaps. *count: conditions averaged. */
double *rp_rpt_per_image_mean(const rp_rpt_data *d, int m, rp_rpt_cond_kind kind, int *n, int *count);
/* mCE of model m against model ref over the corruptions both have (CE = sum_s err / sum_s
 * err_ref per corruption, then the mean); NaN when none is defined. */
double rp_rpt_mce(const rp_rpt_data *d, int m, int ref);
/* Sorted distinct eps of the worst-case rows of norm (max 32); returns how many. */
int rp_rpt_worst_eps(const rp_rpt_data *d, const char *norm, double *eps);
/* Insert x into the ascending set eps[0..n) (at most 32 values) unless it is there or the set is
 * full; returns the new count. */
int rp_rpt_eps_insert(double *eps, int n, double x);
/* The condition of the worst case at (norm, eps), or -1. */
int rp_rpt_worst_cond(const rp_rpt_data *d, const char *norm, double eps);

/* report_html.c ------------------------------------------------------------------------- */

/* The whole page into b; 0, or -1 with the reason in d->ctx. */
int rp_rpt_page(rp_rpt_buf *b, rp_rpt_data *d, const rp_rpt_opts *o);
void rp_rpt_table_cell_acc(rp_rpt_buf *b, double acc, long n);

/* report_plots.c ------------------------------------------------------------------------ */

void rp_rpt_plot_eps(rp_rpt_buf *b, const rp_rpt_data *d);
void rp_rpt_plot_severity(rp_rpt_buf *b, const rp_rpt_data *d, rp_rpt_cond_kind kind);
void rp_rpt_plot_training(rp_rpt_buf *b, const rp_rpt_data *d);
/* The explain folders' pictures as data: URIs; -1 (message in d->ctx) when a folder is missing. */
int rp_rpt_pictures(rp_rpt_buf *b, const rp_rpt_data *d);

#endif
