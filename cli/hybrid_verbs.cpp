// pare hybrid: a backbone cut at a block boundary provides features, a classical
// head (boosted trees from libxgboost, or logistic regression fitted by the
// trainer) decides; one ONNX graph out. --cut auto tries several cuts and reports
// validation accuracy against latency for each.
// pare cascade: a small model answers the inputs it is sure of, the large one the
// rest, in one ONNX graph with an If; the threshold tuned on the validation split.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "cli/cli.h"
#include "runtime/ir/passes/passes.h"
#include "toolkit/data/dataset.h"
#include "toolkit/hybrid/cascade.h"
#include "toolkit/hybrid/hybrid.h"
#include "toolkit/report/evaluate.h"

namespace pare::cli {

namespace {

struct HybridFlags {
    std::string backbone, cut = "auto", head = "xgboost", data = "fashion-mnist", out;
    bool list_cuts = false;
    int64_t pool = 1;
    int auto_cuts = 4;
    double max_drop = 1.0;
    int64_t limit = 0, test_limit = 0;
    int repeat = 20;
    int64_t finetune_epochs = 0;
    double finetune_lr = 0.02;
    std::string teacher;  // distillation during fine-tuning
    Augment augment;      // augmentation during fine-tuning
    BoostOptions boost;
    TrainConfig cfg;
};

std::string pct(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.2f%%", 100 * v);
    return b;
}

std::string ms(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.3f", v);
    return b;
}

// Standardized copy of x with offset/scale (a Scaler's arithmetic).
Tensor standardized(const Tensor& x, const std::vector<float>& off, const std::vector<float>& sc) {
    Tensor y = x.clone();
    const int64_t N = x.shape()[0], F = x.shape()[1];
    float* p = y.data<float>();
    for (int64_t i = 0; i < N; ++i) {
        for (int64_t f = 0; f < F; ++f)
            p[i * F + f] =
                (p[i * F + f] - off[static_cast<size_t>(f)]) * sc[static_cast<size_t>(f)];
    }
    return y;
}

// The head for one cut's features, as nodes reading "X".
std::vector<Node> train_head(const HybridFlags& f, const Tensor& train_x, const Tensor& val_x,
                             const DataSplits& data, std::string* summary) {
    if (f.head == "xgboost") {
        BoostOptions o = f.boost;
        o.threads = f.cfg.threads;
        o.seed = f.cfg.seed;
        const BoostResult r = check(train_xgboost_head(
            train_x, data.train.labels, val_x, data.val.labels, data.train.num_classes, o,
            [](int round, double err) {
                if (round % 25 == 0)
                    std::fprintf(stderr, "  round %d: validation error %.4f\n", round, err);
            }));
        char b[128];
        std::snprintf(b, sizeof b, "%d rounds x %lld trees, %.0f s", r.rounds,
                      static_cast<long long>(data.train.num_classes), r.seconds);
        *summary = b;
        return {r.head};
    }
    std::vector<float> off, sc;
    feature_standardization(train_x, &off, &sc);
    DataSplits fd;
    fd.train = feature_dataset(standardized(train_x, off, sc), data.train);
    fd.val = feature_dataset(standardized(val_x, off, sc), data.val);
    Graph head = linear_head_graph(train_x.shape()[1], data.train.num_classes, f.cfg.seed);
    TrainConfig cfg = f.cfg;
    cfg.augment = Augment();
    const TrainResult r = check(train_graph(head, fd, cfg));
    char b[128];
    std::snprintf(b, sizeof b, "%lld epochs, %.0f s", static_cast<long long>(r.epochs.size()),
                  r.seconds);
    *summary = b;
    return check(linear_head_from_trained(head, off, sc));
}

int cmd_hybrid(HybridFlags& f) {
    const Graph backbone = check(load_model_file(f.backbone), f.backbone);
    const std::vector<CutPoint> cands = check(cut_candidates(backbone), f.backbone);
    const int64_t total_macs = params_and_macs(backbone).second;
    if (f.list_cuts) {
        std::printf("%-4s %-28s %-28s %-16s %s\n", "#", "cut (value)", "node", "shape",
                    "MACs up to it");
        for (size_t i = 0; i < cands.size(); ++i) {
            std::printf("%-4zu %-28s %-28s %-16s %s (%.1f%%)\n", i, cands[i].value.c_str(),
                        cands[i].node.c_str(), shape_str(cands[i].shape).c_str(),
                        human_count(cands[i].macs).c_str(),
                        100.0 * static_cast<double>(cands[i].macs) /
                            static_cast<double>(std::max<int64_t>(1, total_macs)));
        }
        return 0;
    }
    if (f.out.empty()) throw Failure{invalid_argument("-o/--output is required")};
    if (std::filesystem::path(f.out).extension() != ".onnx")
        throw Failure{invalid_argument(f.out + ": output must be .onnx")};
    if (f.head != "xgboost" && f.head != "logistic")
        throw Failure{invalid_argument("--head must be xgboost or logistic, not " + f.head)};
    std::vector<std::string> cuts;
    if (f.cut == "auto") {
        // The last --auto-cuts candidates, one per amount of computation.
        std::vector<CutPoint> distinct;
        for (const auto& c : cands) {
            if (distinct.empty() || c.macs != distinct.back().macs) distinct.push_back(c);
        }
        const size_t k = std::min(distinct.size(), static_cast<size_t>(std::max(1, f.auto_cuts)));
        for (size_t i = distinct.size() - k; i < distinct.size(); ++i)
            cuts.push_back(distinct[i].value);
        if (cuts.empty())
            throw Failure{invalid_argument(f.backbone + ": no value to cut the backbone at")};
    } else {
        cuts = {f.cut};
    }
    // Bad cuts fail here, before any data is read.
    FeatureOptions fo;
    fo.pool = f.pool;
    Graph fg = check(feature_graph(backbone, cuts, fo), f.backbone);
    if (f.finetune_epochs > 0 && cuts.size() != 1)
        throw Failure{invalid_argument("--finetune-epochs needs one --cut (not auto)")};

    DataOptions d;
    d.seed = f.cfg.seed;
    d.train_limit = f.limit;
    d.test_limit = f.test_limit;
    const DataSplits data = check(load_data(f.data, d));
    if (data.val.size() == 0)
        throw Failure{invalid_argument(f.data + ": the head needs a validation split")};
    auto progress = [](const char* what) {
        return [what](int64_t done, int64_t total) {
            if (done == total || done % 10240 < 128)
                std::fprintf(stderr, "  %s features: %lld / %lld\n", what,
                             static_cast<long long>(done), static_cast<long long>(total));
        };
    };
    // Fine-tuning: the backbone up to the cut learns, through a temporary linear
    // classifier, to give the best features at its new depth.
    Graph head_backbone = backbone;
    std::vector<std::string> head_cuts = cuts;
    if (f.finetune_epochs > 0) {
        std::printf("fine-tuning the backbone up to %s for %lld epochs\n", cuts[0].c_str(),
                    static_cast<long long>(f.finetune_epochs));
        std::fflush(stdout);
        Graph tg = check(add_training_head(fg, data.train.num_classes, f.cfg.seed));
        TrainConfig c = f.cfg;
        c.epochs = f.finetune_epochs;
        c.optimizer = "sgd";
        c.lr = f.finetune_lr;
        c.batch = 128;
        c.weight_decay = 5e-4;
        c.augment = f.augment;
        if (!f.teacher.empty()) c.distill.teacher = check(load_model_file(f.teacher), f.teacher);
        check(train_graph(tg, data, c));
        fg = check(drop_training_head(tg));
        head_backbone = fg;
        head_cuts = {fg.outputs[0].name};
    }
    std::printf("backbone %s: features at %zu cut%s, pooled %lldx%lld\n", f.backbone.c_str(),
                cuts.size(), cuts.size() == 1 ? "" : "s", static_cast<long long>(f.pool),
                static_cast<long long>(f.pool));
    std::fflush(stdout);
    const std::vector<Tensor> train_f =
        check(extract_features(fg, data.train.images, f.cfg.threads, progress("training")));
    const std::vector<Tensor> val_f =
        check(extract_features(fg, data.val.images, f.cfg.threads, progress("validation")));

    const std::filesystem::path tmp =
        std::filesystem::temp_directory_path() / ("pare-hybrid-" + std::to_string(::getpid()));
    std::filesystem::create_directories(tmp);
    struct Tried {
        std::string cut, summary;
        int64_t features = 0, macs = 0;
        double val = 0, pare_ms = 0, ort_ms = 0;
        Graph graph;
    };
    std::vector<Tried> tried;
    ImportOptions io;
    for (const auto& dp : backbone.inputs[0].dim_params)
        if (!dp.empty()) io.dim_values[dp] = 1;
    OracleOptions oo;
    oo.repeat = f.repeat;
    oo.threads = 1;
    const EvalReport bval = check(evaluate(backbone, data.val), f.backbone);
    const std::string bpath = (tmp / "backbone.onnx").string();
    check(export_onnx_file(backbone, bpath));
    const OracleReport brep = check(compare_with_onnxruntime(bpath, io, oo));
    for (size_t k = 0; k < cuts.size(); ++k) {
        Tried t;
        t.cut = cuts[k];
        t.features = train_f[k].shape()[1];
        for (const auto& c : cands)
            if (c.value == cuts[k] || c.node == cuts[k]) t.macs = c.macs;
        std::printf("cut %s: %lld features, %s head\n", t.cut.c_str(),
                    static_cast<long long>(t.features), f.head.c_str());
        std::fflush(stdout);
        std::vector<Node> head = train_head(f, train_f[k], val_f[k], data, &t.summary);
        t.graph = check(attach_head(head_backbone, head_cuts[k], fo, head));
        t.val = check(evaluate(t.graph, data.val)).top1;
        const std::string p = (tmp / ("cut" + std::to_string(k) + ".onnx")).string();
        check(export_onnx_file(t.graph, p));
        const OracleReport rep = check(compare_with_onnxruntime(p, io, oo));
        if (rep.worst_rel_l2 > 1e-3)
            throw Failure{internal_error("cut " + t.cut + ": pare and ONNX Runtime disagree (" +
                                         std::to_string(rep.worst_rel_l2) + " relative L2)")};
        t.pare_ms = rep.pare_ms;
        t.ort_ms = rep.ort_ms;
        tried.push_back(std::move(t));
    }
    std::filesystem::remove_all(tmp);

    // The cheapest cut within --max-drop of the backbone on validation, else the most accurate.
    int chosen = -1;
    for (size_t k = 0; k < tried.size(); ++k) {
        if (100 * (bval.top1 - tried[k].val) <= f.max_drop &&
            (chosen < 0 || tried[k].macs < tried[static_cast<size_t>(chosen)].macs))
            chosen = static_cast<int>(k);
    }
    std::string why = "the cheapest within --max-drop of the backbone on validation";
    if (chosen < 0) {
        chosen = 0;
        for (size_t k = 1; k < tried.size(); ++k)
            if (tried[k].val > tried[static_cast<size_t>(chosen)].val) chosen = static_cast<int>(k);
        why = "no cut is within --max-drop of the backbone; the closest";
    }
    std::printf("\n%-28s %9s %9s %10s %10s %10s  %s\n", "cut", "features", "MACs", "val top-1",
                "pare ms", "ORT ms", "head");
    std::printf("%-28s %9s %9s %10s %10s %10s  %s\n", "(backbone, its own classifier)", "",
                human_count(total_macs).c_str(), pct(bval.top1).c_str(), ms(brep.pare_ms).c_str(),
                ms(brep.ort_ms).c_str(), "");
    for (size_t k = 0; k < tried.size(); ++k) {
        const Tried& t = tried[k];
        std::printf("%-28s %9lld %9s %10s %10s %10s  %s%s\n", t.cut.c_str(),
                    static_cast<long long>(t.features), human_count(t.macs).c_str(),
                    pct(t.val).c_str(), ms(t.pare_ms).c_str(), ms(t.ort_ms).c_str(),
                    t.summary.c_str(), static_cast<int>(k) == chosen ? "  <- chosen" : "");
    }
    const Tried& best = tried[static_cast<size_t>(chosen)];
    std::printf("chosen: %s (%s)\n", best.cut.c_str(), why.c_str());
    check(export_onnx_file(best.graph, f.out));
    std::printf("wrote %s\n", f.out.c_str());
    CompareSpec spec;
    spec.models = {{"backbone", f.backbone}, {"hybrid", f.out}};
    spec.extra_rows = {{"cut", {"", best.cut}},
                       {"head", {"", f.head + " on " + std::to_string(best.features)}},
                       {"MACs per image", {human_count(total_macs), human_count(best.macs)}}};
    spec.data = data.test.size() > 0 ? f.data : "";
    spec.test_limit = f.test_limit;
    spec.repeat = f.repeat;
    compare_models(spec);
    return 0;
}

struct CascadeFlags {
    std::string small, large, data = "fashion-mnist", out;
    double max_drop = 0.3;
    int threads = 1;
    int64_t limit = 0, test_limit = 0;
};

// A model for runs of one image: batch bound to 1, default passes, prepared.
Session single_image_session(const Graph& model) {
    Graph g = model;
    g.bind_batch(1);
    check(g.resolve_ops());
    check(run_default_passes(g));
    return check(Session::prepare(std::move(g)));
}

struct Timing {
    double mean = 0, p90 = 0;
};
Timing timing_of(std::vector<double> ms) {
    Timing t;
    if (ms.empty()) return t;
    for (double v : ms) t.mean += v;
    t.mean /= static_cast<double>(ms.size());
    std::sort(ms.begin(), ms.end());
    t.p90 = ms[std::min(ms.size() - 1, static_cast<size_t>(0.9 * static_cast<double>(ms.size())))];
    return t;
}

int cmd_cascade(CascadeFlags& f) {
    if (f.out.empty()) throw Failure{invalid_argument("-o/--output is required")};
    if (std::filesystem::path(f.out).extension() != ".onnx")
        throw Failure{invalid_argument(f.out + ": output must be .onnx")};
    const Graph small = check(load_model_file(f.small), f.small);
    const Graph large = check(load_model_file(f.large), f.large);
    check(build_cascade(small, large, 0.5f).status());  // the models fit together
    DataOptions d;
    d.train_limit = f.limit;
    d.test_limit = f.test_limit;
    const DataSplits data = check(load_data(f.data, d));
    if (data.val.size() == 0 || data.test.size() == 0)
        throw Failure{invalid_argument(f.data + ": a cascade needs validation and test splits")};
    auto probs = [&](const Graph& m, const Dataset& ds, const std::string& what) {
        std::vector<Tensor> o = check(extract_features(m, ds.images, f.threads), what);
        if (o.size() != 1 || o[0].shape()[1] != ds.num_classes)
            throw Failure{invalid_argument(what + ": its output is not [N, " +
                                           std::to_string(ds.num_classes) + "] class scores")};
        return as_probabilities(o[0]);
    };
    std::printf("scoring the validation split (%lld images) with both models\n",
                static_cast<long long>(data.val.size()));
    std::fflush(stdout);
    const Tensor vs = probs(small, data.val, f.small), vl = probs(large, data.val, f.large);
    const ThresholdChoice c = tune_threshold(vs, vl, data.val.labels, f.max_drop);
    if (!c.met) {
        char b[256];
        std::snprintf(b, sizeof b,
                      "no threshold keeps validation top-1 within %.2f points of the large "
                      "model's %.2f%%; the closest: threshold %.4f, %.2f%% with %.1f%% of inputs "
                      "on the large model",
                      f.max_drop, 100 * c.large_accuracy, c.point.threshold, 100 * c.point.accuracy,
                      100 * c.point.large_fraction);
        throw Failure{invalid_argument(b)};
    }
    std::printf(
        "threshold %.4f (validation): %.2f%% top-1 (small %.2f%%, large %.2f%%), %.1f%% "
        "of inputs reach the large model\n",
        c.point.threshold, 100 * c.point.accuracy, 100 * c.small_accuracy, 100 * c.large_accuracy,
        100 * c.point.large_fraction);
    const Graph cascade = check(build_cascade(small, large, static_cast<float>(c.point.threshold)));
    check(export_onnx_file(cascade, f.out));
    std::printf("wrote %s\n", f.out.c_str());

    // The test split: accuracy from both models' scores, then every test image run one
    // at a time through the cascade (and each model alone, in turn) in pare, and the
    // cascade file once per image in ONNX Runtime.
    const Tensor ts = probs(small, data.test, f.small), tl = probs(large, data.test, f.large);
    const CascadePoint tp = cascade_at(ts, tl, data.test.labels, c.point.threshold);
    const CascadePoint ts_only = cascade_at(ts, tl, data.test.labels, 0.0);
    const CascadePoint tl_only = cascade_at(ts, tl, data.test.labels, 2.0);
    Session sc = single_image_session(cascade), ss = single_image_session(small),
            sl = single_image_session(large);
    const int64_t n = data.test.size();
    const Shape& is = data.test.images.shape();
    const int64_t per = is[1] * is[2] * is[3];
    // What the cascade should answer per test image, from both models' scores.
    std::vector<bool> unsure;
    const std::vector<int64_t> expected = cascade_predictions(ts, tl, c.point.threshold, &unsure);
    auto argmax_row = [](const Tensor& t, int64_t i) {
        const int64_t K = t.shape()[1];
        const float* r = t.data<float>() + i * K;
        return static_cast<int64_t>(std::max_element(r, r + K) - r);
    };
    std::vector<double> tc, tsm, tlg;
    int64_t same = 0, to_large = 0;
    Tensor x = check(Tensor::create(DType::kFloat32, {1, is[1], is[2], is[3]}));
    auto timed = [&](const Session& s, std::vector<double>* ms) {
        TensorMap in{{s.graph().inputs[0].name, x}}, out;
        const auto t0 = std::chrono::steady_clock::now();
        check(s.run(in, &out));
        ms->push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count());
        return out.begin()->second;
    };
    for (int64_t i = 0; i < n; ++i) {
        std::memcpy(x.data<float>(), data.test.images.data<float>() + i * per,
                    static_cast<size_t>(per) * sizeof(float));
        same += argmax_row(timed(sc, &tc), 0) == expected[static_cast<size_t>(i)];
        timed(ss, &tsm);
        timed(sl, &tlg);
        to_large += unsure[static_cast<size_t>(i)];
    }
    std::vector<double> ort_c, ort_l;
    const std::vector<Tensor> oc = check(run_onnxruntime_per_example(
        f.out, {{cascade.inputs[0].name, data.test.images}}, 1, &ort_c));
    int64_t ort_same = 0;
    {
        const std::filesystem::path tmp = std::filesystem::temp_directory_path() /
                                          ("pare-cascade-" + std::to_string(::getpid()) + ".onnx");
        check(export_onnx_file(large, tmp.string()));
        Result<std::vector<Tensor>> ol = run_onnxruntime_per_example(
            tmp.string(), {{large.inputs[0].name, data.test.images}}, 1, &ort_l);
        std::filesystem::remove(tmp);
        check(ol.status());
    }
    for (int64_t i = 0; i < n; ++i)
        ort_same += argmax_row(oc[0], i) == expected[static_cast<size_t>(i)];
    const Timing pc = timing_of(tc), ps = timing_of(tsm), pl = timing_of(tlg);
    const Timing oct = timing_of(ort_c), olt = timing_of(ort_l);
    char note[96];
    std::printf("\n");
    print_row("", {"small", "large", "cascade"}, "");
    std::snprintf(note, sizeof note, "(%+.2f points against the large model)",
                  100 * (tp.accuracy - tl_only.accuracy));
    print_row("top-1 (test)", {pct(ts_only.accuracy), pct(tl_only.accuracy), pct(tp.accuracy)},
              note);
    print_row("inputs reaching the large model", {"", "100%", pct(tp.large_fraction)},
              "(" + std::to_string(n) + " test images)");
    std::snprintf(note, sizeof note, "(cascade/large %.2f)", pc.mean / std::max(1e-9, pl.mean));
    print_row("latency, pare, mean (ms)", {ms(ps.mean), ms(pl.mean), ms(pc.mean)}, note);
    print_row("latency, pare, p90 (ms)", {ms(ps.p90), ms(pl.p90), ms(pc.p90)}, "");
    std::snprintf(note, sizeof note, "(cascade/large %.2f)", oct.mean / std::max(1e-9, olt.mean));
    print_row("latency, ONNX Runtime, mean (ms)", {"", ms(olt.mean), ms(oct.mean)}, note);
    print_row("latency, ONNX Runtime, p90 (ms)", {"", ms(olt.p90), ms(oct.p90)}, "");
    print_row("answers as the scores predict, pare", {"", "", pct(double(same) / double(n))}, "");
    print_row("answers as the scores predict, ORT", {"", "", pct(double(ort_same) / double(n))},
              "");
    std::printf(
        "the large model ran for %lld of %lld images in pare (one image per run, batch 1)\n",
        static_cast<long long>(to_large), static_cast<long long>(n));
    return 0;
}

}  // namespace

void add_hybrid_verbs(CLI::App& app, VerbTable& verbs) {
    {
        auto f = std::make_shared<CascadeFlags>();
        auto* p = app.add_subcommand(
            "cascade",
            "A small model answers the inputs it is sure of, the large model the rest: one ONNX "
            "graph (an If) whose threshold keeps accuracy within --max-drop of the large model's");
        p->add_option("--small", f->small, "The small, fast model")->required();
        p->add_option("--large", f->large, "The large, accurate model")->required();
        p->add_option("--data", f->data, "Labelled data (validation: threshold; test: report)")
            ->capture_default_str();
        p->add_option("--max-drop", f->max_drop,
                      "Top-1 points the cascade may lose against the large model (validation)")
            ->capture_default_str();
        p->add_option("-o,--output", f->out, "The cascade (.onnx)");
        p->add_option("--threads", f->threads, "Threads for scoring the splits")
            ->capture_default_str()
            ->check(CLI::Range(1, 256));
        p->add_option("--limit", f->limit, "Use the first N training examples only");
        p->add_option("--test-limit", f->test_limit, "Report on the first N test images only");
        verbs.emplace_back(p, [f] { return cmd_cascade(*f); });
    }
    auto f = std::make_shared<HybridFlags>();
    f->cfg.epochs = 15;
    f->cfg.batch = 256;
    f->cfg.optimizer = "adamw";
    f->cfg.lr = 0.01;
    f->cfg.weight_decay = 1e-4;
    auto* p = app.add_subcommand(
        "hybrid",
        "A backbone cut early provides features, a classical head (boosted trees or logistic "
        "regression) decides: one ONNX graph that pare and ONNX Runtime run");
    p->add_option("--backbone", f->backbone, "The network (ONNX or .pare)")->required();
    p->add_option("--cut", f->cut,
                  "Where to cut: a node or value name (--list-cuts), or auto: try the last "
                  "--auto-cuts candidates and keep the cheapest within --max-drop")
        ->capture_default_str();
    p->add_flag("--list-cuts", f->list_cuts,
                "List the values the backbone can be cut at, and exit");
    p->add_option("--head", f->head, "xgboost (gradient-boosted trees) or logistic")
        ->capture_default_str();
    p->add_option("--data", f->data, "Labelled data")->capture_default_str();
    p->add_option("-o,--output", f->out, "The hybrid model (.onnx)");
    p->add_option("--pool", f->pool,
                  "Average-pool a feature map to N x N cells per channel (1: global average)")
        ->capture_default_str()
        ->check(CLI::Range(1, 64));
    p->add_option("--auto-cuts", f->auto_cuts, "How many cuts --cut auto tries")
        ->capture_default_str()
        ->check(CLI::Range(1, 64));
    p->add_option("--max-drop", f->max_drop,
                  "--cut auto: validation top-1 points a cut may lose against the backbone")
        ->capture_default_str();
    p->add_option("--rounds", f->boost.rounds, "xgboost: boosting rounds")->capture_default_str();
    p->add_option("--depth", f->boost.depth, "xgboost: tree depth")->capture_default_str();
    p->add_option("--eta", f->boost.eta, "xgboost: learning rate")->capture_default_str();
    p->add_option("--subsample", f->boost.subsample, "xgboost: row subsampling per tree")
        ->capture_default_str();
    p->add_option("--colsample", f->boost.colsample, "xgboost: feature subsampling per tree")
        ->capture_default_str();
    p->add_option("--early-stopping", f->boost.early_stopping,
                  "xgboost: stop after N rounds without a better validation error (0: off)")
        ->capture_default_str();
    p->add_option("--finetune-epochs", f->finetune_epochs,
                  "Fine-tune the backbone up to the cut (through a temporary linear classifier) "
                  "for N epochs before the head is fitted (one --cut)")
        ->capture_default_str();
    p->add_option("--finetune-lr", f->finetune_lr, "Fine-tuning learning rate (SGD, cosine)")
        ->capture_default_str();
    p->add_option("--teacher", f->teacher,
                  "Fine-tune with knowledge distillation from this model (T 4, alpha 0.7)");
    p->add_option("--pad-crop", f->augment.pad, "Fine-tuning: random crop after zero-padding by N")
        ->capture_default_str();
    p->add_flag("--hflip", f->augment.hflip, "Fine-tuning: random horizontal flips");
    add_training_flags(p, f->cfg, "logistic: epochs");
    p->add_option("--seed", f->cfg.seed, "Seed: validation split, head initialization, boosting")
        ->capture_default_str();
    p->add_option("--limit", f->limit, "Use the first N training examples only");
    p->add_option("--test-limit", f->test_limit, "Evaluate on the first N test images only");
    p->add_option("--repeat", f->repeat, "Timed runs per runtime for the latency figures")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000));
    verbs.emplace_back(p, [f] { return cmd_hybrid(*f); });
}

}  // namespace pare::cli
