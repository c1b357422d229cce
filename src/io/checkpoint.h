/* Checkpoint helpers beyond rampart.h's rp_model_save/load (used by the CLI). */
#ifndef RP_IO_CHECKPOINT_H
#define RP_IO_CHECKPOINT_H

#include <stdbool.h>

#include "core/status.h"

#define RP_CHECKPOINT_FORMAT "rampart-1"

/* rp_checkpoint_class_names and rp_checkpoint_free_names (a checkpoint's class names) are
 * public: rampart.h. */

/* Parse s as a JSON array of exactly n finite numbers into out (metadata mean/std). */
bool rp_json_floats(const char *s, float *out, int n);

#endif
