// The trainer: it learns, resumes exactly, fails cleanly, and what it trains runs
// the same in pare's runtime as in libtorch.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "test_util.h"
#include "toolkit/arch/zoo.h"
#include "toolkit/onnx/onnx_io.h"
#include "toolkit/prune/prune.h"
#include "toolkit/report/evaluate.h"
#include "toolkit/train/trainer.h"

using namespace pare;
namespace fs = std::filesystem;

namespace {

DataSplits small_fashion(int64_t n) {
    DataOptions o;
    o.train_limit = n;
    o.test_limit = 1000;
    DataSplits d = load_data("fashion-mnist", o).value();
    d.val = d.val.subset([] {
        std::vector<int64_t> idx(1000);
        for (int i = 0; i < 1000; ++i) idx[i] = i;
        return idx;
    }());
    return d;
}

TrainConfig quick(int64_t epochs) {
    TrainConfig c;
    c.epochs = epochs;
    c.batch = 32;
    c.lr = 0.05;
    c.threads = 1;
    c.progress = false;
    return c;
}

std::string temp_file(const std::string& name) {
    return (fs::temp_directory_path() / ("pare-train-" + name + "-" + std::to_string(::getpid())))
        .string();
}

}  // namespace

TEST(Train, LeNetLearnsWellAboveChance) {
    DataSplits d = small_fashion(2000);
    Graph g = build_arch("lenet5", {}).value();
    TrainConfig c = quick(5);  // 5 x 62 = 310 steps
    Result<TrainResult> r = train_graph(g, d, c);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r.value().steps, 5 * (2000 / 32));
    // Chance is 10%; measured on pare's runtime with the weights written back.
    EvalReport e = evaluate(g, d.test).value();
    EXPECT_GT(e.top1, 0.70) << e.top1;
    EXPECT_GT(r.value().epochs.back().val_acc, 0.70);
    EXPECT_LT(r.value().epochs.back().train_loss, r.value().epochs.front().train_loss);
}

// A training step's activations and gradients (blocks over glibc's default 128 KB
// mmap threshold) come from memory freed by the step before, not from fresh pages
// faulted in each time. MobileNetV2 x0.25 at batch 64: about 0 page faults per
// step with the trainer's malloc settings, 12,000-22,000 with glibc's defaults.
TEST(Train, StepsReuseFreedMemoryInsteadOfFaultingItIn) {
    DataSplits d = small_fashion(64 * 24);
    ArchOptions o;
    o.width = 0.25;
    auto faults_of = [&](int64_t steps) {
        Graph g = build_arch("mobilenet_v2", o).value();
        TrainConfig c = quick(1);
        c.batch = 64;
        c.max_steps = steps;
        rusage before{}, after{};
        getrusage(RUSAGE_SELF, &before);
        EXPECT_TRUE(train_graph(g, d, c).ok());
        getrusage(RUSAGE_SELF, &after);
        return static_cast<double>(after.ru_minflt - before.ru_minflt);
    };
    faults_of(4);  // the process's first training: libraries, thread pools
    // The same setup and validation in both; the difference is 12 steps' worth.
    const double few = faults_of(4), more = faults_of(16);
    const double per_step = (more - few) / 12;
    std::printf("  %.0f page faults per training step\n", per_step);
    EXPECT_LT(per_step, 2000);
}

TEST(Train, AdamWStepScheduleWarmupClippingAndSmoothingLearn) {
    DataSplits d = small_fashion(2000);
    Graph g = build_arch("lenet5", {}).value();
    TrainConfig c = quick(4);
    c.optimizer = "adamw";
    c.lr = 2e-3;
    c.weight_decay = 1e-2;
    c.schedule = "step";
    c.step_epochs = 2;
    c.warmup_epochs = 0.5;
    c.clip_grad_norm = 1.0;
    c.label_smoothing = 0.1;
    Result<TrainResult> r = train_graph(g, d, c);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_GT(evaluate(g, d.test).value().top1, 0.70);
    c.optimizer = "rmsprop";
    EXPECT_FALSE(train_graph(g, d, c).ok());
}

TEST(Train, ResumeFromCheckpointIsExact) {
    DataSplits d = small_fashion(640);
    TrainConfig c = quick(2);
    c.augment = {2, true};
    ArchOptions o;
    o.layers = 8;
    o.width = 0.5;
    Graph straight = build_arch("resnet", o).value();
    ASSERT_TRUE(train_graph(straight, d, c).ok());

    const std::string ckpt = temp_file("resume.pt");
    fs::remove(ckpt);
    Graph resumed = build_arch("resnet", o).value();
    // The same command, interrupted after the first epoch (20 steps of 32), then run again.
    TrainConfig first = c;
    first.max_steps = 640 / 32;
    first.checkpoint = ckpt;
    ASSERT_TRUE(train_graph(resumed, d, first).ok());
    ASSERT_TRUE(fs::exists(ckpt));
    Graph fresh =
        build_arch("resnet", o).value();  // a new process would start from scratch weights
    TrainConfig second = c;
    second.checkpoint = ckpt;
    Result<TrainResult> r = train_graph(fresh, d, second);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r.value().resumed_from_epoch, 1);
    for (const auto& kv : straight.initializers) {
        const Tensor& b = fresh.initializers.at(kv.first);
        ASSERT_EQ(kv.second.nbytes(), b.nbytes());
        EXPECT_EQ(std::memcmp(kv.second.raw(), b.raw(), b.nbytes()), 0)
            << kv.first << " differs after resume";
    }
    fs::remove(ckpt);
}

TEST(Train, NanLossStopsAndKeepsTheLastCheckpoint) {
    DataSplits d = small_fashion(320);
    Graph g = build_arch("lenet5", {}).value();
    const std::string ckpt = temp_file("nan.pt");
    fs::remove(ckpt);
    TrainConfig ok = quick(1);
    ok.checkpoint = ckpt;
    ASSERT_TRUE(train_graph(g, d, ok).ok());
    const auto before = fs::last_write_time(ckpt);
    const auto size = fs::file_size(ckpt);
    TrainConfig bad = quick(3);
    bad.checkpoint = ckpt;
    bad.lr = 1e12;
    bad.momentum = 0;
    Result<TrainResult> r = train_graph(g, d, bad);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.status().message().find("NaN") != std::string::npos ||
                r.status().message().find("infinite") != std::string::npos)
        << r.status().message();
    EXPECT_NE(r.status().message().find("last good checkpoint"), std::string::npos)
        << r.status().message();
    EXPECT_EQ(fs::last_write_time(ckpt), before);
    EXPECT_EQ(fs::file_size(ckpt), size);
    fs::remove(ckpt);
}

TEST(Train, ClassCountMismatchIsAClearError) {
    DataSplits d = small_fashion(320);
    ArchOptions o;
    o.num_classes = 5;
    Graph g = build_arch("lenet5", o).value();
    Result<TrainResult> r = train_graph(g, d, quick(1));
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("10 classes"), std::string::npos) << r.status().message();
}

// Every architecture of the zoo runs the same in libtorch (eval mode) and in pare's
// runtime, after a few training steps gave its BatchNorm statistics real values.
TEST(Train, EveryZooArchitectureAgreesWithTheRuntime) {
    DataSplits d = small_fashion(128);
    for (const auto& a : arch_list()) {
        SCOPED_TRACE(a.name);
        ArchOptions o;
        o.width = a.name == "shufflenet_v2" ? 0.5 : 0.25;
        o.layers = 8;
        Result<Graph> g = build_arch(a.name, o);
        ASSERT_TRUE(g.ok()) << g.status().message();
        TrainConfig c = quick(1);
        c.max_steps = 3;
        Result<TrainResult> r = train_graph(g.value(), d, c);
        ASSERT_TRUE(r.ok()) << r.status().message();
        Tensor x = test::random_tensor({4, 1, 28, 28}, 3, 0, 1);
        Result<Tensor> want = torch_forward(g.value(), x);
        ASSERT_TRUE(want.ok()) << want.status().message();
        Graph bound = g.value();
        bound.inputs[0].shape[0] = 4;
        TensorMap got = test::run_graph(bound, {{"input", x}});
        ASSERT_EQ(got.size(), 1u);
        double num = 0, den = 0;
        const Tensor& y = got.begin()->second;
        for (int64_t i = 0; i < y.numel(); ++i) {
            const double diff = y.data<float>()[i] - want.value().data<float>()[i];
            num += diff * diff;
            den +=
                static_cast<double>(want.value().data<float>()[i]) * want.value().data<float>()[i];
        }
        EXPECT_LT(std::sqrt(num / den), 1e-4);
    }
}

// Adaptive BatchNorm: half the channels of ResNet-20's stage-1 residual stream
// removed ruins the model with the original statistics; statistics re-estimated
// on training images bring most of it back, the weights untouched.
TEST(Train, BatchNormRecalibrationRestoresAPrunedModel) {
    const Graph g =
        load_model_file(std::string(PARE_SOURCE_DIR) + "/models/teacher_resnet20.onnx").value();
    const DataSplits d = small_fashion(1024);
    PruneOptions po;
    po.method = PruneMethod::kL2;
    po.sparsity = 0.5;
    PrunePlan plan = analyze_pruning(g, po).value();
    std::vector<ChannelPrune> stem;
    for (const ChannelPrune& cp : plan.channels)
        if (cp.layer == "stem.conv.conv" || (cp.layer.rfind("stage1.block", 0) == 0 &&
                                             cp.layer.find(".b.conv") != std::string::npos))
            stem.push_back(cp);
    ASSERT_EQ(stem.size(), 4u);
    plan.channels = stem;
    const Graph pruned = apply_pruning(g, plan).value();
    const double base = evaluate(g, d.val).value().top1;
    const double before = evaluate(pruned, d.val).value().top1;
    Graph recal = pruned;
    Result<int64_t> n = recalibrate_batchnorm(recal, d.train, 64, 16, 1);
    ASSERT_TRUE(n.ok()) << n.status().message();
    EXPECT_EQ(n.value(), 21);
    const double after = evaluate(recal, d.val).value().top1;
    EXPECT_LT(before, base - 0.2) << "pruning alone should hurt";
    EXPECT_GT(after, before + 0.2);
    EXPECT_GT(after, base - 0.1);
    // Only the statistics moved.
    int changed = 0;
    for (const auto& [name, t] : pruned.initializers) {
        const Tensor& u = recal.initializers.at(name);
        ASSERT_EQ(t.shape(), u.shape()) << name;
        const bool same = std::memcmp(t.raw(), u.raw(), t.nbytes()) == 0;
        const bool stat = name.find("running_") != std::string::npos;
        if (!stat) {
            EXPECT_TRUE(same) << name;
        }
        changed += stat && !same;
    }
    EXPECT_EQ(changed, 42);
    // The unpruned teacher's statistics re-estimated on its own training data: the
    // accuracy stays where it was.
    Graph same = g;
    ASSERT_TRUE(recalibrate_batchnorm(same, d.train, 64, 16, 1).ok());
    EXPECT_NEAR(evaluate(same, d.val).value().top1, base, 0.015);
    // Bad input: not one batch.
    Graph x = g;
    EXPECT_FALSE(recalibrate_batchnorm(x, d.train, 64, 0, 1).ok());
}
