/* Colormaps; see colormap.h for the choices. */
#include "explain/colormap.h"

#include <math.h>
#include <string.h>

/* matplotlib's viridis at entries 0, 16, ..., 240, 255 of its 256-entry table. */
static const float VIRIDIS[17][4] = {
    {0.0f / 255, 0.267004f, 0.004874f, 0.329415f},   {16.0f / 255, 0.282327f, 0.094955f, 0.417331f},
    {32.0f / 255, 0.278826f, 0.175490f, 0.483397f},  {48.0f / 255, 0.258965f, 0.251537f, 0.524736f},
    {64.0f / 255, 0.229739f, 0.322361f, 0.545706f},  {80.0f / 255, 0.199430f, 0.387607f, 0.554642f},
    {96.0f / 255, 0.172719f, 0.448791f, 0.557885f},  {112.0f / 255, 0.149039f, 0.508051f, 0.557250f},
    {128.0f / 255, 0.127568f, 0.566949f, 0.550556f}, {144.0f / 255, 0.120638f, 0.625828f, 0.533488f},
    {160.0f / 255, 0.157851f, 0.683765f, 0.501686f}, {176.0f / 255, 0.246070f, 0.738910f, 0.452024f},
    {192.0f / 255, 0.369214f, 0.788888f, 0.382914f}, {208.0f / 255, 0.515992f, 0.831158f, 0.294279f},
    {224.0f / 255, 0.678489f, 0.863742f, 0.189503f}, {240.0f / 255, 0.845561f, 0.887322f, 0.099702f},
    {255.0f / 255, 0.993248f, 0.906157f, 0.143936f},
};

static float clamp01(float v) { return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v; }

static void viridis(float t, float rgb[3])
{
    int k = 0;
    while (k < 15 && t > VIRIDIS[k + 1][0]) k++;
    float u = (t - VIRIDIS[k][0]) / (VIRIDIS[k + 1][0] - VIRIDIS[k][0]);
    u = clamp01(u);
    for (int c = 0; c < 3; c++) rgb[c] = VIRIDIS[k][c + 1] + u * (VIRIDIS[k + 1][c + 1] - VIRIDIS[k][c + 1]);
}

static void diverging(float t, float rgb[3])
{
    static const float blue[3] = {59.0f / 255, 76.0f / 255, 192.0f / 255}, red[3] = {180.0f / 255, 4.0f / 255, 38.0f / 255};
    const float *end = t < 0.5f ? blue : red;
    float u = t < 0.5f ? 1.0f - 2.0f * t : 2.0f * t - 1.0f; /* 0 at white, 1 at the end colour */
    for (int c = 0; c < 3; c++) rgb[c] = 1.0f + u * (end[c] - 1.0f);
}

void rp_colormap_rgb(rp_colormap cm, float t, float rgb[3])
{
    if (isnan(t)) {
        rgb[0] = rgb[1] = rgb[2] = 0.5f;
        return;
    }
    t = clamp01(t);
    switch (cm) {
    case RP_CMAP_VIRIDIS: viridis(t, rgb); break;
    case RP_CMAP_JET:
        rgb[0] = clamp01(1.5f - fabsf(4.0f * t - 3.0f));
        rgb[1] = clamp01(1.5f - fabsf(4.0f * t - 2.0f));
        rgb[2] = clamp01(1.5f - fabsf(4.0f * t - 1.0f));
        break;
    case RP_CMAP_DIVERGING: diverging(t, rgb); break;
    }
}

static const char *const NAMES[] = {"viridis", "jet", "diverging"};

const char *rp_colormap_name(rp_colormap cm) { return (unsigned)cm < 3u ? NAMES[cm] : "unknown"; }

int rp_colormap_from_name(const char *s)
{
    if (!s) return -1;
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, NAMES[i])) return i;
    return -1;
}
