/* rampart models: every built-in architecture with its parameter count and forward FLOPs
 * at a given input size (nothing is allocated: the counts come from the graph). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct models_opts {
    int input_size, num_classes, channels;
    float width;
    bool json;
} models_opts;

/* 11689512 -> "11,689,512" */
static const char *with_commas(char *buf, size_t n, size_t v)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%zu", v), o = 0;
    for (int i = 0; i < len && o + 2 < (int)n; i++) {
        if (i > 0 && (len - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

static void print_json(const char *arch, float width, const models_opts *o, size_t params,
                       double flops, const char *error)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "arch", arch);
    if (width > 0) cJSON_AddNumberToObject(j, "width", width);
    cJSON_AddNumberToObject(j, "input_size", o->input_size);
    cJSON_AddNumberToObject(j, "channels", o->channels);
    cJSON_AddNumberToObject(j, "num_classes", o->num_classes);
    if (error) {
        cJSON_AddStringToObject(j, "error", error);
    } else {
        cJSON_AddNumberToObject(j, "params", (double)params);
        cJSON_AddNumberToObject(j, "flops", flops);
    }
    char *s = cJSON_PrintUnformatted(j);
    printf("%s\n", s);
    free(s);
    cJSON_Delete(j);
}

int cmd_models(int argc, char **argv)
{
    models_opts o;
    cli_flag flags[] = {
        {"--input-size", CLI_INT, &o.input_size, "64", "input height and width in pixels"},
        {"--channels", CLI_INT, &o.channels, "3", "input channels"},
        {"--num-classes", CLI_INT, &o.num_classes, "200", "classes (the last layer's outputs)"},
        {"--width", CLI_FLOAT, &o.width, "1.0", "mobilenet_v2's width multiplier"},
        {"--json", CLI_BOOL, &o.json, "false", "one JSON object per architecture on stdout"},
    };
    int p = cli_parse("models",
                      "List the built-in architectures with parameter count and forward FLOPs per "
                      "image\n(a multiply-add counts 2 FLOPs in conv and linear layers; other "
                      "layers count 1 per element).",
                      flags, (int)(sizeof flags / sizeof flags[0]), argc, argv);
    if (p) return p > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if (o.input_size < 1 || o.num_classes < 2 || o.channels < 1 || o.channels > 4 || !(o.width > 0.0f)) {
        fprintf(stderr, "rampart models: need --input-size >= 1, --num-classes >= 2, --channels 1..4, "
                        "--width > 0\n");
        return CLI_EXIT_USAGE;
    }
    rp_ctx *ctx = rp_ctx_create(1);
    if (!o.json)
        printf("%-16s %6s %14s %12s   (input %dx%dx%d, %d classes)\n", "architecture", "width",
               "parameters", "MFLOPs", o.input_size, o.input_size, o.channels, o.num_classes);
    for (const char *const *a = rp_model_archs(); *a; a++) {
        bool widened = strcmp(*a, "mobilenet_v2") == 0;
        rp_model_config c = {.arch = *a, .num_classes = o.num_classes, .H = o.input_size,
                             .W = o.input_size, .C = o.channels, .std = {1, 1, 1, 1},
                             .width = widened ? o.width : 0.0f};
        size_t params = 0;
        double flops = 0.0;
        rp_status s = rp_model_cost(ctx, &c, &params, &flops);
        if (o.json) {
            print_json(*a, c.width, &o, params, flops, s == RP_OK ? NULL : rp_ctx_error(ctx));
            continue;
        }
        char w[16], n[32];
        if (widened) snprintf(w, sizeof w, "%.2f", (double)o.width);
        else snprintf(w, sizeof w, "-");
        if (s == RP_OK)
            printf("%-16s %6s %14s %12.1f\n", *a, w, with_commas(n, sizeof n, params), flops / 1e6);
        else
            printf("%-16s %6s   (%s)\n", *a, w, rp_ctx_error(ctx));
    }
    rp_ctx_destroy(ctx);
    return CLI_EXIT_OK;
}
