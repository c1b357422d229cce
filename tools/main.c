/* rampart command: dispatch to one subcommand per file. */
#include <stdio.h>
#include <string.h>

#include "rampart.h"

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "rampart: not yet\n");
    return 2;
}
