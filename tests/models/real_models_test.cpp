// Every real model of tools/models.txt runs in pare's runtime and in ONNX Runtime
// on the same seeded inputs; every output must agree to a relative L2 error of at
// most 1e-4. A missing model is a failure (make models fetches them), never a skip.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "tests/unit/test_util.h"
#include "toolkit/oracle/oracle.h"

using namespace pare;

namespace {

struct ModelCase {
    std::string path;
    std::string shape;  // "" or name=d0,d1,...
    InputPattern pattern = InputPattern::kUniform;
};

void PrintTo(const ModelCase& c, std::ostream* os) { *os << c.path; }

std::vector<ModelCase> model_cases() {
    std::vector<ModelCase> r;
    std::ifstream f(std::string(PARE_SOURCE_DIR) + "/tools/models.txt");
    std::string line;
    while (std::getline(f, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::stringstream ss(line);
        ModelCase c;
        ss >> c.path;
        std::string tok;
        while (ss >> tok) {
            if (tok == "--inputs") {
                ss >> tok;
                c.pattern = tok == "page" ? InputPattern::kPage : InputPattern::kUniform;
            } else {
                c.shape = tok;
            }
        }
        r.push_back(c);
    }
    return r;
}

std::string case_name(const testing::TestParamInfo<ModelCase>& info) {
    std::string s = info.param.path.substr(info.param.path.rfind('/') + 1);
    s = s.substr(0, s.rfind('.'));
    for (char& ch : s) {
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
    }
    return s;
}

class RealModel : public testing::TestWithParam<ModelCase> {};

TEST_P(RealModel, MatchesOnnxRuntime) {
    const ModelCase& c = GetParam();
    const std::string path = test::cached_model(c.path);
    ASSERT_TRUE(std::ifstream(path).good()) << path << " is missing: run make models";
    const ImportOptions import =
        input_shape_options(c.shape.empty() ? std::vector<std::string>{} : std::vector{c.shape})
            .value();
    OracleOptions opt;
    opt.pattern = c.pattern;
    Result<OracleReport> r = compare_with_onnxruntime(path, import, opt);
    ASSERT_TRUE(r.ok()) << r.status().message();
    ASSERT_FALSE(r.value().outputs.empty());
    for (const auto& o : r.value().outputs) {
        EXPECT_LE(o.rel_l2, 1e-4) << "output " << o.name << " " << shape_str(o.shape);
    }
    std::printf("  %-46s outputs %zu  worst relative L2 %.2e\n", c.path.c_str(),
                r.value().outputs.size(), r.value().worst_rel_l2);
}

INSTANTIATE_TEST_SUITE_P(Cache, RealModel, testing::ValuesIn(model_cases()), case_name);

// The oracle's comparison must be able to fail: a perturbed output is caught.
TEST(Oracle, RelativeL2DetectsADifference) {
    Tensor a = Tensor::from_vector<float>({1, 2, 3, 4}, {4});
    Tensor b = a.clone();
    EXPECT_EQ(relative_l2(a, b).value(), 0.0);
    b.data<float>()[2] += 0.01f;
    EXPECT_NEAR(relative_l2(b, a).value(), 0.01 / std::sqrt(30.0), 1e-7);
    EXPECT_FALSE(relative_l2(a, Tensor::from_vector<float>({1, 2}, {2})).ok());
}

}  // namespace
