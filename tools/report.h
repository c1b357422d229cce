/* rampart report: one self-contained HTML page from the JSON lines of train, eval, attack and
 * explain (docs/json.md, docs/report.md). report_read.c reads and checks the lines,
 * report_model.c indexes them (models by content hash, conditions, per-image correctness),
 * report_html.c writes the page's tables and report_plots.c its SVG plots and pictures. */
#ifndef RP_TOOLS_REPORT_H
#define RP_TOOLS_REPORT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>

#include "report_buf.h"

enum { RPT_MAX_MODELS = 16, RPT_MAX_CONDS = 512, RPT_MAX_TRAIN = 32, RPT_MAX_EXPLAIN = 16 };

typedef struct rpt_row {
    cJSON *j;
    const char *kind; /* borrowed from j */
    char *file;       /* owned */
    int line;
} rpt_row;

typedef enum rpt_cond_kind { RPT_CLEAN, RPT_NOISE, RPT_CORRUPTION, RPT_ATTACK } rpt_cond_kind;

/* One condition of the evaluation, shared by every model that has a row of it. */
typedef struct rpt_cond {
    char key[160];    /* identifies the condition: kind, name, severity or attack settings */
    char label[128];  /* "pgd-20 linf eps 0.1", "fog sev 3" */
    rpt_cond_kind kind;
    char group[48];   /* noise or corruption name; attack name */
    char norm[8];
    double x;         /* severity, or eps */
    bool worst, applicable;
    int row[RPT_MAX_MODELS]; /* the row of each model, or -1 */
} rpt_cond;

typedef struct rpt_model {
    char key[80];     /* model_sha256, or "path:" + the path when no hash is known */
    const char *path, *sha;
    char label[64];   /* the file's base name without .safetensors (made unique) */
} rpt_model;

typedef struct rpt_train {
    const char *run, *path, *sha; /* the run, its checkpoint and the last epoch's hash */
    int model;        /* index into models, or -1 when no eval row is of this checkpoint */
    char label[64];
    int rows[512], n; /* train_epoch rows in epoch order */
    int events[128], n_events; /* train_event rows */
} rpt_train;

typedef struct rpt_data {
    rpt_row *rows;
    int n_rows, cap;
    rpt_model models[RPT_MAX_MODELS];
    int n_models;
    rpt_cond *conds;  /* (RPT_MAX_CONDS) */
    int n_conds;
    rpt_train train[RPT_MAX_TRAIN];
    int n_train;
    int test_row;     /* the first eval row: its test set is the page's (-1: no eval rows) */
    int clean_row;    /* an eval clean row with class names, or -1 */
    char **skipped;   /* --skip-bad: the problems, one line each */
    int n_skipped;
    const char *const *explain; /* --explain folders */
    int n_explain;
} rpt_data;

typedef struct rpt_opts {
    const char *out;
    bool skip_bad;
    int bootstrap;    /* resamples */
    unsigned long long seed;
    const char *const *explain;
    int n_explain;
} rpt_opts;

/* report_read.c ------------------------------------------------------------------------- */

/* Read every line of f (named name for messages) into d. A problem prints one line
 * "rampart report: FILE:LINE: what" on stderr and returns -1, or with skip_bad is recorded
 * and the line left out. */
int rpt_read(rpt_data *d, const char *name, FILE *f, bool skip_bad);
/* After all files: the eval rows must share one test set (else the same kind of message). */
int rpt_check_test_set(rpt_data *d, bool skip_bad);
void rpt_free(rpt_data *d);
/* Record (skip_bad) or print a problem; returns -1 when it is fatal. */
int rpt_problem(rpt_data *d, bool skip_bad, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* report_model.c ------------------------------------------------------------------------ */

/* Models, conditions and training runs from the rows; -1 (printed) when there are too many. */
int rpt_index(rpt_data *d);
/* Field helpers: a number (NaN when absent or null), a string (def when absent). */
double rpt_num(const cJSON *j, const char *key);
/* A count field as a long: 0 unless it is a number in [0, 2^31) (absent, null, negative or huge
 * numbers have no defined conversion). */
long rpt_count(const cJSON *j, const char *key);
const char *rpt_str(const cJSON *j, const char *key, const char *def);
/* The n per-image correctness bytes of an eval row (malloc'd), or NULL when it has none. */
unsigned char *rpt_correct(const rpt_data *d, int row, int *n);
/* Per-image mean over the rows of model m in conditions of kind (applicable ones): v[0..n),
 * malloc'd; NULL when there are none or they lack bitmaps. *count: conditions averaged. */
double *rpt_per_image_mean(const rpt_data *d, int m, rpt_cond_kind kind, int *n, int *count);
/* mCE of model m against model ref over the corruptions both have (CE = sum_s err / sum_s
 * err_ref per corruption, then the mean); NaN when none is defined. */
double rpt_mce(const rpt_data *d, int m, int ref);
/* Sorted distinct eps of the worst-case rows of norm (max 32); returns how many. */
int rpt_worst_eps(const rpt_data *d, const char *norm, double *eps);
/* The condition of the worst case at (norm, eps), or -1. */
int rpt_worst_cond(const rpt_data *d, const char *norm, double eps);

/* report_html.c ------------------------------------------------------------------------- */

/* The whole page into b; 0, or -1 after printing why. */
int rpt_page(rpt_buf *b, rpt_data *d, const rpt_opts *o);
void rpt_table_cell_acc(rpt_buf *b, double acc, long n);

/* report_plots.c ------------------------------------------------------------------------ */

void rpt_plot_eps(rpt_buf *b, const rpt_data *d);
void rpt_plot_severity(rpt_buf *b, const rpt_data *d, rpt_cond_kind kind);
void rpt_plot_training(rpt_buf *b, const rpt_data *d);
/* The --explain folders' pictures as data: URIs; -1 (printed) when a folder is missing. */
int rpt_pictures(rpt_buf *b, const rpt_data *d);

/* cmd_report.c: the report of rows already in a file (rampart eval --report). */
int report_from_stream(const char *name, FILE *f, const char *out);

#endif
