/* Named training recipes: `rampart train --recipe NAME` is NAME's flags followed by the
 * user's own, so any explicit flag overrides the recipe. */
#ifndef RP_TOOLS_RECIPE_H
#define RP_TOOLS_RECIPE_H

#include <stdio.h>

typedef struct recipe {
    const char *name;
    const char *why;        /* one line: what it is for and where its choice was measured */
    const char *const *argv; /* its flags, NULL-terminated */
} recipe;

/* NULL when unknown (the caller lists recipe_names). */
const recipe *recipe_find(const char *name);
void recipe_list(FILE *f);
/* The recipe's flags as one line ("--augment augmix:3 --consistency jsd:12 ...") into buf. */
void recipe_expansion(const recipe *r, char *buf, size_t n);

/* argv with the recipe named by a --recipe flag (if any) spliced in before the user's flags;
 * *out_argv is OWNED (free it) and *out_argc set. Returns -1 (message printed) when the recipe
 * is unknown; *r is NULL without --recipe or with --recipe none. */
int recipe_splice(int argc, char **argv, const recipe **r, int *out_argc, char ***out_argv);

#endif
