// IR -> ONNX (opset 17), checked with onnx::checker before anything is written.
// A graph with grouped weights (DequantizeLinear with block_size) is written as
// opset 21 with its 4-bit weights packed (INT4/UINT4, two per byte); Debian's onnx
// checker knows opsets up to 17, so such a file is checked by reading it back with
// pare's importer instead.
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <map>
#include <set>

#include "toolkit/io/files.h"
#include "toolkit/onnx/onnx_io.h"

namespace pare {

namespace {

constexpr int32_t kOnnxUint4 = 21, kOnnxInt4 = 22;

void to_proto(const Tensor& t, const std::string& name, onnx::TensorProto* p,
              bool four_bit = false) {
    p->set_name(name);
    for (int64_t d : t.shape()) p->add_dims(d);
    if (four_bit) {  // values already in [-8, 7] (int8) or [0, 15] (uint8)
        const bool is_signed = t.dtype() == DType::kInt8;
        p->set_data_type(is_signed ? kOnnxInt4 : kOnnxUint4);
        std::string packed(static_cast<size_t>((t.numel() + 1) / 2), '\0');
        const uint8_t* v = static_cast<const uint8_t*>(t.raw());
        for (int64_t i = 0; i < t.numel(); ++i)
            packed[static_cast<size_t>(i / 2)] |= static_cast<char>((v[i] & 15) << (i % 2 * 4));
        p->set_raw_data(packed);
        return;
    }
    p->set_data_type(static_cast<int32_t>(t.dtype()));
    p->set_raw_data(t.raw(), t.nbytes());
}

// The int8/uint8 constants read only by blocked DequantizeLinear nodes (as the
// quantized value or zero point), when every value fits in 4 bits: written as
// INT4/UINT4 (the same numbers, half the bytes).
std::set<std::string> four_bit_constants(const Graph& g) {
    std::map<std::string, bool> ok;  // name -> every use is a blocked DQ's input 0 or 2
    for (const Node& n : g.nodes) {
        const bool blocked =
            n.op_type == "DequantizeLinear" && n.attrs.get_int("block_size", 0) > 0;
        for (size_t i = 0; i < n.inputs.size(); ++i) {
            if (!g.is_initializer(n.inputs[i])) continue;
            const bool fits = blocked && (i == 0 || i == 2);
            auto it = ok.find(n.inputs[i]);
            ok[n.inputs[i]] = (it == ok.end() || it->second) && fits;
        }
    }
    std::set<std::string> out;
    for (const auto& kv : ok) {
        if (!kv.second) continue;
        const Tensor& t = g.initializers.at(kv.first);
        bool fits = t.dtype() == DType::kInt8 || t.dtype() == DType::kUint8;
        for (int64_t i = 0; fits && i < t.numel(); ++i) {
            fits = t.dtype() == DType::kInt8 ? t.data<int8_t>()[i] >= -8 && t.data<int8_t>()[i] <= 7
                                             : t.data<uint8_t>()[i] <= 15;
        }
        if (fits) out.insert(kv.first);
    }
    return out;
}

void to_proto(const ValueInfo& v, onnx::ValueInfoProto* p) {
    p->set_name(v.name);
    if (v.dtype == DType::kUndefined) return;
    auto* tt = p->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(static_cast<int32_t>(v.dtype));
    if (!v.has_shape) return;
    auto* shape = tt->mutable_shape();
    for (size_t d = 0; d < v.shape.size(); ++d) {
        auto* dim = shape->add_dim();
        if (v.shape[d] >= 0) {
            dim->set_dim_value(v.shape[d]);
        } else if (d < v.dim_params.size() && !v.dim_params[d].empty()) {
            dim->set_dim_param(v.dim_params[d]);
        }
    }
}

void graph_to_proto(const Graph& g, onnx::GraphProto* gp, bool subgraph);

// A branch of `node` as ONNX writes it: no inputs, its reads of enclosing values
// under the names the node passes in (the IR lists them as branch inputs).
Graph branch_for_export(const Graph& branch, const Node& node) {
    Graph b = branch;
    std::map<std::string, std::string> outer;
    for (size_t i = 0; i < b.inputs.size() && i + 1 < node.inputs.size(); ++i)
        outer[b.inputs[i].name] = node.inputs[i + 1];
    auto rename = [&](std::string& v) {
        auto it = outer.find(v);
        if (it != outer.end()) v = it->second;
    };
    for (auto& n : b.nodes) {
        for (auto& i : n.inputs) rename(i);
    }
    b.inputs.clear();
    return b;
}

void to_proto(const std::string& name, const Attribute& a, onnx::AttributeProto* p,
              const Node& node) {
    p->set_name(name);
    switch (a.kind) {
        case Attribute::Kind::kGraph:
            p->set_type(onnx::AttributeProto::GRAPH);
            graph_to_proto(branch_for_export(*a.g, node), p->mutable_g(), true);
            break;
        case Attribute::Kind::kFloat:
            p->set_type(onnx::AttributeProto::FLOAT);
            p->set_f(a.f);
            break;
        case Attribute::Kind::kInt:
            p->set_type(onnx::AttributeProto::INT);
            p->set_i(a.i);
            break;
        case Attribute::Kind::kString:
            p->set_type(onnx::AttributeProto::STRING);
            p->set_s(a.s);
            break;
        case Attribute::Kind::kTensor:
            p->set_type(onnx::AttributeProto::TENSOR);
            to_proto(a.t, "", p->mutable_t());
            break;
        case Attribute::Kind::kFloats:
            p->set_type(onnx::AttributeProto::FLOATS);
            for (float f : a.floats) p->add_floats(f);
            break;
        case Attribute::Kind::kInts:
            p->set_type(onnx::AttributeProto::INTS);
            for (int64_t i : a.ints) p->add_ints(i);
            break;
        case Attribute::Kind::kStrings:
            p->set_type(onnx::AttributeProto::STRINGS);
            for (const auto& s : a.strings) p->add_strings(s);
            break;
    }
}

void graph_to_proto(const Graph& g, onnx::GraphProto* gp, bool subgraph) {
    gp->set_name(g.name);
    if (!subgraph) {
        for (const auto& i : g.inputs) to_proto(i, gp->add_input());
    }
    for (const auto& o : g.outputs) to_proto(o, gp->add_output());
    const std::set<std::string> four_bit = four_bit_constants(g);
    for (const auto& kv : g.initializers)
        to_proto(kv.second, kv.first, gp->add_initializer(), four_bit.count(kv.first) > 0);
    for (const auto& kv : g.value_info) {
        if (g.is_output(kv.first) || g.is_input(kv.first) || g.is_initializer(kv.first)) continue;
        if (kv.second.dtype == DType::kUndefined) continue;
        to_proto(kv.second, gp->add_value_info());
    }
    for (const auto& n : g.nodes) {
        auto* np = gp->add_node();
        np->set_name(n.name);
        np->set_op_type(n.op_type);
        if (!n.domain.empty()) np->set_domain(n.domain);
        // An If passes its enclosing values implicitly: only the condition is written.
        const size_t inputs =
            n.op == OpKind::kIf ? std::min<size_t>(1, n.inputs.size()) : n.inputs.size();
        for (size_t i = 0; i < inputs; ++i) np->add_input(n.inputs[i]);
        for (const auto& o : n.outputs) np->add_output(o);
        for (const auto& kv : n.attrs.map()) to_proto(kv.first, kv.second, np->add_attribute(), n);
    }
}

// The domains of g's nodes, branches included.
void collect_domains(const Graph& g, std::set<std::string>* domains) {
    for (const auto& n : g.nodes) {
        if (!n.domain.empty() && n.domain != "ai.onnx") domains->insert(n.domain);
        for (const auto& kv : n.attrs.map()) {
            if (kv.second.kind == Attribute::Kind::kGraph) collect_domains(*kv.second.g, domains);
        }
    }
}

}  // namespace

Result<std::string> export_onnx_bytes(const Graph& g) {
    const bool grouped = std::any_of(g.nodes.begin(), g.nodes.end(), [](const Node& n) {
        return n.op_type == "DequantizeLinear" && n.attrs.get_int("block_size", 0) > 0;
    });
    onnx::ModelProto m;
    m.set_ir_version(grouped ? 10 : 8);  // IR 10: the 4-bit types
    m.set_producer_name("pare");
    m.set_producer_version("0.1");
    auto* opset = m.add_opset_import();
    opset->set_domain("");
    opset->set_version(grouped ? 21 : 17);
    std::set<std::string> domains;  // com.microsoft (QLinearAdd from fuse_qdq), ai.onnx.ml
    collect_domains(g, &domains);
    for (const auto& d : domains) {
        auto* o = m.add_opset_import();
        o->set_domain(d);
        o->set_version(d == kMlDomain ? kMlOpset : 1);
    }
    graph_to_proto(g, m.mutable_graph(), false);
    if (!grouped) {
        try {
            onnx::checker::check_model(m);
        } catch (const std::exception& e) {
            return invalid_argument(std::string("exported model fails onnx::checker: ") + e.what());
        }
    }
    std::string out;
    if (!m.SerializeToString(&out)) {
        return invalid_argument("model too large to serialize as one protobuf (2 GiB limit)");
    }
    if (grouped) {
        Result<Graph> back = import_onnx_bytes(out, "exported model", "", ImportOptions());
        if (!back.ok())
            return invalid_argument("exported opset-21 model does not read back: " +
                                    back.status().message());
    }
    return out;
}

Status export_onnx_file(const Graph& g, const std::string& path) {
    PARE_ASSIGN_OR_RETURN(std::string bytes, export_onnx_bytes(g));
    return write_file_atomic(path, bytes);
}

}  // namespace pare
