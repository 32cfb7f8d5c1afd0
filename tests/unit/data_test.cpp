#include <gtest/gtest.h>
#include <stb/stb_image_write.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "test_util.h"
#include "toolkit/data/dataset.h"
#include "toolkit/data/npy.h"

using namespace pare;
namespace fs = std::filesystem;

namespace {

// A grey-level PNG whose pixel (x, y) is (7x + 3y + seed) mod 256.
void write_png(const fs::path& p, int w, int h, int seed) {
    std::vector<unsigned char> px(static_cast<size_t>(w * h));
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            px[y * w + x] = static_cast<unsigned char>((x * 7 + y * 3 + seed) % 256);
    ASSERT_NE(stbi_write_png(p.string().c_str(), w, h, 1, px.data(), w), 0);
}

}  // namespace

TEST(Data, FashionMnistFromDebian) {
    DataOptions o;
    Result<DataSplits> d = load_data("fashion-mnist", o);
    ASSERT_TRUE(d.ok()) << d.status().message();
    EXPECT_EQ(d.value().train.size() + d.value().val.size(), 60000);
    EXPECT_EQ(d.value().val.size(), 5000);
    EXPECT_EQ(d.value().test.size(), 10000);
    EXPECT_EQ(d.value().test.images.shape(), (Shape{10000, 1, 28, 28}));
    EXPECT_EQ(d.value().test.labels[0], 9);  // the first test image is an ankle boot
    EXPECT_EQ(d.value().test.class_names[9], "Ankle boot");
    float mn = 1, mx = 0;
    double sum = 0;
    const Tensor& t = d.value().test.images;
    for (int64_t i = 0; i < t.numel(); ++i) {
        mn = std::min(mn, t.data<float>()[i]);
        mx = std::max(mx, t.data<float>()[i]);
        sum += t.data<float>()[i];
    }
    EXPECT_EQ(mn, 0.0f);
    EXPECT_EQ(mx, 1.0f);
    EXPECT_NEAR(sum / t.numel(), 0.2868, 0.002);  // Fashion-MNIST's test-set mean pixel
    // The split is disjoint and seeded: the same seed gives the same validation set.
    Result<DataSplits> again = load_data("fashion-mnist:1000", o);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again.value().train.size(), 1000);
    EXPECT_EQ(again.value().val.labels, d.value().val.labels);
}

TEST(Data, MissingDatasetNamesThePackage) {
    setenv("PARE_FASHION_MNIST", "/nonexistent", 1);
    Result<DataSplits> d = load_data("fashion-mnist", {});
    unsetenv("PARE_FASHION_MNIST");
    ASSERT_FALSE(d.ok());
    EXPECT_NE(d.status().message().find("dataset-fashion-mnist"), std::string::npos)
        << d.status().message();
    EXPECT_FALSE(load_data("no-such-dataset", {}).ok());
}

TEST(Data, NpzStoredAndCompressedWithLabelChecks) {
    fs::path dir = test::temp_dir("npz");
    const std::string make =
        "/usr/bin/python3 -c \"import numpy as np\n"
        "x=(np.arange(6*4*4)%256).astype(np.uint8).reshape(6,4,4)\n"
        "y=np.array([0,1,2,0,1,2])\n"
        "np.savez('" +
        (dir / "a.npz").string() +
        "', x_train=x, y_train=y, x_test=x[:2], y_test=y[:2])\n"
        "np.savez_compressed('" +
        (dir / "b.npz").string() +
        "', x=x, y=y)\n"
        "np.savez('" +
        (dir / "bad.npz").string() + "', x=x, y=np.array([0,1,2,0,1,-1]))\"";
    ASSERT_EQ(std::system(make.c_str()), 0);
    for (const char* f : {"a.npz", "b.npz"}) {
        DataOptions o;
        o.val_fraction = 0;
        Result<DataSplits> d = load_data((dir / f).string(), o);
        ASSERT_TRUE(d.ok()) << d.status().message();
        EXPECT_EQ(d.value().train.size(), 6);
        EXPECT_EQ(d.value().train.num_classes, 3);
        EXPECT_EQ(d.value().train.images.shape(), (Shape{6, 1, 4, 4}));
        // Pixel 5 of image 0 is 5/255 wherever the shuffle put image 0.
        bool found = false;
        for (int64_t i = 0; i < 6; ++i) {
            found = found ||
                    std::fabs(d.value().train.images.data<float>()[i * 16 + 5] - 5.0f / 255) < 1e-7;
        }
        EXPECT_TRUE(found);
    }
    Result<DataSplits> bad = load_data((dir / "bad.npz").string(), {});
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.status().message().find("label -1"), std::string::npos) << bad.status().message();
    fs::remove_all(dir);
}

TEST(Data, ImageFolderClassesAndMixedSizes) {
    fs::path dir = test::temp_dir("img");
    fs::create_directories(dir / "cat");
    fs::create_directories(dir / "dog");
    write_png(dir / "cat" / "a.png", 8, 6, 1);
    write_png(dir / "dog" / "b.png", 8, 6, 2);
    write_png(dir / "dog" / "c.png", 8, 6, 3);
    Result<Dataset> d = read_image_folder(dir.string(), 0);
    ASSERT_TRUE(d.ok()) << d.status().message();
    EXPECT_EQ(d.value().class_names, (std::vector<std::string>{"cat", "dog"}));
    EXPECT_EQ(d.value().labels, (std::vector<int64_t>{0, 1, 1}));
    EXPECT_EQ(d.value().images.shape(), (Shape{3, 1, 6, 8}));
    EXPECT_FLOAT_EQ(d.value().images.data<float>()[1], 8.0f / 255);  // (x*7+y*3+1) at x=1, y=0
    write_png(dir / "dog" / "d.png", 5, 5, 4);
    Result<Dataset> mixed = read_image_folder(dir.string(), 0);
    ASSERT_FALSE(mixed.ok());
    EXPECT_NE(mixed.status().message().find("mixed sizes"), std::string::npos)
        << mixed.status().message();
    EXPECT_NE(mixed.status().message().find("--resize"), std::string::npos);
    Result<Dataset> resized = read_image_folder(dir.string(), 4);
    ASSERT_TRUE(resized.ok()) << resized.status().message();
    EXPECT_EQ(resized.value().images.shape(), (Shape{4, 1, 4, 4}));
    fs::remove_all(dir);
}

TEST(Data, BatchesAreSeededAugmentedAndResumable) {
    Dataset d;
    d.name = "toy";
    d.num_classes = 2;
    d.images = test::random_tensor({10, 1, 4, 4}, 1, 0, 1);
    for (int i = 0; i < 10; ++i) d.labels.push_back(i % 2);
    Augment aug{1, true};
    auto epoch_batches = [&](uint64_t seed, int64_t epoch, int64_t skip) {
        BatchIterator it(d, 3, true, true, seed, epoch, aug);
        it.skip(skip);
        std::vector<std::vector<float>> out;
        Tensor x;
        std::vector<int64_t> y;
        while (it.next(&x, &y)) out.emplace_back(x.data<float>(), x.data<float>() + x.numel());
        return out;
    };
    auto a = epoch_batches(7, 0, 0), b = epoch_batches(7, 0, 0), c = epoch_batches(7, 1, 0);
    EXPECT_EQ(a.size(), 3u);  // 10 examples, batch 3, last partial batch dropped
    EXPECT_EQ(a, b);
    EXPECT_NE(a, c);
    auto resumed = epoch_batches(7, 0, 2);
    ASSERT_EQ(resumed.size(), 1u);
    EXPECT_EQ(resumed[0], a[2]);
    // Without augmentation and shuffling, batches are the examples in order.
    BatchIterator plain(d, 4, false, false, 0, 0);
    Tensor x;
    std::vector<int64_t> y;
    ASSERT_TRUE(plain.next(&x, &y));
    EXPECT_EQ(x.data<float>()[16], d.images.data<float>()[16]);
    EXPECT_EQ(plain.batches(), 3);
}
