// IR -> ONNX (opset 17), checked with onnx::checker before anything is written.
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <set>

#include "toolkit/io/files.h"
#include "toolkit/onnx/onnx_io.h"

namespace pare {

namespace {

void to_proto(const Tensor& t, const std::string& name, onnx::TensorProto* p) {
    p->set_name(name);
    p->set_data_type(static_cast<int32_t>(t.dtype()));
    for (int64_t d : t.shape()) p->add_dims(d);
    p->set_raw_data(t.raw(), t.nbytes());
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

void to_proto(const std::string& name, const Attribute& a, onnx::AttributeProto* p) {
    p->set_name(name);
    switch (a.kind) {
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

}  // namespace

Result<std::string> export_onnx_bytes(const Graph& g) {
    onnx::ModelProto m;
    m.set_ir_version(8);
    m.set_producer_name("pare");
    m.set_producer_version("0.1");
    auto* opset = m.add_opset_import();
    opset->set_domain("");
    opset->set_version(17);
    std::set<std::string> domains;  // com.microsoft (QLinearAdd from fuse_qdq), ai.onnx.ml
    for (const auto& n : g.nodes) {
        if (!n.domain.empty() && n.domain != "ai.onnx") domains.insert(n.domain);
    }
    for (const auto& d : domains) {
        auto* o = m.add_opset_import();
        o->set_domain(d);
        o->set_version(d == kMlDomain ? kMlOpset : 1);
    }
    auto* gp = m.mutable_graph();
    gp->set_name(g.name);
    for (const auto& i : g.inputs) to_proto(i, gp->add_input());
    for (const auto& o : g.outputs) to_proto(o, gp->add_output());
    for (const auto& kv : g.initializers) to_proto(kv.second, kv.first, gp->add_initializer());
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
        for (const auto& i : n.inputs) np->add_input(i);
        for (const auto& o : n.outputs) np->add_output(o);
        for (const auto& kv : n.attrs.map()) to_proto(kv.first, kv.second, np->add_attribute());
    }
    try {
        onnx::checker::check_model(m);
    } catch (const std::exception& e) {
        return invalid_argument(std::string("exported model fails onnx::checker: ") + e.what());
    }
    std::string out;
    if (!m.SerializeToString(&out)) {
        return invalid_argument("model too large to serialize as one protobuf (2 GiB limit)");
    }
    return out;
}

Status export_onnx_file(const Graph& g, const std::string& path) {
    PARE_ASSIGN_OR_RETURN(std::string bytes, export_onnx_bytes(g));
    return write_file_atomic(path, bytes);
}

}  // namespace pare
