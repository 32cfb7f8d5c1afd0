// classify: load a .pare model with pare's runtime alone and classify one image.
//
//   classify model.pare image.pgm [--labels names.txt] [--threads N]
//
// The image is a binary PGM (P5, grayscale) or PPM (P6, RGB) with values up to
// 255, scaled to [0, 1], converted to the model's channel count and resized
// (bilinear) to its input size: the input pare's trainer uses for Fashion-MNIST.
// Prints the five most likely classes with softmax probabilities. Links only the
// runtime library (no protobuf, ONNX or torch).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "runtime/exec/session.h"
#include "runtime/format/pare_format.h"

namespace {

struct Image {
    int w = 0, h = 0, c = 0;
    std::vector<float> px;  // h * w * c, in [0, 1]
};

bool read_token(std::istream& in, std::string* tok) {
    tok->clear();
    int ch;
    while ((ch = in.get()) != EOF) {
        if (ch == '#') {
            while ((ch = in.get()) != EOF && ch != '\n') {
            }
        } else if (!std::isspace(ch)) {
            *tok += static_cast<char>(ch);
            break;
        }
    }
    while ((ch = in.peek()) != EOF && !std::isspace(ch)) *tok += static_cast<char>(in.get());
    return !tok->empty();
}

bool read_pnm(const std::string& path, Image* img, std::string* err) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return *err = path + ": cannot open", false;
    std::string magic, w, h, maxv;
    if (!read_token(in, &magic) || (magic != "P5" && magic != "P6"))
        return *err = path + ": not a binary PGM (P5) or PPM (P6) image", false;
    if (!read_token(in, &w) || !read_token(in, &h) || !read_token(in, &maxv))
        return *err = path + ": truncated header", false;
    img->w = std::atoi(w.c_str());
    img->h = std::atoi(h.c_str());
    const int mv = std::atoi(maxv.c_str());
    img->c = magic == "P5" ? 1 : 3;
    if (img->w <= 0 || img->h <= 0 || img->w > 16384 || img->h > 16384 || mv <= 0 || mv > 255)
        return *err = path + ": unsupported size or maximum value (8-bit images up to 16384)",
               false;
    in.get();  // the single whitespace before the pixels
    std::vector<unsigned char> raw(static_cast<size_t>(img->w) * img->h * img->c);
    if (!in.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(raw.size())))
        return *err = path + ": fewer pixels than the header says", false;
    img->px.resize(raw.size());
    for (size_t i = 0; i < raw.size(); ++i) img->px[i] = raw[i] / static_cast<float>(mv);
    return true;
}

// NCHW input of c x h x w from the image: channels converted, bilinear resize.
std::vector<float> to_input(const Image& img, int c, int h, int w) {
    std::vector<float> out(static_cast<size_t>(c) * h * w);
    auto at = [&](int y, int x, int ch) {
        const float* p = &img.px[(static_cast<size_t>(y) * img.w + x) * img.c];
        if (img.c == c) return p[ch];
        if (img.c == 3) return 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];  // to gray
        return p[0];                                                           // gray to RGB
    };
    for (int ch = 0; ch < c; ++ch)
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) {
                const float sy = std::max(0.0f, (y + 0.5f) * img.h / h - 0.5f);
                const float sx = std::max(0.0f, (x + 0.5f) * img.w / w - 0.5f);
                const int y0 = std::min(static_cast<int>(sy), img.h - 1),
                          y1 = std::min(y0 + 1, img.h - 1);
                const int x0 = std::min(static_cast<int>(sx), img.w - 1),
                          x1 = std::min(x0 + 1, img.w - 1);
                const float fy = sy - y0, fx = sx - x0;
                out[(static_cast<size_t>(ch) * h + y) * w + x] =
                    (1 - fy) * ((1 - fx) * at(y0, x0, ch) + fx * at(y0, x1, ch)) +
                    fy * ((1 - fx) * at(y1, x0, ch) + fx * at(y1, x1, ch));
            }
    return out;
}

int fail(const std::string& msg) {
    std::fprintf(stderr, "classify: %s\n", msg.c_str());
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    std::string model, image, labels_path;
    int threads = 1;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--labels" && i + 1 < argc) {
            labels_path = argv[++i];
        } else if (a == "--threads" && i + 1 < argc) {
            threads = std::atoi(argv[++i]);
            if (threads < 1 || threads > 256) return fail("--threads takes 1 to 256");
        } else if (a.rfind("--", 0) == 0) {
            return fail("unknown flag " + a);
        } else if (model.empty()) {
            model = a;
        } else if (image.empty()) {
            image = a;
        } else {
            return fail("unexpected argument " + a);
        }
    }
    if (model.empty() || image.empty())
        return fail("usage: classify model.pare image.pgm [--labels names.txt] [--threads N]");
    pare::Result<pare::Graph> g = pare::load_pare_file(model);
    if (!g.ok()) return fail(g.status().message());
    pare::Graph graph = std::move(g).value();
    if (graph.inputs.size() != 1 || graph.outputs.empty())
        return fail(model + ": expects a model with one image input");
    pare::ValueInfo& in = graph.inputs[0];
    if (!in.has_shape || in.shape.size() != 4 || in.shape[1] <= 0 || in.shape[2] <= 0 ||
        in.shape[3] <= 0)
        return fail(model + ": input \"" + in.name + "\" is not an N,C,H,W image with fixed C,H,W");
    in.shape[0] = 1;
    Image img;
    std::string err;
    if (!read_pnm(image, &img, &err)) return fail(err);
    const int c = static_cast<int>(in.shape[1]), h = static_cast<int>(in.shape[2]),
              w = static_cast<int>(in.shape[3]);
    pare::Tensor x = pare::Tensor::create(pare::DType::kFloat32, {1, c, h, w}).value();
    const std::vector<float> v = to_input(img, c, h, w);
    std::memcpy(x.raw(), v.data(), v.size() * sizeof(float));
    pare::SessionOptions opt;
    opt.threads = threads;
    pare::Result<pare::Session> s = pare::Session::prepare(graph, opt);
    if (!s.ok()) return fail(s.status().message());
    pare::TensorMap out;
    pare::Status st = s.value().run({{in.name, x}}, &out);
    if (!st.ok()) return fail(st.message());
    const pare::Tensor& y = out.at(graph.outputs[0].name);
    if (y.dtype() != pare::DType::kFloat32 || y.numel() < 1) return fail("output is not scores");
    std::vector<std::string> names;
    if (!labels_path.empty()) {
        std::ifstream lf(labels_path);
        if (!lf) return fail(labels_path + ": cannot open");
        for (std::string line; std::getline(lf, line);) names.push_back(line);
    }
    // Probabilities: the outputs themselves when they already are (a final Softmax),
    // else the softmax of the scores.
    const float* p = y.data<float>();
    const int64_t n = y.numel();
    double total = 0;
    bool is_prob = true;
    for (int64_t i = 0; i < n; ++i) {
        is_prob = is_prob && p[i] >= 0.0f && p[i] <= 1.0f;
        total += p[i];
    }
    is_prob = is_prob && std::fabs(total - 1.0) < 1e-3;
    const float mx = *std::max_element(p, p + n);
    std::vector<double> prob(static_cast<size_t>(n));
    double sum = 0;
    for (int64_t i = 0; i < n; ++i)
        sum += prob[i] = is_prob ? p[i] : std::exp(static_cast<double>(p[i]) - mx);
    std::vector<int64_t> order(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return p[a] > p[b]; });
    for (int64_t k = 0; k < std::min<int64_t>(5, n); ++k) {
        const int64_t i = order[k];
        std::printf("%lld\t%.4f\t%s\n", static_cast<long long>(i), prob[i] / sum,
                    i < static_cast<int64_t>(names.size()) ? names[i].c_str() : "");
    }
    return 0;
}
