#include "toolkit/train/qat.h"

namespace pare {

Result<QatResult> quantization_aware_training(const Graph& g, QuantPlan plan,
                                              const DataSplits& data, TrainConfig config,
                                              const QuantOptions& options) {
    if (options.weights_only != WeightsOnly::kNone)
        return invalid_argument(
            "quantization-aware training needs a static (QDQ) plan, not "
            "weights only");
    if (plan.activations.empty()) return invalid_argument("the plan has no activation ranges");
    PARE_ASSIGN_OR_RETURN(config.fake_quant, fake_quant_of(g, plan, options));
    QatResult r;
    r.trained = g;
    PARE_ASSIGN_OR_RETURN(r.train, train_graph(r.trained, data, config));
    plan.bias_correction.clear();
    PARE_ASSIGN_OR_RETURN(r.qdq, apply_quantization(r.trained, plan, options));
    return r;
}

}  // namespace pare
