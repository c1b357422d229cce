/* rampart eval's corruption rows (--corruptions, --severity, --reference-model): the
 * conditions, their labels and JSON fields, and the summary under the table (mean accuracy
 * per corruption and per family, CE and relative CE per corruption, mCE). */
#ifndef RP_TOOLS_EVAL_CORRUPTIONS_H
#define RP_TOOLS_EVAL_CORRUPTIONS_H

#include <cjson/cJSON.h>

#include "cli.h"
#include "jsonl.h"
#include "rampart.h"

/* Append a condition for every corruption of spec ("all", a family, names; comma-separated)
 * at every severity of the list (items "1", "3", "1-5") to conds[n..max); returns the new
 * count, or -1 after printing one line naming the bad item. */
int eval_corruption_conditions(const char *spec, const cli_list *severities, rp_eval_condition *conds, int n, int max);

/* "fog sev 3" */
void eval_corruption_label(const rp_eval_condition *c, char *buf, size_t size);

/* A condition row's corruption fields: corruption, family, severity, applicable. */
void eval_corruption_json_fields(cJSON *j, const rp_eval_condition *c, const rp_eval_result *r);

typedef struct eval_corruption_report {
    const char *const *paths; /* the M columns' model files */
    const char *const *heads; /* ... and their table headers */
    int M;                    /* columns of the results */
    int ref;                  /* the reference model's column for CE, or -1 */
    bool json;
    const jsonl_run *run;     /* JSON rows: the run id */
    const char *const *sha;   /* ... and the models' content hashes (NULL entries: unknown) */
} eval_corruption_report;

/* The summary: table sections on stdout, or JSON rows (one per model and corruption, per
 * family, and the means). Prints nothing when the table holds no corruption rows. */
void eval_corruption_summary(const eval_corruption_report *r, const rp_eval_condition *conds, int n_conds,
                             const rp_eval_result *res);

#endif
