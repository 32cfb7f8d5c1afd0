// Knowledge distillation in the trainer: the loss is Hinton's mix (checked
// against a recomputation from both models' logits), hints add their adapter's
// error, and mismatched teachers and unknown hint values are clear errors.
#include <gtest/gtest.h>

#include <cmath>

#include "toolkit/arch/zoo.h"
#include "toolkit/data/dataset.h"
#include "toolkit/train/trainer.h"

namespace pare {
namespace {

DataSplits one_batch(int64_t n) {
    DataOptions o;
    o.train_limit = n;
    o.test_limit = 10;
    DataSplits d = load_data("fashion-mnist", o).value();
    std::vector<int64_t> first(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) first[i] = i;
    d.train = d.train.subset(first);
    d.val = d.val.subset({0, 1, 2, 3});
    return d;
}

Graph lenet(uint64_t seed, int64_t classes = 10) {
    ArchOptions o;
    o.seed = seed;
    o.num_classes = classes;
    return build_arch("lenet5", o).value();
}

// One epoch of one batch at learning rate 0: the reported loss is the loss of the
// untouched models (LeNet-5 has no BatchNorm or dropout: train = eval mode).
TrainConfig frozen(int64_t batch) {
    TrainConfig c;
    c.epochs = 1;
    c.batch = batch;
    c.lr = 0;
    c.weight_decay = 0;
    c.progress = false;
    return c;
}

std::string value_of(const Graph& g, const std::string& node) {
    for (const auto& n : g.nodes)
        if (n.name == node) return n.outputs[0];
    return "";
}

TEST(Distill, LossIsTheSoftTargetAndLabelMix) {
    const DataSplits d = one_batch(64);
    const Graph teacher = lenet(7), student = lenet(1);
    const Tensor s = torch_forward(student, d.train.images).value();
    const Tensor t = torch_forward(teacher, d.train.images).value();
    const double T = 3, alpha = 0.6;
    double kl = 0, ce = 0;
    const int64_t n = d.train.size(), k = 10;
    for (int64_t i = 0; i < n; ++i) {
        const float* ps = s.data<float>() + i * k;
        const float* pt = t.data<float>() + i * k;
        auto log_softmax = [&](const float* z, double temp, std::vector<double>* out) {
            double mx = -1e30, sum = 0;
            for (int64_t j = 0; j < k; ++j) mx = std::max(mx, z[j] / temp);
            for (int64_t j = 0; j < k; ++j) sum += std::exp(z[j] / temp - mx);
            out->resize(k);
            for (int64_t j = 0; j < k; ++j) (*out)[j] = z[j] / temp - mx - std::log(sum);
        };
        std::vector<double> ls, lt, l1;
        log_softmax(ps, T, &ls);
        log_softmax(pt, T, &lt);
        log_softmax(ps, 1, &l1);
        for (int64_t j = 0; j < k; ++j) kl += std::exp(lt[j]) * (lt[j] - ls[j]);
        ce -= l1[static_cast<size_t>(d.train.labels[i])];
    }
    const double expected = alpha * T * T * kl / n + (1 - alpha) * ce / n;
    TrainConfig c = frozen(n);
    c.distill.teacher = teacher;
    c.distill.temperature = T;
    c.distill.alpha = alpha;
    Graph g = student;
    const TrainResult r = train_graph(g, d, c).value();
    ASSERT_EQ(r.epochs.size(), 1u);
    EXPECT_NEAR(r.epochs[0].train_loss, expected, 1e-4 * expected);
    // Without the teacher the loss is the cross-entropy alone.
    TrainConfig plain = frozen(n);
    Graph g2 = student;
    EXPECT_NEAR(train_graph(g2, d, plain).value().epochs[0].train_loss, ce / n, 1e-4);
    // With a hint (here of weight 0) the teacher runs per batch instead of from the
    // logits cache: the same loss.
    TrainConfig h = c;
    h.distill.hints = {{value_of(teacher, "relu2"), value_of(student, "relu2")}};
    h.distill.hint_weight = 0;
    Graph g3 = student;
    EXPECT_NEAR(train_graph(g3, d, h).value().epochs[0].train_loss, expected, 1e-4 * expected);
}

TEST(Distill, HintsAddTheAdaptersError) {
    const DataSplits d = one_batch(32);
    const Graph teacher = lenet(7);
    ArchOptions wide;
    wide.width = 0.5;
    const Graph student = build_arch("lenet5", wide).value();
    TrainConfig c = frozen(32);
    c.distill.teacher = teacher;
    c.distill.alpha = 0.5;
    Graph a = student;
    const double base = train_graph(a, d, c).value().epochs[0].train_loss;
    // (N, 16, 7, 7) teacher features from (N, 8, 7, 7) student ones, and fc features.
    c.distill.hints = {{value_of(teacher, "relu2"), value_of(student, "relu2")},
                       {value_of(teacher, "relu4"), value_of(student, "relu4")}};
    c.distill.hint_weight = 10;
    Graph b = student;
    const Result<TrainResult> r = train_graph(b, d, c);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_GT(r.value().epochs[0].train_loss, base + 1e-3);
}

TEST(Distill, MismatchedTeachersAndUnknownHintsAreClearErrors) {
    const DataSplits d = one_batch(32);
    TrainConfig c = frozen(32);
    c.distill.teacher = lenet(7, 5);
    Graph g = lenet(1);
    Result<TrainResult> r = train_graph(g, d, c);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("the teacher has 5 classes and the student 10"),
              std::string::npos)
        << r.status().message();
    c.distill.teacher = lenet(7);
    c.distill.hints = {{"no_such_value", value_of(g, "relu2")}};
    r = train_graph(g, d, c);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("the teacher computes no value named \"no_such_value\""),
              std::string::npos)
        << r.status().message();
    c.distill.hints = {{value_of(g, "relu2"), "missing"}};
    r = train_graph(g, d, c);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("the student computes no value named \"missing\""),
              std::string::npos);
    c.distill.hints.clear();
    c.distill.temperature = 0;
    EXPECT_FALSE(train_graph(g, d, c).ok());
    c.distill.temperature = 4;
    c.distill.alpha = 1.5;
    EXPECT_FALSE(train_graph(g, d, c).ok());
}

}  // namespace
}  // namespace pare
