/* Checkpoint helpers beyond rampart.h's rp_model_save/load (used by the CLI). */
#ifndef RP_IO_CHECKPOINT_H
#define RP_IO_CHECKPOINT_H

#include <stdbool.h>

#include "core/status.h"

#define RP_CHECKPOINT_FORMAT "rampart-1"

/* Class names stored in a checkpoint's metadata ("class_names", a JSON array of
 * strings). *names is OWNED by the caller (free with rp_checkpoint_free_names), or
 * NULL with *n = 0 when the checkpoint has none. Errors name the file. */
rp_status rp_checkpoint_class_names(rp_ctx *ctx, const char *path, char ***names, int *n);
void rp_checkpoint_free_names(char **names, int n);

/* Parse s as a JSON array of exactly n finite numbers into out (metadata mean/std). */
bool rp_json_floats(const char *s, float *out, int n);

#endif
