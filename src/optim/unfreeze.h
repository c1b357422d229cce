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
/* Trainable scalars that are not frozen. */
size_t rp_model_num_unfrozen(const rp_model *m);

typedef struct rp_unfreeze_config {
    int patience;    /* > 0: unfreeze the next group after this many epochs without improvement */
    float threshold; /* an epoch improves when loss < best * (1 - threshold) */
    const int *at;   /* strictly increasing epochs at whose start the next group is unfrozen */
    int n_at;
} rp_unfreeze_config;

typedef struct rp_unfreeze rp_unfreeze;

/* OWNED. Freezes every group but the head. Fails when the model has fewer than two
 * groups or the schedule is not strictly increasing and positive. */
rp_status rp_unfreeze_create(rp_ctx *ctx, rp_model *m, const rp_unfreeze_config *cfg, rp_unfreeze **out);
void rp_unfreeze_destroy(rp_unfreeze *u);
/* Call at the start of each epoch (numbered from 1): the fixed schedule. Returns the group
 * it unfroze (BORROWED) or NULL. */
const char *rp_unfreeze_epoch_start(rp_unfreeze *u, int epoch);
/* Call after each epoch with its mean training loss: the plateau rule. Returns the group
 * it unfroze (BORROWED) or NULL. *why (may be NULL) gets a short reason for the log. */
const char *rp_unfreeze_epoch_end(rp_unfreeze *u, double loss, char *why, size_t why_size);
/* Groups still frozen, and all groups. */
int rp_unfreeze_frozen(const rp_unfreeze *u);
int rp_unfreeze_groups(const rp_unfreeze *u);
/* BORROWED name of group i. */
const char *rp_unfreeze_group(const rp_unfreeze *u, int i);

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
