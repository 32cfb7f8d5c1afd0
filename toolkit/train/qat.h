// Quantization-aware training (`pare qat`): the float model fine-tuned in the
// trainer with the fake quantization of a calibration plan, then quantized with
// that plan. No torch headers (the trainer's own translation units hold torch).
#pragma once

#include "toolkit/data/dataset.h"
#include "toolkit/quant/quantize.h"
#include "toolkit/train/trainer.h"

namespace pare {

struct QatResult {
    Graph trained;  // the fine-tuned float model
    Graph qdq;      // its QDQ model
    TrainResult train;
};

// g: the float model calibrate saw (after the default passes). Fine-tunes a copy
// with fake_quant_of(g, plan, options) (fixed activation ranges; per-channel weight
// scales that follow the weights), then apply_quantization with the plan, bias
// correction dropped (training subsumes it). config.fake_quant is filled here.
Result<QatResult> quantization_aware_training(const Graph& g, QuantPlan plan,
                                              const DataSplits& data, TrainConfig config,
                                              const QuantOptions& options);

}  // namespace pare
