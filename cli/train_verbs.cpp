// pare arch | train | eval: the architecture zoo, training through libtorch and
// evaluation on pare's own runtime.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/cli.h"
#include "runtime/ir/passes/passes.h"
#include "toolkit/arch/zoo.h"
#include "toolkit/data/dataset.h"
#include "toolkit/report/evaluate.h"
#include "toolkit/report/model_stats.h"
#include "toolkit/train/trainer.h"

namespace pare::cli {

namespace {

struct TrainFlags {
    std::string arch, model, data = "fashion-mnist", out, checkpoint, eval_model, show_out;
    CLI::Option* classes_flag = nullptr;
    ArchOptions arch_opts;
    TrainConfig cfg;
    double val_fraction = 1.0 / 12;
    int64_t limit = 0, test_limit = 0, eval_batch = 100;
    bool no_test = false, no_nesterov = false;
};

void add_arch_flags(CLI::App* c, ArchOptions& o) {
    c->add_option("--width", o.width, "Width (channel) multiplier")->capture_default_str();
    c->add_option("--depth", o.depth, "Depth (block count) multiplier")->capture_default_str();
    c->add_option("--resolution", o.resolution, "Input resolution multiplier")
        ->capture_default_str();
    c->add_option("--expansion", o.expansion, "MobileNetV2 expansion ratio")->capture_default_str();
    c->add_option("--layers", o.layers, "ResNet depth, 6n+2")->capture_default_str();
    c->add_option("--phi", o.phi, "EfficientNet compound coefficient")->capture_default_str();
    c->add_option("--in-channels", o.in_channels, "Input channels")->capture_default_str();
    c->add_option("--input-size", o.input_size, "Input height and width before --resolution")
        ->capture_default_str();
    c->add_option("--classes", o.num_classes, "Number of classes (training: taken from the data)")
        ->capture_default_str();
    c->add_option("--seed", o.seed, "Initialization seed")->capture_default_str();
}

int cmd_arch_list() {
    for (const auto& a : arch_list()) std::printf("%-20s %s\n", a.name.c_str(), a.summary.c_str());
    return 0;
}

int cmd_arch_show(const std::string& name, const ArchOptions& o, const std::string& out) {
    Graph g = check(build_arch(name, o));
    if (!out.empty()) check(export_onnx_file(g, out));
    Graph bound = g;
    bound.inputs[0].shape[0] = 1;
    check(infer_shapes(bound));
    ModelStats st = compute_stats(bound);
    std::printf("%-40s %-20s %-18s %10s %12s\n", "layer", "op", "output", "params", "MACs");
    for (const auto& n : st.nodes) {
        std::printf("%-40s %-20s %-18s %10lld %12lld\n", n.name.c_str(), n.op.c_str(),
                    shape_str(n.output).c_str(), static_cast<long long>(n.params),
                    static_cast<long long>(n.macs));
    }
    std::printf("\n%s: input %s, %s parameters, %s MACs per image, %zu nodes\n", name.c_str(),
                shape_str(bound.inputs[0].shape).c_str(), human_count(st.parameters).c_str(),
                human_count(st.macs).c_str(), g.nodes.size());
    return 0;
}

int cmd_train(TrainFlags& f) {
    if (f.arch.empty() == f.model.empty())
        throw Failure{invalid_argument("give exactly one of --arch and --model")};
    if (f.out.empty()) throw Failure{invalid_argument("give the output model with -o model.onnx")};
    if (std::filesystem::path(f.out).extension() != ".onnx")
        throw Failure{invalid_argument(f.out + ": output must be .onnx")};
    Graph g;
    std::string arch_name;
    ArchOptions ao = f.arch_opts;
    if (!f.arch.empty()) check(parse_arch_spec(f.arch, f.arch_opts, &arch_name, &ao));
    DataOptions d;
    d.val_fraction = f.val_fraction;
    d.seed = f.cfg.seed;
    d.train_limit = f.limit;
    d.test_limit = f.test_limit;
    if (!f.arch.empty()) {
        const int64_t size = arch_input_size(arch_name, ao);
        if (size != ao.input_size) d.resize = size;
    }
    DataSplits data = check(load_data(f.data, d));
    if (!f.arch.empty()) {
        if (f.classes_flag && f.classes_flag->count() > 0 &&
            ao.num_classes != data.train.num_classes) {
            throw Failure{invalid_argument("--classes " + std::to_string(ao.num_classes) +
                                           " does not match " + f.data + ", which has " +
                                           std::to_string(data.train.num_classes) + " classes")};
        }
        ao.in_channels = data.train.images.shape()[1];
        ao.num_classes = data.train.num_classes;
        if (!d.resize) ao.input_size = data.train.images.shape()[2];
        g = check(build_arch(arch_name, ao));
    } else {
        g = check(load_model_file(f.model));
    }
    f.cfg.nesterov = !f.no_nesterov;
    std::fprintf(
        stderr,
        "training on %lld examples, validating on %lld, %lld epochs, batch %lld, %d threads\n",
        static_cast<long long>(data.train.size()), static_cast<long long>(data.val.size()),
        static_cast<long long>(f.cfg.epochs), static_cast<long long>(f.cfg.batch), f.cfg.threads);
    TrainResult r = check(train_graph(g, data, f.cfg));
    check(export_onnx_file(g, f.out));
    Graph bound = g;
    bound.inputs[0].shape[0] = 1;
    check(infer_shapes(bound));
    ModelStats st = compute_stats(bound);
    std::printf("model     %s (%s parameters, %s MACs per image)\n", f.out.c_str(),
                human_count(st.parameters).c_str(), human_count(st.macs).c_str());
    std::printf("training  %lld steps, %.0f s, %.0f images/s (training steps)\n",
                static_cast<long long>(r.steps), r.seconds, r.images_per_s);
    if (!r.epochs.empty())
        std::printf("val top-1 %.2f%% (libtorch)\n", 100 * r.epochs.back().val_acc);
    if (!f.no_test && data.test.size() > 0) {
        EvalReport e = check(evaluate(g, data.test, f.eval_batch));
        std::printf("test top-1 %.2f%%, top-5 %.2f%% (pare runtime, %lld images)\n", 100 * e.top1,
                    100 * e.top5, static_cast<long long>(e.examples));
    }
    return 0;
}

int cmd_eval(const TrainFlags& f) {
    Graph g = check(load_model_file(f.eval_model));
    DataOptions d;
    d.test_limit = f.test_limit;
    DataSplits data = check(load_data(f.data, d));
    if (data.test.size() == 0)
        throw Failure{invalid_argument(f.data + ": has no test split to evaluate on")};
    Result<EvalReport> r = evaluate(g, data.test, f.eval_batch);
    if (!r.ok()) throw Failure{r.status().with_context(f.eval_model)};
    const EvalReport& e = r.value();
    std::printf("model     %s\ndata      %s\n%s", f.eval_model.c_str(), data.test.name.c_str(),
                format_eval(e, data.test.class_names).c_str());
    return 0;
}

}  // namespace

void add_train_verbs(CLI::App& app, VerbTable& verbs) {
    auto f = std::make_shared<TrainFlags>();

    auto* arch = app.add_subcommand("arch", "The efficient-architecture zoo");
    arch->require_subcommand(1);
    auto* list = arch->add_subcommand("list", "List the architectures");
    verbs.emplace_back(list, [] { return cmd_arch_list(); });
    auto* show =
        arch->add_subcommand("show", "Print an architecture's layers, parameters and MACs");
    show->add_option("name", f->arch, "Architecture (see pare arch list)")->required();
    add_arch_flags(show, f->arch_opts);
    show->add_option("-o,--output", f->show_out, "Also write the (untrained) model as ONNX");
    verbs.emplace_back(show, [f] { return cmd_arch_show(f->arch, f->arch_opts, f->show_out); });

    auto* train =
        app.add_subcommand("train", "Train an architecture of the zoo, or fine-tune an ONNX model");
    train->add_option("--arch", f->arch,
                      "Architecture, e.g. mobilenet_v2 or mobilenet_v2:width=0.5");
    train->add_option("--model", f->model, "ONNX model to fine-tune");
    train->add_option("--data", f->data, "fashion-mnist[:N], a .npz file or an image folder")
        ->capture_default_str();
    train->add_option("-o,--output", f->out, "Trained model (.onnx)");
    add_arch_flags(train, f->arch_opts);
    f->classes_flag = train->get_option("--classes");
    TrainConfig& c = f->cfg;
    train->add_option("--epochs", c.epochs, "Epochs")->capture_default_str();
    train->add_option("--batch", c.batch, "Batch size")
        ->capture_default_str()
        ->check(CLI::Range(1, 1 << 16));
    train->add_option("--optimizer", c.optimizer, "sgd or adamw")
        ->capture_default_str()
        ->check(CLI::IsMember({"sgd", "adamw"}));
    train->add_option("--lr", c.lr, "Peak learning rate")->capture_default_str();
    train->add_option("--momentum", c.momentum, "SGD momentum")->capture_default_str();
    train->add_flag("--no-nesterov", f->no_nesterov, "Plain instead of Nesterov momentum");
    train->add_option("--weight-decay", c.weight_decay, "Weight decay")->capture_default_str();
    train->add_option("--schedule", c.schedule, "cosine, step or constant")
        ->capture_default_str()
        ->check(CLI::IsMember({"cosine", "step", "constant"}));
    train->add_option("--step-epochs", c.step_epochs, "Step schedule: decay every N epochs");
    train->add_option("--gamma", c.gamma, "Step schedule: decay factor")->capture_default_str();
    train->add_option("--warmup", c.warmup_epochs, "Linear warm-up epochs")->capture_default_str();
    train->add_option("--label-smoothing", c.label_smoothing, "Label smoothing")
        ->capture_default_str();
    train->add_option("--clip-grad", c.clip_grad_norm, "Clip the gradient norm (0: off)")
        ->capture_default_str();
    train
        ->add_option("--pad-crop", c.augment.pad,
                     "Augment: random crop after zero-padding by N pixels")
        ->capture_default_str();
    train->add_flag("--hflip", c.augment.hflip, "Augment: random horizontal flips");
    train->add_option("--threads", c.threads, "Threads")
        ->capture_default_str()
        ->check(CLI::Range(1, 256));
    train->add_option("--data-seed", c.seed, "Seed for data order, augmentation and dropout")
        ->capture_default_str();
    train->add_option("--checkpoint", c.checkpoint,
                      "Checkpoint file: saved every epoch, resumed from if present");
    train->add_option("--max-steps", c.max_steps, "Stop after this many steps");
    train->add_option("--val-fraction", f->val_fraction, "Validation share of the training set")
        ->capture_default_str();
    train->add_option("--limit", f->limit, "Train on the first N examples only");
    train->add_option("--test-limit", f->test_limit, "Evaluate on the first N test examples only");
    train->add_flag("--no-test", f->no_test, "Skip the final test-set evaluation");
    verbs.emplace_back(train, [f] { return cmd_train(*f); });

    auto* eval =
        app.add_subcommand("eval",
                           "Top-1, top-5, per-class accuracy and confusion matrix on the test set, "
                           "computed by pare's runtime");
    eval->add_option("model", f->eval_model, "ONNX or .pare model")->required();
    eval->add_option("--data", f->data, "fashion-mnist, a .npz file or an image folder")
        ->capture_default_str();
    eval->add_option("--batch", f->eval_batch, "Batch size")
        ->capture_default_str()
        ->check(CLI::Range(1, 1 << 16));
    eval->add_option("--limit", f->test_limit, "Evaluate on the first N test examples only");
    verbs.emplace_back(eval, [f] { return cmd_eval(*f); });
}

}  // namespace pare::cli
