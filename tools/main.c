/* rampart: train, attack, evaluate and explain robust image classifiers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_dist.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *about;
} COMMANDS[] = {
    {"train", cmd_train, "train a model (plain or robust objective)"},
    {"eval", cmd_eval, "accuracy of one or more models on a data set"},
    {"models", cmd_models, "list architectures with parameter counts and FLOPs"},
    {"bench", cmd_bench, "images/s of train, advreg, pgd or eval on random data; per-layer profile"},
    {"predict", cmd_predict, "top-k classes of a model for image files (JPEG, PNG)"},
    {"attack", cmd_attack, "attack test images; write adversarial examples and a PNG grid"},
    {"explain", cmd_explain, "attribution maps (saliency, IG, Grad-CAM, ...) as PNG panels and raw floats"},
    {"corrupt", cmd_corrupt, "write corrupted copies of a test set (IDX or PNG folders) per corruption and severity"},
    {"report", cmd_report, "one self-contained HTML page from the JSON lines of train, eval, attack and explain"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: rampart COMMAND [options]   (rampart COMMAND --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        fprintf(f, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].about);
}

int main(int argc, char **argv)
{
    /* libgomp reads its wait policy when it loads, and its default (threads spin at every
     * barrier) stalls a step whenever the machine is shared or virtualised: with 2 threads on
     * the busy 2-core box, MobileNetV2 evaluation ran at 47 images/s spinning and 363 passive
     * (1 thread: 396). Unless the user chose a policy, run once more with passive waiting. */
    if (!getenv("OMP_WAIT_POLICY") && !getenv("GOMP_SPINCOUNT") && setenv("OMP_WAIT_POLICY", "passive", 0) == 0)
        execv("/proc/self/exe", argv); /* returns only when it failed: carry on as we are */
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("rampart %s\nblas: %s\nsimd: %s\nkernels: %s\nprecision: fp32%s\nmpi: %s\n", rp_version(), rp_blas_info(),
               rp_simd_info(), rp_kernel_info(), rp_precision_supported(RP_PRECISION_BF16) ? ", bf16" : "",
               rp_dist_built_with_mpi() ? "yes" : "no");
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (!strcmp(argv[1], COMMANDS[i].name)) {
            int rc = cli_dist_start(); /* under mpirun: this process's rank in the job */
            return cli_dist_end(rc ? rc : COMMANDS[i].run(argc - 2, argv + 2));
        }
    fprintf(stderr, "rampart: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return CLI_EXIT_USAGE;
}
