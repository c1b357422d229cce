/* rampart train's exact resume: the training state (rampart.h's rp_trainstate_*) written beside the
 * checkpoint as OUT.state at the end of every epoch and every --save-every K steps, and
 * `--resume`, which continues a run from it. The state records the flags that shape the
 * computation (the fingerprint); a resumed run must give the same ones, and a difference is
 * named. Thread and worker counts may differ: results do not depend on them. */
#ifndef RP_TOOLS_TRAIN_RESUME_H
#define RP_TOOLS_TRAIN_RESUME_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>

#include "rampart.h"
#include "train_robust.h"

typedef struct train_resume {
    char *path;       /* OUT.state */
    char *flags_json; /* the fingerprint */
    int save_every;   /* steps between mid-epoch saves; 0: epoch ends only */
    long kill_after;  /* fault injection for tests (RAMPART_FAULT_KILL_AFTER_STEP): SIGKILL
                         itself right after global step N and its save; 0: never */
} train_resume;

/* flags: the fingerprint, a JSON object of strings (consumed). Returns 0 or an exit code. */
int train_resume_init(train_resume *r, const char *out, int save_every, cJSON *flags);
void train_resume_free(train_resume *r);

/* Add "key": value (printf-formatted) to a fingerprint. */
void train_resume_flag(cJSON *flags, const char *key, const char *fmt, ...);

/* Restore the parts and the watch's bookkeeping from OUT.state; *pos is where to go on.
 * ckpt is the checkpoint beside it: when it is not the one the state was written with (the
 * run stopped between the two writes), a line says that the state's older position is
 * used. Returns 0 or an exit code, with one line naming the file and the problem. */
int train_resume_load(const train_resume *r, rp_ctx *ctx, const rp_train_parts *p, const train_robust_opts *robust,
                      const char *ckpt, rp_train_position *pos, FILE *log);

/* Write OUT.state for position pos; ckpt: the checkpoint written just before (its hash is
 * the link), or NULL mid-epoch. Returns 0 or an exit code. */
int train_resume_save(const train_resume *r, rp_ctx *ctx, const rp_train_parts *p, const train_robust_opts *robust,
                      const rp_train_position *pos, const char *ckpt);

/* After global step `step` (from 1) and any save it made: SIGKILL when it is the fault hook's. */
void train_resume_fault(const train_resume *r, long step);

#endif
