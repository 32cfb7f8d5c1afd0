#include "toolkit/report/evaluate.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <sstream>

#include "runtime/exec/session.h"
#include "runtime/ir/passes/passes.h"

namespace pare {

Result<EvalReport> evaluate(const Graph& g_in, const Dataset& data, int64_t batch) {
    if (g_in.inputs.size() != 1 || g_in.outputs.size() != 1) {
        return invalid_argument("evaluation needs a model with one input and one output");
    }
    if (data.size() == 0) return invalid_argument(data.name + ": no examples to evaluate");
    Graph g = g_in;
    PARE_RETURN_IF_ERROR(free_batch_dim(g).status());
    ValueInfo& in = g.inputs[0];
    const Shape& ds = data.images.shape();
    if (!in.has_shape || in.shape.size() != 4)
        return invalid_argument("model input \"" + in.name + "\" must be (N, C, H, W)");
    for (int d = 1; d < 4; ++d) {
        if (in.shape[d] >= 0 && in.shape[d] != ds[d]) {
            return invalid_argument("model input \"" + in.name + "\" is " + shape_str(in.shape) +
                                    " but " + data.name + " images are " +
                                    shape_str({ds[1], ds[2], ds[3]}));
        }
    }
    // A batch the graph keeps fixed (free_batch_dim could not free it, e.g. a
    // cascade that decides per input) is the batch it runs with.
    const int64_t b = in.shape[0] > 0 ? in.shape[0] : std::min(batch, data.size());
    in.shape = {b, ds[1], ds[2], ds[3]};
    PARE_RETURN_IF_ERROR(g.resolve_ops());
    PARE_RETURN_IF_ERROR(run_default_passes(g));
    const ValueInfo& out = g.outputs[0];
    if (!out.has_shape || out.shape.size() != 2 || out.shape[1] != data.num_classes) {
        return invalid_argument("model output \"" + out.name + "\" is " + shape_str(out.shape) +
                                " but " + data.name + " has " + std::to_string(data.num_classes) +
                                " classes");
    }
    PARE_ASSIGN_OR_RETURN(Session s, Session::prepare(std::move(g)));
    const int64_t K = data.num_classes;
    EvalReport r;
    r.examples = data.size();
    r.confusion.assign(K, std::vector<int64_t>(K, 0));
    int64_t top5 = 0;
    const auto t0 = std::chrono::steady_clock::now();
    BatchIterator it(data, b, false, false, 0, 0);
    Tensor x;
    std::vector<int64_t> y;
    TensorMap outs;
    while (it.next(&x, &y)) {
        const int64_t n = static_cast<int64_t>(y.size());
        if (n < b) {  // pad the last batch
            Tensor padded = Tensor::create(DType::kFloat32, {b, ds[1], ds[2], ds[3]}).value();
            std::memcpy(padded.raw(), x.raw(), x.nbytes());
            x = padded;
        }
        PARE_RETURN_IF_ERROR(s.run({{s.graph().inputs[0].name, x}}, &outs));
        const Tensor& logits = outs.begin()->second;
        for (int64_t i = 0; i < n; ++i) {
            const float* l = logits.data<float>() + i * K;
            std::vector<int64_t> order(K);
            for (int64_t k = 0; k < K; ++k) order[k] = k;
            std::partial_sort(
                order.begin(), order.begin() + std::min<int64_t>(5, K), order.end(),
                [&](int64_t a, int64_t c) { return l[a] > l[c] || (l[a] == l[c] && a < c); });
            r.predictions.push_back(order[0]);
            ++r.confusion[y[i]][order[0]];
            for (int64_t k = 0; k < std::min<int64_t>(5, K); ++k) top5 += order[k] == y[i];
        }
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.images_per_s = secs > 0 ? static_cast<double>(r.examples) / secs : 0;
    int64_t correct = 0;
    r.per_class.assign(K, 0);
    for (int64_t k = 0; k < K; ++k) {
        int64_t total = 0;
        for (int64_t p = 0; p < K; ++p) total += r.confusion[k][p];
        correct += r.confusion[k][k];
        r.per_class[k] =
            total ? static_cast<double>(r.confusion[k][k]) / static_cast<double>(total) : 0;
    }
    r.top1 = static_cast<double>(correct) / static_cast<double>(r.examples);
    r.top5 = static_cast<double>(top5) / static_cast<double>(r.examples);
    return r;
}

std::string format_eval(const EvalReport& r, const std::vector<std::string>& names) {
    std::ostringstream o;
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "examples  %lld\ntop-1     %.2f%%\ntop-5     %.2f%%\nspeed     %.0f images/s "
                  "(pare runtime)\n",
                  static_cast<long long>(r.examples), 100 * r.top1, 100 * r.top5, r.images_per_s);
    o << buf << "\nper-class accuracy\n";
    const size_t K = r.per_class.size();
    for (size_t k = 0; k < K; ++k) {
        std::snprintf(buf, sizeof buf, "  %2zu %-14s %6.2f%%\n", k,
                      k < names.size() ? names[k].c_str() : "", 100 * r.per_class[k]);
        o << buf;
    }
    o << "\nconfusion matrix (rows: true class, columns: predicted)\n     ";
    for (size_t p = 0; p < K; ++p) {
        std::snprintf(buf, sizeof buf, "%6zu", p);
        o << buf;
    }
    o << "\n";
    for (size_t t = 0; t < K; ++t) {
        std::snprintf(buf, sizeof buf, "  %2zu ", t);
        o << buf;
        for (size_t p = 0; p < K; ++p) {
            std::snprintf(buf, sizeof buf, "%6lld", static_cast<long long>(r.confusion[t][p]));
            o << buf;
        }
        o << "\n";
    }
    return o.str();
}

}  // namespace pare
