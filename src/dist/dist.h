/* Processes working together over MPI (data-parallel training, sharded evaluation): the
 * rp_dist API is public (include/rampart.h, "processes (MPI)"), where it is documented; this
 * header is what the library's own files include. A build with MPI defines RP_HAVE_MPI. */
#ifndef RP_DIST_DIST_H
#define RP_DIST_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#endif
