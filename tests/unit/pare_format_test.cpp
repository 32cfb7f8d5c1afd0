// The .pare format: round trips (graph, attributes, weights, outputs bit for bit),
// and hostile files: truncated, bit-flipped, wrong version, lying sizes.
#include "runtime/format/pare_format.h"

#include <gtest/gtest.h>

#include <random>

#include "pare_generated.h"
#include "test_util.h"
#include "toolkit/onnx/onnx_io.h"

using namespace pare;
using namespace pare::test;

namespace {

Graph lenet() {
    Result<Graph> g = import_onnx_file(std::string(PARE_SOURCE_DIR) + "/models/lenet5.onnx");
    EXPECT_TRUE(g.ok()) << g.status().message();
    return std::move(g).value();
}

std::vector<uint8_t> bytes_of(const Graph& g) {
    Result<std::vector<uint8_t>> b = save_pare(g);
    EXPECT_TRUE(b.ok());
    return b.value();
}

}  // namespace

TEST(PareFormat, RoundTripKeepsTheGraphAndGivesIdenticalOutputs) {
    Graph g = lenet();
    // Attributes of every kind ride along on one node.
    Attributes& a = g.nodes[0].attrs;
    a.set("x_f", Attribute::make_float(0.25f));
    a.set("x_s", Attribute::make_string("text"));
    a.set("x_fs", Attribute::make_floats({1.5f, -2.0f}));
    a.set("x_t", Attribute::make_tensor(Tensor::from_vector<int64_t>({3, 4}, {2})));
    Attribute strs;
    strs.kind = Attribute::Kind::kStrings;
    strs.strings = {"a", "b"};
    a.set("x_ss", strs);
    const std::vector<uint8_t> b = bytes_of(g);
    EXPECT_TRUE(looks_like_pare(b.data(), b.size()));
    Result<Graph> back = load_pare(b.data(), b.size(), "mem");
    ASSERT_TRUE(back.ok()) << back.status().message();
    const Graph& h = back.value();
    ASSERT_EQ(h.nodes.size(), g.nodes.size());
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        EXPECT_EQ(h.nodes[i].op_type, g.nodes[i].op_type);
        EXPECT_EQ(h.nodes[i].inputs, g.nodes[i].inputs);
        EXPECT_EQ(h.nodes[i].outputs, g.nodes[i].outputs);
        ASSERT_EQ(h.nodes[i].attrs.map().size(), g.nodes[i].attrs.map().size());
        for (const auto& kv : g.nodes[i].attrs.map()) {
            ASSERT_TRUE(h.nodes[i].attrs.has(kv.first)) << kv.first;
            EXPECT_TRUE(h.nodes[i].attrs.map().at(kv.first) == kv.second) << kv.first;
        }
    }
    ASSERT_EQ(h.initializers.size(), g.initializers.size());
    for (const auto& kv : g.initializers) {
        const Tensor& t = h.initializers.at(kv.first);
        ASSERT_EQ(t.shape(), kv.second.shape());
        EXPECT_EQ(std::memcmp(t.raw(), kv.second.raw(), t.nbytes()), 0) << kv.first;
    }
    EXPECT_EQ(h.inputs.size(), g.inputs.size());
    EXPECT_EQ(h.inputs[0].shape, g.inputs[0].shape);
    g.nodes[0].attrs = Attributes();  // the extra attributes are not Conv's
    Graph clean = lenet();
    const std::vector<uint8_t> cb = bytes_of(clean);
    Graph loaded = load_pare(cb.data(), cb.size(), "mem").value();
    for (auto* gr : {&clean, &loaded}) {
        for (auto& i : gr->inputs) i.shape[0] = 2;
    }
    const TensorMap in = {{clean.inputs[0].name, random_tensor({2, 1, 28, 28}, 5)}};
    const TensorMap want = run_graph(clean, in), got = run_graph(loaded, in);
    for (const auto& kv : want) EXPECT_EQ(max_abs_diff(got.at(kv.first), kv.second), 0.0);
}

TEST(PareFormat, TruncatedOrBitFlippedFilesFailCleanly) {
    const std::vector<uint8_t> b = bytes_of(lenet());
    int failures = 0;
    for (size_t cut = 0; cut < b.size(); cut += b.size() / 97 + 1) {
        Result<Graph> g = load_pare(b.data(), cut, "cut");
        EXPECT_FALSE(g.ok()) << "accepted a file cut at " << cut;
        failures += !g.ok();
    }
    EXPECT_GT(failures, 90);
    std::mt19937 rng(7);
    int rejected = 0;
    for (int trial = 0; trial < 300; ++trial) {
        std::vector<uint8_t> c = b;
        // Flip bytes in the first 4 KiB, where the tables and offsets are.
        for (int k = 0; k < 4; ++k)
            c[rng() % std::min<size_t>(c.size(), 4096)] ^= 1u << (rng() % 8);
        Result<Graph> g = load_pare(c.data(), c.size(), "flip");
        if (!g.ok()) {
            ++rejected;
            EXPECT_FALSE(g.status().message().empty());
            continue;
        }
        // Whatever was accepted passed every check: it prepares or fails cleanly.
        (void)Session::prepare(std::move(g).value());
    }
    EXPECT_GT(rejected, 0);
}

TEST(PareFormat, LyingSizesWrongVersionsAndKindsAreNamed) {
    auto build = [](uint32_t version, std::vector<int64_t> shape, size_t data_bytes, int dtype,
                    int8_t attr_kind) {
        flatbuffers::FlatBufferBuilder b;
        std::vector<uint8_t> data(data_bytes, 0);
        auto t = fb::CreateTensor(b, dtype, b.CreateVector(shape), b.CreateVector(data));
        std::vector<flatbuffers::Offset<fb::Initializer>> inits = {
            fb::CreateInitializer(b, b.CreateString("w"), t)};
        std::vector<flatbuffers::Offset<fb::Attribute>> attrs = {
            fb::CreateAttribute(b, b.CreateString("axis"), attr_kind, 0.0f, 1)};
        std::vector<flatbuffers::Offset<flatbuffers::String>> ins = {b.CreateString("w")},
                                                              outs = {b.CreateString("y")};
        std::vector<flatbuffers::Offset<fb::Node>> nodes = {
            fb::CreateNode(b, b.CreateString("n"), b.CreateString("Softmax"), b.CreateString(""),
                           b.CreateVector(ins), b.CreateVector(outs), b.CreateVector(attrs))};
        std::vector<flatbuffers::Offset<fb::ValueInfo>> outputs = {
            fb::CreateValueInfo(b, b.CreateString("y"), 1)};
        auto m = fb::CreateModel(b, version, 0, 0, 17, 0, b.CreateVector(outputs),
                                 b.CreateVector(inits), b.CreateVector(nodes));
        fb::FinishModelBuffer(b, m);
        return std::vector<uint8_t>(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
    };
    auto error = [](const std::vector<uint8_t>& b) {
        Result<Graph> g = load_pare(b.data(), b.size(), "x.pare");
        return g.ok() ? std::string("ok") : g.status().message();
    };
    EXPECT_EQ(error(build(1, {2, 3}, 24, 1, 1)), "ok");
    EXPECT_EQ(error(build(2, {2, 3}, 24, 1, 1)), "ok");
    EXPECT_NE(error(build(3, {2, 3}, 24, 1, 1)).find("version 3"), std::string::npos);
    EXPECT_NE(error(build(1, {2, 3}, 20, 1, 1)).find("20 data bytes"), std::string::npos);
    EXPECT_NE(error(build(1, {1 << 30, 1 << 30}, 8, 1, 1)).find("size limit"), std::string::npos);
    EXPECT_NE(error(build(1, {-2, 3}, 0, 1, 1)).find("initializer \"w\""), std::string::npos);
    EXPECT_NE(error(build(1, {2, 3}, 24, 99, 1)).find("dtype code 99"), std::string::npos);
    EXPECT_NE(error(build(1, {2, 3}, 24, 1, 42)).find("attribute kind 42"), std::string::npos);
    const std::vector<uint8_t> onnx_like = {0x08, 0x07, 0x12, 0x00, 0, 0, 0, 0, 0, 0};
    EXPECT_NE(error(onnx_like).find("not a .pare file"), std::string::npos);
}

// Pruned weights are stored sparse (a bit per element and the nonzeros): the file
// shrinks, is version 2, and loads back bit for bit; a mask that disagrees with the
// data is refused.
TEST(PareFormat, PrunedWeightsAreStoredSparseAndLoadBackExactly) {
    Graph g = lenet();
    std::string big;
    for (auto& [name, t] : g.initializers)
        if (big.empty() || t.numel() > g.initializers.at(big).numel()) big = name;
    const size_t dense = bytes_of(g).size();
    Tensor w = g.initializers.at(big).clone();
    for (int64_t i = 0; i < w.numel(); ++i)
        if (i % 10 != 3) w.data<float>()[i] = 0.0f;  // 90% zeros
    g.initializers[big] = w;
    const std::vector<uint8_t> b = bytes_of(g);
    EXPECT_LT(b.size() + static_cast<size_t>(w.nbytes()) * 3 / 4, dense);
    EXPECT_EQ(fb::GetModel(b.data())->version(), 2u);
    EXPECT_EQ(fb::GetModel(bytes_of(lenet()).data())->version(), 1u);  // nothing sparse
    Graph back = load_pare(b.data(), b.size(), "mem").value();
    const Tensor& t = back.initializers.at(big);
    ASSERT_EQ(t.shape(), w.shape());
    EXPECT_EQ(std::memcmp(t.raw(), w.raw(), w.nbytes()), 0);
    // A mask claiming more nonzeros than the data holds.
    flatbuffers::FlatBufferBuilder fbb;
    std::vector<uint8_t> mask(8, 0xff), data(4 * 10, 0);
    std::vector<int64_t> shape = {64};
    auto tensor = fb::CreateTensor(fbb, 1, fbb.CreateVector(shape), fbb.CreateVector(data),
                                   fbb.CreateVector(mask));
    std::vector<flatbuffers::Offset<fb::Initializer>> inits = {
        fb::CreateInitializer(fbb, fbb.CreateString("w"), tensor)};
    auto m = fb::CreateModel(fbb, 2, 0, 0, 17, 0, 0, fbb.CreateVector(inits));
    fb::FinishModelBuffer(fbb, m);
    Result<Graph> bad = load_pare(fbb.GetBufferPointer(), fbb.GetSize(), "x.pare");
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.status().message().find("the mask's nonzeros"), std::string::npos)
        << bad.status().message();
}
