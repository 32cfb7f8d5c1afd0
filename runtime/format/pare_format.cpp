#include "runtime/format/pare_format.h"

#include <cstring>
#include <fstream>
#include <iterator>

#include "pare_generated.h"
#include "runtime/ops/op_util.h"

namespace pare {

namespace {

using flatbuffers::FlatBufferBuilder;
using flatbuffers::Offset;

// Tensors mostly zero (pruned weights) are stored sparse when that saves at least
// a quarter of their bytes: a bit mask of the nonzero elements and those elements.
bool store_sparse(const Tensor& t) {
    const size_t es = dtype_size(t.dtype());
    if (t.numel() < 64 || es == 0) return false;
    const auto* p = static_cast<const uint8_t*>(t.raw());
    const std::vector<uint8_t> zero(es, 0);
    size_t nz = 0;
    for (int64_t i = 0; i < t.numel(); ++i)
        nz += std::memcmp(p + static_cast<size_t>(i) * es, zero.data(), es) != 0;
    return (static_cast<size_t>(t.numel()) + 7) / 8 + nz * es < t.nbytes() * 3 / 4;
}

Offset<fb::Tensor> put_tensor(FlatBufferBuilder& b, const Tensor& t, bool* sparse) {
    auto shape = b.CreateVector(t.shape());
    if (!store_sparse(t)) {
        auto data = b.CreateVector(static_cast<const uint8_t*>(t.raw()), t.nbytes());
        return fb::CreateTensor(b, static_cast<int32_t>(t.dtype()), shape, data);
    }
    *sparse = true;
    const size_t es = dtype_size(t.dtype());
    const auto* p = static_cast<const uint8_t*>(t.raw());
    const std::vector<uint8_t> zero(es, 0);
    std::vector<uint8_t> mask((static_cast<size_t>(t.numel()) + 7) / 8, 0), values;
    for (size_t i = 0; i < static_cast<size_t>(t.numel()); ++i) {
        if (std::memcmp(p + i * es, zero.data(), es) == 0) continue;
        mask[i / 8] = static_cast<uint8_t>(mask[i / 8] | (1u << (i % 8)));
        values.insert(values.end(), p + i * es, p + (i + 1) * es);
    }
    auto data = b.CreateVector(values);
    return fb::CreateTensor(b, static_cast<int32_t>(t.dtype()), shape, data, b.CreateVector(mask));
}

Offset<fb::ValueInfo> put_value(FlatBufferBuilder& b, const ValueInfo& v) {
    std::vector<std::string> params = v.dim_params;
    params.resize(v.shape.size());
    return fb::CreateValueInfo(b, b.CreateString(v.name), static_cast<int32_t>(v.dtype),
                               v.has_shape, b.CreateVector(v.shape),
                               b.CreateVectorOfStrings(params));
}

Offset<fb::Attribute> put_attr(FlatBufferBuilder& b, const std::string& name, const Attribute& a,
                               bool* sparse) {
    auto n = b.CreateString(name);
    auto s = b.CreateString(a.s);
    Offset<fb::Tensor> t = a.kind == Attribute::Kind::kTensor ? put_tensor(b, a.t, sparse) : 0;
    auto floats = b.CreateVector(a.floats);
    auto ints = b.CreateVector(a.ints);
    auto strings = b.CreateVectorOfStrings(a.strings);
    return fb::CreateAttribute(b, n, static_cast<int8_t>(a.kind), a.f, a.i, s, t, floats, ints,
                               strings);
}

std::string str(const flatbuffers::String* s) { return s ? s->str() : std::string(); }

// A tensor from the file, every count and size checked.
Result<Tensor> get_tensor(const fb::Tensor* t, const std::string& where) {
    if (!t) return invalid_argument(where + ": tensor is missing");
    if (!dtype_is_supported(t->dtype()))
        return invalid_argument(where + ": unsupported dtype code " + std::to_string(t->dtype()));
    const DType dtype = static_cast<DType>(t->dtype());
    Shape shape;
    if (t->shape()) {
        if (t->shape()->size() > static_cast<uint32_t>(kMaxRank))
            return invalid_argument(where + ": rank " + std::to_string(t->shape()->size()) +
                                    " exceeds " + std::to_string(kMaxRank));
        shape.assign(t->shape()->begin(), t->shape()->end());
    }
    Result<int64_t> n = shape_numel(shape);
    if (!n.ok()) return n.status().with_context(where);
    const int64_t numel = n.value();
    const size_t have = t->data() ? t->data()->size() : 0;
    if (numel > tensor_byte_limit() / static_cast<int64_t>(dtype_size(dtype)))
        return out_of_range(where + ": tensor of shape " + shape_str(shape) +
                            " exceeds the tensor size limit");
    const size_t es = dtype_size(dtype);
    size_t want = static_cast<size_t>(numel) * es;
    const auto* mask = t->mask();
    if (mask) {  // sparse: one bit per element, the set ones' values in data
        if (mask->size() != (static_cast<size_t>(numel) + 7) / 8)
            return invalid_argument(where + ": sparse mask of " + std::to_string(mask->size()) +
                                    " bytes for " + std::to_string(numel) + " elements");
        size_t nz = 0;
        for (size_t i = 0; i < static_cast<size_t>(numel); ++i)
            nz += (mask->Get(static_cast<uint32_t>(i / 8)) >> (i % 8)) & 1u;
        want = nz * es;
    }
    if (have != want)
        return invalid_argument(where + ": " + std::to_string(have) + " data bytes for shape " +
                                shape_str(shape) + " of " + dtype_name(dtype) + " (needs " +
                                std::to_string(want) + (mask ? ", the mask's nonzeros" : "") + ")");
    Result<Tensor> made = Tensor::create(dtype, shape);
    if (!made.ok()) return made.status().with_context(where);
    Tensor out = std::move(made).value();
    if (!mask) {
        if (want) std::memcpy(out.raw(), t->data()->data(), want);
        return out;
    }
    auto* dst = static_cast<uint8_t*>(out.raw());
    std::memset(dst, 0, out.nbytes());
    const uint8_t* src = want ? t->data()->data() : nullptr;
    for (size_t i = 0; i < static_cast<size_t>(numel); ++i) {
        if (!((mask->Get(static_cast<uint32_t>(i / 8)) >> (i % 8)) & 1u)) continue;
        std::memcpy(dst + i * es, src, es);
        src += es;
    }
    return out;
}

Result<ValueInfo> get_value(const fb::ValueInfo* v, const std::string& where) {
    if (!v || !v->name() || v->name()->size() == 0) return invalid_argument(where + ": no name");
    ValueInfo out;
    out.name = v->name()->str();
    const std::string w = where + " \"" + out.name + "\"";
    if (v->dtype() != 0 && !dtype_is_supported(v->dtype()))
        return invalid_argument(w + ": unsupported dtype code " + std::to_string(v->dtype()));
    out.dtype = static_cast<DType>(v->dtype());
    out.has_shape = v->has_shape();
    if (v->shape()) {
        if (v->shape()->size() > static_cast<uint32_t>(kMaxRank))
            return invalid_argument(w + ": rank exceeds " + std::to_string(kMaxRank));
        out.shape.assign(v->shape()->begin(), v->shape()->end());
    }
    for (int64_t d : out.shape) {
        if (d < -1) return invalid_argument(w + ": dimension " + std::to_string(d));
    }
    if (!out.has_shape && !out.shape.empty()) return invalid_argument(w + ": shape without rank");
    out.dim_params.assign(out.shape.size(), "");
    if (v->dim_params()) {
        for (uint32_t i = 0; i < v->dim_params()->size() && i < out.shape.size(); ++i)
            out.dim_params[i] = str(v->dim_params()->Get(i));
    }
    return out;
}

Result<Attribute> get_attr(const fb::Attribute* a, const std::string& where) {
    Attribute out;
    const int kind = a->kind();
    if (kind < 0 || kind > static_cast<int>(Attribute::Kind::kStrings))
        return invalid_argument(where + ": unknown attribute kind " + std::to_string(kind));
    out.kind = static_cast<Attribute::Kind>(kind);
    out.f = a->f();
    out.i = a->i();
    out.s = str(a->s());
    if (out.kind == Attribute::Kind::kTensor) {
        PARE_ASSIGN_OR_RETURN(out.t, get_tensor(a->t(), where));
    }
    if (a->floats()) out.floats.assign(a->floats()->begin(), a->floats()->end());
    if (a->ints()) out.ints.assign(a->ints()->begin(), a->ints()->end());
    if (a->strings()) {
        for (const auto* s : *a->strings()) out.strings.push_back(str(s));
    }
    return out;
}

}  // namespace

bool looks_like_pare(const uint8_t* data, size_t size) {
    return size >= 8 && fb::ModelBufferHasIdentifier(data);
}

Result<std::vector<uint8_t>> save_pare(const Graph& g) {
    FlatBufferBuilder b(1 << 16);
    std::vector<Offset<fb::ValueInfo>> inputs, outputs;
    for (const auto& v : g.inputs) inputs.push_back(put_value(b, v));
    for (const auto& v : g.outputs) outputs.push_back(put_value(b, v));
    std::vector<Offset<fb::Initializer>> inits;
    bool sparse = false;  // some tensor stored sparse: version 2
    for (const auto& kv : g.initializers) {
        auto name = b.CreateString(kv.first);
        inits.push_back(fb::CreateInitializer(b, name, put_tensor(b, kv.second, &sparse)));
    }
    std::vector<Offset<fb::Node>> nodes;
    for (const auto& n : g.nodes) {
        for (const auto& kv : n.attrs.map()) {
            if (kv.second.kind == Attribute::Kind::kGraph)
                return unsupported(n.where() + ": control flow (attribute \"" + kv.first +
                                   "\" is a graph) cannot be stored in a .pare file yet; run "
                                   "the ONNX file");
        }
        std::vector<Offset<fb::Attribute>> attrs;
        for (const auto& kv : n.attrs.map())
            attrs.push_back(put_attr(b, kv.first, kv.second, &sparse));
        nodes.push_back(fb::CreateNode(b, b.CreateString(n.name), b.CreateString(n.op_type),
                                       b.CreateString(n.domain), b.CreateVectorOfStrings(n.inputs),
                                       b.CreateVectorOfStrings(n.outputs), b.CreateVector(attrs)));
    }
    auto model =
        fb::CreateModel(b, sparse ? kPareFormatVersion : 1, b.CreateString(g.producer),
                        b.CreateString(g.name), g.opset, b.CreateVector(inputs),
                        b.CreateVector(outputs), b.CreateVector(inits), b.CreateVector(nodes));
    fb::FinishModelBuffer(b, model);
    return std::vector<uint8_t>(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
}

Result<Graph> load_pare(const uint8_t* data, size_t size, const std::string& label) {
    if (!looks_like_pare(data, size))
        return invalid_argument(label + ": not a .pare file (no \"PARE\" identifier)");
    // flatbuffers keeps offsets in 32 bits; its verifier needs the size to fit.
    if (size >= (size_t{1} << 31)) return invalid_argument(label + ": file larger than 2 GiB");
    flatbuffers::Verifier verifier(data, size, /*max_depth=*/16, /*max_tables=*/10000000);
    if (!fb::VerifyModelBuffer(verifier))
        return invalid_argument(label +
                                ": corrupt .pare file (an offset or length points "
                                "outside the file)");
    const fb::Model* m = fb::GetModel(data);
    if (m->version() < 1 || m->version() > kPareFormatVersion)
        return invalid_argument(label + ": .pare format version " + std::to_string(m->version()) +
                                ", this pare reads versions 1 to " +
                                std::to_string(kPareFormatVersion));
    Graph g;
    g.producer = str(m->producer());
    g.name = m->graph_name() ? m->graph_name()->str() : "graph";
    g.opset = m->opset();
    if (m->inputs()) {
        for (uint32_t i = 0; i < m->inputs()->size(); ++i) {
            PARE_ASSIGN_OR_RETURN(ValueInfo v, get_value(m->inputs()->Get(i),
                                                         label + ": input " + std::to_string(i)));
            g.inputs.push_back(std::move(v));
        }
    }
    if (m->outputs()) {
        for (uint32_t i = 0; i < m->outputs()->size(); ++i) {
            PARE_ASSIGN_OR_RETURN(ValueInfo v, get_value(m->outputs()->Get(i),
                                                         label + ": output " + std::to_string(i)));
            g.outputs.push_back(std::move(v));
        }
    }
    if (m->initializers()) {
        for (const fb::Initializer* in : *m->initializers()) {
            const std::string name = str(in->name());
            const std::string where = label + ": initializer \"" + name + "\"";
            if (name.empty()) return invalid_argument(label + ": initializer without a name");
            if (g.initializers.count(name)) return invalid_argument(where + " appears twice");
            PARE_ASSIGN_OR_RETURN(Tensor t, get_tensor(in->tensor(), where));
            g.initializers[name] = std::move(t);
        }
    }
    if (m->nodes()) {
        for (uint32_t i = 0; i < m->nodes()->size(); ++i) {
            const fb::Node* fn = m->nodes()->Get(i);
            Node n;
            n.name = str(fn->name());
            n.op_type = str(fn->op_type());
            n.domain = str(fn->domain());
            const std::string where = label + ": node " + std::to_string(i) + " \"" + n.name + "\"";
            if (n.op_type.empty()) return invalid_argument(where + " has no op type");
            if (fn->inputs()) {
                for (const auto* s : *fn->inputs()) n.inputs.push_back(str(s));
            }
            if (fn->outputs()) {
                for (const auto* s : *fn->outputs()) n.outputs.push_back(str(s));
            }
            if (fn->attributes()) {
                for (const fb::Attribute* a : *fn->attributes()) {
                    const std::string an = str(a->name());
                    if (an.empty()) return invalid_argument(where + ": attribute without a name");
                    PARE_ASSIGN_OR_RETURN(Attribute at,
                                          get_attr(a, where + " attribute \"" + an + "\""));
                    n.attrs.set(an, std::move(at));
                }
            }
            g.nodes.push_back(std::move(n));
        }
    }
    PARE_RETURN_IF_ERROR(g.resolve_ops().with_context(label));
    PARE_RETURN_IF_ERROR(verify(g).with_context(label));
    return g;
}

Result<Graph> load_pare_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return io_error(path + ": cannot open");
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)),
                               std::istreambuf_iterator<char>());
    if (f.bad()) return io_error(path + ": read failed");
    return load_pare(bytes.data(), bytes.size(), path);
}

}  // namespace pare
