#include "toolkit/data/dataset.h"

#include <stb/stb_image.h>
#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "toolkit/data/npy.h"

namespace fs = std::filesystem;

namespace pare {

namespace {

const char* kFashionClasses[] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                 "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

Result<std::string> read_maybe_gz(const std::string& path) {
    if (!fs::exists(path)) return not_found(path + ": file not found");
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) return io_error(path + ": cannot open");
    std::string out;
    char buf[1 << 16];
    int n;
    while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    const bool bad = n < 0;
    gzclose(f);
    if (bad) return io_error(path + ": corrupt gzip data");
    return out;
}

uint32_t be32(const std::string& s, size_t off) {
    return (static_cast<uint32_t>(static_cast<unsigned char>(s[off])) << 24) |
           (static_cast<uint32_t>(static_cast<unsigned char>(s[off + 1])) << 16) |
           (static_cast<uint32_t>(static_cast<unsigned char>(s[off + 2])) << 8) |
           static_cast<uint32_t>(static_cast<unsigned char>(s[off + 3]));
}

uint32_t le32(const std::string& s, size_t off) {
    return static_cast<uint32_t>(static_cast<unsigned char>(s[off])) |
           (static_cast<uint32_t>(static_cast<unsigned char>(s[off + 1])) << 8) |
           (static_cast<uint32_t>(static_cast<unsigned char>(s[off + 2])) << 16) |
           (static_cast<uint32_t>(static_cast<unsigned char>(s[off + 3])) << 24);
}
uint16_t le16(const std::string& s, size_t off) {
    return static_cast<uint16_t>(static_cast<unsigned char>(s[off]) |
                                 (static_cast<unsigned char>(s[off + 1]) << 8));
}

// Images stored as uint8 or float -> float32 in [0, 1], (N, C, H, W). Accepts
// (N, H, W), (N, H, W, C) with C in {1, 3} and (N, C, H, W).
Result<Tensor> to_nchw_unit(const Tensor& x, const std::string& what) {
    Shape s = x.shape();
    Shape out;
    bool nhwc = false;
    if (s.size() == 3) {
        out = {s[0], 1, s[1], s[2]};
    } else if (s.size() == 4 && (s[3] == 1 || s[3] == 3) && s[1] != 1 && s[1] != 3) {
        out = {s[0], s[3], s[1], s[2]};
        nhwc = true;
    } else if (s.size() == 4) {
        out = s;
    } else {
        return invalid_argument(what + ": images must be (N,H,W), (N,H,W,C) or (N,C,H,W), got " +
                                shape_str(s));
    }
    PARE_ASSIGN_OR_RETURN(Tensor t, Tensor::create(DType::kFloat32, out));
    const double scale = x.dtype() == DType::kUint8 ? 1.0 / 255.0 : 1.0;
    const int64_t N = out[0], C = out[1], H = out[2], W = out[3];
    for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c)
            for (int64_t h = 0; h < H; ++h)
                for (int64_t w = 0; w < W; ++w) {
                    const int64_t src =
                        nhwc ? ((n * H + h) * W + w) * C + c : ((n * C + c) * H + h) * W + w;
                    t.data<float>()[((n * C + c) * H + h) * W + w] =
                        static_cast<float>(x.at_double(src) * scale);
                }
    return t;
}

std::vector<int64_t> permutation(int64_t n, uint64_t seed) {
    std::vector<int64_t> p(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) p[i] = i;
    std::mt19937_64 rng(seed);
    for (int64_t i = n - 1; i > 0; --i) {
        std::uniform_int_distribution<int64_t> d(0, i);
        std::swap(p[i], p[d(rng)]);
    }
    return p;
}

}  // namespace

Dataset Dataset::subset(const std::vector<int64_t>& indices) const {
    Dataset d;
    d.name = name;
    d.num_classes = num_classes;
    d.class_names = class_names;
    Shape s = images.shape();
    const int64_t per = s[1] * s[2] * s[3];
    s[0] = static_cast<int64_t>(indices.size());
    d.images = Tensor::create(DType::kFloat32, s).value();
    for (size_t i = 0; i < indices.size(); ++i) {
        std::memcpy(d.images.data<float>() + i * per, images.data<float>() + indices[i] * per,
                    per * sizeof(float));
        d.labels.push_back(labels[indices[i]]);
    }
    return d;
}

Status Dataset::validate() const {
    if (images.rank() != 4 || images.dtype() != DType::kFloat32) {
        return invalid_argument(name + ": images must be float32 (N, C, H, W)");
    }
    if (images.shape()[0] != size()) {
        return invalid_argument(name + ": " + std::to_string(images.shape()[0]) + " images but " +
                                std::to_string(size()) + " labels");
    }
    for (int64_t i = 0; i < size(); ++i) {
        if (labels[i] < 0 || labels[i] >= num_classes) {
            return invalid_argument(name + ": label " + std::to_string(labels[i]) + " of example " +
                                    std::to_string(i) + " is out of range [0, " +
                                    std::to_string(num_classes) + ")");
        }
    }
    return Status();
}

std::string fashion_mnist_dir() {
    if (const char* p = std::getenv("PARE_FASHION_MNIST")) return p;
    return "/usr/share/datasets/fashion-mnist";
}

Result<Tensor> read_idx_images(const std::string& path) {
    PARE_ASSIGN_OR_RETURN(std::string b, read_maybe_gz(path));
    if (b.size() < 16 || be32(b, 0) != 0x00000803)
        return invalid_argument(path + ": not an IDX image file");
    const int64_t n = be32(b, 4), h = be32(b, 8), w = be32(b, 12);
    if (n < 0 || h <= 0 || w <= 0 || h > 65536 || w > 65536 ||
        static_cast<uint64_t>(n) * h * w != b.size() - 16) {
        return invalid_argument(path + ": IDX header (" + std::to_string(n) + " x " +
                                std::to_string(h) + " x " + std::to_string(w) +
                                ") does not match the file size");
    }
    PARE_ASSIGN_OR_RETURN(Tensor t, Tensor::create(DType::kFloat32, {n, 1, h, w}));
    for (int64_t i = 0; i < n * h * w; ++i)
        t.data<float>()[i] = static_cast<unsigned char>(b[16 + i]) / 255.0f;
    return t;
}

Result<std::vector<int64_t>> read_idx_labels(const std::string& path) {
    PARE_ASSIGN_OR_RETURN(std::string b, read_maybe_gz(path));
    if (b.size() < 8 || be32(b, 0) != 0x00000801)
        return invalid_argument(path + ": not an IDX label file");
    const uint64_t n = be32(b, 4);
    if (n != b.size() - 8)
        return invalid_argument(path + ": IDX label count does not match the file size");
    std::vector<int64_t> v(n);
    for (uint64_t i = 0; i < n; ++i) v[i] = static_cast<unsigned char>(b[8 + i]);
    return v;
}

Result<std::vector<std::pair<std::string, Tensor>>> read_npz(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return not_found(path + ": file not found");
    std::stringstream ss;
    ss << f.rdbuf();
    const std::string z = ss.str();
    std::vector<std::pair<std::string, Tensor>> out;
    size_t off = 0;
    while (off + 30 <= z.size() && le32(z, off) == 0x04034b50) {
        const uint16_t method = le16(z, off + 8), flags = le16(z, off + 6);
        uint64_t csize = le32(z, off + 18), usize = le32(z, off + 22);
        const uint16_t name_len = le16(z, off + 26), extra_len = le16(z, off + 28);
        if (off + 30 + name_len + extra_len > z.size())
            return invalid_argument(path + ": truncated zip header");
        std::string name = z.substr(off + 30, name_len);
        // ZIP64: sizes in the extra field when the 32-bit fields are saturated.
        if (csize == 0xffffffffu || usize == 0xffffffffu) {
            size_t e = off + 30 + name_len, end = e + extra_len;
            while (e + 4 <= end) {
                const uint16_t id = le16(z, e), len = le16(z, e + 2);
                if (id == 1 && len >= 16 && e + 20 <= end) {
                    usize = le32(z, e + 4) | (static_cast<uint64_t>(le32(z, e + 8)) << 32);
                    csize = le32(z, e + 12) | (static_cast<uint64_t>(le32(z, e + 16)) << 32);
                }
                e += 4 + len;
            }
        }
        if (flags & 0x8)
            return unsupported(path + ": zip entries with data descriptors are not supported");
        const size_t data = off + 30 + name_len + extra_len;
        if (csize > z.size() - data)
            return invalid_argument(path + ": truncated zip entry " + name);
        std::string bytes;
        if (method == 0) {
            bytes = z.substr(data, csize);
        } else if (method == 8) {
            if (usize > (uint64_t{1} << 34))
                return out_of_range(path + ": entry " + name + " is too large");
            bytes.resize(usize);
            z_stream s{};
            if (inflateInit2(&s, -MAX_WBITS) != Z_OK) return internal_error("zlib init failed");
            s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(z.data() + data));
            s.avail_in = static_cast<uInt>(csize);
            s.next_out = reinterpret_cast<Bytef*>(bytes.data());
            s.avail_out = static_cast<uInt>(usize);
            const int r = inflate(&s, Z_FINISH);
            inflateEnd(&s);
            if (r != Z_STREAM_END || s.total_out != usize)
                return invalid_argument(path + ": corrupt zip entry " + name);
        } else {
            return unsupported(path + ": zip compression method " + std::to_string(method) +
                               " is not supported");
        }
        if (name.size() > 4 && name.substr(name.size() - 4) == ".npy")
            name = name.substr(0, name.size() - 4);
        PARE_ASSIGN_OR_RETURN(Tensor t, parse_npy(bytes, path + ":" + name));
        out.emplace_back(name, t);
        off = data + csize;
    }
    if (out.empty()) return invalid_argument(path + ": not a .npz (zip) file or no arrays in it");
    return out;
}

Tensor resize_images(const Tensor& images, int64_t H, int64_t W) {
    const Shape& s = images.shape();
    const int64_t N = s[0], C = s[1], h = s[2], w = s[3];
    Tensor out = Tensor::create(DType::kFloat32, {N, C, H, W}).value();
    auto src = [](int64_t o, int64_t in, int64_t outn, int64_t* i0, int64_t* i1, float* f) {
        double x = (o + 0.5) * static_cast<double>(in) / static_cast<double>(outn) - 0.5;
        if (x < 0) x = 0;
        *i0 = std::min<int64_t>(static_cast<int64_t>(x), in - 1);
        *i1 = std::min<int64_t>(*i0 + 1, in - 1);
        *f = static_cast<float>(x - *i0);
    };
    for (int64_t nc = 0; nc < N * C; ++nc) {
        const float* x = images.data<float>() + nc * h * w;
        float* y = out.data<float>() + nc * H * W;
        for (int64_t r = 0; r < H; ++r) {
            int64_t r0, r1;
            float fr;
            src(r, h, H, &r0, &r1, &fr);
            for (int64_t c = 0; c < W; ++c) {
                int64_t c0, c1;
                float fc;
                src(c, w, W, &c0, &c1, &fc);
                const float top = x[r0 * w + c0] * (1 - fc) + x[r0 * w + c1] * fc;
                const float bot = x[r1 * w + c0] * (1 - fc) + x[r1 * w + c1] * fc;
                y[r * W + c] = top * (1 - fr) + bot * fr;
            }
        }
    }
    return out;
}

Result<Dataset> read_image_folder(const std::string& dir, int64_t resize) {
    if (!fs::is_directory(dir)) return not_found(dir + ": folder not found");
    Dataset d;
    d.name = dir;
    std::vector<fs::path> classes;
    for (const auto& e : fs::directory_iterator(dir)) {
        if (e.is_directory()) classes.push_back(e.path());
    }
    std::sort(classes.begin(), classes.end());
    if (classes.empty())
        return invalid_argument(dir + ": no class sub-folders (expected one folder per class)");
    std::vector<Tensor> imgs;
    int64_t C = -1, H = -1, W = -1;
    std::string first;
    for (size_t k = 0; k < classes.size(); ++k) {
        d.class_names.push_back(classes[k].filename().string());
        std::vector<fs::path> files;
        for (const auto& e : fs::directory_iterator(classes[k])) {
            std::string ext = e.path().extension().string();
            std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
            if (ext == ".png" || ext == ".jpg" || ext == ".jpeg") files.push_back(e.path());
        }
        std::sort(files.begin(), files.end());
        for (const auto& f : files) {
            int w, h, c;
            unsigned char* px = stbi_load(f.string().c_str(), &w, &h, &c, 0);
            if (!px)
                return invalid_argument(f.string() + ": cannot decode image (" +
                                        stbi_failure_reason() + ")");
            const int ch = (c == 1 || c == 2) ? 1 : 3;
            Tensor t = Tensor::create(DType::kFloat32, {1, ch, h, w}).value();
            for (int y = 0; y < h; ++y)
                for (int x = 0; x < w; ++x)
                    for (int cc = 0; cc < ch; ++cc) {
                        t.data<float>()[(cc * h + y) * w + x] = px[(y * w + x) * c + cc] / 255.0f;
                    }
            stbi_image_free(px);
            if (resize > 0) t = resize_images(t, resize, resize);
            if (C < 0) {
                C = t.shape()[1];
                H = t.shape()[2];
                W = t.shape()[3];
                first = f.string();
            } else if (t.shape()[1] != C || t.shape()[2] != H || t.shape()[3] != W) {
                return invalid_argument("images of mixed sizes: " + first + " is " +
                                        shape_str({C, H, W}) + " but " + f.string() + " is " +
                                        shape_str({t.shape()[1], t.shape()[2], t.shape()[3]}) +
                                        "; give --resize N");
            }
            imgs.push_back(t);
            d.labels.push_back(static_cast<int64_t>(k));
        }
    }
    if (imgs.empty()) return invalid_argument(dir + ": no PNG or JPEG images found");
    d.num_classes = static_cast<int64_t>(classes.size());
    PARE_ASSIGN_OR_RETURN(
        d.images, Tensor::create(DType::kFloat32, {static_cast<int64_t>(imgs.size()), C, H, W}));
    for (size_t i = 0; i < imgs.size(); ++i) {
        std::memcpy(d.images.data<float>() + i * C * H * W, imgs[i].raw(), imgs[i].nbytes());
    }
    return d;
}

Result<DataSplits> load_data(const std::string& spec_in, const DataOptions& opt) {
    std::string spec = spec_in;
    int64_t limit = opt.train_limit;
    const size_t colon = spec.rfind(':');
    if (colon != std::string::npos && colon + 1 < spec.size() &&
        spec.find_first_not_of("0123456789", colon + 1) == std::string::npos) {
        limit = std::stoll(spec.substr(colon + 1));
        spec = spec.substr(0, colon);
    }
    Dataset train, test;
    if (spec == "fashion-mnist") {
        const std::string d = fashion_mnist_dir();
        if (!fs::exists(d + "/train-images-idx3-ubyte.gz")) {
            return not_found("fashion-mnist: " + d +
                             "/train-images-idx3-ubyte.gz not found (install Debian's "
                             "dataset-fashion-mnist: make deps)");
        }
        PARE_ASSIGN_OR_RETURN(train.images, read_idx_images(d + "/train-images-idx3-ubyte.gz"));
        PARE_ASSIGN_OR_RETURN(train.labels, read_idx_labels(d + "/train-labels-idx1-ubyte.gz"));
        PARE_ASSIGN_OR_RETURN(test.images, read_idx_images(d + "/t10k-images-idx3-ubyte.gz"));
        PARE_ASSIGN_OR_RETURN(test.labels, read_idx_labels(d + "/t10k-labels-idx1-ubyte.gz"));
        train.num_classes = test.num_classes = 10;
        train.class_names = test.class_names =
            std::vector<std::string>(std::begin(kFashionClasses), std::end(kFashionClasses));
        train.name = "fashion-mnist/train";
        test.name = "fashion-mnist/test";
    } else if (spec.size() > 4 && spec.substr(spec.size() - 4) == ".npz") {
        PARE_ASSIGN_OR_RETURN(auto arrays, read_npz(spec));
        std::map<std::string, Tensor> a(arrays.begin(), arrays.end());
        auto get = [&](const std::string& k) { return a.count(k) ? a[k] : Tensor(); };
        Tensor xt = get("x_train").defined() ? get("x_train") : get("x");
        Tensor yt = get("y_train").defined() ? get("y_train") : get("y");
        if (!xt.defined() || !yt.defined()) {
            return invalid_argument(spec + ": expected arrays x_train and y_train (or x and y)");
        }
        PARE_ASSIGN_OR_RETURN(train.images, to_nchw_unit(xt, spec + ":x_train"));
        train.labels.resize(static_cast<size_t>(yt.numel()));
        for (int64_t i = 0; i < yt.numel(); ++i) train.labels[i] = yt.at_int64(i);
        train.name = spec + "/train";
        if (get("x_test").defined() && get("y_test").defined()) {
            PARE_ASSIGN_OR_RETURN(test.images, to_nchw_unit(get("x_test"), spec + ":x_test"));
            for (int64_t i = 0; i < get("y_test").numel(); ++i)
                test.labels.push_back(get("y_test").at_int64(i));
            test.name = spec + "/test";
        }
        int64_t mx = 0;
        for (int64_t l : train.labels) mx = std::max(mx, l);
        train.num_classes = test.num_classes = mx + 1;
    } else if (fs::is_directory(spec)) {
        const bool split = fs::is_directory(spec + "/train");
        PARE_ASSIGN_OR_RETURN(train, read_image_folder(split ? spec + "/train" : spec, opt.resize));
        if (split && fs::is_directory(spec + "/test")) {
            PARE_ASSIGN_OR_RETURN(test, read_image_folder(spec + "/test", opt.resize));
            if (test.class_names != train.class_names) {
                return invalid_argument(spec + ": train/ and test/ have different class folders");
            }
        }
    } else {
        return not_found("dataset \"" + spec_in +
                         "\" not found: use fashion-mnist, a .npz file or an image folder");
    }
    if (opt.resize > 0 && !fs::is_directory(spec)) {  // folders are resized as they are read
        train.images = resize_images(train.images, opt.resize, opt.resize);
        if (test.images.defined()) test.images = resize_images(test.images, opt.resize, opt.resize);
    }
    PARE_RETURN_IF_ERROR(train.validate());
    if (test.size() > 0) PARE_RETURN_IF_ERROR(test.validate());
    // Validation split from a seeded permutation of the training set.
    std::vector<int64_t> perm = permutation(train.size(), opt.seed);
    const int64_t n_val =
        static_cast<int64_t>(static_cast<double>(train.size()) * opt.val_fraction);
    std::vector<int64_t> val_idx(perm.begin(), perm.begin() + n_val),
        train_idx(perm.begin() + n_val, perm.end());
    if (limit > 0 && limit < static_cast<int64_t>(train_idx.size()))
        train_idx.resize(static_cast<size_t>(limit));
    DataSplits s;
    s.train = train.subset(train_idx);
    s.val = train.subset(val_idx);
    s.val.name = train.name + "[val]";
    if (test.size() > 0) {
        if (opt.test_limit > 0 && opt.test_limit < test.size()) {
            std::vector<int64_t> idx(static_cast<size_t>(opt.test_limit));
            for (int64_t i = 0; i < opt.test_limit; ++i) idx[i] = i;
            test = test.subset(idx);
        }
        s.test = test;
    }
    return s;
}

BatchIterator::BatchIterator(const Dataset& data, int64_t batch, bool shuffle, bool drop_last,
                             uint64_t seed, int64_t epoch, Augment augment)
    : data_(data),
      batch_(batch),
      drop_last_(drop_last),
      augment_(augment),
      rng_(seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch) + 1) {
    order_ = shuffle ? permutation(data.size(), seed + static_cast<uint64_t>(epoch) * 7919)
                     : permutation(data.size(), 0);
    if (!shuffle) {
        for (int64_t i = 0; i < data.size(); ++i) order_[i] = i;
    }
}

int64_t BatchIterator::batches() const {
    const int64_t n = data_.size();
    return drop_last_ ? n / batch_ : (n + batch_ - 1) / batch_;
}

void BatchIterator::skip(int64_t n) {
    Tensor x;
    std::vector<int64_t> y;
    for (int64_t i = 0; i < n && next(&x, &y); ++i) {
    }
}

bool BatchIterator::next(Tensor* images, std::vector<int64_t>* labels,
                         std::vector<int64_t>* indices) {
    const int64_t n = data_.size();
    if (pos_ >= n || (drop_last_ && pos_ + batch_ > n)) return false;
    const int64_t b = std::min(batch_, n - pos_);
    const Shape& s = data_.images.shape();
    const int64_t C = s[1], H = s[2], W = s[3], per = C * H * W;
    *images = Tensor::create(DType::kFloat32, {b, C, H, W}).value();
    labels->resize(static_cast<size_t>(b));
    if (indices) indices->assign(order_.begin() + pos_, order_.begin() + pos_ + b);
    for (int64_t i = 0; i < b; ++i) {
        const int64_t src = order_[pos_ + i];
        (*labels)[i] = data_.labels[src];
        const float* x = data_.images.data<float>() + src * per;
        float* y = images->data<float>() + i * per;
        if (!augment_.enabled()) {
            std::memcpy(y, x, per * sizeof(float));
            continue;
        }
        const int64_t p = augment_.pad;
        const int64_t dy =
            p ? static_cast<int64_t>(rng_() % static_cast<uint64_t>(2 * p + 1)) - p : 0;
        const int64_t dx =
            p ? static_cast<int64_t>(rng_() % static_cast<uint64_t>(2 * p + 1)) - p : 0;
        const bool flip = augment_.hflip && (rng_() & 1);
        for (int64_t c = 0; c < C; ++c)
            for (int64_t r = 0; r < H; ++r)
                for (int64_t col = 0; col < W; ++col) {
                    const int64_t sr = r + dy, sc0 = col + dx;
                    const int64_t sc = flip ? W - 1 - sc0 : sc0;
                    y[(c * H + r) * W + col] =
                        (sr >= 0 && sr < H && sc >= 0 && sc < W) ? x[(c * H + sr) * W + sc] : 0.0f;
                }
    }
    pos_ += b;
    return true;
}

}  // namespace pare
