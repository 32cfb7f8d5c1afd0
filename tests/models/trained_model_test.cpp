// Models trained by pare: the exported ONNX loads in ONNX Runtime and predicts the
// same class as pare's runtime on at least 99.9% of the Fashion-MNIST test set; and
// the checked-in models of models/README.md still have the accuracy recorded there.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "toolkit/arch/zoo.h"
#include "toolkit/oracle/oracle.h"
#include "toolkit/report/evaluate.h"
#include "toolkit/report/model_stats.h"
#include "toolkit/train/trainer.h"

using namespace pare;
namespace fs = std::filesystem;

namespace {

int64_t argmax_row(const Tensor& logits, int64_t i) {
    const int64_t K = logits.shape()[1];
    const float* l = logits.data<float>() + i * K;
    return std::max_element(l, l + K) - l;
}

}  // namespace

TEST(TrainedModel, OnnxRuntimeAgreesWithPareOnTheTestSet) {
    DataOptions o;
    o.train_limit = 3000;
    DataSplits d = load_data("fashion-mnist", o).value();
    Graph g = build_arch("lenet5", {}).value();
    TrainConfig c;
    c.epochs = 2;
    c.batch = 32;
    c.progress = false;
    ASSERT_TRUE(train_graph(g, d, c).ok());
    const std::string path =
        (fs::temp_directory_path() / ("pare-lenet-" + std::to_string(::getpid()) + ".onnx"))
            .string();
    ASSERT_TRUE(export_onnx_file(g, path).ok());
    Result<Graph> back = import_onnx_file(path);
    ASSERT_TRUE(back.ok()) << back.status().message();
    Result<EvalReport> pare = evaluate(back.value(), d.test);
    ASSERT_TRUE(pare.ok()) << pare.status().message();
    EXPECT_GT(pare.value().top1, 0.75);
    Result<std::vector<Tensor>> ort = run_onnxruntime(path, {{"input", d.test.images}});
    ASSERT_TRUE(ort.ok()) << ort.status().message();
    ASSERT_EQ(ort.value().size(), 1u);
    ASSERT_EQ(ort.value()[0].shape(), (Shape{10000, 10}));
    int64_t same = 0;
    for (int64_t i = 0; i < 10000; ++i)
        same += argmax_row(ort.value()[0], i) == pare.value().predictions[i];
    std::printf("  ONNX Runtime and pare agree on %lld of 10000 test images\n",
                static_cast<long long>(same));
    EXPECT_GE(same, 9990);
    fs::remove(path);
}

// models/README.md lists checked-in models as "| file | ... | top-1 % |" rows
// between the markers; each is re-measured with pare's runtime.
TEST(TrainedModel, CheckedInModelsKeepTheirRecordedAccuracy) {
    std::ifstream f(std::string(PARE_SOURCE_DIR) + "/models/README.md");
    if (!f.good()) GTEST_SKIP() << "no checked-in models yet";
    std::string line;
    bool in_table = false;
    int checked = 0;
    DataSplits d = load_data("fashion-mnist", {}).value();
    while (std::getline(f, line)) {
        if (line.find("<!-- models -->") != std::string::npos) in_table = true;
        if (line.find("<!-- /models -->") != std::string::npos) in_table = false;
        if (!in_table || line.rfind("| models/", 0) != 0) continue;
        std::vector<std::string> cells;
        std::stringstream ss(line.substr(1));
        std::string cell;
        while (std::getline(ss, cell, '|')) {
            cell.erase(0, cell.find_first_not_of(' '));
            cell.erase(cell.find_last_not_of(' ') + 1);
            cells.push_back(cell);
        }
        ASSERT_GE(cells.size(), 2u) << line;
        const std::string file = std::string(PARE_SOURCE_DIR) + "/" + cells[0];
        const double recorded = std::stod(cells.back().substr(0, cells.back().find('%')));
        SCOPED_TRACE(cells[0]);
        Result<Graph> g = import_onnx_file(file);
        ASSERT_TRUE(g.ok()) << g.status().message();
        Result<EvalReport> r = evaluate(g.value(), d.test);
        ASSERT_TRUE(r.ok()) << r.status().message();
        std::printf("  %s: top-1 %.2f%% (recorded %.2f%%)\n", cells[0].c_str(),
                    100 * r.value().top1, recorded);
        EXPECT_NEAR(100 * r.value().top1, recorded, 0.005);
        ++checked;
    }
    EXPECT_GT(checked, 0) << "models/README.md lists no models";
}

// Issue 7's distillation target on the checked-in students (`make distill`):
// students at least 10x smaller than their teacher, trained with and without it
// (same seeds); distillation gains at least 0.5 points of top-1 on average.
TEST(TrainedModel, DistilledStudentsBeatTheSameStudentsTrainedWithoutTheTeacher) {
    const std::string dir = std::string(PARE_SOURCE_DIR) + "/models/";
    DataSplits d = load_data("fashion-mnist", {}).value();
    auto weights = [](const Graph& g) { return compute_stats(g).parameters; };
    const Graph teacher = import_onnx_file(dir + "teacher_resnet20_nols.onnx").value();
    double gain = 0;
    for (int seed : {1, 2}) {
        const std::string s = std::to_string(seed);
        const Graph distilled =
            import_onnx_file(dir + "student_resnet8_distilled_seed" + s + ".onnx").value();
        const Graph plain =
            import_onnx_file(dir + "student_resnet8_plain_seed" + s + ".onnx").value();
        EXPECT_GE(weights(teacher), 10 * weights(distilled));
        EXPECT_EQ(weights(plain), weights(distilled));
        const double a = 100 * evaluate(distilled, d.test).value().top1;
        const double b = 100 * evaluate(plain, d.test).value().top1;
        std::printf("  seed %d: plain %.2f%%, distilled %.2f%% (%+.2f)\n", seed, b, a, a - b);
        gain += (a - b) / 2;
    }
    EXPECT_GE(gain, 0.5);
}
