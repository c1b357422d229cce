/* Fine-tuning from a weights file: a rampart checkpoint or a bare PyTorch state_dict
 * saved as safetensors (e.g. torchvision's MobileNetV2/ResNet weights), into a model
 * built for a new data set, whose number of classes may differ from the file's. */
#ifndef RP_IO_FINETUNE_H
#define RP_IO_FINETUNE_H

#include <stdbool.h>

#include "core/status.h"

typedef struct rp_init_report {
    int file_classes;  /* rows of the file's classifier (0 when it has none) */
    bool reinit;       /* the classifier differed in size and kept its fresh initialisation */
    char head[128];    /* the classifier's tensors, comma-separated ("fc2.weight, fc2.bias") */
} rp_init_report;

/* Load every tensor of path into m. The classifier (the tensors of the model's last
 * layer) is re-initialised (left as built) when its number of classes differs from the
 * file's; every other tensor must be present with the model's shape, and the file may
 * hold no other tensor (errors name the file and the tensor). Nothing changes on failure.
 * rep may be NULL. */
rp_status rp_model_init_from(rp_ctx *ctx, rp_model *m, const char *path, rp_init_report *rep);

/* rp_checkpoint_norm (the normalisation a checkpoint was trained with) is public: rampart.h. */

#endif
