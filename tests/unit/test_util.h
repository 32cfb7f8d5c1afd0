// Helpers for building small graphs and tensors in tests.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "runtime/exec/session.h"

namespace pare::test {

// A model `make models` fetched: $PARE_CACHE (default ~/.cache/pare)/models/REL.
inline std::string cached_model(const std::string& rel) {
    const char* c = std::getenv("PARE_CACHE");
    return (c ? std::string(c) : std::string(std::getenv("HOME")) + "/.cache/pare") + "/models/" +
           rel;
}

// A fresh, empty folder under the system temp dir, unique to this process and
// removed with everything in it when the process exits.
inline std::filesystem::path temp_dir(const std::string& name) {
    struct Folders {
        std::vector<std::filesystem::path> paths;
        ~Folders() {
            std::error_code ec;
            for (const std::filesystem::path& p : paths) std::filesystem::remove_all(p, ec);
        }
    };
    static Folders folders;
    std::filesystem::path p = std::filesystem::temp_directory_path() /
                              ("pare-test-" + name + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(p);
    std::filesystem::create_directories(p);
    folders.paths.push_back(p);
    return p;
}

inline Node make_node(const std::string& op, std::vector<std::string> in,
                      std::vector<std::string> out, Attributes attrs = {}) {
    Node n;
    n.name = op + "_" + (out.empty() ? std::string("x") : out[0]);
    n.op_type = op;
    for (const char* domain : {"", kMlDomain, kMicrosoftDomain}) {
        n.op = op_from_name(op, domain);
        n.domain = n.op == OpKind::kUnknown ? "" : domain;
        if (n.op != OpKind::kUnknown) break;
    }
    n.inputs = std::move(in);
    n.outputs = std::move(out);
    n.attrs = std::move(attrs);
    return n;
}

inline ValueInfo value(const std::string& name, DType t, Shape s) {
    ValueInfo v;
    v.name = name;
    v.dtype = t;
    v.has_shape = true;
    v.shape = s;
    v.dim_params.assign(s.size(), "");
    return v;
}

inline Tensor random_tensor(Shape s, uint64_t seed, float lo = -1, float hi = 1) {
    Tensor t = Tensor::create(DType::kFloat32, s).value();
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> d(lo, hi);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
    return t;
}

inline TensorMap run_graph(const Graph& g, const TensorMap& inputs) {
    Result<Session> s = Session::prepare(g);
    EXPECT_TRUE(s.ok()) << s.status().message();
    TensorMap out;
    if (!s.ok()) return out;
    Status st = s.value().run(inputs, &out);
    EXPECT_TRUE(st.ok()) << st.message();
    return out;
}

inline double max_abs_diff(const Tensor& a, const Tensor& b) {
    EXPECT_EQ(shape_str(a.shape()), shape_str(b.shape()));
    double m = 0;
    for (int64_t i = 0; i < a.numel() && i < b.numel(); ++i)
        m = std::max(m, std::fabs(a.at_double(i) - b.at_double(i)));
    return m;
}

inline int count_op(const Graph& g, OpKind op) {
    int n = 0;
    for (const auto& node : g.nodes) n += node.op == op;
    return n;
}

}  // namespace pare::test
