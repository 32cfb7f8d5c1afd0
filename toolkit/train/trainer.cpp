// The training loop around TorchGraph.
#include "toolkit/train/trainer.h"

#include <dlfcn.h>
#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "runtime/ir/passes/passes.h"
#include "toolkit/train/torch_graph.h"

namespace pare {

namespace {

using Clock = std::chrono::steady_clock;

// Freed memory kept for reuse. By default glibc serves each block over 128 KB
// (every activation and gradient of a training step) by mmap and returns it on
// free, so the next step page-faults all of it in again: MobileNetV2 x0.25 at
// batch 128 took 5.1M page faults in 60 steps and trained at 129 images/s on 2
// threads here, against 0.34M faults and 403 images/s with these thresholds.
void keep_freed_memory() {
#if defined(__GLIBC__)
    static const bool once = [] {
        mallopt(M_MMAP_THRESHOLD, 256 << 20);
        mallopt(M_TRIM_THRESHOLD, 1 << 30);
        return true;
    }();
    (void)once;
#endif
}

// Torch threads with OpenMP; OpenBLAS threading on top oversubscribes the cores
// (measured 1.8x slower), so OpenBLAS runs single-threaded when it is the BLAS.
// Also keep_freed_memory: every entry point that runs torch comes here first.
void set_threads(int threads) {
    keep_freed_memory();
    torch::set_num_threads(std::max(1, threads));
    using SetFn = void (*)(int);
    if (auto f = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) f(1);
}

// A copy of g for torch: input batch bound, constants folded, no BatchNorm folding.
// classes < 0 skips the class-count check.
Result<Graph> training_graph(const Graph& g, const Dataset& data, int64_t batch, int64_t classes) {
    if (g.inputs.size() != 1 || g.outputs.size() != 1) {
        return invalid_argument("the model must have one input and one output (it has " +
                                std::to_string(g.inputs.size()) + " and " +
                                std::to_string(g.outputs.size()) + ")");
    }
    Graph t = g;
    PARE_RETURN_IF_ERROR(free_batch_dim(t).status());
    ValueInfo& in = t.inputs[0];
    const Shape& ds = data.images.shape();
    if (in.dtype != DType::kFloat32 || !in.has_shape || in.shape.size() != 4) {
        return invalid_argument("model input \"" + in.name + "\" must be float32 (N, C, H, W)");
    }
    for (int d = 1; d < 4; ++d) {
        if (in.shape[d] >= 0 && in.shape[d] != ds[d]) {
            return invalid_argument("model input \"" + in.name + "\" is " + shape_str(in.shape) +
                                    " but the data is " + shape_str({-1, ds[1], ds[2], ds[3]}));
        }
    }
    in.shape = {batch, ds[1], ds[2], ds[3]};
    in.dim_params.assign(4, "");
    PARE_RETURN_IF_ERROR(t.resolve_ops());
    PARE_RETURN_IF_ERROR(t.topo_sort());
    PARE_RETURN_IF_ERROR(remove_identity(t).status());
    PARE_RETURN_IF_ERROR(fold_constants(t).status());
    PARE_RETURN_IF_ERROR(eliminate_dead_code(t).status());
    PARE_RETURN_IF_ERROR(t.topo_sort());
    PARE_RETURN_IF_ERROR(infer_shapes(t));
    const ValueInfo& out = t.outputs[0];
    if (classes >= 0 && (!out.has_shape || out.shape.size() != 2 || out.shape[1] != classes)) {
        return invalid_argument("the model's output \"" + out.name + "\" is " +
                                shape_str(out.shape) + " but the data has " +
                                std::to_string(data.num_classes) + " classes (expected [N," +
                                std::to_string(data.num_classes) + "])");
    }
    return t;
}

torch::Tensor labels_tensor(const std::vector<int64_t>& y) {
    return torch::tensor(y, torch::kLong);
}

// Top-1 accuracy in eval mode; the last batch is padded to the bound batch size.
double accuracy(TorchGraph& tg, const Dataset& data, int64_t batch) {
    if (data.size() == 0) return 0;
    torch::NoGradGuard ng;
    BatchIterator it(data, batch, false, false, 0, 0);
    Tensor x;
    std::vector<int64_t> y;
    int64_t correct = 0;
    while (it.next(&x, &y)) {
        torch::Tensor xt = to_torch(x);
        const int64_t b = xt.size(0);
        if (b < batch)
            xt = torch::cat({xt, torch::zeros({batch - b, xt.size(1), xt.size(2), xt.size(3)})});
        torch::Tensor pred = tg.forward(xt, false).argmax(1).slice(0, 0, b);
        correct += pred.eq(labels_tensor(y)).sum().item<int64_t>();
    }
    return static_cast<double>(correct) / static_cast<double>(data.size());
}

std::string eta_str(double s) {
    char buf[32];
    if (s >= 3600) {
        std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(s / 3600),
                      static_cast<int>(s / 60) % 60);
    } else {
        std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s / 60),
                      static_cast<int>(s) % 60);
    }
    return buf;
}

// A fingerprint of the trainable tensors' names and shapes, to refuse a checkpoint of another
// model.
std::string fingerprint(const TorchGraph& tg) {
    std::string f;
    for (const auto* m : {&tg.params(), &tg.buffers()}) {
        for (const auto& kv : *m) {
            f += kv.first + "[";
            for (int64_t d : kv.second.sizes()) f += std::to_string(d) + ",";
            f += "];";
        }
    }
    return f;
}

// The teacher of a distillation, its cached logits and the hints' adapters.
struct Teacher {
    std::unique_ptr<TorchGraph> tg;
    torch::Tensor cached;                 // (training examples, classes), or undefined
    std::vector<torch::Tensor> adapters;  // one per hint
    std::vector<std::pair<std::string, std::string>> hints;  // as value names
};

// The student's training graph tg already has the data's class count.
Result<Teacher> make_teacher(TorchGraph& tg, const DataSplits& data, const TrainConfig& cfg) {
    const Distill& d = cfg.distill;
    if (!(d.temperature > 0)) return invalid_argument("the temperature must be > 0");
    if (!(d.alpha >= 0 && d.alpha <= 1)) return invalid_argument("alpha must be in [0, 1]");
    if (!(d.hint_weight >= 0)) return invalid_argument("the hint weight must be >= 0");
    Result<Graph> tgraph = training_graph(d.teacher, data.train, cfg.batch, -1);
    if (!tgraph.ok()) return tgraph.status().with_context("teacher");
    const ValueInfo& to = tgraph.value().outputs[0];
    const int64_t ks = data.train.num_classes;
    if (!to.has_shape || to.shape.size() != 2 || to.shape[1] != ks)
        return invalid_argument(
            "the teacher has " +
            (to.has_shape && to.shape.size() == 2 ? std::to_string(to.shape[1]) + " classes"
                                                  : "output " + shape_str(to.shape)) +
            " and the student " + std::to_string(ks) + " classes (their outputs must match)");
    Teacher t;
    t.tg = std::make_unique<TorchGraph>(tgraph.value());
    std::map<std::string, torch::Tensor> taps_t, taps_s;
    for (const auto& [tn, sn] : d.hints) {
        const std::string tv = t.tg->value_named(tn), sv = tg.value_named(sn);
        if (tv.empty())
            return invalid_argument("hint: the teacher computes no value named \"" + tn +
                                    "\" (a node name or a node's output)");
        if (sv.empty())
            return invalid_argument("hint: the student computes no value named \"" + sn +
                                    "\" (a node name or a node's output)");
        t.hints.emplace_back(tv, sv);
        taps_t[tv];
        taps_s[sv];
    }
    const Shape& ds = data.train.images.shape();
    const torch::Tensor probe = torch::zeros({cfg.batch, ds[1], ds[2], ds[3]});
    if (!d.hints.empty()) {
        torch::NoGradGuard ng;
        t.tg->forward(probe, false, &taps_t);
        tg.forward(probe, false, &taps_s);
        for (const auto& [tv, sv] : t.hints) {
            const torch::Tensor& a = taps_t.at(tv);
            const torch::Tensor& b = taps_s.at(sv);
            if (a.dim() != b.dim() || (a.dim() != 4 && a.dim() != 2))
                return invalid_argument("hint " + tv + ":" + sv +
                                        ": both values must be (N, C, H, W) or (N, C)");
            torch::Tensor w =
                torch::empty(a.dim() == 4 ? std::vector<int64_t>{a.size(1), b.size(1), 1, 1}
                                          : std::vector<int64_t>{a.size(1), b.size(1)});
            torch::nn::init::kaiming_uniform_(w, std::sqrt(5.0));
            t.adapters.push_back(w.requires_grad_(true));
        }
    }
    if (!cfg.augment.enabled() && d.hints.empty()) {
        // The same images every epoch: the teacher's logits once, by example index.
        torch::NoGradGuard ng;
        t.cached = torch::zeros({data.train.size(), ks});
        BatchIterator it(data.train, cfg.batch, false, false, 0, 0);
        Tensor x;
        std::vector<int64_t> y, idx;
        while (it.next(&x, &y, &idx)) {
            torch::Tensor xt = to_torch(x);
            const int64_t b = xt.size(0);
            if (b < cfg.batch)
                xt = torch::cat(
                    {xt, torch::zeros({cfg.batch - b, xt.size(1), xt.size(2), xt.size(3)})});
            t.cached.index_copy_(0, torch::tensor(idx, torch::kLong),
                                 t.tg->forward(xt, false).slice(0, 0, b));
        }
    }
    return t;
}

// Hinton's soft-target term, T^2 KL(teacher || student) at temperature T.
torch::Tensor soft_target_loss(const torch::Tensor& student, const torch::Tensor& teacher,
                               double T) {
    const torch::Tensor log_ps = torch::log_softmax(student / T, 1);
    const torch::Tensor log_pt = torch::log_softmax(teacher / T, 1);
    return (log_pt.exp() * (log_pt - log_ps)).sum(1).mean() * (T * T);
}

// The adapter's image of a student value, aligned with the teacher value's size.
torch::Tensor hint_loss(const torch::Tensor& fs, const torch::Tensor& ft, const torch::Tensor& w) {
    if (fs.dim() == 2) return torch::mse_loss(fs.matmul(w.t()), ft);
    torch::Tensor a = torch::conv2d(fs, w);
    torch::Tensor b = ft;
    if (a.size(2) > b.size(2) || a.size(3) > b.size(3))
        a = torch::adaptive_avg_pool2d(a, {b.size(2), b.size(3)});
    else if (b.size(2) > a.size(2) || b.size(3) > a.size(3))
        b = torch::adaptive_avg_pool2d(b, {a.size(2), a.size(3)});
    return torch::mse_loss(a, b);
}

}  // namespace

Result<TrainResult> train_graph(Graph& g, const DataSplits& data, const TrainConfig& cfg) {
    if (cfg.batch < 1 || cfg.epochs < 0)
        return invalid_argument("batch must be >= 1 and epochs >= 0");
    if (data.train.size() < cfg.batch) {
        return invalid_argument("the training set (" + std::to_string(data.train.size()) +
                                " examples) is smaller than one batch (" +
                                std::to_string(cfg.batch) + ")");
    }
    PARE_RETURN_IF_ERROR(data.train.validate());
    PARE_ASSIGN_OR_RETURN(Graph tgraph,
                          training_graph(g, data.train, cfg.batch, data.train.num_classes));
    set_threads(cfg.threads);
    try {
        torch::manual_seed(cfg.seed);
        TorchGraph tg(tgraph);
        tg.set_fake_quant(cfg.fake_quant);
        std::vector<torch::Tensor> params = tg.parameters();
        if (params.empty()) return invalid_argument("the model has no trainable parameters");
        Teacher teacher;
        if (cfg.distill.enabled()) {
            PARE_ASSIGN_OR_RETURN(teacher, make_teacher(tg, data, cfg));
            for (const auto& a : teacher.adapters) params.push_back(a);
        }
        std::vector<std::pair<torch::Tensor, torch::Tensor>> masks;  // (parameter, mask)
        for (const auto& [name, m] : cfg.masks) {
            const auto it = tg.params().find(name);
            if (it == tg.params().end() || m.shape() != from_torch(it->second.detach()).shape())
                return invalid_argument("mask \"" + name + "\" matches no trainable weight");
            masks.emplace_back(it->second, to_torch(m));
        }
        const auto apply_masks = [&masks] {
            torch::NoGradGuard ng;
            for (auto& [p, m] : masks) p.mul_(m);
        };
        apply_masks();
        std::unique_ptr<torch::optim::Optimizer> opt;
        if (cfg.optimizer == "sgd") {
            opt = std::make_unique<torch::optim::SGD>(
                params, torch::optim::SGDOptions(cfg.lr)
                            .momentum(cfg.momentum)
                            .nesterov(cfg.nesterov && cfg.momentum > 0)
                            .weight_decay(cfg.weight_decay));
        } else if (cfg.optimizer == "adamw") {
            opt = std::make_unique<torch::optim::AdamW>(
                params, torch::optim::AdamWOptions(cfg.lr).weight_decay(cfg.weight_decay));
        } else {
            return invalid_argument("unknown optimizer \"" + cfg.optimizer + "\" (sgd or adamw)");
        }
        if (cfg.schedule != "cosine" && cfg.schedule != "step" && cfg.schedule != "constant") {
            return invalid_argument("unknown schedule \"" + cfg.schedule +
                                    "\" (cosine, step or constant)");
        }
        const int64_t steps_per_epoch = data.train.size() / cfg.batch;
        const int64_t total_steps = std::max<int64_t>(1, steps_per_epoch * cfg.epochs);
        const int64_t warm =
            static_cast<int64_t>(cfg.warmup_epochs * static_cast<double>(steps_per_epoch));
        const int64_t step_epochs =
            cfg.step_epochs > 0 ? cfg.step_epochs : std::max<int64_t>(1, cfg.epochs / 3);
        auto lr_at = [&](int64_t step, int64_t epoch) {
            if (step < warm)
                return cfg.lr * static_cast<double>(step + 1) / static_cast<double>(warm);
            if (cfg.schedule == "cosine") {
                const double t = static_cast<double>(step - warm) /
                                 static_cast<double>(std::max<int64_t>(1, total_steps - warm));
                return 0.5 * cfg.lr * (1 + std::cos(M_PI * std::min(1.0, t)));
            }
            if (cfg.schedule == "step")
                return cfg.lr * std::pow(cfg.gamma, static_cast<double>(epoch / step_epochs));
            return cfg.lr;
        };

        TrainResult result;
        int64_t start_epoch = 0;
        const std::string fp =
            fingerprint(tg) + (cfg.distill.enabled()
                                   ? "distill:" + std::to_string(cfg.distill.hints.size())
                                   : std::string());
        if (!cfg.checkpoint.empty() && std::filesystem::exists(cfg.checkpoint)) {
            torch::serialize::InputArchive ar;
            ar.load_from(cfg.checkpoint);
            c10::IValue v;
            ar.read("fingerprint", v);
            if (v.toStringRef() != fp) {
                return invalid_argument(cfg.checkpoint + ": checkpoint was made for another model");
            }
            ar.read("epoch", v);
            start_epoch = v.toInt();
            torch::NoGradGuard ng;
            for (const auto* m : {&tg.params(), &tg.buffers()}) {
                for (const auto& kv : *m) {
                    torch::Tensor t;
                    ar.read("t/" + kv.first, t);
                    kv.second.copy_(t);
                }
            }
            for (size_t i = 0; i < teacher.adapters.size(); ++i) {
                torch::Tensor t;
                ar.read("adapter/" + std::to_string(i), t);
                teacher.adapters[i].copy_(t);
            }
            torch::serialize::InputArchive oa;
            ar.read("optimizer", oa);
            opt->load(oa);
            result.resumed_from_epoch = start_epoch;
            if (cfg.progress)
                std::fprintf(stderr, "resuming from %s at epoch %lld\n", cfg.checkpoint.c_str(),
                             static_cast<long long>(start_epoch));
        }
        auto save_checkpoint = [&](int64_t epoch) {
            torch::serialize::OutputArchive ar;
            ar.write("fingerprint", c10::IValue(fp));
            ar.write("epoch", c10::IValue(epoch));
            for (const auto* m : {&tg.params(), &tg.buffers()}) {
                for (const auto& kv : *m) ar.write("t/" + kv.first, kv.second.detach());
            }
            for (size_t i = 0; i < teacher.adapters.size(); ++i)
                ar.write("adapter/" + std::to_string(i), teacher.adapters[i].detach());
            torch::serialize::OutputArchive oa;
            opt->save(oa);
            ar.write("optimizer", oa);
            const std::string tmp = cfg.checkpoint + ".tmp." + std::to_string(::getpid());
            ar.save_to(tmp);
            std::filesystem::rename(tmp, cfg.checkpoint);
        };

        const auto t_start = Clock::now();
        int64_t images = 0;
        for (int64_t epoch = start_epoch; epoch < cfg.epochs; ++epoch) {
            torch::manual_seed(cfg.seed * 1000003 + static_cast<uint64_t>(epoch));
            BatchIterator it(data.train, cfg.batch, true, true, cfg.seed, epoch, cfg.augment);
            const auto t_epoch = Clock::now();
            auto t_print = t_epoch;
            double loss_sum = 0;
            int64_t correct = 0, seen = 0, step = 0;
            Tensor x;
            std::vector<int64_t> y, idx;
            std::map<std::string, torch::Tensor> taps_s, taps_t;
            for (const auto& [tv, sv] : teacher.hints) {
                taps_t[tv];
                taps_s[sv];
            }
            while (it.next(&x, &y, &idx)) {
                const int64_t global = epoch * steps_per_epoch + step;
                if (cfg.max_steps > 0 && result.steps >= cfg.max_steps) break;
                const double lr = lr_at(global, epoch);
                for (auto& group : opt->param_groups()) group.options().set_lr(lr);
                const torch::Tensor xt = to_torch(x);
                torch::Tensor logits = tg.forward(xt, true, taps_s.empty() ? nullptr : &taps_s);
                torch::Tensor target = labels_tensor(y);
                torch::Tensor logp = torch::log_softmax(logits, 1);
                torch::Tensor nll = -logp.gather(1, target.unsqueeze(1)).squeeze(1);
                torch::Tensor loss = nll.mean();
                if (cfg.label_smoothing > 0) {
                    loss = (1 - cfg.label_smoothing) * loss +
                           cfg.label_smoothing * (-logp.mean(1)).mean();
                }
                if (cfg.distill.enabled()) {
                    const Distill& d = cfg.distill;
                    torch::Tensor t_logits;
                    if (teacher.cached.defined()) {
                        t_logits = teacher.cached.index_select(0, torch::tensor(idx, torch::kLong));
                    } else {
                        torch::NoGradGuard ng;
                        t_logits =
                            teacher.tg->forward(xt, false, taps_t.empty() ? nullptr : &taps_t);
                    }
                    loss = d.alpha * soft_target_loss(logits, t_logits, d.temperature) +
                           (1 - d.alpha) * loss;
                    for (size_t h = 0; h < teacher.hints.size(); ++h)
                        loss = loss + d.hint_weight * hint_loss(taps_s.at(teacher.hints[h].second),
                                                                taps_t.at(teacher.hints[h].first),
                                                                teacher.adapters[h]);
                }
                const double lv = loss.item<double>();
                if (!std::isfinite(lv)) {
                    std::string kept =
                        cfg.checkpoint.empty()
                            ? std::string("no checkpoint was requested")
                            : (std::filesystem::exists(cfg.checkpoint)
                                   ? "the last good checkpoint " + cfg.checkpoint + " is kept"
                                   : "no checkpoint was saved yet");
                    return invalid_argument(
                        "the loss became " + std::string(std::isnan(lv) ? "NaN" : "infinite") +
                        " at epoch " + std::to_string(epoch + 1) + " step " +
                        std::to_string(step + 1) + " (learning rate " + std::to_string(lr) + "); " +
                        kept + "; no model was written");
                }
                opt->zero_grad();
                loss.backward();
                if (cfg.clip_grad_norm > 0)
                    torch::nn::utils::clip_grad_norm_(params, cfg.clip_grad_norm);
                opt->step();
                apply_masks();
                loss_sum += lv * static_cast<double>(y.size());
                correct += logits.argmax(1).eq(target).sum().item<int64_t>();
                seen += static_cast<int64_t>(y.size());
                images += static_cast<int64_t>(y.size());
                ++step;
                ++result.steps;
                const auto now = Clock::now();
                if (cfg.progress && std::chrono::duration<double>(now - t_print).count() > 5) {
                    t_print = now;
                    const double el = std::chrono::duration<double>(now - t_start).count();
                    const double ips = static_cast<double>(images) / el;
                    const double left =
                        static_cast<double>((cfg.epochs - epoch) * steps_per_epoch - step) *
                        cfg.batch / ips;
                    std::fprintf(stderr,
                                 "epoch %lld/%lld step %lld/%lld loss %.4f acc %.2f%% lr %.4g %.0f "
                                 "img/s ETA %s\n",
                                 static_cast<long long>(epoch + 1),
                                 static_cast<long long>(cfg.epochs), static_cast<long long>(step),
                                 static_cast<long long>(steps_per_epoch), loss_sum / seen,
                                 100.0 * correct / seen, lr, ips, eta_str(left).c_str());
                }
            }
            if (seen == 0) break;
            EpochStats es;
            es.epoch = epoch + 1;
            es.train_loss = loss_sum / static_cast<double>(seen);
            es.train_acc = static_cast<double>(correct) / static_cast<double>(seen);
            es.seconds = std::chrono::duration<double>(Clock::now() - t_epoch).count();
            es.images_per_s = static_cast<double>(seen) / es.seconds;
            es.val_acc = accuracy(tg, data.val, cfg.batch);
            result.epochs.push_back(es);
            if (cfg.progress) {
                std::fprintf(
                    stderr,
                    "epoch %lld/%lld done: loss %.4f train %.2f%% val %.2f%% %.0f img/s %.0fs\n",
                    static_cast<long long>(es.epoch), static_cast<long long>(cfg.epochs),
                    es.train_loss, 100 * es.train_acc, 100 * es.val_acc, es.images_per_s,
                    es.seconds);
            }
            const bool stopped =
                cfg.max_steps > 0 && result.steps >= cfg.max_steps && step < steps_per_epoch;
            if (!cfg.checkpoint.empty() && !stopped) save_checkpoint(epoch + 1);
            if (cfg.max_steps > 0 && result.steps >= cfg.max_steps) break;
        }
        result.seconds = std::chrono::duration<double>(Clock::now() - t_start).count();
        double loop_seconds = 0;  // training steps only, without the validation passes
        for (const auto& e : result.epochs) loop_seconds += e.seconds;
        result.images_per_s = loop_seconds > 0 ? static_cast<double>(images) / loop_seconds : 0;
        tg.write_back(g);
        return result;
    } catch (const std::exception& e) {
        std::string m = e.what();
        const size_t nl = m.find('\n');
        if (nl != std::string::npos) m = m.substr(0, nl);
        return invalid_argument("training failed: " + m);
    }
}

Result<Tensor> torch_forward(const Graph& g, const Tensor& images, int threads,
                             const FakeQuant& fake_quant) {
    Dataset d;
    d.images = images;
    d.labels.assign(static_cast<size_t>(images.shape()[0]), 0);
    PARE_ASSIGN_OR_RETURN(Graph t, training_graph(g, d, images.shape()[0], -1));
    set_threads(threads);
    try {
        TorchGraph tg(t);
        tg.set_fake_quant(fake_quant);
        torch::NoGradGuard ng;
        return from_torch(tg.forward(to_torch(images), false));
    } catch (const std::exception& e) {
        return invalid_argument(e.what());
    }
}

Result<double> torch_accuracy(const Graph& g, const Dataset& data, int64_t batch, int threads) {
    PARE_ASSIGN_OR_RETURN(Graph t, training_graph(g, data, batch, data.num_classes));
    set_threads(threads);
    try {
        TorchGraph tg(t);
        return accuracy(tg, data, batch);
    } catch (const std::exception& e) {
        return invalid_argument(e.what());
    }
}

Result<int64_t> recalibrate_batchnorm(Graph& g, const Dataset& data, int64_t batch, int64_t batches,
                                      int threads) {
    if (batch < 1 || batches < 1 || data.size() < batch)
        return invalid_argument("batch-norm recalibration needs at least one batch of images");
    PARE_ASSIGN_OR_RETURN(Graph t, training_graph(g, data, batch, -1));
    set_threads(threads);
    try {
        TorchGraph tg(t);
        if (tg.buffers().empty()) return int64_t{0};
        torch::NoGradGuard ng;
        std::map<std::string, torch::Tensor> sum;
        for (const auto& [name, b] : tg.buffers()) sum[name] = torch::zeros_like(b);
        BatchIterator it(data, batch, true, true, 1, 0);
        Tensor x;
        std::vector<int64_t> y;
        int64_t n = 0;
        for (; n < batches && it.next(&x, &y); ++n) {
            // From zero, one training-mode pass leaves momentum (0.1) x this batch's
            // statistic in each running buffer.
            for (auto& kv : tg.mutable_buffers()) kv.second.zero_();
            tg.forward(to_torch(x), true);
            for (const auto& [name, b] : tg.buffers()) sum[name] += b;
        }
        for (auto& [name, b] : tg.mutable_buffers())
            b.copy_(sum[name] / (0.1 * static_cast<double>(n)));
        tg.write_back(g);
        return static_cast<int64_t>(tg.buffers().size() / 2);
    } catch (const std::exception& e) {
        return invalid_argument(std::string("batch-norm recalibration: ") + e.what());
    }
}

Result<std::map<std::string, Tensor>> taylor_scores(const Graph& g, const Dataset& data,
                                                    int64_t batch, int64_t batches, int threads) {
    if (batch < 1 || batches < 1 || data.size() < batch)
        return invalid_argument("taylor scores need at least one batch of training data");
    PARE_ASSIGN_OR_RETURN(Graph t, training_graph(g, data, batch, data.num_classes));
    set_threads(threads);
    try {
        TorchGraph tg(t);
        std::map<std::string, torch::Tensor> sum;
        for (const auto& [name, p] : tg.params()) sum[name] = torch::zeros_like(p.detach());
        BatchIterator it(data, batch, true, true, 1, 0);
        Tensor x;
        std::vector<int64_t> y;
        for (int64_t b = 0; b < batches && it.next(&x, &y); ++b) {
            for (const auto& kv : tg.params())
                if (kv.second.grad().defined()) kv.second.grad().zero_();
            torch::Tensor logp = torch::log_softmax(tg.forward(to_torch(x), false), 1);
            torch::Tensor loss = -logp.gather(1, labels_tensor(y).unsqueeze(1)).mean();
            loss.backward();
            torch::NoGradGuard ng;
            for (const auto& [name, p] : tg.params())
                if (p.grad().defined()) sum[name] += p.grad() * p.detach();
        }
        std::map<std::string, Tensor> out;
        for (const auto& [name, s] : sum) out[name] = from_torch(s);
        return out;
    } catch (const std::exception& e) {
        return invalid_argument(std::string("taylor scores: ") + e.what());
    }
}

}  // namespace pare
