/* The evaluation checklist (Carlini et al. 2019; Athalye et al. 2018; AutoAttack's flags):
 * warnings computed from one model's accuracy table. A tool that skips these reports fiction.
 *
 * checks (the `check` id of each warning):
 *   eps-monotone       accuracy rises with eps under one attack (FGSM: gradient masking)
 *   steps-restarts     more steps or restarts of the same attack raise accuracy
 *   iterative-vs-fgsm  an iterative attack (PGD, APGD) leaves more accuracy than FGSM
 *   blackbox-vs-whitebox  Square (black-box) beats every white-box gradient attack
 *   noise-vs-whitebox  random sign noise of the same eps is as strong as the white-box attacks
 *   large-eps          at the largest L-inf eps >= 0.3 accuracy stays above chance
 *   unbounded          an unbounded attack (eps = inf) leaves accuracy above 0
 *   ball               perturbations outside the eps-ball or the pixel range
 *   nondeterministic   the same input gave different logits (randomized model: use EoT)
 * Transfer rows (crafted on another model) are checked for the ball only. */
#ifndef RP_ROBUST_REPORT_H
#define RP_ROBUST_REPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "robust/evaluate.h"

typedef struct rp_report_row {
    rp_cond_kind kind;
    rp_attack_kind attack; /* RP_COND_ATTACK */
    rp_norm norm;
    float eps;
    int steps, restarts;
    bool transfer;
    double accuracy;       /* fraction */
    bool ball_checked, in_ball;
    float max_norm;
    bool determinism_checked, deterministic; /* RP_COND_CLEAN */
} rp_report_row;

/* rp_warning is public (rampart.h, with rp_evaluate_checklist). */

/* Run the checklist over rows (one model). Accuracy differences up to slack (a fraction,
 * e.g. 0 or 1/n) are not reported. Writes up to max_out warnings and returns how many
 * there were in all. num_classes sets chance (1/K) for the large-eps check. */
int rp_report_check(const rp_report_row *rows, int n_rows, int num_classes, double slack, rp_warning *out,
                    int max_out);

/* The row of condition c with its result. */
rp_report_row rp_report_row_of(const rp_condition *c, const rp_cond_result *r, bool transfer);

/* rp_parse_eps ("0.1", "8/255", "inf") is public: rampart.h. */

/* "0.1 (25.5/255)"; "inf" for an unbounded eps. Returns buf. */
const char *rp_format_eps(char *buf, size_t size, float eps);

#endif
