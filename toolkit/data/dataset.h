// Datasets for training and evaluation: images as one float32 tensor
// (N, C, H, W) with values in [0, 1], integer labels, class names.
//
// Sources: "fashion-mnist" (Debian's dataset-fashion-mnist, IDX files), a .npz
// file (x_train/y_train/x_test/y_test, or x/y), or an image folder (one sub-folder
// per class, PNG/JPEG; with train/ and test/ sub-folders when a test split exists).
// A validation split is carved from the training set with a seeded permutation;
// the test set is kept for final figures only.
#pragma once

#include <random>
#include <string>
#include <vector>

#include "runtime/core/tensor.h"

namespace pare {

struct Dataset {
    std::string name;
    Tensor images;                // (N, C, H, W) float32 in [0, 1]
    std::vector<int64_t> labels;  // N values in [0, num_classes)
    int64_t num_classes = 0;
    std::vector<std::string> class_names;

    int64_t size() const { return static_cast<int64_t>(labels.size()); }
    // The examples at `indices`, in that order.
    Dataset subset(const std::vector<int64_t>& indices) const;
    // Checks shapes and that every label is in range; errors name the first bad example.
    Status validate() const;
};

struct DataOptions {
    double val_fraction = 1.0 / 12;  // of the training set (5,000 of Fashion-MNIST's 60,000)
    uint64_t seed = 1;
    int64_t train_limit = 0;  // use only the first N training examples after shuffling (0 = all)
    int64_t test_limit = 0;
    int64_t resize = 0;  // resize images to resize x resize (0 = keep; mixed sizes are an error)
};

struct DataSplits {
    Dataset train, val, test;
};

// "fashion-mnist", "fashion-mnist:2000" (2,000 training examples), a .npz path or an
// image folder. Errors name the missing file or the first bad example.
Result<DataSplits> load_data(const std::string& spec, const DataOptions& options);

// Where Debian's dataset-fashion-mnist puts its files ($PARE_FASHION_MNIST overrides).
std::string fashion_mnist_dir();

// Individual readers, exposed for tests.
Result<Tensor> read_idx_images(const std::string& path);  // (N, 1, H, W) float32 in [0,1]
Result<std::vector<int64_t>> read_idx_labels(const std::string& path);
Result<std::vector<std::pair<std::string, Tensor>>> read_npz(const std::string& path);
Result<Dataset> read_image_folder(const std::string& dir, int64_t resize);

// Bilinear resize of an (N, C, H, W) float32 tensor (align_corners=false).
Tensor resize_images(const Tensor& images, int64_t height, int64_t width);

// Augmentation applied per batch: random crop after zero-padding by `pad`, and
// random horizontal flips. Deterministic given the generator.
struct Augment {
    int64_t pad = 0;
    bool hflip = false;
    bool enabled() const { return pad > 0 || hflip; }
};

// Iterates batches of a dataset in a seeded order (epoch e uses seed + e), with
// augmentation, dropping the last partial batch when drop_last.
class BatchIterator {
  public:
    BatchIterator(const Dataset& data, int64_t batch, bool shuffle, bool drop_last, uint64_t seed,
                  int64_t epoch, Augment augment = {});
    // Fills images (B, C, H, W) and labels (and the examples' indices in the dataset,
    // when asked); returns false at the end of the epoch.
    bool next(Tensor* images, std::vector<int64_t>* labels,
              std::vector<int64_t>* indices = nullptr);
    int64_t batches() const;
    // Skips n batches (resuming mid-epoch); augmentation draws are replayed so the
    // following batches are identical to an uninterrupted run.
    void skip(int64_t n);

  private:
    const Dataset& data_;
    int64_t batch_;
    bool drop_last_;
    Augment augment_;
    std::vector<int64_t> order_;
    int64_t pos_ = 0;
    std::mt19937_64 rng_;
};

}  // namespace pare
