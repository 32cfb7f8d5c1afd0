// The gradient-boosted head: trained by libxgboost (Debian's libxgboost-dev, C API),
// then read back from its JSON model and written as a TreeEnsembleClassifier.
//
// XGBoost sends x left when x < split_condition and a missing value (NaN) along
// default_left; a leaf's value is in split_conditions. Tree t adds to class
// tree_info[t]; the margin starts at base_score; multi:softprob applies softmax.
// So: BRANCH_LT with the true branch left, missing_value_tracks_true =
// default_left, base_values = base_score, post_transform SOFTMAX.
#include <xgboost/c_api.h>

#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <string>

#include "toolkit/hybrid/hybrid.h"

namespace pare {

namespace {

Status xgb_check(int rc, const char* what) {
    if (rc == 0) return Status();
    return internal_error(std::string("xgboost ") + what + ": " + XGBGetLastError());
}

struct DMatrix {
    DMatrixHandle h = nullptr;
    ~DMatrix() {
        if (h) XGDMatrixFree(h);
    }
};
struct Booster {
    BoosterHandle h = nullptr;
    ~Booster() {
        if (h) XGBoosterFree(h);
    }
};

Status make_dmatrix(const Tensor& x, const std::vector<int64_t>& y, DMatrix* m) {
    if (x.rank() != 2 || x.dtype() != DType::kFloat32)
        return invalid_argument("features must be float32 [N, F], got " + shape_str(x.shape()));
    if (x.shape()[0] != static_cast<int64_t>(y.size()))
        return invalid_argument(std::to_string(x.shape()[0]) + " feature rows for " +
                                std::to_string(y.size()) + " labels");
    PARE_RETURN_IF_ERROR(
        xgb_check(XGDMatrixCreateFromMat(x.data<float>(), static_cast<bst_ulong>(x.shape()[0]),
                                         static_cast<bst_ulong>(x.shape()[1]), NAN, &m->h),
                  "DMatrix"));
    std::vector<float> labels(y.begin(), y.end());
    return xgb_check(
        XGDMatrixSetFloatInfo(m->h, "label", labels.data(), static_cast<bst_ulong>(labels.size())),
        "labels");
}

// "[12]\tval-merror:0.08420" -> 0.0842
double parse_eval(const char* s) {
    const char* colon = std::strrchr(s, ':');
    return colon ? std::atof(colon + 1) : NAN;
}

float json_float(const nlohmann::json& v) {
    return v.is_string() ? std::stof(v.get<std::string>()) : v.get<float>();
}

// The JSON model as a TreeEnsembleClassifier node reading "X".
Result<Node> ensemble_from_json(const std::string& text, int64_t classes, int64_t features) {
    Node n;
    n.name = "head_trees";
    n.op_type = "TreeEnsembleClassifier";
    n.domain = kMlDomain;
    n.inputs = {"X"};
    n.outputs = {"head_label", "head_probabilities"};
    try {
        const nlohmann::json j = nlohmann::json::parse(text);
        const auto& learner = j.at("learner");
        const float base = json_float(learner.at("learner_model_param").at("base_score"));
        const auto& model = learner.at("gradient_booster").at("model");
        const auto& trees = model.at("trees");
        const auto& info = model.at("tree_info");
        std::vector<int64_t> tid, nid, feat, yes, no, miss, ct, cn, cc;
        std::vector<float> val, cw;
        std::vector<std::string> modes;
        for (size_t t = 0; t < trees.size(); ++t) {
            const auto& tr = trees[t];
            const auto left = tr.at("left_children").get<std::vector<int64_t>>();
            const auto right = tr.at("right_children").get<std::vector<int64_t>>();
            const auto split = tr.at("split_indices").get<std::vector<int64_t>>();
            const auto& cond = tr.at("split_conditions");
            const auto& dflt = tr.at("default_left");
            const int64_t cls = info.at(t).get<int64_t>();
            if (cls < 0 || cls >= classes) return internal_error("tree class out of range");
            for (size_t i = 0; i < left.size(); ++i) {
                tid.push_back(static_cast<int64_t>(t));
                nid.push_back(static_cast<int64_t>(i));
                const float c = json_float(cond.at(i));
                if (left[i] < 0) {
                    modes.push_back("LEAF");
                    feat.push_back(0);
                    val.push_back(0);
                    yes.push_back(0);
                    no.push_back(0);
                    miss.push_back(0);
                    ct.push_back(static_cast<int64_t>(t));
                    cn.push_back(static_cast<int64_t>(i));
                    cc.push_back(cls);
                    cw.push_back(c);
                } else {
                    if (split.at(i) < 0 || split.at(i) >= features)
                        return internal_error("split on feature " + std::to_string(split.at(i)));
                    modes.push_back("BRANCH_LT");
                    feat.push_back(split.at(i));
                    val.push_back(c);
                    yes.push_back(left[i]);
                    no.push_back(right.at(i));
                    const auto& d = dflt.at(i);
                    miss.push_back(d.is_boolean() ? d.get<bool>() : d.get<int64_t>() != 0);
                }
            }
        }
        n.attrs.set("nodes_treeids", Attribute::make_ints(tid));
        n.attrs.set("nodes_nodeids", Attribute::make_ints(nid));
        n.attrs.set("nodes_featureids", Attribute::make_ints(feat));
        n.attrs.set("nodes_values", Attribute::make_floats(val));
        n.attrs.set("nodes_modes", Attribute::make_strings(modes));
        n.attrs.set("nodes_truenodeids", Attribute::make_ints(yes));
        n.attrs.set("nodes_falsenodeids", Attribute::make_ints(no));
        n.attrs.set("nodes_missing_value_tracks_true", Attribute::make_ints(miss));
        n.attrs.set("class_treeids", Attribute::make_ints(ct));
        n.attrs.set("class_nodeids", Attribute::make_ints(cn));
        n.attrs.set("class_ids", Attribute::make_ints(cc));
        n.attrs.set("class_weights", Attribute::make_floats(cw));
        std::vector<int64_t> labels(static_cast<size_t>(classes));
        for (int64_t c = 0; c < classes; ++c) labels[static_cast<size_t>(c)] = c;
        n.attrs.set("classlabels_int64s", Attribute::make_ints(labels));
        n.attrs.set("base_values",
                    Attribute::make_floats(std::vector<float>(static_cast<size_t>(classes), base)));
        n.attrs.set("post_transform", Attribute::make_string("SOFTMAX"));
    } catch (const std::exception& e) {
        return internal_error(std::string("reading xgboost's JSON model: ") + e.what());
    }
    return n;
}

}  // namespace

Result<BoostResult> train_xgboost_head(const Tensor& train_x, const std::vector<int64_t>& train_y,
                                       const Tensor& val_x, const std::vector<int64_t>& val_y,
                                       int64_t classes, const BoostOptions& o,
                                       const std::function<void(int, double)>& progress) {
    if (classes < 2) return invalid_argument("need at least two classes");
    if (o.rounds < 1 || o.depth < 1 || o.eta <= 0)
        return invalid_argument("boosting needs rounds >= 1, depth >= 1 and eta > 0");
    if (val_x.rank() != 2 || train_x.rank() != 2 || val_x.shape()[1] != train_x.shape()[1])
        return invalid_argument("training features " + shape_str(train_x.shape()) +
                                " and validation features " + shape_str(val_x.shape()) +
                                " do not match");
    for (const auto* ys : {&train_y, &val_y}) {
        for (int64_t y : *ys) {
            if (y < 0 || y >= classes)
                return invalid_argument("label " + std::to_string(y) + " outside [0, " +
                                        std::to_string(classes) + ")");
        }
    }
    const auto t0 = std::chrono::steady_clock::now();
    DMatrix train, val;
    PARE_RETURN_IF_ERROR(make_dmatrix(train_x, train_y, &train));
    PARE_RETURN_IF_ERROR(make_dmatrix(val_x, val_y, &val));
    Booster b;
    DMatrixHandle both[] = {train.h, val.h};
    PARE_RETURN_IF_ERROR(xgb_check(XGBoosterCreate(both, 2, &b.h), "booster"));
    const std::vector<std::pair<std::string, std::string>> params = {
        {"objective", "multi:softprob"},
        {"num_class", std::to_string(classes)},
        {"max_depth", std::to_string(o.depth)},
        {"eta", std::to_string(o.eta)},
        {"subsample", std::to_string(o.subsample)},
        {"colsample_bytree", std::to_string(o.colsample)},
        {"lambda", std::to_string(o.lambda)},
        {"tree_method", "hist"},
        {"nthread", std::to_string(std::max(1, o.threads))},
        {"seed", std::to_string(o.seed)},
        {"eval_metric", "merror"},
        {"verbosity", "0"},
    };
    for (const auto& kv : params)
        PARE_RETURN_IF_ERROR(
            xgb_check(XGBoosterSetParam(b.h, kv.first.c_str(), kv.second.c_str()), "parameter"));
    BoostResult r;
    double best = INFINITY;
    int best_round = 0;
    for (int it = 0; it < o.rounds; ++it) {
        PARE_RETURN_IF_ERROR(xgb_check(XGBoosterUpdateOneIter(b.h, it, train.h), "training"));
        const char* names[] = {"val"};
        const char* out = nullptr;
        PARE_RETURN_IF_ERROR(
            xgb_check(XGBoosterEvalOneIter(b.h, it, &val.h, names, 1, &out), "evaluation"));
        const double err = parse_eval(out);
        if (progress) progress(it + 1, err);
        if (err < best) best = err, best_round = it + 1;
        if (o.early_stopping > 0 && it + 1 - best_round >= o.early_stopping) break;
    }
    Booster kept;
    BoosterHandle use = b.h;
    if (best_round > 0 && o.early_stopping > 0) {
        PARE_RETURN_IF_ERROR(xgb_check(XGBoosterSlice(b.h, 0, best_round, 1, &kept.h), "slice"));
        use = kept.h;
        r.rounds = best_round;
    } else {
        r.rounds = o.rounds;
    }
    r.val_error = best;
    bst_ulong len = 0;
    const char* buf = nullptr;
    PARE_RETURN_IF_ERROR(
        xgb_check(XGBoosterSaveModelToBuffer(use, "{\"format\": \"json\"}", &len, &buf), "save"));
    PARE_ASSIGN_OR_RETURN(r.head,
                          ensemble_from_json(std::string(buf, len), classes, train_x.shape()[1]));
    const float* margins = nullptr;
    PARE_RETURN_IF_ERROR(
        xgb_check(XGBoosterPredict(use, val.h, 1, 0, 0, &len, &margins), "predict"));
    r.margins.assign(margins, margins + len);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
}

}  // namespace pare
