/* rampart eval: accuracy of one or more models on a data set, one table. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct eval_opts {
    cli_list models;
    const char *data;
    int limit, batch, threads;
    bool json;
} eval_opts;

static void print_json(const char *model, const char *condition, int n, double acc, double loss)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", model);
    cJSON_AddStringToObject(o, "condition", condition);
    cJSON_AddNumberToObject(o, "n", n);
    cJSON_AddNumberToObject(o, "accuracy", acc);
    cJSON_AddNumberToObject(o, "loss", loss);
    char *s = cJSON_PrintUnformatted(o);
    printf("%s\n", s);
    free(s);
    cJSON_Delete(o);
}

int cmd_eval(int argc, char **argv)
{
    eval_opts o;
    cli_flag flags[] = {
        {"--model", CLI_LIST, &o.models, NULL, "checkpoint to evaluate (repeat for several)"},
        {"--data", CLI_STRING, &o.data, "fashion-mnist", "data set (its test split)"},
        {"--limit", CLI_INT, &o.limit, "0", "evaluate the first N images (0: all)"},
        {"--batch", CLI_INT, &o.batch, "256", "batch size"},
        {"--threads", CLI_INT, &o.threads, "2", "CPU threads"},
        {"--json", CLI_BOOL, &o.json, "false", "one JSON object per model and condition on stdout"},
    };
    int p = cli_parse("eval", "Evaluate models on a data set.", flags, (int)(sizeof flags / sizeof flags[0]),
                      argc, argv);
    if (p) return p > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if (o.models.n == 0) {
        fprintf(stderr, "rampart eval: give at least one --model FILE\n");
        return CLI_EXIT_USAGE;
    }
    if (o.limit < 0 || o.batch < 1 || o.threads < 1) {
        fprintf(stderr, "rampart eval: --limit must be >= 0, --batch and --threads >= 1\n");
        return CLI_EXIT_USAGE;
    }
    rp_set_threads(o.threads);
    rp_ctx *ctx = rp_ctx_create(o.threads);
    rp_dataset *ds = NULL;
    int rc = CLI_EXIT_OK;
    if (rp_dataset_open(ctx, o.data, false, &ds) != RP_OK) {
        rc = cli_fail("eval", ctx);
        goto done;
    }
    int n = o.limit > 0 && o.limit < rp_dataset_size(ds) ? o.limit : rp_dataset_size(ds);
    if (!o.json) {
        printf("%-12s", "condition");
        for (int i = 0; i < o.models.n; i++) printf("  %16.16s", o.models.items[i]);
        printf("\n%-12s", "clean");
    }
    for (int i = 0; i < o.models.n; i++) {
        rp_model *m = NULL;
        double acc = 0, loss = 0;
        if (rp_model_load(ctx, o.models.items[i], o.batch, &m) != RP_OK ||
            rp_evaluate(ctx, m, ds, n, o.batch, &acc, &loss) != RP_OK) {
            if (!o.json) printf("\n");
            rc = cli_fail("eval", ctx);
            rp_model_destroy(m);
            goto done;
        }
        if (o.json) print_json(o.models.items[i], "clean", n, acc, loss);
        else printf("  %15.2f%%", 100.0 * acc);
        rp_model_destroy(m);
    }
    if (!o.json) printf("\n(n = %d images of %s)\n", n, o.data);
done:
    rp_dataset_destroy(ds);
    rp_ctx_destroy(ctx);
    return rc;
}
