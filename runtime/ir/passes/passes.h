// Graph passes, one per file. Each takes a graph whose ops are resolved and
// returns it transformed in place; each reports what it changed through its
// return value (number of nodes removed or rewritten) so tests can show the
// graph before and after.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "runtime/cpu/cpu.h"
#include "runtime/ir/graph.h"

namespace pare {

// Static shape inference: fills value_info for every value from the graph inputs'
// (bound) shapes and the initializers. Needs a topologically sorted graph.
// Fails with the node's name on any inconsistency.
Status infer_shapes(Graph& g);

// Evaluates nodes whose inputs are all constant, and Shape nodes whose input shape is
// fully known, replacing them with initializers. Removes Shape -> Gather -> Unsqueeze ->
// Concat -> Reshape chains once input shapes are fixed. Returns nodes folded.
Result<int> fold_constants(Graph& g);

// Removes nodes that no graph output depends on, and unused initializers.
Result<int> eliminate_dead_code(Graph& g);

// Removes Identity and (inference) Dropout nodes, rewiring their consumers.
Result<int> remove_identity(Graph& g);

// Folds BatchNormalization, and Mul/Add/Sub/Div by a constant that is a scalar or
// per-channel, into a preceding Conv or Gemm (constant weights) whose output feeds
// only it. Returns nodes folded.
Result<int> fold_affine(Graph& g);

// Rewrites QDQ patterns into integer ops: DequantizeLinear -> Conv -> [Relu|Clip]
// -> QuantizeLinear into QLinearConv, and the same around an Add or a Mul of two
// dequantized inputs into QLinearAdd or QLinearMul (and more: fuse_qdq.cpp), when the parameters
// are constant scalars (per-channel weight scales) and the activation is a no-op after
// quantization. Runs before constant folding (which would turn the weights' DequantizeLinear into
// float weights). Returns nodes fused.
Result<int> fuse_qdq(Graph& g);

// The nodes computing act(v) from v alone (the executor's fusable activations: the
// last one gives the result) and the activation; empty when v's consumers are
// anything else.
using ActivationChainFn = std::function<std::vector<int>(
    const Graph& g, const std::map<std::string, std::vector<int>>& consumers, const std::string& v,
    Activation* act)>;

// Session-only: DequantizeLinear -> Conv -> activation [-> Mul -> Add by constant
// scalars] -> QuantizeLinear, with an activation that quantizing does not absorb
// (HardSwish, HardSigmoid, SiLU, Sigmoid, a Clip or Relu narrower than the output's
// range) found by `chain`, into a
// QLinearConv whose requantization applies it (activated_row, quantize_value,
// runtime/ops/requantize.h) and that carries it as the attribute "pare_activation".
// Not ONNX: Session::prepare runs it on its own copy of the graph, never written
// to a file. Otherwise as fuse_qdq's Conv (parameters, the bias as int32 at
// x_scale * w_scale). Likewise a QGemm with a float output (fuse_qdq's classifier
// head) -> activation -> Q becomes QGemm with y's parameters and the attribute.
// Returns nodes fused.
Result<int> fuse_qdq_activations(Graph& g, const ActivationChainFn& chain);

// Makes a graph exported with a fixed batch size run with any batch: after folding
// constants (so shape chains become constant), Reshape nodes
// whose constant shape starts with that batch (and whose data and output carry it)
// get 0 there ("copy the input's dimension"), and the inputs' first dimension becomes
// the symbolic "N". Does nothing when an input's first dimension is already free,
// or when the graph has an If (its condition may depend on the whole batch).
// Returns the Reshape nodes rewritten.
Result<int> free_batch_dim(Graph& g);

// The view the compression tools (pruning, low-rank) edit: ops resolved, nodes
// sorted, Identity nodes removed (exporters route shared weights through them),
// constant subgraphs folded, dead nodes dropped, shapes inferred. Unlike the
// default pipeline it keeps BatchNormalization and every other trainable node.
Status prepare_for_editing(Graph& g);

// The default pipeline used by `pare convert`: identity removal, QDQ fusion, constant folding,
// affine folding (BatchNormalization, constant Mul/Add/Sub/Div), dead code
// elimination, then shape inference.
Status run_default_passes(Graph& g);

}  // namespace pare
