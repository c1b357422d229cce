/* rampart report (tools/cmd_report.c), a client of rp_report_write (rampart.h); and the page of
 * rows rampart eval --report has already written. */
#ifndef RP_TOOLS_CMD_REPORT_H
#define RP_TOOLS_CMD_REPORT_H

#include <stdio.h>

/* The page of the rows in f (named name in messages, read to its end) written to out, through
 * rp_report_write_rows; messages as `rampart report` prints them. Returns the exit code. */
int report_from_stream(const char *name, FILE *f, const char *out);

#endif
