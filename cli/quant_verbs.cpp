// pare quantize: post-training static quantization to ONNX QDQ, with a
// before/after table (size, accuracy in pare and in ONNX Runtime, agreement,
// latency side by side).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "cli/cli.h"
#include "runtime/exec/session.h"
#include "runtime/ir/passes/passes.h"
#include "toolkit/data/dataset.h"
#include "toolkit/data/npy.h"
#include "toolkit/io/files.h"
#include "toolkit/oracle/oracle.h"
#include "toolkit/quant/quantize.h"
#include "toolkit/report/evaluate.h"
#include "toolkit/train/qat.h"

namespace pare::cli {

namespace {

struct QuantFlags {
    std::string model, out, calib = "fashion-mnist:512", data, method = "minmax", keep;
    std::string save_plan, plan, weights_only;
    double percentile = 99.99;
    bool per_tensor = false, int8_acts = false, auto_keep = false, bias_correction = false;
    bool reduce_range = false;
    bool dynamic = false, keep_names = false, cle = false;
    std::vector<std::string> shapes;
    double budget = 0.02;
    int64_t test_limit = 0, block_size = 32;
    int repeat = 10;
};

const char* kind_of(const QuantOptions& o) {
    if (o.weights_only == WeightsOnly::kFloat16) return "float16 weights";
    if (o.weights_only == WeightsOnly::kInt8) return "int8 weights";
    if (o.weights_only == WeightsOnly::kInt4) return "int4 weights";
    return "int8 (QDQ)";
}

// The before/after table: size, top-1 in both runtimes (with labelled data),
// latency side by side, output error.
int report_table(const QuantFlags& f, const char* kind);

// The table after the quantized model is written: when it cannot be computed
// without flags the user did not give (a model whose dynamic input dimensions
// need --input-shape to run), the file stays written and complete, so the verb
// says why there is no table and succeeds. A failure with --data or
// --input-shape given is the user's to fix: an error.
int report(const QuantFlags& f, const char* kind) {
    try {
        return report_table(f, kind);
    } catch (const Failure& e) {
        if (!f.data.empty() || !f.shapes.empty()) throw;
        std::fprintf(stderr,
                     "pare: %s is written; no before/after table: %s (bind the model's dynamic "
                     "input dimensions with --input-shape)\n",
                     f.out.c_str(), e.status.message().c_str());
        return 0;
    }
}

// The model to quantize, with its own input dimensions: --input-shape binds them for
// the table's runs only, so the written file takes any size the original takes. The
// flags are checked against the model first (a bad one: an error, nothing written).
Graph model_to_quantize(const std::string& file, const std::vector<std::string>& shapes) {
    if (!shapes.empty()) check(load_model_file(file, import_options(shapes)).status());
    return check(load_model_file(file, ImportOptions{}));
}

int report_table(const QuantFlags& f, const char* kind) {
    // Accuracy on a labelled test split: the --data set, or the calibration set's.
    CompareSpec spec;
    spec.models = {{"float32", f.model}, {kind, f.out}};
    spec.data = f.data;
    if (spec.data.empty() && !f.dynamic && f.calib.find(".npy") == std::string::npos)
        spec.data = f.calib.substr(0, f.calib.find(':'));
    spec.test_limit = f.test_limit;
    spec.shapes = f.shapes;
    spec.repeat = f.repeat;
    const Comparison cmp = compare_models(spec);
    const Tensor& samples = cmp.samples;
    const ImportOptions& imp = cmp.import;
    const OracleReport& r0 = cmp.reports[0];
    const OracleReport& r1 = cmp.reports[1];
    // The relative error of the quantized model's output against the float model's,
    // both in pare.
    {
        Graph a = check(load_model_file(f.model, imp)), b = check(load_model_file(f.out, imp));
        check(run_default_passes(a));
        check(run_default_passes(b));
        Session sa = check(Session::prepare(std::move(a))),
                sb = check(Session::prepare(std::move(b)));
        const std::string out = sa.graph().outputs[0].name;
        // On up to 50 test images (one at a time), else on a random input.
        const ValueInfo& in0 = sa.graph().inputs[0];
        const int64_t n = samples.rank() == 4 && in0.shape.size() == 4 && in0.shape[0] == 1
                              ? std::min<int64_t>(50, samples.shape()[0])
                              : 0;
        double num = 0, den = 0;
        TensorMap ya, yb;
        for (int64_t i = 0; i < std::max<int64_t>(1, n); ++i) {
            TensorMap in;
            if (n > 0) {
                Tensor x = check(Tensor::create(DType::kFloat32, in0.shape));
                if (x.numel() * i + x.numel() > samples.numel())
                    throw Failure{invalid_argument("test images do not match the model input")};
                std::memcpy(x.raw(), samples.data<float>() + i * x.numel(), x.nbytes());
                in[in0.name] = x;
            } else {
                in = check(random_inputs(sa.graph(), 1));
            }
            check(sa.run(in, &ya));
            check(sb.run(in, &yb));
            const Tensor& p = ya.at(out);
            const Tensor& q = yb.at(out);
            for (int64_t k = 0; k < p.numel(); ++k) {
                const double d = static_cast<double>(q.data<float>()[k]) - p.data<float>()[k];
                num += d * d;
                den += static_cast<double>(p.data<float>()[k]) * p.data<float>()[k];
            }
        }
        const double e = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
        std::printf("%-34s %14s %14.2e  (pare, %s)\n", "output rel. L2 vs float32", "", e,
                    n > 0 ? (std::to_string(n) + " test images").c_str() : "random input");
        std::printf("%-34s %14.2e %14.2e  (random input)\n", "pare vs ORT, output rel. L2",
                    r0.worst_rel_l2, r1.worst_rel_l2);
    }
    std::printf(
        "\npare fuses the QDQ patterns into integer kernels (QLinearConv, also with a\n"
        "HardSwish or HardSigmoid in its requantization, QLinearAdd, QLinearMul,\n"
        "QLinearConcat, QGemm, QLinearMatMul, MatMulIntegerToFloat, uint8 MaxPool: `pare info\n"
        "--plan` lists them); ONNX Runtime fuses the same file into its own.\n");
    return 0;
}

QuantOptions static_options(const QuantFlags& f) {
    QuantOptions o;
    o.method = check(parse_calib_method(f.method));
    o.percentile = f.percentile;
    o.per_tensor_weights = f.per_tensor;
    o.signed_activations = f.int8_acts;
    o.reduce_range = f.reduce_range;
    return o;
}

// --cle: cross-layer equalization of g in place, and what it changed (the float
// model's own top-1 too, when ReLU6 became Relu and there is labelled data).
void equalize(Graph& g, const QuantFlags& f) {
    const EqualizeReport e = check(equalize_layers(g, true));
    std::printf("cross-layer equalization: %d layer pairs, %d ReLU6 made Relu, %d sweeps\n",
                e.pairs, e.relu6_replaced, e.sweeps);
    std::string spec = f.data;
    if (spec.empty() && f.calib.find(".npy") == std::string::npos)
        spec = f.calib.substr(0, f.calib.find(':'));
    if (e.relu6_replaced == 0 || spec.empty()) return;
    DataOptions d;
    d.test_limit = f.test_limit;
    const DataSplits data = check(load_data(spec, d));
    if (data.test.size() == 0) return;
    const Graph original = check(load_model_file(f.model, import_options(f.shapes)));
    std::printf(
        "  float top-1 with ReLU6: %.2f%%, equalized with Relu: %.2f%% (%lld test images)\n",
        100 * check(evaluate(original, data.test)).top1, 100 * check(evaluate(g, data.test)).top1,
        static_cast<long long>(data.test.size()));
}

// pare qat: calibrate (or --plan), the post-training model's accuracy as the
// baseline, then fine-tuning with fake quantization, and the table.
struct QatFlags {
    QuantFlags q;
    TrainConfig cfg;
    int64_t limit = 0;
};

int cmd_qat(QatFlags& f) {
    const QuantOptions o = static_options(f.q);
    Graph g = model_to_quantize(f.q.model, f.q.shapes);
    check(quantizable_layers(g, o).status());
    check(g.resolve_ops());
    check(run_default_passes(g).with_context(f.q.model));
    if (f.q.cle) equalize(g, f.q);
    QuantPlan plan;
    if (!f.q.plan.empty()) {
        plan = check(plan_from_json(check(read_file(f.q.plan))), f.q.plan);
    } else {
        const Tensor calib = calibration_images(f.q.calib);
        std::printf("calibrating %s on %lld images (%s, %s)...\n", f.q.model.c_str(),
                    static_cast<long long>(calib.shape()[0]), f.q.calib.c_str(),
                    calib_method_name(o.method));
        plan = check(calibrate(g, calib, o), f.q.model);
    }
    if (f.q.data.empty()) f.q.data = f.q.calib.substr(0, f.q.calib.find(':'));
    DataOptions d;
    d.train_limit = f.limit;
    d.test_limit = f.q.test_limit;
    const DataSplits data = check(load_data(f.q.data, d));
    const Graph ptq = check(apply_quantization(g, plan, o));
    const EvalReport before = check(evaluate(ptq, data.test));
    std::printf("post-training int8 (no fine-tuning): top-1 %.2f%% on %lld test images\n",
                100 * before.top1, static_cast<long long>(data.test.size()));
    std::printf("quantization-aware fine-tuning: %lld epoch(s), lr %g, %zu layers\n",
                static_cast<long long>(f.cfg.epochs), f.cfg.lr, plan.layers.size());
    const QatResult r = check(quantization_aware_training(g, plan, data, f.cfg, o));
    Graph out = r.qdq;
    if (!f.q.keep_names) compact_names(out);
    check(export_onnx_file(out, f.q.out));
    const EvalReport after = check(evaluate(r.qdq, data.test));
    std::printf("quantization-aware int8: top-1 %.2f%% (post-training %.2f%%), wrote %s\n",
                100 * after.top1, 100 * before.top1, f.q.out.c_str());
    return report(f.q, "int8 (QAT)");
}

int cmd_quantize(const QuantFlags& f) {
    QuantOptions o = static_options(f);
    o.bias_correction = f.bias_correction;
    o.keep_float = split_names(f.keep);
    if (o.method == CalibMethod::kPercentile && !(o.percentile > 0 && o.percentile <= 100))
        throw Failure{invalid_argument("--percentile must be in (0, 100], got " +
                                       std::to_string(o.percentile))};
    if (!f.weights_only.empty()) o.weights_only = check(parse_weights_only(f.weights_only));
    if (f.block_size < 1)
        throw Failure{invalid_argument("--block-size must be at least 1, got " +
                                       std::to_string(f.block_size))};
    o.block_size = f.block_size;
    if (f.dynamic && (o.weights_only != WeightsOnly::kNone || !f.plan.empty() || f.auto_keep ||
                      o.bias_correction))
        throw Failure{invalid_argument(
            "--dynamic quantizes at run time: no --weights-only, --plan, --auto-keep or "
            "--bias-correction")};
    Graph g = model_to_quantize(f.model, f.shapes);
    check(quantizable_layers(g, o).status());  // bad --keep-float, quantized models: fail early
    // Quantize the model as pare runs it: BatchNormalization and other affine layers
    // folded into the weights first (the integer weights are then the real ones).
    check(g.resolve_ops());
    check(run_default_passes(g).with_context(f.model));
    if (o.bias_correction && o.weights_only != WeightsOnly::kNone)
        throw Failure{invalid_argument(
            "--bias-correction measures on calibration images; --weights-only skips them")};
    if (f.cle) equalize(g, f);
    QuantPlan plan;
    if (f.dynamic) {
        Graph out = check(dynamic_quantization(g, o), f.model);
        if (!f.keep_names) compact_names(out);
        check(export_onnx_file(out, f.out));
        std::printf(
            "dynamic quantization (MatMul/Gemm weights int8, inputs at run time), wrote %s\n",
            f.out.c_str());
        return report(f, "dynamic int8");
    }
    if (o.weights_only != WeightsOnly::kNone) {
        plan = check(weights_only_plan(g, o));
        std::printf("weight-only %s: no calibration\n", f.weights_only.c_str());
    } else if (!f.plan.empty()) {
        plan = check(plan_from_json(check(read_file(f.plan))), f.plan);
        std::printf("applying the plan %s (%s, %lld calibration images)\n", f.plan.c_str(),
                    calib_method_name(plan.method),
                    static_cast<long long>(plan.calibration_images));
    } else {
        const Tensor calib = calibration_images(f.calib);
        std::printf("calibrating %s on %lld images (%s, %s)...\n", f.model.c_str(),
                    static_cast<long long>(calib.shape()[0]), f.calib.c_str(),
                    calib_method_name(o.method));
        plan = check(calibrate(g, calib, o), f.model);
    }
    if (f.auto_keep && o.weights_only == WeightsOnly::kNone) {
        if (!(f.budget > 0)) throw Failure{invalid_argument("--error-budget must be positive")};
        const Tensor calib = calibration_images(f.calib);
        std::vector<LayerError> errors = check(layer_errors(g, plan, calib, o));
        const std::vector<std::string> keep = layers_over_budget(errors, f.budget);
        std::sort(errors.begin(), errors.end(),
                  [](const LayerError& a, const LayerError& b) { return a.rel_l2 > b.rel_l2; });
        std::printf("per-layer output error, quantized alone (worst 5 of %zu; budget %.3g):\n",
                    errors.size(), f.budget);
        for (size_t i = 0; i < errors.size() && i < 5; ++i)
            std::printf("  %-40s %.4f%s\n", errors[i].layer.c_str(), errors[i].rel_l2,
                        std::find(keep.begin(), keep.end(), errors[i].layer) != keep.end()
                            ? "  kept in float"
                            : "");
        std::vector<std::string> layers;
        for (const std::string& l : plan.layers)
            if (std::find(keep.begin(), keep.end(), l) == keep.end()) layers.push_back(l);
        plan.layers = layers;
    }
    if (!f.save_plan.empty()) check(write_file_atomic(f.save_plan, plan_to_json(plan)));
    Graph q = check(apply_quantization(g, plan, o));
    if (!f.keep_names) compact_names(q);
    check(export_onnx_file(q, f.out));
    std::printf("quantized %zu layers, wrote %s\n", plan.layers.size(), f.out.c_str());

    return report(f, kind_of(o));
}

}  // namespace

void add_quant_verbs(CLI::App& app, VerbTable& verbs) {
    auto f = std::make_shared<QuantFlags>();
    auto* q = app.add_subcommand(
        "quantize",
        "Post-training static int8 quantization to ONNX QDQ, with a before/after table");
    q->add_option("model", f->model, "Float ONNX model (or .pare)")->required();
    q->add_option("-o,--output", f->out, "Quantized model (.onnx, QDQ form)")->required();
    q->add_option("--calib", f->calib,
                  "Calibration images: fashion-mnist:N, a .npz or image folder [:N], or a .npy "
                  "(N, C, H, W) file")
        ->capture_default_str();
    q->add_option("--method", f->method, "Calibration: minmax, percentile, entropy or mse")
        ->capture_default_str();
    q->add_option("--percentile", f->percentile, "For --method percentile, in (0, 100]")
        ->capture_default_str();
    q->add_flag("--per-tensor", f->per_tensor,
                "One weight scale per layer (default: one per output channel)");
    q->add_flag("--reduce-range", f->reduce_range,
                "Weights in [-64, 64]: the faster int8 kernel on CPUs without VNNI (AVX2)");
    q->add_flag("--int8-activations", f->int8_acts,
                "Signed int8 activations (default: uint8, asymmetric)");
    q->add_flag("--bias-correction", f->bias_correction,
                "Measure each layer's mean output error from its int8 weights on the calibration "
                "images and add it to the layer's bias");
    q->add_flag("--cle", f->cle,
                "Cross-layer equalization of consecutive convolutions before calibrating (ReLU6 "
                "between them becomes Relu; the float model's top-1 is printed)");
    q->add_option("--keep-float", f->keep, "Comma-separated node names to leave in float");
    q->add_flag("--auto-keep", f->auto_keep,
                "Measure each layer's error quantized alone; keep in float the few (at most a "
                "tenth) over --error-budget");
    q->add_option("--error-budget", f->budget,
                  "For --auto-keep: relative L2 error of the model output per layer")
        ->capture_default_str();
    q->add_flag("--dynamic", f->dynamic,
                "Dynamic quantization of MatMul/Gemm weights (inputs quantized at run time; no "
                "calibration)");
    q->add_option("--input-shape", f->shapes,
                  "Bind an input's shape for the latency and error rows, e.g. x=1,3,48,320");
    q->add_option("--weights-only", f->weights_only,
                  "Only the weights, no calibration: int8 (DequantizeLinear), int4 (grouped, "
                  "one scale per --block-size weights; ONNX opset 21) or float16 (Cast)");
    q->add_option("--block-size", f->block_size,
                  "For --weights-only int4: weights per scale along the reduction axis")
        ->capture_default_str();
    q->add_flag("--keep-names", f->keep_names,
                "Keep the long value names (default: short ones, a smaller file; node names "
                "stay)");
    q->add_option("--save-plan", f->save_plan, "Also write the calibration plan (JSON)");
    q->add_option("--plan", f->plan, "Apply a saved plan instead of calibrating");
    q->add_option("--data", f->data,
                  "Labelled data for the accuracy rows (default: the calibration set's)");
    q->add_option("--test-limit", f->test_limit, "Evaluate on the first N test images only");
    q->add_option("--repeat", f->repeat, "Timed runs per runtime for the latency rows")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000));
    verbs.emplace_back(q, [f] { return cmd_quantize(*f); });

    auto t = std::make_shared<QatFlags>();
    t->cfg.epochs = 1;
    t->cfg.lr = 0.002;
    t->cfg.batch = 128;
    t->cfg.weight_decay = 1e-4;
    t->cfg.schedule = "cosine";
    auto* a = app.add_subcommand("qat",
                                 "Quantization-aware training: calibrate, fine-tune with fake "
                                 "quantization (straight-through "
                                 "estimator), write the QDQ model, with a before/after table");
    a->add_option("model", t->q.model, "Float ONNX model")->required();
    a->add_option("-o,--output", t->q.out, "Quantized model (.onnx, QDQ form)")->required();
    a->add_option("--calib", t->q.calib, "Calibration images, as for pare quantize")
        ->capture_default_str();
    a->add_option("--method", t->q.method, "Calibration: minmax, percentile, entropy or mse")
        ->capture_default_str();
    a->add_option("--percentile", t->q.percentile, "For --method percentile, in (0, 100]")
        ->capture_default_str();
    a->add_flag("--per-tensor", t->q.per_tensor, "One weight scale per layer");
    a->add_flag("--reduce-range", t->q.reduce_range, "Weights in [-64, 64] (see pare quantize)");
    a->add_flag("--cle", t->q.cle,
                "Cross-layer equalization before calibrating and fine-tuning (see pare quantize)");
    a->add_option("--plan", t->q.plan, "Start from a saved plan instead of calibrating");
    a->add_flag("--keep-names", t->q.keep_names, "Keep the long value names");
    a->add_option("--data", t->q.data,
                  "Labelled training and test data (default: the calibration set's)");
    add_training_flags(a, t->cfg, "Fine-tuning epochs");
    a->add_option("--limit", t->limit, "Fine-tune on the first N training images only");
    a->add_option("--test-limit", t->q.test_limit, "Evaluate on the first N test images only");
    a->add_option("--repeat", t->q.repeat, "Timed runs per runtime for the latency rows")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000));
    verbs.emplace_back(a, [t] { return cmd_qat(*t); });
}

}  // namespace pare::cli
