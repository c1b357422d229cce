/* Load a checkpoint and measure how robust it is, with rampart's public API alone: clean
 * accuracy, accuracy under every corruption of the suite at one severity (and the mean per
 * family), robust accuracy under FGSM and PGD, and the worst case over them together with
 * AutoAttack's sequence (APGD-CE, APGD-T, Square), all on the same test images.
 *
 *   cc evaluate_robust.c $(pkg-config --cflags --libs rampart) -o evaluate_robust
 *   ./evaluate_robust MODEL [DATA [N [EPS [SEVERITY]]]]   (fashion-mnist, 500, 0.1, 3)
 *
 * An example counts as robust only when both x and x_adv are classified correctly, so robust
 * accuracy <= clean accuracy. Corrupted image i comes from the stream of (seed, i): the numbers
 * do not depend on the batch size or the thread count. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rampart.h>

static int fail(rp_ctx *ctx, const char *what)
{
    fprintf(stderr, "evaluate_robust: %s: %s\n", what, rp_ctx_error(ctx));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL [DATA [N [EPS [SEVERITY]]]]\n", argv[0]);
        return 2;
    }
    const char *path = argv[1], *data = argc > 2 ? argv[2] : "fashion-mnist";
    int n = argc > 3 ? atoi(argv[3]) : 500, severity = argc > 5 ? atoi(argv[5]) : 3;
    float eps = argc > 4 ? strtof(argv[4], NULL) : 0.1f;
    rp_set_threads(2);
    rp_ctx *ctx = rp_ctx_create(2);
    rp_model *m = NULL;
    rp_dataset *test = NULL;
    if (rp_model_load(ctx, path, 100, &m) != RP_OK) return fail(ctx, path);
    if (rp_dataset_open(ctx, data, false, &test) != RP_OK) return fail(ctx, data);

    /* the conditions: clean, every corruption, two attacks and their worst case */
    int n_corr = rp_corruption_count(), n_conds = 0;
    rp_eval_condition *conds = calloc((size_t)n_corr + 4, sizeof *conds);
    rp_eval_result *res = calloc((size_t)n_corr + 4, sizeof *res);
    rp_corruption_info *info = calloc((size_t)n_corr, sizeof *info);
    if (!conds || !res || !info) return 1;
    conds[n_conds++] = (rp_eval_condition){.kind = RP_EVAL_CLEAN};
    for (int i = 0; i < n_corr; i++) {
        if (rp_corruption_describe(ctx, i, &info[i]) != RP_OK) return fail(ctx, "corruptions");
        conds[n_conds++] = (rp_eval_condition){.kind = RP_EVAL_CORRUPTION, .corruption = info[i].name,
                                               .severity = severity};
    }
    rp_attack_config fgsm = rp_attack_defaults(RP_ATTACK_FGSM, eps), pgd = rp_attack_defaults(RP_ATTACK_PGD, eps);
    rp_attack_config worst = rp_attack_defaults(RP_ATTACK_WORST, eps);
    pgd.steps = 10, pgd.seed = 1;
    worst.steps = 25, worst.square_queries = 300, worst.n_target_classes = 3, worst.seed = 1; /* a quick AutoAttack */
    conds[n_conds++] = (rp_eval_condition){.kind = RP_EVAL_ATTACK, .attack = fgsm};
    conds[n_conds++] = (rp_eval_condition){.kind = RP_EVAL_ATTACK, .attack = pgd};
    conds[n_conds++] = (rp_eval_condition){.kind = RP_EVAL_ATTACK, .attack = worst};
    rp_eval_options o = {.n = n, .batch = 100, .seed = 1};
    if (rp_evaluate_conditions(ctx, &m, 1, test, conds, n_conds, &o, res) != RP_OK) return fail(ctx, "evaluating");

    printf("%s on %d images of %s\n", path, res[0].n, data);
    printf("  %-22s %8.4f   (ECE %.4f)\n", "clean", res[0].accuracy, res[0].ece);
    const char *const *families = rp_corruption_family_names();
    for (int f = 0; families[f]; f++) {
        double sum = 0.0;
        int k = 0;
        for (int i = 0; i < n_corr; i++) {
            const rp_eval_result *r = &res[1 + i];
            if (strcmp(info[i].family, families[f])) continue;
            if (r->not_applicable) {
                printf("  %-22s      n/a   (%s at severity %d)\n", info[i].name, families[f], severity);
                continue;
            }
            printf("  %-22s %8.4f   (%s at severity %d)\n", info[i].name, r->accuracy, families[f], severity);
            sum += r->accuracy, k++;
        }
        if (k) printf("  %-22s %8.4f   (mean of %d)\n", families[f], sum / k, k);
    }
    const char *names[] = {"fgsm", "pgd-10", "worst case"};
    for (int a = 0; a < 3; a++) {
        const rp_eval_result *r = &res[1 + n_corr + a];
        printf("  %-22s %8.4f   (robust accuracy, L-inf eps %g, %ld passes, %s)\n", names[a], r->accuracy, (double)eps,
               r->passes, r->in_ball ? "every perturbation in the ball" : "PERTURBATION OUTSIDE THE BALL");
        if (!r->in_ball || r->accuracy > res[0].accuracy) return 1;
    }
    free(conds), free(res), free(info);
    rp_model_destroy(m);
    rp_dataset_destroy(test);
    rp_ctx_destroy(ctx);
    return 0;
}
