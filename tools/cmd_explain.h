/* The explain command's shared pieces: options, inputs, results, panels (tools/cmd_explain.c runs
 * the methods and writes files; tools/explain_view.c draws panels and the adversarial view). */
#ifndef RP_TOOLS_CMD_EXPLAIN_H
#define RP_TOOLS_CMD_EXPLAIN_H

#include <cjson/cJSON.h>

#include "cli.h"

typedef struct explain_opts {
    const char *model, *data, *target, *layer, *out, *colormap, *baseline, *attack, *eps, *compare;
    cli_list images, methods;
    int limit, start, chunk, samples, ig_steps, window, stride, attack_steps, seed, threads, view, del_steps;
    float sigma, occ_value, alpha, clip, blur;
    bool sanity, adversarial, relu, counterfactual, shared_scale;
} explain_opts;

/* The images to explain and what is known about them. */
typedef struct inputs {
    int n, H, W, C, K;
    size_t X;
    float *x;             /* (n, X) in [0, 1] */
    int32_t *y;           /* (n) labels, or NULL */
    const char **names;   /* K class names (entries may be NULL) */
    char **owned_names;   /* from the checkpoint, when the data set has none */
    int n_owned;
    char (*source)[160];  /* where each image came from */
} inputs;

/* A method's results for all images. */
typedef struct result {
    rp_xai_method m;
    float *map, *sgn, *attr, *low; /* (n,H,W) (n,H,W) (n,X) or NULL (n,h,w) or NULL */
    double *gap, *df;              /* IG */
    int h, w;
} result;


typedef struct render {
    rp_colormap cm_unsigned, cm_signed;
    float alpha, clip;
    int f;
} render;

typedef struct target_rule {
    rp_target_kind kind;
    int cls;
} target_rule;

enum { P_ROWS = 2, P_COLS = 5, P_LINES = 8, GAP = 6 };
typedef struct panel {
    int rows, cols, H, W, f;
    const float *tile[P_ROWS][P_COLS]; /* (H,W,3) colours in [0,1], or images with tile_c channels */
    int tile_c[P_ROWS][P_COLS];
    const char *caption[P_COLS];
    char row_label[P_ROWS][48];
    char line[P_LINES][320];
    int n_lines;
} panel;

/* Helpers (tools/explain_view.c). */
const char *xp_tag(rp_xai_method m);
const char *xp_class_name(const inputs *in, int k);
int xp_argmax(const float *v, int K);
int xp_top5(const float *z, int K, int *order);
void xp_softmax(const float *z, int K, double *p);
void xp_all_logits(rp_model *m, const float *x, int n, size_t X, int K, int B, float *z);
float xp_map_scale(const render *rd, const float *map, size_t n);
/* NNN_METHOD.png and NNN_METHOD_overlay.png of image i; its file name into files. shared >= 0: the
 * display scale to use. */
rp_status xp_image_panel(rp_ctx *ctx, const explain_opts *o, const inputs *in, const result *r, int i,
                         const int32_t *t, const float *z, const render *rd, const rp_explain_config *ec,
                         float shared, cJSON *files);
/* adv_NNN_METHOD.png: per model (rows, named after the checkpoint's file stem) clean | map |
 * adversarial | map; each map on its own display scale unless --shared-scale. */
rp_status xp_adversarial(rp_ctx *ctx, const explain_opts *o, rp_model **models, rp_explainer **exs, int nm,
                         const inputs *in, const rp_xai_method *ms, int n_ms, const rp_attack_config *ac,
                         target_rule tr, const render *rd, cJSON *root);

#endif
