/* Gradual unfreezing for fine-tuning: the model's parameters fall into groups by the
 * top-level prefix of their names, in registration order (the input side first):
 *   smallcnn      conv1, conv2, fc1, fc2
 *   mobilenet_v2  features.0, ..., features.18, classifier.1
 *   resnet        conv1, bn1, layer1, ..., layer4, fc
 * (a name's first component, extended by the next one when the first is a container
 * like "features" — it does not end in a digit — and the next is a number). The last
 * group is the head. Training starts with every group but the head frozen, and groups
 * are unfrozen top-down (the one nearest the head first), on a fixed schedule of epochs
 * and/or when the training loss plateaus. */
#ifndef RP_OPTIM_UNFREEZE_H
#define RP_OPTIM_UNFREEZE_H

#include <stdbool.h>

#include "core/status.h"

#define RP_GROUP_NAME 64

/* The groups of m's trainable parameters, in order, into names[0..max); returns how many
 * there are (which may exceed max). */
int rp_model_groups(const rp_model *m, char (*names)[RP_GROUP_NAME], int max);

/* rp_model_num_unfrozen, rp_unfreeze (opaque), rp_unfreeze_config and rp_unfreeze_create/
 * destroy/epoch_start/epoch_end/frozen/groups/group are public: rampart.h. */

/* The schedule's position, for exact resume (io/trainstate.h): groups still frozen and the
 * plateau rule's bookkeeping. */
typedef struct rp_unfreeze_state {
    int n_frozen;
    double best;    /* best epoch loss so far (valid when have_best) */
    bool have_best;
    int bad;        /* epochs since the last improvement or unfreeze */
} rp_unfreeze_state;

rp_unfreeze_state rp_unfreeze_get_state(const rp_unfreeze *u);
/* Restore a position taken from an unfreezer over the same model and schedule: the groups
 * [0, n_frozen) end frozen, the rest trainable. RP_ERR_ARG when n_frozen is out of range. */
rp_status rp_unfreeze_set_state(rp_ctx *ctx, rp_unfreeze *u, const rp_unfreeze_state *s);

#endif
