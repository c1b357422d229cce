/* Line charts as inline SVG for the HTML report: axes with "nice" ticks, a legend, a
 * colour-blind-safe palette (Okabe & Ito 2008), dash patterns, optional error bars and hover
 * titles on every point. Every string is HTML-escaped on the way out. */
#ifndef RP_REPORT_REPORT_SVG_H
#define RP_REPORT_REPORT_SVG_H

#include <stdbool.h>

#include "report_buf.h"

typedef struct rp_rpt_svg_series {
    const char *name;     /* hover titles */
    const double *x, *y;  /* (n); a NaN y leaves a gap */
    int n;
    int colour;           /* palette index (rp_rpt_svg_colour) */
    int dash;             /* 0 solid, 1 dashed, 2 dotted, 3 dash-dot */
    bool bold;
    const double *lo, *hi; /* optional (n): an error bar at each point */
} rp_rpt_svg_series;

typedef struct rp_rpt_svg_legend {
    const char *label;
    int colour, dash;
    bool bold;
} rp_rpt_svg_legend;

typedef struct rp_rpt_svg_chart {
    const char *title, *xlabel, *ylabel;
    int width, height;            /* pixels (0: 420 x 260) */
    double x0, x1, y0, y1;        /* axis ranges */
    const double *xticks;         /* NULL: nice ticks over [x0, x1] */
    const char *const *xtick_labels;
    int n_xticks;
    bool percent;                 /* y ticks and titles as percentages of fractions */
    const double *marks;          /* vertical marks (events) at these x, labelled mark_label */
    int n_marks;
    const char *mark_label;
    const rp_rpt_svg_legend *legend;  /* drawn at the right when n_legend > 0 */
    int n_legend;
} rp_rpt_svg_chart;

/* Appends <svg class="plot" ...>...</svg>. */
void rp_rpt_svg_line_chart(rp_rpt_buf *b, const rp_rpt_svg_chart *c, const rp_rpt_svg_series *s, int n_series);

/* Palette colour i (wraps around), "#RRGGBB". */
const char *rp_rpt_svg_colour(int i);

/* Up to max ticks at 1, 2 or 5 x 10^k steps covering [lo, hi]; returns how many. */
int rp_rpt_svg_nice_ticks(double lo, double hi, int target, double *ticks, int max);

#endif
