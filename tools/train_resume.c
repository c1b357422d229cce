#include "train_resume.h"

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jsonl.h"

int train_resume_init(train_resume *r, const char *out, int save_every, cJSON *flags)
{
    *r = (train_resume){.save_every = save_every};
    size_t n = strlen(out) + 7;
    r->path = malloc(n);
    r->flags_json = cJSON_PrintUnformatted(flags);
    cJSON_Delete(flags);
    const char *k = getenv("RAMPART_FAULT_KILL_AFTER_STEP");
    if (k) r->kill_after = strtol(k, NULL, 10);
    if (!r->path || !r->flags_json) {
        fprintf(stderr, "rampart train: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    snprintf(r->path, n, "%s.state", out);
    return 0;
}

void train_resume_free(train_resume *r)
{
    free(r->path);
    cJSON_free(r->flags_json);
    *r = (train_resume){0};
}

void train_resume_flag(cJSON *flags, const char *key, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    cJSON_AddStringToObject(flags, key, buf);
}

int train_resume_load(const train_resume *r, rp_ctx *ctx, const rp_train_parts *p, const train_robust_opts *robust,
                      const char *ckpt, rp_train_position *pos, FILE *log)
{
    char *extra = NULL, link[65], sha[65];
    if (access(r->path, F_OK) != 0) {
        fprintf(stderr, "rampart train: --resume: no training state %s (train writes it beside --out at every epoch "
                        "end, and every --save-every steps)\n", r->path);
        return CLI_EXIT_FAIL;
    }
    if (rp_trainstate_load(ctx, r->path, p, r->flags_json, pos, &extra, link) != RP_OK) {
        fprintf(stderr, "rampart train: --resume: %s\n", rp_ctx_error(ctx));
        return CLI_EXIT_FAIL;
    }
    int rc = train_robust_restore(robust, extra);
    free(extra);
    if (rc) {
        fprintf(stderr, "rampart train: --resume: %s: the robust-training record is malformed\n", r->path);
        return CLI_EXIT_FAIL;
    }
    if (link[0] && (!jsonl_file_sha256(ckpt, sha) || strcmp(sha, link)))
        fprintf(log, "resume: %s is not the checkpoint %s was written with (the run stopped between the two "
                     "writes): going on from the state's own weights\n", ckpt, r->path);
    fprintf(log, "resume: from %s at epoch %d, batch %d (step %lld)\n", r->path, pos->epoch, pos->batch + 1,
            (long long)rp_optim_steps(p->opt));
    return 0;
}

int train_resume_save(const train_resume *r, rp_ctx *ctx, const rp_train_parts *p, const train_robust_opts *robust,
                      const rp_train_position *pos, const char *ckpt)
{
    char sha[65] = "";
    if (ckpt && !jsonl_file_sha256(ckpt, sha)) sha[0] = '\0';
    char *extra = train_robust_state(robust);
    rp_status s = rp_trainstate_save(ctx, r->path, p, pos, r->flags_json, extra, sha[0] ? sha : NULL);
    free(extra);
    return s == RP_OK ? 0 : cli_fail("train", ctx);
}

void train_resume_fault(const train_resume *r, long step)
{
    if (r->kill_after > 0 && step == r->kill_after) raise(SIGKILL);
}
