// ONNX import and export, with Debian's libonnx protobuf classes.
//
// Import accepts opsets 6 to 21 of the default domain and normalizes every node
// to its opset-17 form (attributes that later opsets moved to inputs become
// initializer inputs; legacy 2-D Softmax is rewritten; opset-18 Reduce axes
// inputs become attributes again; 4-bit tensors are read as int8/uint8 and
// DequantizeLinear keeps opset 21's block_size), so the IR has one semantics.
// Constant nodes become initializers; initializers that are also listed as graph
// inputs stay initializers; external data is read relative to the model's folder
// and checked against the file. Named dynamic dimensions can be bound to sizes.
// Export writes opset 17, checked by onnx::checker, through a temporary file
// renamed into place (opset 21 when the graph has grouped weights, a blocked
// DequantizeLinear: checked by reading it back with the importer).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "runtime/ir/graph.h"

namespace pare {

struct ImportOptions {
    // Input name -> shape; replaces that input's declared shape (dims must agree
    // where the model fixes them).
    std::map<std::string, Shape> input_shapes;
    // Symbolic dim name -> size, applied to every input that uses the name.
    std::map<std::string, int64_t> dim_values;
};

// Parses "name=1,3,224,224" (or "1,3,224,224" for a model's only input).
Status parse_input_shape(const std::string& spec, std::string* name, Shape* shape);
// ImportOptions binding every spec of `specs` (the CLI's --input-shape flags).
Result<ImportOptions> input_shape_options(const std::vector<std::string>& specs);

Result<Graph> import_onnx_file(const std::string& path, const ImportOptions& options = {});
// An ONNX or .pare file (told apart by the .pare file identifier), with the same
// input-shape bindings.
Result<Graph> load_model_file(const std::string& path, const ImportOptions& options = {});
// Applies options' input shapes and symbolic dim values to g's inputs.
Status bind_input_shapes(Graph& g, const ImportOptions& options, const std::string& label);
// `label` names the source in messages; `base_dir` is where external data lives ("" = none).
Result<Graph> import_onnx_bytes(const std::string& bytes, const std::string& label,
                                const std::string& base_dir, const ImportOptions& options = {});

// A serialized onnx.TensorProto (the .pb files of the ONNX test suite) as a Tensor.
Result<Tensor> tensor_from_onnx_bytes(const std::string& bytes, const std::string& label);
// What a serialized model needs, without importing it: its default-domain opset,
// op types (domain-qualified unless default) and element types pare lacks (-1 for
// non-tensor values).
struct OnnxSummary {
    int64_t opset = 0;
    std::vector<std::string> ops;
    std::vector<int32_t> unsupported_types;
};
Result<OnnxSummary> scan_onnx_model(const std::string& bytes, const std::string& label);
int64_t min_supported_opset();
int64_t max_supported_opset();

// Serializes g as an ONNX model (opset 17) and checks it with onnx::checker (opset
// 21 and the importer for grouped weights).
Result<std::string> export_onnx_bytes(const Graph& g);
// Writes atomically: a temporary file in the same folder, renamed into place.
Status export_onnx_file(const Graph& g, const std::string& path);

}  // namespace pare
