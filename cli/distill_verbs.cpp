// pare distill: knowledge distillation from a teacher into a student from the zoo
// or any ONNX model, against the same student trained without distillation (same
// epochs, same seed), with the three-column comparison table.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/cli.h"
#include "runtime/ir/passes/passes.h"
#include "toolkit/arch/zoo.h"
#include "toolkit/data/dataset.h"
#include "toolkit/report/model_stats.h"
#include "toolkit/train/trainer.h"

namespace pare::cli {

namespace {

struct DistillFlags {
    std::string teacher, student, data = "fashion-mnist", out, baseline_out;
    std::vector<std::string> hints;
    bool no_baseline = false, no_nesterov = false;
    int64_t limit = 0, test_limit = 0;
    int repeat = 10;
    TrainConfig cfg;
};

// The student: a zoo spec ("mobilenet_v2:width=0.35") sized for the data, or a model file.
Graph student_of(const std::string& spec, const DataSplits& data, uint64_t seed) {
    if (std::filesystem::exists(spec)) return check(load_model_file(spec), spec);
    ArchOptions base;
    base.seed = seed;
    std::string name;
    ArchOptions o;
    check(parse_arch_spec(spec, base, &name, &o));
    const Shape& s = data.train.images.shape();
    o.in_channels = s[1];
    o.input_size = s[2];
    o.num_classes = data.train.num_classes;
    if (arch_input_size(name, o) != s[2])
        throw Failure{invalid_argument("--student " + spec +
                                       ": a resolution multiplier needs resized data; train it "
                                       "with pare train --arch and pass the file")};
    return check(build_arch(name, o), "--student " + spec);
}

std::string default_baseline(const std::string& out) {
    std::filesystem::path p(out);
    return (p.parent_path() / (p.stem().string() + "_nodistill.onnx")).string();
}

int cmd_distill(DistillFlags& f) {
    if (f.out.empty()) throw Failure{invalid_argument("-o/--output is required")};
    if (std::filesystem::path(f.out).extension() != ".onnx")
        throw Failure{invalid_argument(f.out + ": output must be .onnx")};
    TrainConfig cfg = f.cfg;
    cfg.nesterov = !f.no_nesterov;
    for (const auto& h : f.hints) {
        const size_t c = h.find(':');
        if (c == std::string::npos || c == 0 || c + 1 == h.size())
            throw Failure{
                invalid_argument("--hint must be TEACHER_VALUE:STUDENT_VALUE, not \"" + h + "\"")};
        cfg.distill.hints.emplace_back(h.substr(0, c), h.substr(c + 1));
    }
    cfg.distill.teacher = check(load_model_file(f.teacher), f.teacher);
    DataOptions d;
    d.seed = cfg.seed;
    d.train_limit = f.limit;
    d.test_limit = f.test_limit;
    const DataSplits data = check(load_data(f.data, d));
    const Graph student = student_of(f.student, data, cfg.seed);
    const std::string baseline = f.baseline_out.empty() ? default_baseline(f.out) : f.baseline_out;

    // The distilled student first: bad teachers, students and hints fail before any
    // training.
    std::printf("distilling %s into %s: T %.3g, alpha %.3g, %lld epochs, seed %llu\n",
                f.teacher.c_str(), f.student.c_str(), cfg.distill.temperature, cfg.distill.alpha,
                static_cast<long long>(cfg.epochs), static_cast<unsigned long long>(cfg.seed));
    std::fflush(stdout);
    Graph distilled = student;
    const TrainResult rd = check(train_graph(distilled, data, cfg));
    Graph plain = student;
    TrainResult rp;
    if (!f.no_baseline) {
        std::printf("the same student without distillation (same epochs and seed)\n");
        std::fflush(stdout);
        TrainConfig c0 = cfg;
        c0.distill = Distill();
        rp = check(train_graph(plain, data, c0));
    }
    check(export_onnx_file(distilled, f.out));
    std::printf("wrote %s (distilled)\n", f.out.c_str());
    if (!f.no_baseline) {
        check(export_onnx_file(plain, baseline));
        std::printf("wrote %s (trained without distillation)\n", baseline.c_str());
    }
    const auto [tp, tm] = params_and_macs(cfg.distill.teacher);
    const auto [sp, sm] = params_and_macs(distilled);
    std::printf("student: %s parameters (%.1fx fewer than the teacher), %s MACs (%.1fx fewer)\n",
                human_count(sp).c_str(), static_cast<double>(tp) / std::max<int64_t>(1, sp),
                human_count(sm).c_str(), static_cast<double>(tm) / std::max<int64_t>(1, sm));
    CompareSpec spec;
    spec.models = {{"teacher", f.teacher}};
    std::vector<std::string> pc = {std::to_string(tp)}, mc = {std::to_string(tm)};
    std::vector<std::string> vc = {""};
    if (!f.no_baseline) {
        spec.models.emplace_back("plain student", baseline);
        pc.push_back(std::to_string(sp));
        mc.push_back(std::to_string(sm));
        vc.push_back(rp.epochs.empty() ? "" : std::to_string(100 * rp.epochs.back().val_acc));
    }
    spec.models.emplace_back("distilled", f.out);
    pc.push_back(std::to_string(sp));
    mc.push_back(std::to_string(sm));
    vc.push_back(rd.epochs.empty() ? "" : std::to_string(100 * rd.epochs.back().val_acc));
    for (auto& v : vc)
        if (!v.empty()) v = v.substr(0, v.find('.') + 3) + "%";
    spec.extra_rows = {
        {"parameters", pc}, {"MACs per image", mc}, {"validation top-1 (torch)", vc}};
    spec.data = data.test.size() > 0 ? f.data : "";
    spec.test_limit = f.test_limit;
    spec.repeat = f.repeat;
    compare_models(spec);
    return 0;
}

}  // namespace

void add_distill_verbs(CLI::App& app, VerbTable& verbs) {
    auto f = std::make_shared<DistillFlags>();
    f->cfg.epochs = 10;
    f->cfg.batch = 128;
    f->cfg.lr = 0.05;
    f->cfg.weight_decay = 5e-4;
    auto* p = app.add_subcommand(
        "distill",
        "Knowledge distillation: train a student on a teacher's soft targets (and optional "
        "feature hints), compared with the same student trained without them");
    TrainConfig& c = f->cfg;
    p->add_option("--teacher", f->teacher, "Teacher model (ONNX or .pare)")->required();
    p->add_option("--student", f->student,
                  "A zoo architecture (mobilenet_v2:width=0.35) or a model file (a pruned, "
                  "factorized or any ONNX model)")
        ->required();
    p->add_option("--data", f->data, "Labelled training data")->capture_default_str();
    p->add_option("-o,--output", f->out, "The distilled student (.onnx)");
    p->add_option("--baseline-out", f->baseline_out,
                  "Where the student trained without distillation goes (default: "
                  "OUT_nodistill.onnx)");
    p->add_flag("--no-baseline", f->no_baseline, "Skip training the student without distillation");
    p->add_option("--temperature", c.distill.temperature, "Softmax temperature T")
        ->capture_default_str();
    p->add_option("--alpha", c.distill.alpha,
                  "Weight of the soft-target term (1 - alpha on the labels)")
        ->capture_default_str();
    p->add_option("--hint", f->hints,
                  "TEACHER_VALUE:STUDENT_VALUE (repeatable; node or value names, as `pare info "
                  "--plan` lists nodes): feature hint through a learned 1x1 adapter");
    p->add_option("--hint-weight", c.distill.hint_weight, "Weight of each hint's MSE")
        ->capture_default_str();
    add_training_flags(p, c);
    p->add_option("--warmup", c.warmup_epochs, "Linear warm-up epochs")->capture_default_str();
    p->add_option("--label-smoothing", c.label_smoothing, "Label smoothing of the label term")
        ->capture_default_str();
    p->add_option("--pad-crop", c.augment.pad, "Augment: random crop after zero-padding by N")
        ->capture_default_str();
    p->add_flag("--hflip", c.augment.hflip, "Augment: random horizontal flips");
    p->add_flag("--no-nesterov", f->no_nesterov, "Plain instead of Nesterov momentum");
    p->add_option("--seed", c.seed, "Seed: initialization, data order, augmentation")
        ->capture_default_str();
    p->add_option("--limit", f->limit, "Train on the first N examples only");
    p->add_option("--test-limit", f->test_limit, "Evaluate on the first N test images only");
    p->add_option("--repeat", f->repeat, "Timed runs per runtime for the latency rows")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000));
    verbs.emplace_back(p, [f] { return cmd_distill(*f); });
}

}  // namespace pare::cli
