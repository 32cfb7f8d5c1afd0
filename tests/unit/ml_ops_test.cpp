// The ai.onnx.ml ops: random ensembles and linear models, each run by the
// reference kernel, the fast kernel and ONNX Runtime (on the exported file), and
// the malformed ensembles that must be clear errors.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "runtime/exec/session.h"
#include "tests/unit/test_util.h"
#include "toolkit/onnx/onnx_io.h"
#include "toolkit/oracle/oracle.h"

namespace pare {
namespace {

using test::make_node;
using test::value;

// A random forest of `trees` trees up to `depth` deep over F features. Thresholds
// and features come from one small grid so that x == threshold happens (the
// comparison modes differ exactly there); mode "" mixes every branch mode.
struct RandomForest {
    int trees = 6, depth = 5, features = 7, targets = 4;
    std::string mode = "BRANCH_LEQ";
    bool missing = true;
    uint64_t seed = 1;
};

Attributes forest_attrs(const RandomForest& f, bool classifier) {
    std::mt19937_64 rng(f.seed);
    std::vector<int64_t> tid, nid, feat, yes, no, miss, wt, wn, wc;
    std::vector<float> val, wv;
    std::vector<std::string> modes;
    const char* kModes[] = {"BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE",
                            "BRANCH_GT",  "BRANCH_EQ", "BRANCH_NEQ"};
    for (int t = 0; t < f.trees; ++t) {
        // Breadth-first: node k's children are numbered as they are made.
        struct Pending {
            int64_t id;
            int depth;
        };
        std::vector<Pending> queue = {{0, 1}};
        int64_t next = 1;
        for (size_t q = 0; q < queue.size(); ++q) {
            const Pending p = queue[q];
            const bool leaf = p.depth >= f.depth || (p.depth > 2 && rng() % 4 == 0);
            tid.push_back(t);
            nid.push_back(p.id);
            if (leaf) {
                modes.push_back("LEAF");
                feat.push_back(0);
                val.push_back(0);
                yes.push_back(0);
                no.push_back(0);
                miss.push_back(0);
                for (int c = 0; c < f.targets; ++c) {
                    if (!classifier && rng() % 3 == 0) continue;
                    wt.push_back(t);
                    wn.push_back(p.id);
                    wc.push_back(c);
                    wv.push_back(static_cast<float>(static_cast<int>(rng() % 200) - 100) / 50.0f);
                }
            } else {
                modes.push_back(f.mode.empty() ? kModes[rng() % 6] : f.mode);
                feat.push_back(static_cast<int64_t>(rng() % f.features));
                val.push_back(static_cast<float>(static_cast<int>(rng() % 9) - 4) / 4.0f);
                yes.push_back(next);
                no.push_back(next + 1);
                miss.push_back(f.missing ? static_cast<int64_t>(rng() % 2) : 0);
                queue.push_back({next, p.depth + 1});
                queue.push_back({next + 1, p.depth + 1});
                next += 2;
            }
        }
    }
    Attributes a;
    a.set("nodes_treeids", Attribute::make_ints(tid));
    a.set("nodes_nodeids", Attribute::make_ints(nid));
    a.set("nodes_featureids", Attribute::make_ints(feat));
    a.set("nodes_values", Attribute::make_floats(val));
    a.set("nodes_modes", Attribute::make_strings(modes));
    a.set("nodes_truenodeids", Attribute::make_ints(yes));
    a.set("nodes_falsenodeids", Attribute::make_ints(no));
    a.set("nodes_missing_value_tracks_true", Attribute::make_ints(miss));
    const std::string p = classifier ? "class_" : "target_";
    a.set(p + "treeids", Attribute::make_ints(wt));
    a.set(p + "nodeids", Attribute::make_ints(wn));
    a.set(p + "ids", Attribute::make_ints(wc));
    a.set(p + "weights", Attribute::make_floats(wv));
    if (classifier) {
        std::vector<int64_t> labels;
        for (int c = 0; c < f.targets; ++c) labels.push_back(10 + 3 * c);
        a.set("classlabels_int64s", Attribute::make_ints(labels));
    } else {
        a.set("n_targets", Attribute::make_int(f.targets));
    }
    return a;
}

// Features on the thresholds' grid, some NaN.
Tensor grid_features(int64_t rows, int64_t features, uint64_t seed, bool nan) {
    Tensor t = Tensor::create(DType::kFloat32, {rows, features}).value();
    std::mt19937_64 rng(seed);
    for (int64_t i = 0; i < t.numel(); ++i) {
        t.data<float>()[i] = nan && rng() % 17 == 0
                                 ? NAN
                                 : static_cast<float>(static_cast<int>(rng() % 11) - 5) / 4.0f;
    }
    return t;
}

Graph one_node_graph(Node n, const std::vector<ValueInfo>& outputs, int64_t rows,
                     int64_t features) {
    Graph g;
    g.inputs = {value("X", DType::kFloat32, {rows, features})};
    g.outputs = outputs;
    g.nodes.push_back(std::move(n));
    return g;
}

// Runs g in pare (fast kernels, then reference kernels) and in ONNX Runtime on x;
// every output must agree: integers exactly, floats to 1e-5 relative.
void expect_all_agree(const Graph& g, const Tensor& x, const std::string& tag) {
    const std::filesystem::path dir = test::temp_dir("ml_ops");
    const std::string path = (dir / "m.onnx").string();
    ASSERT_TRUE(export_onnx_file(g, path).ok()) << export_onnx_file(g, path).message();
    Result<std::vector<Tensor>> ort = run_onnxruntime(path, {{"X", x}});
    ASSERT_TRUE(ort.ok()) << tag << ": " << ort.status().message();
    for (bool reference : {false, true}) {
        SessionOptions so;
        so.reference = reference;
        so.threads = 2;
        Result<Session> s = Session::prepare(g, so);
        ASSERT_TRUE(s.ok()) << s.status().message();
        if (!reference && (g.nodes[0].op == OpKind::kTreeEnsembleClassifier ||
                           g.nodes[0].op == OpKind::kTreeEnsembleRegressor)) {
            EXPECT_EQ(s.value().plan()[0].kernel.rfind("ml_tree_", 0), 0u)
                << s.value().plan()[0].kernel;
        }
        TensorMap out;
        ASSERT_TRUE(s.value().run({{"X", x}}, &out).ok());
        for (size_t k = 0; k < g.outputs.size(); ++k) {
            const Tensor& mine = out.at(g.outputs[k].name);
            const Tensor& theirs = ort.value()[k];
            ASSERT_EQ(mine.shape(), theirs.shape()) << tag << " output " << k;
            ASSERT_EQ(mine.dtype(), theirs.dtype()) << tag << " output " << k;
            if (mine.dtype() == DType::kInt64) {
                for (int64_t i = 0; i < mine.numel(); ++i)
                    ASSERT_EQ(mine.data<int64_t>()[i], theirs.data<int64_t>()[i])
                        << tag << " label " << i << (reference ? " (reference)" : " (fast)");
            } else {
                double max_abs = 0;
                Result<double> rel = relative_l2(mine, theirs, &max_abs);
                ASSERT_TRUE(rel.ok());
                EXPECT_LT(rel.value(), 1e-5) << tag << (reference ? " (reference)" : " (fast)");
            }
        }
    }
    std::filesystem::remove_all(dir);
}

TEST(MlOps, TreeEnsembleClassifierMatchesOnnxRuntime) {
    struct Case {
        std::string mode, post;
        bool base;
    };
    for (const Case& c : std::vector<Case>{{"BRANCH_LEQ", "NONE", false},
                                           {"BRANCH_LT", "SOFTMAX", true},
                                           {"", "LOGISTIC", false},
                                           {"BRANCH_GTE", "SOFTMAX_ZERO", true}}) {
        RandomForest f;
        f.mode = c.mode;
        f.seed = 7 + c.mode.size();
        Attributes a = forest_attrs(f, true);
        a.set("post_transform", Attribute::make_string(c.post));
        if (c.base) a.set("base_values", Attribute::make_floats({0.5f, -0.25f, 0.0f, 1.0f}));
        const int64_t rows = 77;  // three row blocks, the last one partial
        Graph g = one_node_graph(make_node("TreeEnsembleClassifier", {"X"}, {"label", "probs"}, a),
                                 {value("label", DType::kInt64, {rows}),
                                  value("probs", DType::kFloat32, {rows, f.targets})},
                                 rows, f.features);
        expect_all_agree(g, grid_features(rows, f.features, 3, true), c.mode + "/" + c.post);
    }
}

TEST(MlOps, TreeEnsembleRegressorMatchesOnnxRuntime) {
    for (const char* agg : {"SUM", "AVERAGE", "MIN", "MAX"}) {
        RandomForest f;
        f.mode = "BRANCH_GT";
        f.targets = 3;
        f.seed = 11;
        Attributes a = forest_attrs(f, false);
        a.set("aggregate_function", Attribute::make_string(agg));
        a.set("base_values", Attribute::make_floats({0.1f, 0.2f, -0.3f}));
        const int64_t rows = 40;
        Graph g =
            one_node_graph(make_node("TreeEnsembleRegressor", {"X"}, {"y"}, a),
                           {value("y", DType::kFloat32, {rows, f.targets})}, rows, f.features);
        expect_all_agree(g, grid_features(rows, f.features, 5, false), agg);
    }
}

TEST(MlOps, LinearScalerNormalizerFeatureExtractorMatchOnnxRuntime) {
    const int64_t rows = 9, F = 5, C = 3;
    const Tensor x = test::random_tensor({rows, F}, 21, -2, 2);
    std::vector<float> coef(static_cast<size_t>(C * F));
    for (size_t i = 0; i < coef.size(); ++i) coef[i] = std::sin(static_cast<float>(i));
    {
        Attributes a;
        a.set("coefficients", Attribute::make_floats(coef));
        a.set("intercepts", Attribute::make_floats({0.1f, -0.2f, 0.3f}));
        a.set("classlabels_ints", Attribute::make_ints({4, 5, 6}));
        for (const char* post : {"NONE", "SOFTMAX", "LOGISTIC"}) {
            a.set("post_transform", Attribute::make_string(post));
            Graph g = one_node_graph(
                make_node("LinearClassifier", {"X"}, {"label", "probs"}, a),
                {value("label", DType::kInt64, {rows}), value("probs", DType::kFloat32, {rows, C})},
                rows, F);
            expect_all_agree(g, x, std::string("LinearClassifier ") + post);
        }
    }
    {
        Attributes a;
        a.set("coefficients", Attribute::make_floats(coef));
        a.set("intercepts", Attribute::make_floats({1.0f, 2.0f, 3.0f}));
        a.set("targets", Attribute::make_int(C));
        Graph g = one_node_graph(make_node("LinearRegressor", {"X"}, {"y"}, a),
                                 {value("y", DType::kFloat32, {rows, C})}, rows, F);
        expect_all_agree(g, x, "LinearRegressor");
    }
    {
        Attributes a;
        a.set("offset", Attribute::make_floats({0.5f, 0, 1, -1, 2}));
        a.set("scale", Attribute::make_floats({2.0f, 1, 0.5f, -1, 3}));
        Graph g = one_node_graph(make_node("Scaler", {"X"}, {"y"}, a),
                                 {value("y", DType::kFloat32, {rows, F})}, rows, F);
        expect_all_agree(g, x, "Scaler");
    }
    for (const char* norm : {"MAX", "L1", "L2"}) {
        Attributes a;
        a.set("norm", Attribute::make_string(norm));
        Graph g = one_node_graph(make_node("Normalizer", {"X"}, {"y"}, a),
                                 {value("y", DType::kFloat32, {rows, F})}, rows, F);
        expect_all_agree(g, x, std::string("Normalizer ") + norm);
    }
    {
        Graph g = one_node_graph(make_node("ArrayFeatureExtractor", {"X", "idx"}, {"y"}),
                                 {value("y", DType::kFloat32, {rows, 3})}, rows, F);
        g.initializers["idx"] = Tensor::from_vector<int64_t>({4, 0, 4}, {3});
        expect_all_agree(g, x, "ArrayFeatureExtractor");
    }
}

// Each malformed ensemble: prepare fails with a message naming the problem.
TEST(MlOps, MalformedEnsemblesAreClearErrors) {
    struct Case {
        std::string what, expect;
        void (*edit)(Attributes&);
    };
    const std::vector<Case> cases = {
        {"a child outside the tree", "does not have",
         [](Attributes& a) {
             auto v = a.get_ints("nodes_truenodeids");
             v[0] = 999;
             a.set("nodes_truenodeids", Attribute::make_ints(v));
         }},
        {"a cycle", "parents",
         [](Attributes& a) {
             auto v = a.get_ints("nodes_falsenodeids");
             v[0] = 1;  // both children of the root are node 1
             a.set("nodes_falsenodeids", Attribute::make_ints(v));
         }},
        {"lengths differ", "differ in length",
         [](Attributes& a) { a.set("nodes_values", Attribute::make_floats({1.0f})); }},
        {"a class id out of range", "outside [0, 4)",
         [](Attributes& a) {
             auto v = a.get_ints("class_ids");
             v[0] = 4;
             a.set("class_ids", Attribute::make_ints(v));
         }},
        {"an unknown mode", "unknown nodes_modes",
         [](Attributes& a) {
             std::vector<std::string> m = a.map().at("nodes_modes").strings;
             m[0] = "BRANCH_SOMETIMES";
             a.set("nodes_modes", Attribute::make_strings(m));
         }},
        {"PROBIT", "PROBIT",
         [](Attributes& a) { a.set("post_transform", Attribute::make_string("PROBIT")); }},
        {"string labels", "classlabels_strings",
         [](Attributes& a) {
             a.erase("classlabels_int64s");
             a.set("classlabels_strings", Attribute::make_strings({"a", "b", "c", "d"}));
         }},
    };
    RandomForest f;
    for (const Case& c : cases) {
        Attributes a = forest_attrs(f, true);
        c.edit(a);
        Graph g = one_node_graph(
            make_node("TreeEnsembleClassifier", {"X"}, {"label", "probs"}, a),
            {value("label", DType::kInt64, {2}), value("probs", DType::kFloat32, {2, f.targets})},
            2, f.features);
        Result<Session> s = Session::prepare(g);
        ASSERT_FALSE(s.ok()) << c.what;
        EXPECT_NE(s.status().message().find(c.expect), std::string::npos)
            << c.what << ": " << s.status().message();
    }
    // Too few features for the trees.
    Graph g = one_node_graph(
        make_node("TreeEnsembleClassifier", {"X"}, {"label", "probs"}, forest_attrs(f, true)),
        {value("label", DType::kInt64, {2}), value("probs", DType::kFloat32, {2, f.targets})}, 2,
        2);
    Result<Session> s = Session::prepare(g);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.status().message().find("the trees read feature"), std::string::npos)
        << s.status().message();
}

}  // namespace
}  // namespace pare
