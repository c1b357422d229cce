/* Fine-tuning from a weights file: a rampart checkpoint or a bare PyTorch state_dict
 * saved as safetensors (e.g. torchvision's MobileNetV2/ResNet weights), into a model
 * built for a new data set, whose number of classes may differ from the file's. */
#ifndef RP_IO_FINETUNE_H
#define RP_IO_FINETUNE_H

#include <stdbool.h>

#include "core/status.h"

/* rp_init_report and rp_model_init_from are public: rampart.h. */

/* rp_checkpoint_norm (the normalisation a checkpoint was trained with) is public: rampart.h. */

#endif
