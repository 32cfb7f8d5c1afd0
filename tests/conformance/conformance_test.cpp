// ONNX backend conformance: every case of Debian's libonnx-testdata (node,
// pytorch-converted, pytorch-operator, simple) whose ops pare supports runs in
// pare's runtime and is compared with the stored outputs (rtol 1e-3, atol 1e-5
// for floats; exact for integers and bools). A case of a supported op either
// passes or is listed in exclusions.txt with a reason; excluded cases show as
// skipped, never as passed. Cases that use an op pare does not support are
// counted and listed in the summary, not run; so are cases whose tensors use a
// dtype outside pare's set (float32, float16, int8, uint8, int32, int64, bool) or
// whose opset is outside the importer's range.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "runtime/exec/session.h"
#include "toolkit/onnx/onnx_io.h"

namespace fs = std::filesystem;
using namespace pare;

namespace {

const char* kDataRoot = "/usr/share/libonnx-testdata/data";
const char* kFolders[] = {"node", "pytorch-converted", "pytorch-operator", "simple"};

std::string slurp(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

std::map<std::string, std::string>& exclusions() {
    static std::map<std::string, std::string> m = [] {
        std::map<std::string, std::string> r;
        std::ifstream f(std::string(PARE_SOURCE_DIR) + "/tests/conformance/exclusions.txt");
        std::string line;
        while (std::getline(f, line)) {
            if (line.empty() || line[0] == '#') continue;
            const size_t hash = line.find('#');
            std::string name = line.substr(0, line.find_first_of(" \t#"));
            r[name] = hash == std::string::npos ? "" : line.substr(hash + 1);
        }
        return r;
    }();
    return m;
}

struct Case {
    std::string id;  // folder/test_name
    fs::path dir;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.id; }

struct Enumeration {
    std::vector<Case> runnable;
    std::map<std::string, int> unsupported_ops;  // op -> cases skipped for it
    int unsupported_cases = 0;
};

Enumeration& enumeration() {
    static Enumeration e = [] {
        Enumeration r;
        for (const char* folder : kFolders) {
            const fs::path root = fs::path(kDataRoot) / folder;
            if (!fs::exists(root)) continue;
            std::vector<fs::path> dirs;
            for (const auto& d : fs::directory_iterator(root)) dirs.push_back(d.path());
            std::sort(dirs.begin(), dirs.end());
            for (const auto& d : dirs) {
                if (!fs::exists(d / "model.onnx")) continue;
                Result<OnnxSummary> sum = scan_onnx_model(slurp(d / "model.onnx"), d.string());
                std::string missing;
                if (sum.ok()) {
                    for (const auto& op : sum.value().ops) {
                        if (op != "Constant" && op != "Upsample" &&
                            op_from_name(op, "") == OpKind::kUnknown) {
                            missing = op;
                        }
                    }
                    if (missing.empty() && !sum.value().unsupported_types.empty()) {
                        const int32_t t = sum.value().unsupported_types[0];
                        missing = t < 0 ? std::string("(non-tensor values)")
                                        : "(dtype " + std::to_string(t) + ")";
                    }
                    if (missing.empty() && (sum.value().opset < min_supported_opset() ||
                                            sum.value().opset > max_supported_opset())) {
                        missing = "(opset " + std::to_string(sum.value().opset) + ")";
                    }
                }
                if (!missing.empty()) {
                    ++r.unsupported_ops[missing];
                    ++r.unsupported_cases;
                    continue;
                }
                r.runnable.push_back({std::string(folder) + "/" + d.filename().string(), d});
            }
        }
        return r;
    }();
    return e;
}

std::string case_name(const testing::TestParamInfo<Case>& info) {
    std::string s = info.param.id;
    for (char& c : s) {
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    }
    return s;
}

class Conformance : public testing::TestWithParam<Case> {};

TEST_P(Conformance, MatchesStoredOutputs) {
    const Case& c = GetParam();
    const std::string name = c.dir.filename().string();
    auto ex = exclusions().find(name);
    if (ex == exclusions().end()) ex = exclusions().find(c.id);
    if (ex != exclusions().end()) GTEST_SKIP() << "excluded:" << ex->second;

    Result<Graph> g = import_onnx_file((c.dir / "model.onnx").string());
    ASSERT_TRUE(g.ok()) << g.status().message();
    // Bind input shapes to the first data set's shapes (the models may leave them open).
    Result<Session> s = Session::prepare(g.value());
    ASSERT_TRUE(s.ok()) << s.status().message();
    const Graph& sg = s.value().graph();
    int sets = 0;
    for (int k = 0;; ++k) {
        const fs::path set = c.dir / ("test_data_set_" + std::to_string(k));
        if (!fs::exists(set)) break;
        ++sets;
        TensorMap inputs, outputs;
        for (size_t i = 0; i < sg.inputs.size(); ++i) {
            const fs::path p = set / ("input_" + std::to_string(i) + ".pb");
            ASSERT_TRUE(fs::exists(p)) << p;
            Result<Tensor> t = tensor_from_onnx_bytes(slurp(p), p.string());
            ASSERT_TRUE(t.ok()) << t.status().message();
            inputs[sg.inputs[i].name] = t.value();
        }
        Status st = s.value().run(inputs, &outputs);
        ASSERT_TRUE(st.ok()) << st.message();
        for (size_t o = 0; o < sg.outputs.size(); ++o) {
            const fs::path p = set / ("output_" + std::to_string(o) + ".pb");
            ASSERT_TRUE(fs::exists(p)) << p;
            Result<Tensor> want = tensor_from_onnx_bytes(slurp(p), p.string());
            ASSERT_TRUE(want.ok()) << want.status().message();
            const Tensor& got = outputs.at(sg.outputs[o].name);
            ASSERT_EQ(got.dtype(), want.value().dtype()) << "output " << o;
            ASSERT_EQ(shape_str(got.shape()), shape_str(want.value().shape())) << "output " << o;
            int bad = 0;
            int64_t first = -1;
            for (int64_t i = 0; i < got.numel(); ++i) {
                const double a = got.at_double(i), b = want.value().at_double(i);
                bool ok;
                if (dtype_is_float(got.dtype())) {
                    ok = (std::isnan(a) && std::isnan(b)) || a == b ||
                         std::fabs(a - b) <= 1e-5 + 1e-3 * std::fabs(b);
                } else if (got.dtype() == DType::kInt64) {
                    ok = got.data<int64_t>()[i] == want.value().data<int64_t>()[i];
                } else {
                    ok = a == b;
                }
                if (!ok && bad++ == 0) first = i;
            }
            EXPECT_EQ(bad, 0) << "output " << o << ": " << bad << " of " << got.numel()
                              << " values differ; first at " << first << ": got "
                              << got.at_double(first) << ", want " << want.value().at_double(first);
        }
    }
    EXPECT_GT(sets, 0) << "no test data sets";
}

INSTANTIATE_TEST_SUITE_P(OnnxBackend, Conformance, testing::ValuesIn(enumeration().runnable),
                         case_name);

// The exclusion list may only name cases that exist and are runnable, each with a reason.
TEST(ConformanceExclusions, EveryEntryIsRunnableAndHasAReason) {
    std::set<std::string> names;
    for (const auto& c : enumeration().runnable) {
        names.insert(c.dir.filename().string());
        names.insert(c.id);
    }
    for (const auto& kv : exclusions()) {
        EXPECT_TRUE(names.count(kv.first)) << kv.first << " is not a runnable case";
        EXPECT_GT(kv.second.find_first_not_of(" \t"), static_cast<size_t>(0)) << kv.first;
        EXPECT_NE(kv.second.find_first_not_of(" \t"), std::string::npos)
            << kv.first << " has no reason";
    }
}

class SummaryPrinter : public testing::EmptyTestEventListener {
    void OnTestProgramEnd(const testing::UnitTest&) override {
        const Enumeration& e = enumeration();
        std::printf(
            "conformance: %zu cases of supported ops (%zu excluded with a reason), %d cases need "
            "ops, "
            "dtypes or opsets pare does not support:",
            e.runnable.size(), exclusions().size(), e.unsupported_cases);
        for (const auto& kv : e.unsupported_ops)
            std::printf(" %s(%d)", kv.first.c_str(), kv.second);
        std::printf("\n");
    }
};

}  // namespace

int main(int argc, char** argv) {
    testing::InitGoogleTest(&argc, argv);
    testing::UnitTest::GetInstance()->listeners().Append(new SummaryPrinter);
    if (enumeration().runnable.empty()) {
        std::fprintf(stderr, "no conformance data under %s: install libonnx-testdata (make deps)\n",
                     kDataRoot);
        return 1;
    }
    return RUN_ALL_TESTS();
}
