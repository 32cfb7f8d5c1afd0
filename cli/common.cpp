#include <cstdio>
#include <sstream>

#include "cli/cli.h"
#include "runtime/ir/passes/passes.h"
#include "toolkit/data/dataset.h"
#include "toolkit/data/npy.h"
#include "toolkit/report/model_stats.h"

namespace pare::cli {

ImportOptions import_options(const std::vector<std::string>& shapes) {
    return check(input_shape_options(shapes));
}

std::vector<std::string> split_names(const std::string& list) {
    std::vector<std::string> v;
    std::stringstream ss(list);
    for (std::string k; std::getline(ss, k, ',');)
        if (!k.empty()) v.push_back(k);
    return v;
}

std::string human_count(int64_t n) {
    char buf[32];
    if (n >= 1000000000) {
        std::snprintf(buf, sizeof buf, "%.2fG", n / 1e9);
    } else if (n >= 1000000) {
        std::snprintf(buf, sizeof buf, "%.2fM", n / 1e6);
    } else if (n >= 1000) {
        std::snprintf(buf, sizeof buf, "%.1fK", n / 1e3);
    } else {
        std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(n));
    }
    return buf;
}

void add_training_flags(CLI::App* app, TrainConfig& c, const char* epochs_help) {
    app->add_option("--epochs", c.epochs, epochs_help)->capture_default_str();
    app->add_option("--lr", c.lr, "Peak learning rate (cosine schedule)")->capture_default_str();
    app->add_option("--batch", c.batch, "Batch size")
        ->capture_default_str()
        ->check(CLI::Range(1, 1 << 16));
    app->add_option("--weight-decay", c.weight_decay, "Weight decay")->capture_default_str();
    app->add_option("--threads", c.threads, "Training threads")
        ->capture_default_str()
        ->check(CLI::Range(1, 256));
}

std::string value_str(const ValueInfo& v) {
    std::string s = std::string(dtype_name(v.dtype)) + " [";
    for (size_t d = 0; d < v.shape.size(); ++d) {
        if (d) s += ",";
        if (v.shape[d] >= 0) {
            s += std::to_string(v.shape[d]);
        } else {
            s += d < v.dim_params.size() && !v.dim_params[d].empty() ? v.dim_params[d] : "?";
        }
    }
    return v.has_shape ? s + "]" : std::string(dtype_name(v.dtype)) + " (rank unknown)";
}

std::pair<int64_t, int64_t> params_and_macs(const Graph& g) {
    Graph b = g;
    b.bind_batch(1);
    check(prepare_for_editing(b));
    const ModelStats st = compute_stats(b);
    return {st.parameters, st.macs};
}

// Calibration images: "DATASET[:N]" (N training images) or a .npy file (N, C, H, W).
Tensor calibration_images(const std::string& spec) {
    if (spec.size() > 4 && spec.substr(spec.size() - 4) == ".npy") {
        Tensor t = check(read_npy(spec));
        if (t.dtype() != DType::kFloat32 || t.rank() != 4 || t.shape()[0] == 0)
            throw Failure{invalid_argument(spec + ": calibration images must be a non-empty "
                                                  "(N, C, H, W) float32 array")};
        return t;
    }
    DataSplits d = check(load_data(spec, {}));
    if (d.train.size() == 0)
        throw Failure{invalid_argument(spec + ": no training images to calibrate on")};
    return d.train.images;
}

}  // namespace pare::cli
