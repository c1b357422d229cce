/* Occlusion (Zeiler & Fergus 2014): slide a square window (cfg.occ_window, stride
 * cfg.occ_stride) over the image, set every channel of its pixels to cfg.occ_value, and record
 * the drop of the target logit f_t(x) - f_t(x_occluded). A pixel's value is the mean drop
 * over the windows that cover it (as captum's Occlusion). Window positions run 0, stride, ...
 * and, when the last one stops short of the border, one more flush with it, so every pixel is
 * covered. Forward passes only, cfg.chunk occluded copies at a time. With a 1x1 window and
 * value 0 on a linear model the map is sum_c w_c x_c. */
#include <stdlib.h>
#include <string.h>

#include "explain/explain.h"

/* Window starts along an axis of n pixels; returns how many (pos has room for n). */
static int window_starts(int n, int win, int stride, int *pos)
{
    int m = 0;
    for (int p = 0; p + win <= n; p += stride) pos[m++] = p;
    if (pos[m - 1] + win < n) pos[m++] = n - win;
    return m;
}

rp_status rp_xai_occlusion(rp_explainer *ex, const float *x, const int32_t *t, int B, float *map)
{
    RP_TRY(rp_xai_check(ex, x, t, B));
    const int H = ex->H, W = ex->W, C = ex->C, win = ex->cfg.occ_window;
    if (win > H || win > W)
        return rp_fail(ex->ctx, RP_ERR_ARG, "occlusion: window %d larger than the %dx%d image", win, H, W);
    const size_t X = ex->X, HW = (size_t)H * W;
    int *py = malloc((size_t)(H + 1) * sizeof(int)), *px = malloc((size_t)(W + 1) * sizeof(int));
    double *acc = calloc((size_t)B * HW, sizeof(double));
    float *f0 = malloc((size_t)B * sizeof(float)), *lg = malloc((size_t)ex->chunk * sizeof(float));
    int32_t *tt = malloc((size_t)ex->chunk * sizeof(int32_t));
    int *cnt = calloc(HW, sizeof(int));
    rp_status st = RP_OK;
    if (!py || !px || !acc || !f0 || !lg || !tt || !cnt) {
        st = rp_fail(ex->ctx, RP_ERR_NOMEM, "occlusion: out of memory for %d images", B);
        goto done;
    }
    int ny = window_starts(H, win, ex->cfg.occ_stride, py), nx = window_starts(W, win, ex->cfg.occ_stride, px);
    for (int s = 0; s < B; s += ex->chunk) {
        int n = B - s < ex->chunk ? B - s : ex->chunk;
        rp_xai_grad(ex, x + (size_t)s * X, t + s, n, NULL, f0 + s, false);
    }
    const long P = (long)ny * nx, total = (long)B * P;
    for (long q0 = 0; q0 < total; q0 += ex->chunk) {
        int n = total - q0 < ex->chunk ? (int)(total - q0) : ex->chunk;
        for (int j = 0; j < n; j++) { /* item q = image * P + window */
            long q = q0 + j;
            int i = (int)(q / P), wy = py[(q % P) / nx], wx = px[(q % P) % nx];
            float *xj = ex->xb + (size_t)j * X;
            memcpy(xj, x + (size_t)i * X, X * sizeof(float));
            for (int y = wy; y < wy + win; y++)
                for (int xx = wx; xx < wx + win; xx++)
                    for (int c = 0; c < C; c++) xj[((size_t)y * W + xx) * C + c] = ex->cfg.occ_value;
            tt[j] = t[i];
        }
        rp_xai_grad(ex, ex->xb, tt, n, NULL, lg, false);
        for (int j = 0; j < n; j++) {
            long q = q0 + j;
            int i = (int)(q / P), wy = py[(q % P) / nx], wx = px[(q % P) % nx];
            double drop = (double)f0[i] - lg[j];
            for (int y = wy; y < wy + win; y++)
                for (int xx = wx; xx < wx + win; xx++) acc[(size_t)i * HW + (size_t)y * W + xx] += drop;
        }
    }
    for (int a = 0; a < ny; a++)
        for (int b = 0; b < nx; b++)
            for (int y = py[a]; y < py[a] + win; y++)
                for (int xx = px[b]; xx < px[b] + win; xx++) cnt[(size_t)y * W + xx]++;
    for (int i = 0; i < B; i++)
        for (size_t p = 0; p < HW; p++) map[(size_t)i * HW + p] = (float)(acc[(size_t)i * HW + p] / cnt[p]);
    st = rp_xai_check_result(ex, "occlusion", map, (size_t)B * HW);
done:
    free(py);
    free(px);
    free(acc);
    free(f0);
    free(lg);
    free(tt);
    free(cnt);
    return st;
}
