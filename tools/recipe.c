/* The recipes rampart train knows (recipe.h). */
#include "recipe.h"

#include <stdlib.h>
#include <string.h>

/* generalize: the recipe that held up best on corruption families it does not train on, on
 * bench/corruptions_fmnist's leave-family-out protocol (smallcnn, Fashion-MNIST, 3 seeds; chosen
 * on a validation split and the held-out extras, not the test corruptions): AugMix with the
 * Jensen-Shannon consistency loss, trained with the AugMix paper's optimiser settings (the
 * seventh selection, docs/benchmarks.md). README: "Unseen corruptions". */
static const char *const GENERALIZE[] = {"--augment",  "augmix:3",   "--consistency",  "jsd:12", "--lr",
                                         "0.1",        "--nesterov", "--weight-decay", "5e-4",   NULL};

static const recipe RECIPES[] = {
    {"generalize",
     "AugMix with the Jensen-Shannon consistency loss and the AugMix paper's optimiser: unseen corruptions "
     "(bench/corruptions_fmnist)",
     GENERALIZE},
};
#define N_RECIPES (int)(sizeof RECIPES / sizeof RECIPES[0])

const recipe *recipe_find(const char *name)
{
    for (int i = 0; i < N_RECIPES; i++)
        if (!strcmp(name, RECIPES[i].name)) return &RECIPES[i];
    return NULL;
}

void recipe_list(FILE *f)
{
    for (int i = 0; i < N_RECIPES; i++) {
        char buf[256];
        recipe_expansion(&RECIPES[i], buf, sizeof buf);
        fprintf(f, "  %-12s %s\n               = %s\n", RECIPES[i].name, RECIPES[i].why, buf);
    }
}

void recipe_expansion(const recipe *r, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; r->argv[i] && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%s", i ? " " : "", r->argv[i]);
}

int recipe_splice(int argc, char **argv, const recipe **r, int *out_argc, char ***out_argv)
{
    *r = NULL;
    const char *name = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--recipe") && i + 1 < argc) name = argv[i + 1];
        else if (!strncmp(argv[i], "--recipe=", 9)) name = argv[i] + 9;
    }
    if (name && strcmp(name, "none") && !(*r = recipe_find(name))) {
        fprintf(stderr, "rampart train: unknown recipe '%s'; recipes:\n", name);
        recipe_list(stderr);
        return -1;
    }
    int extra = 0;
    while (*r && (*r)->argv[extra]) extra++;
    char **v = malloc((size_t)(argc + extra + 1) * sizeof *v);
    if (!v) {
        fprintf(stderr, "rampart train: out of memory\n");
        return -1;
    }
    for (int i = 0; i < extra; i++) v[i] = (char *)(*r)->argv[i];
    for (int i = 0; i < argc; i++) v[extra + i] = argv[i];
    v[argc + extra] = NULL;
    *out_argc = argc + extra;
    *out_argv = v;
    return 0;
}
