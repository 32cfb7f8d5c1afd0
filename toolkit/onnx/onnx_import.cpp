// ONNX -> IR. Every count, size and offset read from the file is checked before
// it is used: model files are hostile input (this code is fuzzed).
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "runtime/core/half.h"
#include "runtime/format/pare_format.h"
#include "runtime/ir/passes/passes.h"
#include "toolkit/io/files.h"
#include "toolkit/onnx/onnx_io.h"

namespace pare {

namespace {

constexpr int64_t kMinOpset = 6;
// Opsets 18-21 are read into opset-17 forms (normalize()): what changed for the ops
// pare runs is either rewritten (Reduce axes inputs, Split num_outputs), ignored
// where it only concerns types pare has no use for (Cast/QuantizeLinear saturate:
// float8), run (DequantizeLinear block_size: grouped int4 weights) or refused by
// name (Pad axes, Resize antialias/axes/keep_aspect_ratio_policy, AveragePool
// dilations, QuantizeLinear block_size/output_dtype).
constexpr int64_t kMaxOpset = 21;
constexpr int64_t kWrittenOpset = 17;  // the IR's semantics (and what pare writes)

struct Importer {
    std::string label;
    std::string base_dir;
    int64_t opset = 0;
    Graph g;
    int anon = 0;
    int depth = 0;  // nesting of If branches (bounded: hostile files)

    Status fail(const std::string& msg) const { return invalid_argument(label + ": " + msg); }

    Result<Tensor> read_external(const onnx::TensorProto& t, DType dtype, const Shape& shape,
                                 int64_t numel);
    Result<Tensor> tensor(const onnx::TensorProto& t, const std::string& what);
    Result<Tensor> four_bit(const onnx::TensorProto& t, const std::string& what);
    Status attribute(const onnx::AttributeProto& a, const Node& node, Attributes* out);
    // An If branch: its graph, with the enclosing values it reads listed as its inputs.
    Result<Graph> branch(const onnx::GraphProto& gp, const std::string& where);
    Status node(const onnx::NodeProto& n);
    Status normalize(Node& n);
    Status value_info(const onnx::ValueInfoProto& v, ValueInfo* out, const std::string& what);
    std::string add_const(const std::string& base, Tensor t) {
        std::string name = g.unique_name(base);
        g.initializers[name] = std::move(t);
        return name;
    }
};

Result<Tensor> Importer::read_external(const onnx::TensorProto& t, DType dtype, const Shape& shape,
                                       int64_t numel) {
    std::string location;
    int64_t offset = 0, length = -1;
    for (const auto& kv : t.external_data()) {
        if (kv.key() == "location") {
            location = kv.value();
        } else if (kv.key() == "offset" || kv.key() == "length") {
            char* end = nullptr;
            errno = 0;
            long long v = std::strtoll(kv.value().c_str(), &end, 10);
            if (errno || !end || *end || v < 0) {
                return fail("tensor \"" + t.name() + "\": invalid external data " + kv.key());
            }
            (kv.key() == "offset" ? offset : length) = v;
        }
    }
    if (location.empty())
        return fail("tensor \"" + t.name() + "\": external data without location");
    if (base_dir.empty()) {
        return fail("tensor \"" + t.name() + "\": external data needs the model's folder");
    }
    if (location[0] == '/' || location.find("..") != std::string::npos) {
        return fail("tensor \"" + t.name() + "\": external data location \"" + location +
                    "\" must be a relative path inside the model's folder");
    }
    const std::string path = base_dir + "/" + location;
    std::ifstream f(path, std::ios::binary | std::ios::ate);
    if (!f)
        return not_found(label + ": tensor \"" + t.name() + "\": external data file " + path +
                         " not found");
    const int64_t file_size = static_cast<int64_t>(f.tellg());
    const int64_t bytes = numel * static_cast<int64_t>(dtype_size(dtype));
    if (length >= 0 && length != bytes) {
        return fail("tensor \"" + t.name() + "\": external data length " + std::to_string(length) +
                    " does not match its shape " + shape_str(shape) + " (" + std::to_string(bytes) +
                    " bytes)");
    }
    if (offset > file_size || bytes > file_size - offset) {
        return fail("tensor \"" + t.name() + "\": external data [" + std::to_string(offset) +
                    ", +" + std::to_string(bytes) + ") lies outside " + path + " (" +
                    std::to_string(file_size) + " bytes)");
    }
    PARE_ASSIGN_OR_RETURN(Tensor out, Tensor::create(dtype, shape));
    f.seekg(offset);
    f.read(static_cast<char*>(out.raw()), bytes);
    if (!f) return io_error(label + ": reading external data from " + path + " failed");
    return out;
}

// ONNX's 4-bit types (opset 21): UINT4 = 21, INT4 = 22, two values per byte, the first
// in the low nibble. Read into uint8 / int8 tensors holding the 4-bit values.
constexpr int32_t kOnnxUint4 = 21, kOnnxInt4 = 22;

Result<Tensor> Importer::tensor(const onnx::TensorProto& t, const std::string& what) {
    if (t.data_type() == kOnnxInt4 || t.data_type() == kOnnxUint4) return four_bit(t, what);
    if (!dtype_is_supported(t.data_type())) {
        return unsupported(label + ": " + what + " has unsupported data type " +
                           std::to_string(t.data_type()) +
                           " (supported: float32, float16, int8, uint8, int32, int64, bool)");
    }
    const DType dtype = static_cast<DType>(t.data_type());
    if (t.dims_size() > 32) {
        return unsupported(label + ": " + what + " has rank " + std::to_string(t.dims_size()) +
                           " (at most 32)");
    }
    Shape shape(t.dims().begin(), t.dims().end());
    Result<int64_t> n = shape_numel(shape);
    if (!n.ok()) return fail(what + ": " + n.status().message());
    const int64_t numel = n.value();
    const int64_t es = static_cast<int64_t>(dtype_size(dtype));
    if (numel > tensor_byte_limit() / es)
        return out_of_range(label + ": " + what + " is too large");
    if (t.data_location() == onnx::TensorProto::EXTERNAL)
        return read_external(t, dtype, shape, numel);
    auto count_error = [&](int64_t have) {
        return fail(what + " has " + std::to_string(have) + " values but its shape " +
                    shape_str(shape) + " needs " + std::to_string(numel));
    };
    if (t.has_raw_data()) {
        const int64_t have = static_cast<int64_t>(t.raw_data().size());
        if (have != numel * es) return count_error(have / es);
        PARE_ASSIGN_OR_RETURN(Tensor out, Tensor::create(dtype, shape));
        if (have) std::memcpy(out.raw(), t.raw_data().data(), static_cast<size_t>(have));
        if (dtype == DType::kBool) {
            for (int64_t i = 0; i < numel; ++i)
                out.data<uint8_t>()[i] = out.data<uint8_t>()[i] ? 1 : 0;
        }
        return out;
    }
    int64_t have = 0;
    switch (dtype) {
        case DType::kFloat32:
            have = t.float_data_size();
            break;
        case DType::kInt64:
            have = t.int64_data_size();
            break;
        default:
            have = t.int32_data_size();
            break;
    }
    if (have != numel) return count_error(have);
    PARE_ASSIGN_OR_RETURN(Tensor out, Tensor::create(dtype, shape));
    for (int64_t i = 0; i < numel; ++i) {
        switch (dtype) {
            case DType::kFloat32:
                out.data<float>()[i] = t.float_data(static_cast<int>(i));
                break;
            case DType::kInt64:
                out.data<int64_t>()[i] = t.int64_data(static_cast<int>(i));
                break;
            case DType::kInt32:
                out.data<int32_t>()[i] = t.int32_data(static_cast<int>(i));
                break;
            case DType::kInt8:
                out.data<int8_t>()[i] = static_cast<int8_t>(t.int32_data(static_cast<int>(i)));
                break;
            case DType::kUint8:
                out.data<uint8_t>()[i] = static_cast<uint8_t>(t.int32_data(static_cast<int>(i)));
                break;
            case DType::kBool:
                out.data<uint8_t>()[i] = t.int32_data(static_cast<int>(i)) ? 1 : 0;
                break;
            case DType::kFloat16:
                out.data<uint16_t>()[i] = static_cast<uint16_t>(t.int32_data(static_cast<int>(i)));
                break;
            case DType::kUndefined:
                break;
        }
    }
    return out;
}

Result<Tensor> Importer::four_bit(const onnx::TensorProto& t, const std::string& what) {
    const bool is_signed = t.data_type() == kOnnxInt4;
    if (t.dims_size() > 32) return unsupported(label + ": " + what + " has rank above 32");
    Shape shape(t.dims().begin(), t.dims().end());
    Result<int64_t> n = shape_numel(shape);
    if (!n.ok()) return fail(what + ": " + n.status().message());
    const int64_t numel = n.value(), bytes = (numel + 1) / 2;
    if (numel > tensor_byte_limit()) return out_of_range(label + ": " + what + " is too large");
    if (t.data_location() == onnx::TensorProto::EXTERNAL)
        return unsupported(label + ": " + what + ": external data of 4-bit type");
    const int64_t have = t.has_raw_data() ? static_cast<int64_t>(t.raw_data().size())
                                          : static_cast<int64_t>(t.int32_data_size());
    if (have != bytes)
        return fail(what + " has " + std::to_string(have) +
                    " bytes of 4-bit values but its shape " + shape_str(shape) + " needs " +
                    std::to_string(bytes));
    PARE_ASSIGN_OR_RETURN(Tensor out,
                          Tensor::create(is_signed ? DType::kInt8 : DType::kUint8, shape));
    for (int64_t i = 0; i < numel; ++i) {
        const uint8_t byte = t.has_raw_data()
                                 ? static_cast<uint8_t>(t.raw_data()[static_cast<size_t>(i / 2)])
                                 : static_cast<uint8_t>(t.int32_data(static_cast<int>(i / 2)));
        const int v = (i % 2 ? byte >> 4 : byte) & 15;
        if (is_signed)
            out.data<int8_t>()[i] = static_cast<int8_t>(v >= 8 ? v - 16 : v);
        else
            out.data<uint8_t>()[i] = static_cast<uint8_t>(v);
    }
    return out;
}

Status Importer::attribute(const onnx::AttributeProto& a, const Node& node, Attributes* out) {
    Attribute r;
    switch (a.type()) {
        case onnx::AttributeProto::FLOAT:
            r.kind = Attribute::Kind::kFloat;
            r.f = a.f();
            break;
        case onnx::AttributeProto::INT:
            r.kind = Attribute::Kind::kInt;
            r.i = a.i();
            break;
        case onnx::AttributeProto::STRING:
            r.kind = Attribute::Kind::kString;
            r.s = a.s();
            break;
        case onnx::AttributeProto::TENSOR: {
            r.kind = Attribute::Kind::kTensor;
            PARE_ASSIGN_OR_RETURN(r.t,
                                  tensor(a.t(), node.where() + " attribute \"" + a.name() + "\""));
            break;
        }
        case onnx::AttributeProto::FLOATS:
            r.kind = Attribute::Kind::kFloats;
            r.floats.assign(a.floats().begin(), a.floats().end());
            break;
        case onnx::AttributeProto::INTS:
            r.kind = Attribute::Kind::kInts;
            r.ints.assign(a.ints().begin(), a.ints().end());
            break;
        case onnx::AttributeProto::STRINGS:
            r.kind = Attribute::Kind::kStrings;
            r.strings.assign(a.strings().begin(), a.strings().end());
            break;
        case onnx::AttributeProto::GRAPH:
            if (node.op_type == "If") {
                r.kind = Attribute::Kind::kGraph;
                PARE_ASSIGN_OR_RETURN(Graph b, branch(a.g(), node.where() + " " + a.name()));
                r.g = std::make_shared<Graph>(std::move(b));
                break;
            }
            [[fallthrough]];
        case onnx::AttributeProto::GRAPHS:
            return unsupported(label + ": " + node.where() +
                               ": control flow (subgraph attribute \"" + a.name() +
                               "\") is not supported yet");
        default:
            return unsupported(label + ": " + node.where() + ": attribute \"" + a.name() +
                               "\" has an unsupported type");
    }
    out->set(a.name(), std::move(r));
    return Status();
}

// Moves an ints/floats attribute into input `index` as a constant (opset migrations).
template <class T>
void attr_to_input(Importer& im, Node& n, const std::string& attr, size_t index,
                   bool as_1d = true) {
    if (!n.attrs.has(attr)) return;
    Tensor t;
    if (std::is_same<T, float>::value) {
        std::vector<float> v = n.attrs.get_floats(attr);
        t = as_1d ? Tensor::from_vector<float>(v, {static_cast<int64_t>(v.size())})
                  : Tensor::from_vector<float>(v, {});
    } else {
        std::vector<int64_t> v = n.attrs.get_ints(attr);
        t = Tensor::from_vector<int64_t>(v, {static_cast<int64_t>(v.size())});
    }
    if (n.inputs.size() <= index) n.inputs.resize(index + 1);
    n.inputs[index] = im.add_const(n.name + "_" + attr, t);
    n.attrs.erase(attr);
}

Status Importer::normalize(Node& n) {
    const std::string& op = n.op_type;
    if (!n.domain.empty() && n.domain != "ai.onnx") return Status();
    if (opset < 7) {
        // Opset 6 and older: legacy broadcasting flags and inference-only attributes.
        const bool binary = op == "Add" || op == "Sub" || op == "Mul" || op == "Div" ||
                            op == "Pow" || op == "And" || op == "Or" || op == "Equal" ||
                            op == "Greater" || op == "Less";
        if (binary || op == "Gemm") {
            n.attrs.erase("broadcast");
            if (binary && n.attrs.has("axis")) {
                n.attrs.set("_pare_legacy_axis", Attribute::make_int(n.attrs.get_int("axis", 0)));
                n.attrs.erase("axis");
            }
        }
        if (op == "BatchNormalization" || op == "Dropout") n.attrs.erase("is_test");
        // Opset-6 PRelu broadcasts a 1-D slope over the channel axis.
        if (op == "PRelu") n.attrs.set("_pare_legacy_axis", Attribute::make_int(1));
        if (n.attrs.has("consumed_inputs")) {
            return unsupported(label + ": " + n.where() +
                               ": the consumed_inputs attribute (opset < 6) is not supported");
        }
    }
    if (op == "BatchNormalization" && opset < 9) {
        if (n.attrs.get_int("spatial", 1) != 1) {
            return unsupported(label + ": " + n.where() +
                               ": BatchNormalization with spatial=0 is not supported");
        }
        n.attrs.erase("spatial");
    }
    if (op == "Upsample" && n.attrs.has("scales")) {  // opset 7: scales as attribute
        attr_to_input<float>(*this, n, "scales", 1);
    }
    if (op == "Slice" && opset < 10) {
        n.inputs.resize(1);
        attr_to_input<int64_t>(*this, n, "starts", 1);
        attr_to_input<int64_t>(*this, n, "ends", 2);
        attr_to_input<int64_t>(*this, n, "axes", 3);
    } else if (op == "Clip" && opset < 11) {
        const float lo = n.attrs.get_float("min", -3.402823466e38f),
                    hi = n.attrs.get_float("max", 3.402823466e38f);
        n.attrs.erase("min");
        n.attrs.erase("max");
        n.inputs.resize(3);
        n.inputs[1] = add_const(n.name + "_min", Tensor::from_vector<float>({lo}, {}));
        n.inputs[2] = add_const(n.name + "_max", Tensor::from_vector<float>({hi}, {}));
    } else if (op == "Pad" && opset < 11) {
        n.inputs.resize(1);
        attr_to_input<int64_t>(*this, n, "pads", 1);
        if (n.attrs.has("value")) {
            n.inputs.resize(3);
            n.inputs[2] = add_const(
                n.name + "_value", Tensor::from_vector<float>({n.attrs.get_float("value", 0)}, {}));
            n.attrs.erase("value");
        }
    } else if ((op == "Squeeze" || op == "Unsqueeze" || op == "ReduceSum") && opset < 13) {
        attr_to_input<int64_t>(*this, n, "axes", 1);
    } else if (op == "Split" && opset < 13) {
        attr_to_input<int64_t>(*this, n, "split", 1);
    } else if (op == "Resize" && opset < 11) {
        if (n.inputs.size() >= 2) n.inputs = {n.inputs[0], "", n.inputs[1]};
        if (n.attrs.get_string("mode", "nearest") == "linear") {
            n.attrs.set("coordinate_transformation_mode", Attribute::make_string("asymmetric"));
        } else {
            n.attrs.set("coordinate_transformation_mode", Attribute::make_string("asymmetric"));
            n.attrs.set("nearest_mode", Attribute::make_string("floor"));
        }
    } else if (op == "Upsample") {
        // Deprecated (opset 9): Resize with asymmetric coordinates and floor rounding.
        n.op_type = "Resize";
        if (n.inputs.size() >= 2) n.inputs = {n.inputs[0], "", n.inputs[1]};
        n.attrs.set("coordinate_transformation_mode", Attribute::make_string("asymmetric"));
        if (n.attrs.get_string("mode", "nearest") != "linear") {
            n.attrs.set("nearest_mode", Attribute::make_string("floor"));
        }
    } else if (op == "Dropout" && opset < 12) {
        n.attrs.erase("ratio");
    } else if (opset >= 18 && (op == "ReduceMax" || op == "ReduceMean" || op == "ReduceMin") &&
               n.inputs.size() > 1 && !n.inputs[1].empty()) {
        // Opset 18: axes became an input; back to the attribute when constant.
        auto it = g.initializers.find(n.inputs[1]);
        if (it == g.initializers.end() || it->second.dtype() != DType::kInt64 ||
            it->second.rank() > 1)
            return unsupported(label + ": " + n.where() +
                               ": axes must be a constant 1-D int64 tensor (opset 18 input)");
        const Tensor& a = it->second;
        n.attrs.set("axes", Attribute::make_ints(std::vector<int64_t>(
                                a.data<int64_t>(), a.data<int64_t>() + a.numel())));
        n.inputs.resize(1);
    } else if ((op == "Softmax" || op == "LogSoftmax") && opset < 13) {
        // Legacy semantics: flatten to 2-D at `axis` (default 1). Marked here,
        // rewritten by lower_legacy_softmax once ranks are known.
        n.attrs.set("axis", Attribute::make_int(n.attrs.get_int("axis", 1)));
        n.attrs.set("_pare_legacy_softmax", Attribute::make_int(1));
    }
    if (opset >= 18) {
        auto refuse = [&](const std::string& what) {
            return unsupported(label + ": " + n.where() + ": " + what + " (opset " +
                               std::to_string(opset) + ") is not supported");
        };
        // Split: num_outputs says what the output count says (parts of ceil(d / n)).
        if (op == "Split") n.attrs.erase("num_outputs");
        if (op == "Cast") n.attrs.erase("saturate");  // float8 only
        if (op == "Resize" &&
            n.attrs.get_string("keep_aspect_ratio_policy", "stretch") != "stretch")
            return refuse("Resize keep_aspect_ratio_policy");
        if (op == "QuantizeLinear") {
            n.attrs.erase("saturate");
            if (n.attrs.get_int("block_size", 0) != 0 || n.attrs.has("output_dtype"))
                return refuse("QuantizeLinear block_size or output_dtype");
            n.attrs.erase("block_size");
        }
        if (op == "DequantizeLinear" && n.attrs.get_int("block_size", 0) == 0)
            n.attrs.erase("block_size");
    }
    return Status();
}

Status Importer::node(const onnx::NodeProto& p) {
    Node n;
    n.op_type = p.op_type();
    n.domain = p.domain();
    n.name = p.name().empty() ? n.op_type + "_" + std::to_string(anon++) : p.name();
    n.inputs.assign(p.input().begin(), p.input().end());
    n.outputs.assign(p.output().begin(), p.output().end());
    if (n.op_type == "Loop" || n.op_type == "Scan") {
        return unsupported(label + ": " + n.where() + ": control flow (" + n.op_type +
                           ") is not supported yet");
    }
    for (const auto& a : p.attribute()) PARE_RETURN_IF_ERROR(attribute(a, n, &n.attrs));
    if (n.op_type == "If" && (n.domain.empty() || n.domain == "ai.onnx")) {
        // Both branches read the union of their enclosing values, passed as inputs.
        auto then_it = n.attrs.map().find("then_branch");
        auto else_it = n.attrs.map().find("else_branch");
        if (then_it == n.attrs.map().end() || else_it == n.attrs.map().end() ||
            !then_it->second.g || !else_it->second.g || n.inputs.size() != 1)
            return fail(n.where() + " needs one condition and then_branch and else_branch graphs");
        Graph& yes = *then_it->second.g;
        Graph& no = *else_it->second.g;
        std::vector<ValueInfo> all = yes.inputs;
        for (const auto& v : no.inputs) {
            if (std::none_of(all.begin(), all.end(),
                             [&](const ValueInfo& x) { return x.name == v.name; }))
                all.push_back(v);
        }
        yes.inputs = all;
        no.inputs = all;
        for (const auto& v : all) n.inputs.push_back(v.name);
    }
    if (n.op_type == "Constant" && (n.domain.empty() || n.domain == "ai.onnx")) {
        if (n.outputs.size() != 1 || n.outputs[0].empty())
            return fail(n.where() + " must have one output");
        Tensor t;
        const Attributes& a = n.attrs;
        if (const Tensor* v = a.get_tensor("value")) {
            t = *v;
        } else if (a.has("value_float")) {
            t = Tensor::from_vector<float>({a.get_float("value_float", 0)}, {});
        } else if (a.has("value_floats")) {
            auto v = a.get_floats("value_floats");
            t = Tensor::from_vector<float>(v, {static_cast<int64_t>(v.size())});
        } else if (a.has("value_int")) {
            t = Tensor::from_vector<int64_t>({a.get_int("value_int", 0)}, {});
        } else if (a.has("value_ints")) {
            auto v = a.get_ints("value_ints");
            t = Tensor::from_vector<int64_t>(v, {static_cast<int64_t>(v.size())});
        } else {
            return unsupported(label + ": " + n.where() +
                               ": only tensor, float(s) and int(s) values are supported");
        }
        if (g.initializers.count(n.outputs[0]))
            return fail(n.where() + ": output \"" + n.outputs[0] + "\" is defined twice");
        g.initializers[n.outputs[0]] = t;
        return Status();
    }
    PARE_RETURN_IF_ERROR(normalize(n));
    g.nodes.push_back(std::move(n));
    return Status();
}

Status Importer::value_info(const onnx::ValueInfoProto& v, ValueInfo* out,
                            const std::string& what) {
    out->name = v.name();
    if (v.name().empty()) return fail(what + " has an empty name");
    if (!v.has_type()) return Status();
    if (!v.type().has_tensor_type()) {
        return unsupported(label + ": " + what + " \"" + v.name() +
                           "\" is not a tensor (sequences and maps are not supported)");
    }
    const auto& tt = v.type().tensor_type();
    if (tt.elem_type() != 0) {
        if (!dtype_is_supported(tt.elem_type())) {
            return unsupported(label + ": " + what + " \"" + v.name() +
                               "\" has unsupported element type " + std::to_string(tt.elem_type()));
        }
        out->dtype = static_cast<DType>(tt.elem_type());
    }
    if (tt.has_shape()) {
        out->has_shape = true;
        for (const auto& d : tt.shape().dim()) {
            if (d.has_dim_value()) {
                if (d.dim_value() < 0)
                    return fail(what + " \"" + v.name() + "\" has a negative dimension");
                out->shape.push_back(d.dim_value());
                out->dim_params.emplace_back();
            } else {
                out->shape.push_back(-1);
                out->dim_params.push_back(d.dim_param());
            }
        }
    }
    return Status();
}

// Rewrites the forms marked by Importer::normalize that need operand ranks:
// Softmax/LogSoftmax with opset < 13 semantics (kept as a plain Softmax when the axis
// is the last one, else Flatten -> Softmax(axis=1) -> Reshape(Shape(x))), and opset-6
// binary ops broadcasting B from `axis` (B, an initializer, gets trailing 1s).
Status lower_legacy_forms(Graph& g) {
    bool any = false;
    for (const auto& n : g.nodes) {
        any = any || n.attrs.has("_pare_legacy_softmax") || n.attrs.has("_pare_legacy_axis");
    }
    if (!any) return Status();
    Graph probe = g;  // ranks from shape inference; failures leave ranks unknown
    for (auto& n : probe.nodes) {
        if (n.attrs.has("_pare_legacy_axis")) {  // legacy broadcast: the output has A's shape
            n.op_type = "Identity";
            n.inputs.resize(1);
        }
    }
    bool ranks = probe.resolve_ops().ok() && probe.topo_sort().ok() && infer_shapes(probe).ok();
    std::set<std::string> used;
    for (const auto& n : g.nodes) {
        used.insert(n.name);
        used.insert(n.inputs.begin(), n.inputs.end());
        used.insert(n.outputs.begin(), n.outputs.end());
    }
    for (const auto& kv : g.initializers) used.insert(kv.first);
    auto fresh = [&](const std::string& base) {
        std::string c = base;
        for (int k = 1; used.count(c); ++k) c = base + "_" + std::to_string(k);
        used.insert(c);
        return c;
    };
    std::vector<Node> src = std::move(g.nodes), out;
    auto rank_of = [&](const std::string& x) -> int64_t {
        if (!ranks) return -1;
        if (probe.is_initializer(x)) return probe.initializers.at(x).rank();
        for (const auto& i : probe.inputs) {
            if (i.name == x) return i.has_shape ? static_cast<int64_t>(i.shape.size()) : -1;
        }
        auto it = probe.value_info.find(x);
        return it != probe.value_info.end() && it->second.has_shape
                   ? static_cast<int64_t>(it->second.shape.size())
                   : -1;
    };
    for (auto& n : src) {
        if (n.attrs.has("_pare_legacy_axis")) {
            const int64_t axis = n.attrs.get_int("_pare_legacy_axis", 0);
            n.attrs.erase("_pare_legacy_axis");
            const int64_t ra = rank_of(n.input(0));
            const std::string b = n.input(1);
            if (ra < 0 || !g.is_initializer(b)) {
                return unsupported(
                    n.where() +
                    ": legacy broadcast with axis needs a constant B and a known rank of A");
            }
            const Tensor& bt = g.initializers.at(b);
            const int64_t a = axis < 0 ? axis + ra : axis;
            if (a < 0 || a + bt.rank() > ra)
                return invalid_argument(n.where() + ": broadcast axis out of range");
            Shape s2 = bt.shape();
            s2.resize(static_cast<size_t>(ra - a), 1);
            PARE_ASSIGN_OR_RETURN(Tensor r2, bt.reshaped(s2));
            const std::string nb = fresh(b + "_bcast");
            g.initializers[nb] = r2;
            n.inputs[1] = nb;
            out.push_back(std::move(n));
            continue;
        }
        if (!n.attrs.has("_pare_legacy_softmax")) {
            out.push_back(std::move(n));
            continue;
        }
        n.attrs.erase("_pare_legacy_softmax");
        if (n.inputs.size() != 1 || n.inputs[0].empty() || n.outputs.size() != 1) {
            return invalid_argument(n.where() + ": expects exactly one input and one output");
        }
        const std::string x = n.input(0);
        const int64_t rank = rank_of(x);
        int64_t axis = n.attrs.get_int("axis", 1);
        if (rank >= 0 && axis < 0) axis += rank;
        if (rank >= 0 && axis == rank - 1) {
            n.attrs.set("axis", Attribute::make_int(-1));
            out.push_back(std::move(n));
            continue;
        }
        const std::string flat = fresh(n.name + "_flat");
        const std::string soft = fresh(n.name + "_2d");
        const std::string shp = fresh(n.name + "_shape");
        Node f;
        f.name = flat;
        f.op_type = "Flatten";
        f.inputs = {x};
        f.outputs = {flat};
        f.attrs.set("axis", Attribute::make_int(axis));
        Node s;
        s.name = shp;
        s.op_type = "Shape";
        s.inputs = {x};
        s.outputs = {shp};
        const std::string y = n.outputs.empty() ? std::string() : n.outputs[0];
        n.inputs[0] = flat;
        n.outputs = {soft};
        n.attrs.set("axis", Attribute::make_int(1));
        Node r;
        r.name = fresh(n.name + "_reshape");
        r.op_type = "Reshape";
        r.inputs = {soft, shp};
        r.outputs = {y};
        out.push_back(std::move(f));
        out.push_back(std::move(s));
        out.push_back(std::move(n));
        out.push_back(std::move(r));
    }
    g.nodes = std::move(out);
    return Status();
}

}  // namespace

Result<ImportOptions> input_shape_options(const std::vector<std::string>& specs) {
    ImportOptions o;
    for (const auto& spec : specs) {
        std::string name;
        Shape shape;
        PARE_RETURN_IF_ERROR(parse_input_shape(spec, &name, &shape));
        o.input_shapes[name] = shape;
    }
    return o;
}

Status parse_input_shape(const std::string& spec, std::string* name, Shape* shape) {
    const std::string bad =
        "malformed --input-shape \"" + spec + "\": expected name=d0,d1,... (positive integers)";
    const size_t eq = spec.rfind('=');
    *name = eq == std::string::npos ? "" : spec.substr(0, eq);
    std::string dims = eq == std::string::npos ? spec : spec.substr(eq + 1);
    shape->clear();
    if (dims.empty()) return invalid_argument(bad);
    std::stringstream ss(dims);
    std::string tok;
    while (std::getline(ss, tok, ',')) {
        if (tok.empty() || tok.size() > 12 ||
            tok.find_first_not_of("0123456789") != std::string::npos) {
            return invalid_argument(bad);
        }
        shape->push_back(std::stoll(tok));
    }
    if (dims.back() == ',') return invalid_argument(bad);
    return Status();
}

Status read_graph(Importer& im, const onnx::GraphProto& gp, bool subgraph) {
    Graph& g = im.g;
    const std::string& label = im.label;
    g.name = gp.name().empty() ? "graph" : gp.name();
    for (const auto& t : gp.initializer()) {
        if (t.name().empty()) return im.fail("an initializer has an empty name");
        if (g.initializers.count(t.name()))
            return im.fail("initializer \"" + t.name() + "\" is defined twice");
        PARE_ASSIGN_OR_RETURN(Tensor v, im.tensor(t, "initializer \"" + t.name() + "\""));
        g.initializers[t.name()] = std::move(v);
    }
    if (gp.sparse_initializer_size() > 0)
        return unsupported(label + ": sparse initializers are not supported");
    if (subgraph && gp.input_size() > 0)
        return unsupported(label +
                           ": subgraphs with inputs (Loop and Scan bodies) are not "
                           "supported");
    for (const auto& v : gp.input()) {
        if (g.initializers.count(v.name()))
            continue;  // an initializer listed as input (IR < 4 style)
        ValueInfo vi;
        PARE_RETURN_IF_ERROR(im.value_info(v, &vi, "graph input"));
        if (vi.dtype == DType::kUndefined)
            return im.fail("graph input \"" + v.name() + "\" has no element type");
        g.inputs.push_back(vi);
    }
    for (const auto& v : gp.output()) {
        ValueInfo vi;
        PARE_RETURN_IF_ERROR(im.value_info(v, &vi, "graph output"));
        g.outputs.push_back(vi);
    }
    for (const auto& v : gp.value_info()) {
        ValueInfo vi;
        if (!im.value_info(v, &vi, "value_info").ok()) continue;  // optional hints only
        g.value_info[vi.name] = vi;
    }
    for (const auto& n : gp.node()) PARE_RETURN_IF_ERROR(im.node(n));
    return Status();
}

Result<Graph> Importer::branch(const onnx::GraphProto& gp, const std::string& where) {
    if (depth >= 8) return unsupported(label + ": " + where + ": If nested more than 8 deep");
    Importer sub;
    sub.label = label;
    sub.base_dir = base_dir;
    sub.opset = opset;
    sub.depth = depth + 1;
    PARE_RETURN_IF_ERROR(read_graph(sub, gp, true));
    Graph& b = sub.g;
    std::set<std::string> defined;
    for (const auto& kv : b.initializers) defined.insert(kv.first);
    for (const auto& n : b.nodes) defined.insert(n.outputs.begin(), n.outputs.end());
    for (const auto& o : b.outputs) {
        if (!defined.count(o.name))
            return unsupported(label + ": " + where + ": branch output \"" + o.name +
                               "\" is not computed in the branch (an enclosing value); pass it "
                               "through an Identity");
    }
    std::set<std::string> seen;
    for (const auto& n : b.nodes) {
        for (const auto& i : n.inputs) {
            if (i.empty() || defined.count(i) || !seen.insert(i).second) continue;
            ValueInfo v;
            v.name = i;
            b.inputs.push_back(v);
        }
    }
    Status s = b.resolve_ops();
    if (s.ok()) s = verify(b);
    if (s.ok()) s = lower_legacy_forms(b);
    if (s.ok()) s = b.resolve_ops();
    if (s.ok()) s = b.topo_sort();
    if (!s.ok()) return s.with_context(label + ": " + where);
    return std::move(sub.g);
}

Result<Graph> import_onnx_bytes(const std::string& bytes, const std::string& label,
                                const std::string& base_dir, const ImportOptions& options) {
    if (bytes.empty()) return invalid_argument(label + ": the file is empty, not an ONNX model");
    onnx::ModelProto model;
    if (bytes.size() > static_cast<size_t>(INT32_MAX) || !model.ParseFromString(bytes)) {
        return invalid_argument(
            label +
            ": not a valid ONNX model (protobuf parsing failed: truncated or corrupt file)");
    }
    if (!model.has_graph()) return invalid_argument(label + ": not a valid ONNX model (no graph)");
    Importer im;
    im.label = label;
    im.base_dir = base_dir;
    for (const auto& o : model.opset_import()) {
        if (o.domain().empty() || o.domain() == "ai.onnx") im.opset = o.version();
    }
    if (im.opset == 0 && model.opset_import_size() == 0) im.opset = 1;
    if (im.opset < kMinOpset || im.opset > kMaxOpset) {
        return unsupported(label + ": opset " + std::to_string(im.opset) +
                           " is not supported (supported: " + std::to_string(kMinOpset) + " to " +
                           std::to_string(kMaxOpset) + ")");
    }
    const onnx::GraphProto& gp = model.graph();
    Graph& g = im.g;
    g.producer = model.producer_name();
    PARE_RETURN_IF_ERROR(read_graph(im, gp, false));
    PARE_RETURN_IF_ERROR(bind_input_shapes(g, options, label));
    for (const auto& o : g.outputs) {
        if (g.is_initializer(o.name) || g.is_input(o.name)) continue;
        if (g.producer_of(o.name) < 0)
            return im.fail("graph output \"" + o.name + "\" is never produced");
    }
    PARE_RETURN_IF_ERROR(g.resolve_ops().with_context(label));
    PARE_RETURN_IF_ERROR(verify(g).with_context(label));
    PARE_RETURN_IF_ERROR(lower_legacy_forms(g).with_context(label));
    PARE_RETURN_IF_ERROR(g.resolve_ops().with_context(label));
    PARE_RETURN_IF_ERROR(g.topo_sort().with_context(label));
    g.opset = kWrittenOpset;
    return std::move(im.g);
}

Result<Tensor> tensor_from_onnx_bytes(const std::string& bytes, const std::string& label) {
    onnx::TensorProto t;
    if (!t.ParseFromString(bytes))
        return invalid_argument(label + ": not a valid onnx.TensorProto");
    Importer im;
    im.label = label;
    return im.tensor(t, "tensor \"" + t.name() + "\"");
}

Result<OnnxSummary> scan_onnx_model(const std::string& bytes, const std::string& label) {
    onnx::ModelProto model;
    if (!model.ParseFromString(bytes)) return invalid_argument(label + ": not a valid ONNX model");
    OnnxSummary r;
    for (const auto& o : model.opset_import()) {
        if (o.domain().empty() || o.domain() == "ai.onnx") r.opset = o.version();
    }
    std::set<int32_t> types;
    auto add_value = [&](const onnx::ValueInfoProto& v) {
        if (!v.type().has_tensor_type()) {
            types.insert(-1);
        } else {
            types.insert(v.type().tensor_type().elem_type());
        }
    };
    for (const auto& v : model.graph().input()) add_value(v);
    for (const auto& v : model.graph().output()) add_value(v);
    for (const auto& t : model.graph().initializer()) types.insert(t.data_type());
    for (const auto& n : model.graph().node()) {
        r.ops.push_back(n.domain().empty() || n.domain() == "ai.onnx"
                            ? n.op_type()
                            : n.domain() + "." + n.op_type());
        for (const auto& a : n.attribute()) {
            if (a.type() == onnx::AttributeProto::TENSOR) types.insert(a.t().data_type());
            if (a.name() == "to" && a.type() == onnx::AttributeProto::INT)
                types.insert(static_cast<int32_t>(a.i()));
        }
    }
    for (int32_t t : types) {
        if (!dtype_is_supported(t) && t != kOnnxInt4 && t != kOnnxUint4)
            r.unsupported_types.push_back(t);
    }
    return r;
}

int64_t min_supported_opset() { return kMinOpset; }
int64_t max_supported_opset() { return kMaxOpset; }

// Explicit per-input shapes, then symbolic dim names.
Status bind_input_shapes(Graph& g, const ImportOptions& options, const std::string& label) {
    for (const auto& kv : options.input_shapes) {
        ValueInfo* target = nullptr;
        for (auto& i : g.inputs) {
            if (i.name == kv.first || (kv.first.empty() && g.inputs.size() == 1)) target = &i;
        }
        if (!target) {
            std::string names;
            for (const auto& i : g.inputs) names += (names.empty() ? "" : ", ") + i.name;
            return invalid_argument(label + ": --input-shape names \"" + kv.first +
                                    "\", but the model's inputs are: " + names);
        }
        if (target->has_shape) {
            bool ok = target->shape.size() == kv.second.size();
            for (size_t d = 0; ok && d < kv.second.size(); ++d) {
                ok = target->shape[d] < 0 || target->shape[d] == kv.second[d];
            }
            if (!ok) {
                return invalid_argument(label + ": --input-shape " + shape_str(kv.second) +
                                        " for input \"" + target->name +
                                        "\" does not match its declared shape " +
                                        shape_str(target->shape));
            }
        }
        target->has_shape = true;
        target->shape = kv.second;
        target->dim_params.assign(kv.second.size(), "");
    }
    for (auto& i : g.inputs) {
        for (size_t d = 0; d < i.shape.size() && d < i.dim_params.size(); ++d) {
            auto it = options.dim_values.find(i.dim_params[d]);
            if (i.shape[d] < 0 && it != options.dim_values.end()) {
                i.shape[d] = it->second;
                i.dim_params[d].clear();
            }
        }
    }
    return Status();
}

Result<Graph> load_model_file(const std::string& path, const ImportOptions& options) {
    PARE_ASSIGN_OR_RETURN(std::string bytes, read_file(path));
    const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
    if (!looks_like_pare(data, bytes.size())) {
        const size_t slash = path.rfind('/');
        const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
        return import_onnx_bytes(bytes, path, dir, options);
    }
    PARE_ASSIGN_OR_RETURN(Graph g, load_pare(data, bytes.size(), path));
    PARE_RETURN_IF_ERROR(bind_input_shapes(g, options, path));
    return g;
}

Result<Graph> import_onnx_file(const std::string& path, const ImportOptions& options) {
    PARE_ASSIGN_OR_RETURN(std::string bytes, read_file(path));
    const size_t slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
    return import_onnx_bytes(bytes, path, dir, options);
}

}  // namespace pare
