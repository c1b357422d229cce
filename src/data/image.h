/* Image files: JPEG (libjpeg-turbo) and PNG (libpng) decoding, fitting a decoded image to
 * a model's input size, and the image-file data sets built on them ("folder:DIR",
 * "tiny-imagenet:DIR"), which are decoded once, up front, by worker threads into the
 * ordinary in-memory rp_dataset (uint8, NHWC).
 *
 * Why up front rather than streamed: on this machine kind (2 cores) the training step
 * needs every core, and decoding the same JPEG again every epoch would take CPU from it;
 * a decoded set costs N*H*W*C bytes (Tiny ImageNet train: 100,000 x 64x64x3 = 1.2 GB),
 * and evaluation, attacks and explanations all read the same in-memory set. The loader
 * (data/loader.h) then only gathers, augments and batches ahead of the step. */
#ifndef RP_DATA_IMAGE_H
#define RP_DATA_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* Largest side and pixel count accepted from a file header (guards allocations and decoding
 * time against bad headers: a 229-byte JPEG the fuzzer made claims 2053 x 24582 pixels, and
 * libjpeg decodes all of them). 2^26 pixels is 8192 x 8192, 192 MiB as RGB. The fuzz build
 * lowers the pixel cap (CMakeLists.txt, RAMPART_FUZZ) so that such headers are refused at
 * once: decoding a huge image exercises libjpeg and libpng, not this code. */
#define RP_IMAGE_MAX_SIDE 32768
#ifndef RP_IMAGE_MAX_PIXELS
#define RP_IMAGE_MAX_PIXELS (1L << 26)
#endif

typedef struct rp_image {
    int H, W, C;     /* C: 1 (gray) or 3 (RGB) */
    uint8_t *pixels; /* (H, W, C), OWNED */
} rp_image;

/* Decode a JPEG or PNG held in memory; the format is told by the first bytes, not the
 * file name. Grayscale stays 1 channel; palette, 16-bit and alpha PNGs become 8-bit gray
 * or RGB (alpha dropped, as PIL's convert("RGB") does); CMYK JPEGs become RGB. A
 * truncated JPEG is an error (libjpeg would only warn and pad it with gray). `name`
 * names the data in errors. */
rp_status rp_image_decode(rp_ctx *ctx, const char *name, const uint8_t *data, size_t size, rp_image *out);
/* Read a whole file and decode it. */
rp_status rp_image_read(rp_ctx *ctx, const char *path, rp_image *out);
/* Height, width and channels from the file's header alone. */
rp_status rp_image_probe(rp_ctx *ctx, const char *path, int *H, int *W, int *C);
void rp_image_free(rp_image *im);

/* Fit src to (H, W, C), as torchvision's Resize(shorter side) + CenterCrop on a PIL image:
 * scale so that the image just covers H x W (bilinear, i.e. a triangle filter widened by
 * the scale factor when shrinking, so that downscaling averages instead of aliasing;
 * half-pixel centres), then cut the centre window (offset round((R - H) / 2), halves to
 * even, as torchvision's center_crop). The
 * arithmetic is PIL's (8-bit fixed point, columns then rows): results equal PIL's
 * Image.resize(BILINEAR) exactly (tests/test_images_ref.c). Gray
 * becomes RGB by copying the channel; RGB becomes gray by ITU-R 601 luma
 * (0.299 R + 0.587 G + 0.114 B). An image already H x W is copied exactly. */
rp_status rp_image_fit(rp_ctx *ctx, const rp_image *src, uint8_t *dst, int H, int W, int C);

/* ---- image-file data sets ------------------------------------------------------------ */

/* rp_data_options (how image-file sets are read), rp_dataset_open_ex and rp_dataset_skipped
 * are public: rampart.h. */
/* Whether spec names an image-file set ("folder:..." or "tiny-imagenet:..."). */
bool rp_image_spec(const char *spec);
/* rp_image_load (an image file fitted to (H, W, C)) and rp_imagenet_norm are public: rampart.h. */

/* ImageNet's per-channel mean and std on [0, 1] pixels: the normalisation of the RGB
 * image-file sets, and what torchvision's pretrained weights expect. */
extern const float RP_IMAGENET_MEAN[3], RP_IMAGENET_STD[3];

/* Paths with labels, in data set order. */
typedef struct rp_image_list {
    char **paths;    /* OWNED strings */
    int32_t *labels;
    int n, cap;
} rp_image_list;

rp_status rp_image_list_add(rp_ctx *ctx, rp_image_list *l, const char *path, int32_t label);
void rp_image_list_free(rp_image_list *l);
/* Reorder a list made class by class into turns: every class's first image (in class
 * order), then every class's second, and so on, keeping each class's own order; so the
 * first N images (--limit) hold every class about equally. */
rp_status rp_image_list_interleave(rp_ctx *ctx, rp_image_list *l, int num_classes);

/* Decode every image of l, fitted to (H, W, C), into ds->pixels/labels/N/H/W/C with
 * opt->workers threads (each image lands in its own slot, so the result does not depend
 * on the number of threads). An unreadable image fails the whole set, naming the file
 * (the first bad one in list order), unless opt->skip_bad: then it is left out and
 * counted in ds->skipped, with the first few messages in ds->skip_note. Fails (naming the
 * set) when no image is left or when the decoded set would take more than half of the
 * machine's memory. */
rp_status rp_image_set_decode(rp_ctx *ctx, const rp_image_list *l, int H, int W, int C, const rp_data_options *opt,
                              const char *what, rp_dataset *ds);

/* A fresh, empty image-file set named `name` with K classes (class_names, OWNED, are
 * taken over, also on failure) and ImageNet's normalisation (gray: its channel mean). */
rp_dataset *rp_image_dataset_new(rp_ctx *ctx, const char *name, char **class_names, int K, int C);

/* Spec suffix shared by the image-file sets: "DIR[,SIZE][,gray]" where SIZE is N (square)
 * or HxW. Writes the directory into dir; *H = *W = 0 when no size was given; *C is 1 with
 * ",gray", else 3. */
rp_status rp_image_spec_parse(rp_ctx *ctx, const char *spec, const char *arg, char *dir, size_t dir_size, int *H,
                              int *W, int *C);

/* "folder:DIR[,SIZE][,gray]": one sub-folder per class (sorted names are the classes),
 * images *.jpg, *.jpeg, *.png directly inside (other files are ignored, as torchvision's
 * ImageFolder does). When DIR holds train/ the split layout is used: train/ for
 * train=true, val/ (or test/) for train=false, with train/'s classes. Without SIZE the
 * images are fitted to the first image's size. Images are ordered in class turns
 * (rp_image_list_interleave). */
rp_status rp_folder_open(rp_ctx *ctx, const char *spec, bool train, const rp_data_options *opt, rp_dataset **out);
/* "tiny-imagenet:DIR[,SIZE]": wnids.txt (sorted; the wnids are the class names),
 * train/<wnid>/images/ for train=true (in class turns, rp_image_list_interleave),
 * val/images/ + val/val_annotations.txt for train=false (in the annotations' order).
 * SIZE defaults to 64. */
rp_status rp_tiny_imagenet_open(rp_ctx *ctx, const char *spec, bool train, const rp_data_options *opt,
                                rp_dataset **out);

/* Sorted names of the entries of dir (hidden ones left out) that are directories
 * (dirs=true) or regular files (dirs=false). OWNED array of OWNED strings. */
rp_status rp_list_dir(rp_ctx *ctx, const char *dir, bool dirs, char ***names, int *n);
/* The images (*.jpg, *.jpeg, *.png, any case) directly inside dir, sorted, added to l with
 * label; a folder without one is RP_ERR_FORMAT naming it. */
rp_status rp_image_list_add_folder(rp_ctx *ctx, rp_image_list *l, const char *dir, int32_t label);
void rp_free_strings(char **s, int n);
/* buf = a/b; RP_ERR_ARG naming both when it does not fit. */
rp_status rp_path_join(rp_ctx *ctx, char *buf, size_t size, const char *a, const char *b);

#endif
