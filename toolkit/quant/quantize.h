// Post-training static quantization to ONNX's QDQ form, as analyze then apply.
//
// calibrate() runs the float model in pare's runtime over calibration images and
// picks a range for every activation that feeds a quantized layer (Conv, Gemm,
// MatMul with constant float weights): min-max, a percentile, the entropy (KL
// divergence) threshold or the MSE-optimal threshold over a 2048-bin histogram.
// apply_quantization() then writes QuantizeLinear/DequantizeLinear pairs on those
// activations (uint8 asymmetric by default, int8 on request) and stores the
// weights as int8 (per output channel symmetric by default, per tensor on
// request) behind a DequantizeLinear; biases stay float. The result is plain ONNX
// that ONNX Runtime runs (fusing the pairs into its integer kernels) and that
// pare runs with its reference QuantizeLinear/DequantizeLinear.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "runtime/ir/graph.h"
#include "toolkit/train/trainer.h"

namespace pare {

enum class CalibMethod { kMinMax, kPercentile, kEntropy, kMse };

// "minmax", "percentile", "entropy", "mse".
Result<CalibMethod> parse_calib_method(const std::string& name);
const char* calib_method_name(CalibMethod m);

// Weight-only schemes (for size; activations stay float, no calibration):
// int8 weights behind a DequantizeLinear, grouped int4 weights (each block of
// block_size consecutive weights along the reduction axis -- a Conv's C x kh x kw,
// a Gemm/MatMul's K -- with its own float scale, symmetric in [-7, 7]) behind an
// opset-21 DequantizeLinear with block_size (a Conv's weight dequantized as a
// (M, C*kh*kw) matrix, then reshaped), or float16 weights behind a Cast.
enum class WeightsOnly { kNone, kInt8, kInt4, kFloat16 };

// "int8", "int4", "float16".
Result<WeightsOnly> parse_weights_only(const std::string& name);

struct QuantOptions {
    CalibMethod method = CalibMethod::kMinMax;
    WeightsOnly weights_only = WeightsOnly::kNone;
    double percentile = 99.99;            // kPercentile: in (0, 100]
    bool per_tensor_weights = false;      // default: one scale per output channel
    bool signed_activations = false;      // int8 activations (default uint8 asymmetric)
    std::vector<std::string> keep_float;  // node names left in float
    // Bias correction (calibrate): measure, per output channel of each Conv/Gemm,
    // the mean error its int8 weights cause on the calibration images,
    // E[(W - W_int8) x], by running the layer on W - W_int8; apply then adds it to
    // the layer's bias.
    bool bias_correction = false;
    // Weights in [-64, 64] (7 bits and the sign): on CPUs without VNNI the runtime's
    // faster int8 tile (vpmaddubsw, whose int16 pair sums then cannot saturate).
    bool reduce_range = false;
    int64_t block_size = 32;  // kInt4: weights per scale
    int64_t batch = 64;       // calibration batch size
};

// An activation's chosen range: quantized as round(x / scale) + zero_point.
struct ActivationRange {
    std::string tensor;
    float lo = 0, hi = 0;              // observed minimum and maximum
    float range_lo = 0, range_hi = 0;  // the range the method chose
};

struct QuantPlan {
    CalibMethod method = CalibMethod::kMinMax;
    std::vector<std::string> layers;  // nodes to quantize, in graph order
    std::vector<ActivationRange> activations;
    int64_t calibration_images = 0;
    // Per layer (bias correction): the mean output error of its int8 weights.
    std::map<std::string, std::vector<float>> bias_correction;
};

// The layers quantize() would quantize: Conv/Gemm/MatMul nodes whose weight (input
// 1) is a float32 initializer, minus keep_float. Fails for a model that already
// holds QuantizeLinear/DequantizeLinear nodes or a keep_float name that is no node.
Result<std::vector<std::string>> quantizable_layers(const Graph& g, const QuantOptions& options);

// Runs g (one (N, C, H, W) float input) on images (N, C, H, W) and picks the ranges.
Result<QuantPlan> calibrate(const Graph& g, const Tensor& images, const QuantOptions& options);

// The plan as JSON (method, layers, each activation's observed and chosen range),
// and back: a saved plan re-applies without calibrating again. Errors name the
// field that is missing or malformed.
std::string plan_to_json(const QuantPlan& plan);
Result<QuantPlan> plan_from_json(const std::string& text);

// The plan of a weight-only scheme: the layers, no activations.
Result<QuantPlan> weights_only_plan(const Graph& g, const QuantOptions& options);

// Dynamic quantization (no calibration) of every MatMul with a constant float
// (K, N) weight and every Gemm (transA 0, alpha 1) with a constant float weight,
// minus keep_float: int8 weights, one scale per output column; the activation
// quantized at run time by DynamicQuantizeLinear (uint8, its own range), the
// product by MatMulInteger in int32, rescaled by a_scale * b_scale (and Gemm's
// bias added). ONNX Runtime's standard dynamic form; pare runs it with its
// reference integer ops.
Result<Graph> dynamic_quantization(const Graph& g, const QuantOptions& options);

// The QDQ model for plan (g as given to calibrate).
Result<Graph> apply_quantization(const Graph& g, const QuantPlan& plan,
                                 const QuantOptions& options);

// What apply_quantization(g, plan, options) quantizes, as the trainer's fake
// quantization: every quantized activation with its (scale, zero point) and every
// quantized weight with its channel axis (-1 per tensor).
Result<FakeQuant> fake_quant_of(const Graph& g, const QuantPlan& plan, const QuantOptions& options);

// Cross-layer equalization (Nagel et al., "Data-Free Quantization Through Weight
// Equalization and Bias Correction", 2019) of consecutive convolutions, the
// depthwise-separable stacks above all: conv1 -> [Relu | Clip(0, hi)] -> conv2 whose
// input channels are conv1's output channels (conv2 of one group, or depthwise),
// the tensors between used by nothing else. Each channel c is scaled by s =
// sqrt(r1 / r2) (r1 the range of conv1's output channel c, r2 of conv2's input
// channel c): conv1's weights and bias divided by s, conv2's weights multiplied,
// so both ranges become sqrt(r1 r2) -- the same function through Relu (positive
// scaling commutes with it). A Clip(0, 6) does not commute: with relu6_to_relu it
// becomes a Relu (the paper's choice; the float model changes: measure it), else
// that pair is left alone. Sweeps until the scales settle (chains share layers).
struct EqualizeReport {
    int pairs = 0, relu6_replaced = 0, sweeps = 0;
};
Result<EqualizeReport> equalize_layers(Graph& g, bool relu6_to_relu);

// Short names for a deployed model: every value but the graph's inputs and outputs
// (initializers included) becomes "t" + a base-36 number, and the nodes the
// quantization added (QuantizeLinear, DequantizeLinear, Cast) "q" + one; the
// original nodes keep their names. Value names are most of a quantized ONNX
// file's bytes besides the weights (ResNet-20: 13% of the file). value_info of
// intermediate values is dropped (the importer infers shapes). Returns the values
// renamed.
int compact_names(Graph& g);

// Per-layer sensitivity (--auto-keep): each layer of plan quantized alone, the
// relative L2 error of the model's first output against the float model's on
// `images` (the first 64 are used).
struct LayerError {
    std::string layer;
    double rel_l2 = 0;
};
Result<std::vector<LayerError>> layer_errors(const Graph& g, const QuantPlan& plan,
                                             const Tensor& images, const QuantOptions& options);

// The layers to keep in float: those whose error exceeds budget, the worst first,
// at most a tenth of the layers (at least one) -- the few that break the budget.
std::vector<std::string> layers_over_budget(std::vector<LayerError> errors, double budget);

// Scale and zero point of an asymmetric range for `levels` (uint8: 0..255, int8:
// -128..127), the range widened to contain 0.
void range_to_affine(float lo, float hi, bool is_signed, float* scale, int32_t* zero_point);

// The range threshold chosen from a histogram of |x| (or x >= 0) over [0, top] with
// `bins` equal bins: the value below which `percentile` percent of the mass lies,
// the KL-divergence minimizer for `levels` quantization levels, or the
// MSE minimizer. Exposed for tests.
float threshold_from_histogram(const std::vector<double>& hist, float top, CalibMethod method,
                               double percentile, int levels);

}  // namespace pare
