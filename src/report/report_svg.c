/* See report_svg.h. */
#include "report_svg.h"

#include <math.h>
#include <stdio.h>

/* Okabe-Ito, with dark grey for its yellow (too faint as a line on white), black last; past the
 * eighth the palette wraps. */
static const char *const PALETTE[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#666666",
                                      "#000000"};
static const char *const DASHES[] = {"", "6 3", "2 3", "8 3 2 3"};

const char *rp_rpt_svg_colour(int i) { return PALETTE[(unsigned)i % 8u]; }

int rp_rpt_svg_nice_ticks(double lo, double hi, int target, double *ticks, int max)
{
    if (!(hi > lo)) {
        ticks[0] = lo;
        return 1;
    }
    double raw = (hi - lo) / (target > 1 ? target - 1 : 1), mag = pow(10, floor(log10(raw)));
    double step = raw / mag < 1.5 ? mag : raw / mag < 3.5 ? 2 * mag : raw / mag < 7.5 ? 5 * mag : 10 * mag;
    int n = 0;
    for (double t = ceil(lo / step - 1e-9) * step; t <= hi + 1e-9 * step && n < max; t += step)
        ticks[n++] = fabs(t) < 1e-12 * step ? 0.0 : t;
    return n;
}

typedef struct frame {
    double left, top, w, h; /* plot area */
    const rp_rpt_svg_chart *c;
} frame;

static double px(const frame *f, double x) { return f->left + (x - f->c->x0) / (f->c->x1 - f->c->x0) * f->w; }
static double py(const frame *f, double y) { return f->top + f->h - (y - f->c->y0) / (f->c->y1 - f->c->y0) * f->h; }

static void fmt_y(const rp_rpt_svg_chart *c, double v, char *buf, size_t n)
{
    if (c->percent) snprintf(buf, n, "%.4g%%", 100.0 * v);
    else snprintf(buf, n, "%.4g", v);
}

static void axes(rp_rpt_buf *b, const frame *f)
{
    const rp_rpt_svg_chart *c = f->c;
    double t[16];
    char lab[32];
    int n = rp_rpt_svg_nice_ticks(c->y0, c->y1, 5, t, 16);
    for (int i = 0; i < n; i++) {
        fmt_y(c, t[i], lab, sizeof lab);
        rp_rpt_buf_printf(b, "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>", f->left,
                      f->left + f->w, py(f, t[i]), py(f, t[i]));
        rp_rpt_buf_printf(b, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>", f->left - 4,
                      py(f, t[i]) + 4, lab);
    }
    int nx = c->xticks ? c->n_xticks : rp_rpt_svg_nice_ticks(c->x0, c->x1, 6, t, 16);
    for (int i = 0; i < nx; i++) {
        double x = c->xticks ? c->xticks[i] : t[i];
        rp_rpt_buf_printf(b, "<line class=\"tickmark\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>", px(f, x),
                      px(f, x), f->top + f->h, f->top + f->h + 4);
        rp_rpt_buf_printf(b, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", px(f, x),
                      f->top + f->h + 16);
        if (c->xtick_labels) rp_rpt_buf_escape(b, c->xtick_labels[i]);
        else rp_rpt_buf_printf(b, "%.4g", x);
        rp_rpt_buf_put(b, "</text>");
    }
    rp_rpt_buf_printf(b, "<rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>", f->left, f->top,
                  f->w, f->h);
}

static void labels(rp_rpt_buf *b, const frame *f)
{
    const rp_rpt_svg_chart *c = f->c;
    rp_rpt_buf_printf(b, "<text class=\"title\" x=\"%.1f\" y=\"14\">", f->left);
    rp_rpt_buf_escape(b, c->title);
    rp_rpt_buf_printf(b, "</text><text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", f->left + f->w / 2,
                  f->top + f->h + 32);
    rp_rpt_buf_escape(b, c->xlabel);
    rp_rpt_buf_printf(b, "</text><text class=\"axis\" transform=\"translate(12 %.1f) rotate(-90)\" "
                     "text-anchor=\"middle\">", f->top + f->h / 2);
    rp_rpt_buf_escape(b, c->ylabel);
    rp_rpt_buf_put(b, "</text>");
}

static void marks(rp_rpt_buf *b, const frame *f)
{
    for (int i = 0; i < f->c->n_marks; i++) {
        double x = px(f, f->c->marks[i]);
        rp_rpt_buf_printf(b, "<line class=\"mark\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"><title>", x, x, f->top,
                      f->top + f->h);
        rp_rpt_buf_escape(b, f->c->mark_label);
        rp_rpt_buf_printf(b, " at %.4g</title></line>", f->c->marks[i]);
    }
}

static void point(rp_rpt_buf *b, const frame *f, const rp_rpt_svg_series *s, int i)
{
    char y[32];
    fmt_y(f->c, s->y[i], y, sizeof y);
    if (s->lo && s->hi && isfinite(s->lo[i]) && isfinite(s->hi[i]))
        rp_rpt_buf_printf(b, "<line class=\"err\" stroke=\"%s\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>",
                      rp_rpt_svg_colour(s->colour), px(f, s->x[i]), px(f, s->x[i]), py(f, s->lo[i]), py(f, s->hi[i]));
    rp_rpt_buf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%d\" fill=\"%s\"><title>", px(f, s->x[i]), py(f, s->y[i]),
                  s->bold ? 3 : 2, rp_rpt_svg_colour(s->colour));
    rp_rpt_buf_escape(b, s->name);
    rp_rpt_buf_printf(b, ": %.4g, %s", s->x[i], y);
    if (s->lo && s->hi && isfinite(s->lo[i]) && isfinite(s->hi[i])) {
        char lo[32], hi[32];
        fmt_y(f->c, s->lo[i], lo, sizeof lo);
        fmt_y(f->c, s->hi[i], hi, sizeof hi);
        rp_rpt_buf_printf(b, " [%s, %s]", lo, hi);
    }
    rp_rpt_buf_put(b, "</title></circle>");
}

static void series(rp_rpt_buf *b, const frame *f, const rp_rpt_svg_series *s)
{
    rp_rpt_buf_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%s\"%s%s%s points=\"",
                  rp_rpt_svg_colour(s->colour), s->bold ? "3" : "1.5", s->dash ? " stroke-dasharray=\"" : "",
                  DASHES[s->dash & 3], s->dash ? "\"" : "");
    for (int i = 0; i < s->n; i++)
        if (isfinite(s->y[i])) rp_rpt_buf_printf(b, "%.1f,%.1f ", px(f, s->x[i]), py(f, s->y[i]));
    rp_rpt_buf_put(b, "\"/>");
    for (int i = 0; i < s->n; i++)
        if (isfinite(s->y[i])) point(b, f, s, i);
}

static void legend(rp_rpt_buf *b, const frame *f)
{
    double x = f->left + f->w + 12;
    for (int i = 0; i < f->c->n_legend; i++) {
        const rp_rpt_svg_legend *l = &f->c->legend[i];
        double y = f->top + 6 + 15 * i;
        rp_rpt_buf_printf(b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"%s\"%s%s%s/>",
                      x, x + 22, y, y, rp_rpt_svg_colour(l->colour), l->bold ? "3" : "1.5",
                      l->dash ? " stroke-dasharray=\"" : "", DASHES[l->dash & 3], l->dash ? "\"" : "");
        rp_rpt_buf_printf(b, "<text class=\"legend\" x=\"%.1f\" y=\"%.1f\">", x + 27, y + 4);
        rp_rpt_buf_escape(b, l->label);
        rp_rpt_buf_put(b, "</text>");
    }
}

void rp_rpt_svg_line_chart(rp_rpt_buf *b, const rp_rpt_svg_chart *c, const rp_rpt_svg_series *s, int n_series)
{
    int W = c->width ? c->width : 420, H = c->height ? c->height : 260;
    double lw = c->n_legend ? 170 : 0;
    frame f = {.left = 52, .top = 24, .w = W - 52 - 12 - lw, .h = H - 24 - 40, .c = c};
    rp_rpt_buf_printf(b, "<svg class=\"plot\" width=\"%d\" height=\"%d\" "
                     "viewBox=\"0 0 %d %d\" role=\"img\"><title>", W, H, W, H);
    rp_rpt_buf_escape(b, c->title);
    rp_rpt_buf_put(b, "</title>");
    axes(b, &f);
    labels(b, &f);
    marks(b, &f);
    for (int i = 0; i < n_series; i++) series(b, &f, &s[i]);
    legend(b, &f);
    rp_rpt_buf_put(b, "</svg>\n");
}
