// The torchvision exports of the foundation issue can be trained: one SGD step
// through libtorch on a tiny 224x224 dataset, then libtorch's eval-mode logits
// and pare's runtime agree on the updated model.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>

#include "runtime/exec/session.h"
#include "tests/unit/test_util.h"
#include "toolkit/onnx/onnx_io.h"
#include "toolkit/train/trainer.h"

using namespace pare;

namespace {

Tensor uniform(Shape s, uint64_t seed) {
    Tensor t = Tensor::create(DType::kFloat32, s).value();
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> d(0, 1);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
    return t;
}

}  // namespace

class TrainableExport : public testing::TestWithParam<const char*> {};

TEST_P(TrainableExport, OneStepThenTorchAndRuntimeAgree) {
    Result<Graph> g =
        import_onnx_file(test::cached_model(std::string("torchvision/") + GetParam() + ".onnx"));
    ASSERT_TRUE(g.ok()) << g.status().message() << " (run make models)";
    DataSplits d;
    d.train.name = "tiny";
    d.train.images = uniform({4, 3, 224, 224}, 1);
    d.train.labels = {1, 7, 42, 999};
    d.train.num_classes = 1000;
    TrainConfig c;
    c.epochs = 1;
    c.batch = 2;
    c.max_steps = 1;
    c.lr = 0.01;
    c.progress = false;
    c.threads = 2;
    const Tensor before = g.value().initializers.begin()->second.clone();
    Result<TrainResult> r = train_graph(g.value(), d, c);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r.value().steps, 1);
    Tensor x = uniform({1, 3, 224, 224}, 2);
    Result<Tensor> torch = torch_forward(g.value(), x, 2);
    ASSERT_TRUE(torch.ok()) << torch.status().message();
    Result<Session> s = Session::prepare(g.value());
    ASSERT_TRUE(s.ok()) << s.status().message();
    TensorMap out;
    ASSERT_TRUE(s.value().run({{g.value().inputs[0].name, x}}, &out).ok());
    const Tensor& y = out.begin()->second;
    ASSERT_EQ(y.shape(), torch.value().shape());
    double num = 0, den = 0;
    for (int64_t i = 0; i < y.numel(); ++i) {
        const double e = y.data<float>()[i] - torch.value().data<float>()[i];
        num += e * e;
        den += static_cast<double>(y.data<float>()[i]) * y.data<float>()[i];
    }
    EXPECT_LT(std::sqrt(num / den), 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Torchvision, TrainableExport,
                         testing::Values("mobilenet_v2", "mobilenet_v3_small", "squeezenet1_1",
                                         "shufflenet_v2_x0_5", "efficientnet_b0", "resnet18"));
