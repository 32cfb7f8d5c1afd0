// fuse_qdq: a QDQ model (QuantizeLinear/DequantizeLinear around float ops, as pare
// quantize and other tools write it) rewritten into integer ops, so that it runs
// in integers from one layer to the next:
//
//   DQ(x) -> Conv(., DQ(w)[, bias]) [-> Relu | Clip] -> Q   =>  QLinearConv
//   DQ(a), DQ(b) -> Add [-> Relu | Clip] -> Q                =>  QLinearAdd (com.microsoft)
//   DQ(a), DQ(b) -> Mul [-> Relu | Clip] -> Q                =>  QLinearMul (com.microsoft)
//   DQ(x) -> MaxPool [-> Flatten] -> Q, Q with x's parameters =>  MaxPool of x (8-bit)
//                                                   [-> Flatten]
//   DQ(x1), DQ(x2).. -> Concat -> Q                           =>  QLinearConcat
//                                                   (com.microsoft)
//   DQ(x) -> GlobalAveragePool [-> Flatten] -> Q              =>  QLinearGlobalAveragePool
//                                                   (com.microsoft) [-> Flatten]
//   DQ(x) -> Gemm(., DQ(w)[, bias]) [-> Relu | Clip -> Q]      =>  QGemm (com.microsoft;
//                                                   float32 out when no Q follows)
//   DQ(x) -> MatMul(., DQ(w)) [-> Relu | Clip] -> Q           =>  QLinearMatMul
//   DQ(x) -> MatMul(., DQ(w)) [-> Add(., bias)], no Q         =>  MatMulIntegerToFloat
//                                                   (com.microsoft)
//   DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul(., Mul(a_scale, w_scale))
//   [-> Add(., bias)]                                        =>  MatMulIntegerToFloat
//
// x, a, b are 8-bit activations with constant scalar scales and zero points; w a
// constant 8-bit weight (per tensor or per output channel or column); the bias a float
// constant or an int32 one through DequantizeLinear, requantized to int32 at
// x_scale * w_scale (exact when it already has that scale, as pare writes it). The
// activation is absorbed only when quantizing makes it a no-op: Relu when the
// output zero point is the type's minimum, Clip when Q(min) and Q(max) lie outside
// the type's range. The DequantizeLinear nodes left without consumers go with the
// dead-code pass.
#include <cmath>
#include <set>

#include "runtime/ir/passes/passes.h"
#include "runtime/ops/requantize.h"

namespace pare {

namespace {

struct QParams {
    std::string scale, zero_point;  // zero_point may be ""
    float s = 0;                    // scalar scale
    int32_t z = 0;                  // scalar zero point
    DType type = DType::kUndefined;
};

const Tensor* constant(const Graph& g, const std::string& v) {
    auto it = g.initializers.find(v);
    return it == g.initializers.end() ? nullptr : &it->second;
}

// A Q or DQ node's scalar scale and zero point (the zero point present and 8-bit).
bool scalar_params(const Graph& g, const Node& n, QParams* p) {
    const Tensor* s = constant(g, n.input(1));
    const Tensor* z = constant(g, n.input(2));
    if (!s || !z || s->dtype() != DType::kFloat32 || s->numel() != 1 || z->numel() != 1)
        return false;
    if (z->dtype() != DType::kUint8 && z->dtype() != DType::kInt8) return false;
    p->scale = n.input(1);
    p->zero_point = n.input(2);
    p->s = s->data<float>()[0];
    p->z = static_cast<int32_t>(z->at_int64(0));
    p->type = z->dtype();
    return p->s > 0 && std::isfinite(p->s);
}

class Fuser {
  public:
    // With `chain`: the session-only form, Conv -> activation -> Q alone
    // (fuse_qdq_activations).
    explicit Fuser(Graph& g, const ActivationChainFn* chain = nullptr)
        : g_(g), consumers_(g.consumers()), chain_(chain) {}

    int run() {
        int fused = 0;
        for (size_t n = 0; n < g_.nodes.size(); ++n) {
            if (removed_.count(static_cast<int>(n))) continue;
            const OpKind op = g_.nodes[n].op;
            if (op == OpKind::kConv) fused += fuse_conv(static_cast<int>(n));
            if (chain_) {
                if (op == OpKind::kQGemm) fused += fuse_qgemm_activation(static_cast<int>(n));
                continue;
            }
            if (op == OpKind::kAdd || op == OpKind::kMul) fused += fuse_binary(static_cast<int>(n));
            if (op == OpKind::kMaxPool) fused += fuse_max_pool(static_cast<int>(n));
            if (op == OpKind::kGemm || op == OpKind::kMatMul)
                fused += fuse_dense(static_cast<int>(n));
            if (op == OpKind::kConcat) fused += fuse_concat(static_cast<int>(n));
            if (op == OpKind::kMatMulInteger) fused += fuse_dynamic(static_cast<int>(n));
            if (op == OpKind::kGlobalAveragePool) fused += fuse_global_pool(static_cast<int>(n));
        }
        std::vector<Node> kept;
        for (size_t n = 0; n < g_.nodes.size(); ++n)
            if (!removed_.count(static_cast<int>(n))) kept.push_back(std::move(g_.nodes[n]));
        g_.nodes = std::move(kept);
        return fused;
    }

  private:
    const Node* producer(const std::string& v) const {
        const int p = g_.producer_of(v);
        return p < 0 ? nullptr : &g_.nodes[p];
    }

    // The only consumer of v (v not a graph output), or -1.
    int only_consumer(const std::string& v) const {
        if (g_.is_output(v)) return -1;
        auto it = consumers_.find(v);
        return it == consumers_.end() || it->second.size() != 1 ? -1 : it->second[0];
    }

    // v = DequantizeLinear(x) of an activation x with scalar parameters.
    bool activation_dq(const std::string& v, std::string* x, QParams* p) const {
        const Node* d = producer(v);
        if (!d || d->op != OpKind::kDequantizeLinear || g_.is_initializer(d->input(0)))
            return false;
        *x = d->input(0);
        return scalar_params(g_, *d, p);
    }

    // From `out` (a float result): an optional Relu/Clip then the QuantizeLinear that
    // is the only consumer. Fills the Q node, its params and the nodes passed.
    bool quantized_output(const std::string& out, int* q_node, QParams* p,
                          std::vector<int>* passed) const {
        int c = only_consumer(out);
        if (c < 0) return false;
        const Node* act = nullptr;
        if (g_.nodes[c].op == OpKind::kRelu || g_.nodes[c].op == OpKind::kClip) {
            act = &g_.nodes[c];
            passed->push_back(c);
            c = only_consumer(act->outputs[0]);
            if (c < 0) return false;
        }
        const Node& q = g_.nodes[c];
        if (q.op != OpKind::kQuantizeLinear || q.input(0) != (act ? act->outputs[0] : out) ||
            !scalar_params(g_, q, p))
            return false;
        if (act && !activation_is_noop(*act, *p)) return false;
        *q_node = c;
        return true;
    }

    // Quantizing to p clamps at least as tightly as act does.
    bool activation_is_noop(const Node& act, const QParams& p) const {
        const int32_t lo = p.type == DType::kInt8 ? -128 : 0;
        const int32_t hi = p.type == DType::kInt8 ? 127 : 255;
        auto q = [&](float v) { return std::nearbyint(static_cast<double>(v / p.s)) + p.z; };
        if (act.op == OpKind::kRelu) return p.z == lo;
        float mn = -INFINITY, mx = INFINITY;
        for (size_t i : {1, 2}) {
            if (act.input(i).empty()) continue;
            const Tensor* t = constant(g_, act.input(i));
            if (!t || t->dtype() != DType::kFloat32 || t->numel() != 1) return false;
            (i == 1 ? mn : mx) = t->data<float>()[0];
        }
        if (act.attrs.has("min")) mn = act.attrs.get_float("min", mn);
        if (act.attrs.has("max")) mx = act.attrs.get_float("max", mx);
        return (mn == -INFINITY || q(mn) <= lo) && (mx == INFINITY || q(mx) >= hi);
    }

    // The session-only form's tail, from the float result `out`: an activation
    // (chain_), then a Mul by a constant scalar and an Add of one (each optional),
    // then the QuantizeLinear that is the only consumer. Fills the activation, the
    // nodes passed, the Q node and its parameters.
    bool activation_to_q(const std::string& out, FusedActivation* act, std::vector<int>* passed,
                         int* q, QParams* yp) const {
        *passed = (*chain_)(g_, consumers_, out, &act->act);
        if (passed->empty() || act->act.kind == Activation::kNone) return false;
        std::string last = g_.nodes[passed->back()].outputs[0];
        for (const OpKind k : {OpKind::kMul, OpKind::kAdd}) {
            const int c = only_consumer(last);
            float v = 0;
            if (c < 0 || g_.nodes[c].op != k || !scalar_operand(g_.nodes[c], last, &v)) continue;
            (k == OpKind::kMul ? act->scale : act->bias) = v;
            passed->push_back(c);
            last = g_.nodes[c].outputs[0];
        }
        *q = only_consumer(last);
        return *q >= 0 && g_.nodes[*q].op == OpKind::kQuantizeLinear &&
               g_.nodes[*q].input(0) == last && scalar_params(g_, g_.nodes[*q], yp);
    }

    // Session-only: a QGemm with a float output (fuse_qdq's classifier head) then an
    // activation [and affine] then Q: QGemm with Q's parameters as y's and the
    // activation as its attribute (MobileNetV3's hidden classifier layer).
    int fuse_qgemm_activation(int n) {
        const Node gemm = g_.nodes[n];
        if (gemm.outputs.size() != 1 || gemm.inputs.size() < 6 || !gemm.input(7).empty()) return 0;
        FusedActivation act;
        std::vector<int> passed;
        int q = -1;
        QParams yp;
        if (!activation_to_q(gemm.outputs[0], &act, &passed, &q, &yp)) return 0;
        Node f = gemm;
        f.inputs.resize(7);  // C, or "" (absent)
        f.inputs.push_back(yp.scale);
        f.inputs.push_back(yp.zero_point);
        set_fused_activation(&f.attrs, act);
        f.outputs = g_.nodes[q].outputs;
        g_.nodes[n] = f;
        passed.push_back(q);
        remove(passed);
        return 1;
    }

    // n is a binary op of v and a constant float scalar: *value.
    bool scalar_operand(const Node& n, const std::string& v, float* value) const {
        if (n.inputs.size() != 2 || n.outputs.size() != 1) return false;
        const std::string& other = n.input(0) == v ? n.input(1) : n.input(0);
        if (n.input(0) != v && n.input(1) != v) return false;
        const Tensor* t = constant(g_, other);
        if (!t || t->dtype() != DType::kFloat32 || t->numel() != 1) return false;
        *value = t->data<float>()[0];
        return std::isfinite(*value);
    }

    void remove(const std::vector<int>& nodes) {
        for (int n : nodes) removed_.insert(n);
    }

    // A new initializer of zeros of type t and shape s (a weight's zero points
    // where its DequantizeLinear had none); returns its name.
    std::string add_zeros(const std::string& base, DType t, const Shape& s) {
        const std::string name = g_.unique_name(base);
        g_.initializers[name] = Tensor::create(t, s).value();  // zero-filled
        return name;
    }

    // The bias v (a float constant, or an int32 constant through DequantizeLinear)
    // as int32 at the accumulator's scale x_scale * w_scale[m]: integers already at
    // that scale (as pare writes them) as they are, other values rounded to it.
    bool int32_bias(const std::string& v, float sx, const Tensor& ws, int64_t M,
                    Tensor* out) const {
        std::vector<double> value(static_cast<size_t>(M));  // in the accumulator's units
        auto acc_scale = [&](int64_t m) { return sx * ws.data<float>()[ws.numel() == 1 ? 0 : m]; };
        if (const Tensor* bf = constant(g_, v)) {
            if (bf->dtype() != DType::kFloat32 || bf->numel() != M) return false;
            for (int64_t m = 0; m < M; ++m)
                value[m] = std::nearbyint(static_cast<double>(bf->data<float>()[m]) / acc_scale(m));
        } else {
            const Node* bd = producer(v);
            if (!bd || bd->op != OpKind::kDequantizeLinear) return false;
            const Tensor* bi = constant(g_, bd->input(0));
            const Tensor* bs = constant(g_, bd->input(1));
            const Tensor* bz = bd->input(2).empty() ? nullptr : constant(g_, bd->input(2));
            if (!bi || !bs || bi->dtype() != DType::kInt32 || bi->numel() != M ||
                bs->dtype() != DType::kFloat32 || (bs->numel() != 1 && bs->numel() != M) ||
                (!bd->input(2).empty() && (!bz || bz->numel() != bs->numel())))
                return false;
            for (int64_t m = 0; m < M; ++m) {
                const int64_t c = bs->numel() == 1 ? 0 : m;
                const float s = bs->data<float>()[c];
                const int32_t iv =
                    bi->data<int32_t>()[m] - (bz ? static_cast<int32_t>(bz->at_int64(c)) : 0);
                value[m] = s == acc_scale(m)
                               ? iv
                               : std::nearbyint(static_cast<double>(static_cast<float>(iv) * s) /
                                                acc_scale(m));
            }
        }
        *out = Tensor::create(DType::kInt32, {M}).value();
        for (int64_t m = 0; m < M; ++m) {
            if (!(std::fabs(value[m]) < 2147483647.0)) return false;
            out->data<int32_t>()[m] = static_cast<int32_t>(value[m]);
        }
        return true;
    }

    int fuse_conv(int n) {
        const Node conv = g_.nodes[n];
        if (conv.outputs.size() != 1 || conv.inputs.size() < 2) return 0;
        std::string xq;
        QParams xp, yp;
        if (!activation_dq(conv.input(0), &xq, &xp)) return 0;
        // The weight: a constant 8-bit tensor through DequantizeLinear, per tensor or
        // per output channel (axis 0).
        const Node* wd = producer(conv.input(1));
        if (!wd || wd->op != OpKind::kDequantizeLinear) return 0;
        const Tensor* w = constant(g_, wd->input(0));
        const Tensor* ws = constant(g_, wd->input(1));
        const Tensor* wz = wd->input(2).empty() ? nullptr : constant(g_, wd->input(2));
        if (!w || !ws || (w->dtype() != DType::kInt8 && w->dtype() != DType::kUint8) ||
            w->rank() < 3 || ws->dtype() != DType::kFloat32)
            return 0;
        const int64_t M = w->shape()[0];
        if (ws->numel() != 1 && (ws->numel() != M || wd->attrs.get_int("axis", 1) != 0)) return 0;
        if (!wd->input(2).empty() &&
            (!wz || wz->dtype() != w->dtype() || wz->numel() != ws->numel()))
            return 0;
        for (int64_t m = 0; m < ws->numel(); ++m)
            if (!(ws->data<float>()[m] > 0) || !std::isfinite(ws->data<float>()[m])) return 0;
        int q = -1;
        std::vector<int> passed;
        FusedActivation act;
        if (!chain_) {
            if (!quantized_output(conv.outputs[0], &q, &yp, &passed)) return 0;
        } else {
            // The session-only form: what fuse_qdq fuses is left to it.
            if (quantized_output(conv.outputs[0], &q, &yp, &passed)) return 0;
            if (!activation_to_q(conv.outputs[0], &act, &passed, &q, &yp)) return 0;
        }
        // The bias as int32 at scale x_scale * w_scale[m].
        std::string bias;
        if (!conv.input(2).empty()) {
            Tensor t;
            if (!int32_bias(conv.input(2), xp.s, *ws, M, &t)) return 0;
            bias = g_.unique_name(conv.name + "_bias_int32");
            g_.initializers[bias] = t;
        }
        Node f;
        f.name = conv.name;
        f.op_type = "QLinearConv";
        f.op = OpKind::kQLinearConv;
        f.attrs = conv.attrs;
        if (act.act.kind != Activation::kNone) set_fused_activation(&f.attrs, act);
        const std::string wzp = wd->input(2).empty()
                                    ? add_zeros(conv.name + "_w_zero_point", w->dtype(), {})
                                    : wd->input(2);
        f.inputs = {xq,           xp.scale, xp.zero_point, wd->input(0),
                    wd->input(1), wzp,      yp.scale,      yp.zero_point};
        if (!bias.empty()) f.inputs.push_back(bias);
        f.outputs = g_.nodes[q].outputs;
        g_.nodes[n] = f;
        passed.push_back(q);
        remove(passed);
        return 1;
    }

    // Add or Mul of two quantized activations.
    int fuse_binary(int n) {
        const Node add = g_.nodes[n];
        const bool mul = add.op == OpKind::kMul;
        if (add.inputs.size() != 2 || add.outputs.size() != 1) return 0;
        std::string aq, bq;
        QParams ap, bp, cp;
        if (!activation_dq(add.input(0), &aq, &ap) || !activation_dq(add.input(1), &bq, &bp))
            return 0;
        int q = -1;
        std::vector<int> passed;
        if (!quantized_output(add.outputs[0], &q, &cp, &passed)) return 0;
        if (ap.type != cp.type || bp.type != cp.type) return 0;
        Node f;
        f.name = add.name;
        f.op_type = mul ? "QLinearMul" : "QLinearAdd";
        f.domain = kMicrosoftDomain;
        f.op = mul ? OpKind::kQLinearMul : OpKind::kQLinearAdd;
        f.inputs = {aq,       ap.scale,      ap.zero_point, bq,
                    bp.scale, bp.zero_point, cp.scale,      cp.zero_point};
        f.outputs = g_.nodes[q].outputs;
        g_.nodes[n] = f;
        passed.push_back(q);
        remove(passed);
        return 1;
    }

    // v = DequantizeLinear(w) of a constant 8-bit matrix w (rank 2) with scales per
    // tensor or one per output (along axis `out_axis` of w), all finite and positive.
    bool weight_dq(const std::string& v, int out_axis, const Node** wd) const {
        const Node* d = producer(v);
        if (!d || d->op != OpKind::kDequantizeLinear) return false;
        const Tensor* w = constant(g_, d->input(0));
        const Tensor* ws = constant(g_, d->input(1));
        const Tensor* wz = d->input(2).empty() ? nullptr : constant(g_, d->input(2));
        if (!w || !ws || (w->dtype() != DType::kInt8 && w->dtype() != DType::kUint8) ||
            w->rank() != 2 || ws->dtype() != DType::kFloat32)
            return false;
        const int64_t M = w->shape()[out_axis];
        if (ws->numel() != 1 &&
            (ws->numel() != M || ws->rank() != 1 || d->attrs.get_int("axis", 1) != out_axis))
            return false;
        if (!d->input(2).empty() &&
            (!wz || wz->dtype() != w->dtype() || wz->numel() != ws->numel()))
            return false;
        for (int64_t m = 0; m < ws->numel(); ++m)
            if (!(ws->data<float>()[m] > 0) || !std::isfinite(ws->data<float>()[m])) return false;
        *wd = d;
        return true;
    }

    // A constant bias of one value per output column: shape [M] or [1, M].
    bool row_vector(const std::string& v, int64_t M) const {
        const Node* d = producer(v);
        const Tensor* t = constant(g_, d && d->op == OpKind::kDequantizeLinear ? d->input(0) : v);
        return t && t->numel() == M && (t->rank() == 1 || (t->rank() == 2 && t->shape()[0] == 1));
    }

    // Gemm (alpha 1, beta 1, transA 0) or MatMul of a quantized activation and a
    // quantized constant matrix: QGemm (Gemm), QLinearMatMul (MatMul then Q) or
    // MatMulIntegerToFloat (MatMul with a float result, a following Add of a
    // constant vector taken as its bias).
    int fuse_dense(int n) {
        const Node mm = g_.nodes[n];
        const bool gemm = mm.op == OpKind::kGemm;
        if (mm.outputs.size() != 1 || mm.inputs.size() < 2) return 0;
        if (gemm &&
            (mm.attrs.get_int("transA", 0) != 0 || mm.attrs.get_float("alpha", 1.0f) != 1.0f ||
             mm.attrs.get_float("beta", 1.0f) != 1.0f))
            return 0;
        std::string xq;
        QParams xp, yp;
        if (!activation_dq(mm.input(0), &xq, &xp)) return 0;
        const bool trans_b = gemm && mm.attrs.get_int("transB", 0) != 0;
        const Node* wd = nullptr;
        if (!weight_dq(mm.input(1), trans_b ? 0 : 1, &wd)) return 0;
        const Tensor& w = *constant(g_, wd->input(0));
        const Tensor& ws = *constant(g_, wd->input(1));
        const int64_t M = w.shape()[trans_b ? 0 : 1];
        // A zero point of the scale's shape (ONNX Runtime's QGemm wants them alike).
        const std::string wzp = wd->input(2).empty()
                                    ? add_zeros(mm.name + "_w_zero_point", w.dtype(), ws.shape())
                                    : wd->input(2);
        int q = -1;
        std::vector<int> passed;
        const bool quantized = quantized_output(mm.outputs[0], &q, &yp, &passed);
        if (!quantized) passed.clear();
        Node f;
        f.name = mm.name;
        f.outputs = quantized ? g_.nodes[q].outputs : mm.outputs;
        if (gemm) {
            // The bias as int32 at scale x_scale * w_scale[m].
            std::string bias;
            if (!mm.input(2).empty()) {
                Tensor t;
                if (!row_vector(mm.input(2), M) || !int32_bias(mm.input(2), xp.s, ws, M, &t))
                    return 0;
                bias = g_.unique_name(mm.name + "_bias_int32");
                g_.initializers[bias] = t;
            }
            f.op_type = "QGemm";
            f.domain = kMicrosoftDomain;
            f.op = OpKind::kQGemm;
            if (trans_b) f.attrs.set("transB", Attribute::make_int(1));
            f.inputs = {xq, xp.scale, xp.zero_point, wd->input(0), wd->input(1), wzp};
            if (quantized) {
                f.inputs.insert(f.inputs.end(), {bias, yp.scale, yp.zero_point});
            } else if (!bias.empty()) {
                f.inputs.push_back(bias);
            }
        } else if (quantized) {
            f.op_type = "QLinearMatMul";
            f.op = OpKind::kQLinearMatMul;
            f.inputs = {xq,           xp.scale, xp.zero_point, wd->input(0),
                        wd->input(1), wzp,      yp.scale,      yp.zero_point};
        } else {
            f.op_type = "MatMulIntegerToFloat";
            f.domain = kMicrosoftDomain;
            f.op = OpKind::kMatMulIntegerToFloat;
            f.inputs = {xq, wd->input(0), xp.scale, wd->input(1), xp.zero_point, wzp};
            absorb_bias(f, M, &passed);
        }
        g_.nodes[n] = f;
        if (quantized) passed.push_back(q);
        remove(passed);
        return 1;
    }

    // f, a MatMulIntegerToFloat of M columns writing f.outputs[0]: when its only
    // consumer is an Add of a constant float vector of M values, that vector becomes
    // f's bias and f writes the Add's output (the Add added to passed).
    void absorb_bias(Node& f, int64_t M, std::vector<int>* passed) {
        const std::string y = f.outputs[0];
        const int add = only_consumer(y);
        if (add < 0 || g_.nodes[add].op != OpKind::kAdd || g_.nodes[add].inputs.size() != 2) return;
        const Node& a = g_.nodes[add];
        const std::string other = a.input(0) == y ? a.input(1) : a.input(0);
        const Tensor* b = constant(g_, other);
        if (!b || b->dtype() != DType::kFloat32 || other == y || b->rank() != 1 || b->numel() != M)
            return;
        f.inputs.push_back(other);
        f.outputs = a.outputs;
        passed->push_back(add);
    }

    // Dynamic quantization as pare quantize --dynamic and ONNX Runtime's tools write
    // it: (a, a_scale, a_zero_point) = DynamicQuantizeLinear(x); MatMulInteger(a, w,
    // a_zero_point[, 0]) -> Cast to float -> Mul by Mul(a_scale, w_scale) [-> Add of
    // a constant bias]: one MatMulIntegerToFloat (the same float products, so the
    // same outputs), w constant int8, w_scale constant per tensor or per column.
    int fuse_dynamic(int n) {
        const Node mm = g_.nodes[n];
        if (mm.outputs.size() != 1 || mm.inputs.size() < 3 || mm.input(2).empty()) return 0;
        const Node* dq = producer(mm.input(0));
        if (!dq || dq->op != OpKind::kDynamicQuantizeLinear || dq->outputs.size() != 3 ||
            dq->outputs[2] != mm.input(2))
            return 0;
        const Tensor* w = constant(g_, mm.input(1));
        if (!w || w->dtype() != DType::kInt8 || w->rank() != 2) return 0;
        const int64_t M = w->shape()[1];
        if (mm.inputs.size() > 3 && !mm.input(3).empty()) {
            const Tensor* z = constant(g_, mm.input(3));
            if (!z || z->dtype() != DType::kInt8) return 0;
            for (int64_t i = 0; i < z->numel(); ++i)
                if (z->data<int8_t>()[i] != 0) return 0;
        }
        const int cast = only_consumer(mm.outputs[0]);
        if (cast < 0 || g_.nodes[cast].op != OpKind::kCast ||
            g_.nodes[cast].attrs.get_int("to", 0) != 1)
            return 0;
        const int mul = only_consumer(g_.nodes[cast].outputs[0]);
        if (mul < 0 || g_.nodes[mul].op != OpKind::kMul || g_.nodes[mul].inputs.size() != 2)
            return 0;
        const Node& m2 = g_.nodes[mul];
        const std::string yf = g_.nodes[cast].outputs[0];
        const std::string sc = m2.input(0) == yf ? m2.input(1) : m2.input(0);
        const Node* m1 = producer(sc);
        if (sc == yf || !m1 || m1->op != OpKind::kMul || m1->inputs.size() != 2) return 0;
        // Mul(a_scale, w_scale) in that order (a float product is commutative anyway).
        const std::string ws = m1->input(0) == dq->outputs[1] ? m1->input(1) : m1->input(0);
        const Tensor* wst = constant(g_, ws);
        if ((m1->input(0) != dq->outputs[1] && m1->input(1) != dq->outputs[1]) || !wst ||
            wst->dtype() != DType::kFloat32 || wst->rank() > 1 ||
            (wst->numel() != 1 && wst->numel() != M))
            return 0;
        for (int64_t i = 0; i < wst->numel(); ++i)
            if (!(wst->data<float>()[i] > 0) || !std::isfinite(wst->data<float>()[i])) return 0;
        // b's zero point of the scale's shape (zeros).
        const std::string wz = add_zeros(mm.name + "_w_zero_point", DType::kInt8, wst->shape());
        Node f;
        f.name = mm.name;
        f.op_type = "MatMulIntegerToFloat";
        f.domain = kMicrosoftDomain;
        f.op = OpKind::kMatMulIntegerToFloat;
        f.inputs = {mm.input(0), mm.input(1), dq->outputs[1], ws, mm.input(2), wz};
        f.outputs = m2.outputs;
        std::vector<int> passed = {cast, mul};
        absorb_bias(f, M, &passed);
        g_.nodes[n] = f;
        remove(passed);
        return 1;
    }

    // DQ(x1), DQ(x2), ... -> Concat -> Q, every input of the output's type.
    int fuse_concat(int n) {
        const Node cat = g_.nodes[n];
        if (cat.outputs.size() != 1 || cat.inputs.empty()) return 0;
        std::vector<std::string> xs;
        std::vector<QParams> ps;
        for (const std::string& v : cat.inputs) {
            std::string x;
            QParams p;
            if (!activation_dq(v, &x, &p)) return 0;
            xs.push_back(x);
            ps.push_back(p);
        }
        int q = -1;
        QParams yp;
        std::vector<int> passed;
        if (!quantized_output(cat.outputs[0], &q, &yp, &passed) || !passed.empty()) return 0;
        for (const QParams& p : ps)
            if (p.type != yp.type) return 0;
        Node f;
        f.name = cat.name;
        f.op_type = "QLinearConcat";
        f.domain = kMicrosoftDomain;
        f.op = OpKind::kQLinearConcat;
        f.attrs = cat.attrs;
        f.inputs = {yp.scale, yp.zero_point};
        for (size_t i = 0; i < xs.size(); ++i)
            f.inputs.insert(f.inputs.end(), {xs[i], ps[i].scale, ps[i].zero_point});
        f.outputs = g_.nodes[q].outputs;
        g_.nodes[n] = f;
        remove({q});
        return 1;
    }

    // The Flatten that is v's only consumer, or -1: a reshape commutes with the
    // quantization, so an 8-bit result can go through it to the Q after it.
    int flatten_after(const std::string& v) const {
        const int c = only_consumer(v);
        return c >= 0 && g_.nodes[c].op == OpKind::kFlatten ? c : -1;
    }

    // f (the rewritten node) writes what Q node q wrote: directly, or through the
    // Flatten between them (flatten >= 0), which then reshapes f's 8-bit result.
    void output_through(Node& f, int flatten, int q) {
        if (flatten < 0) {
            f.outputs = g_.nodes[q].outputs;
            return;
        }
        Node& fl = g_.nodes[flatten];
        f.outputs = {g_.unique_name(fl.inputs[0] + "_quantized")};
        fl.inputs[0] = f.outputs[0];
        fl.outputs = g_.nodes[q].outputs;
    }

    // DQ(x) -> pool (one output) [-> Flatten] -> Q with nothing else between.
    struct PoolPattern {
        std::string xq;  // x
        QParams xp, yp;  // x's and the Q's parameters
        int flatten = -1, q = -1;
    };
    bool pool_pattern(const Node& pool, PoolPattern* p) const {
        if (pool.outputs.size() != 1 || !activation_dq(pool.input(0), &p->xq, &p->xp)) return false;
        p->flatten = flatten_after(pool.outputs[0]);
        const std::string& out =
            p->flatten >= 0 ? g_.nodes[p->flatten].outputs[0] : pool.outputs[0];
        std::vector<int> passed;
        return quantized_output(out, &p->q, &p->yp, &passed) && passed.empty();
    }

    // Node n replaced by f, which writes what the pattern's Q wrote (through its
    // Flatten); the Q removed.
    int replace_pool(int n, Node f, const PoolPattern& p) {
        output_through(f, p.flatten, p.q);
        g_.nodes[n] = f;
        remove({p.q});
        return 1;
    }

    // DQ(x) -> GlobalAveragePool [-> Flatten] -> Q: the mean in integers, then the
    // Flatten of its 8-bit result.
    int fuse_global_pool(int n) {
        PoolPattern p;
        if (!pool_pattern(g_.nodes[n], &p) || p.xp.type != p.yp.type) return 0;
        Node f;
        f.name = g_.nodes[n].name;
        f.op_type = "QLinearGlobalAveragePool";
        f.domain = kMicrosoftDomain;
        f.op = OpKind::kQLinearGlobalAveragePool;
        f.inputs = {p.xq, p.xp.scale, p.xp.zero_point, p.yp.scale, p.yp.zero_point};
        return replace_pool(n, f, p);
    }

    // DQ(x) -> MaxPool [-> Flatten] -> Q with the same scale and zero point: MaxPool
    // of x itself (quantization keeps order, so the maximum commutes with it exactly).
    int fuse_max_pool(int n) {
        PoolPattern p;
        if (!pool_pattern(g_.nodes[n], &p)) return 0;
        if (p.xp.s != p.yp.s || p.xp.z != p.yp.z || p.xp.type != p.yp.type) return 0;
        Node f = g_.nodes[n];
        f.inputs = {p.xq};
        return replace_pool(n, f, p);
    }

    Graph& g_;
    std::map<std::string, std::vector<int>> consumers_;
    const ActivationChainFn* chain_ = nullptr;
    std::set<int> removed_;
};

}  // namespace

Result<int> fuse_qdq(Graph& g) {
    for (const Node& n : g.nodes)
        if (n.op == OpKind::kUnknown) return invalid_argument("fuse_qdq needs resolved ops");
    const int fused = Fuser(g).run();
    if (fused > 0) PARE_RETURN_IF_ERROR(eliminate_dead_code(g).status());
    return fused;
}

Result<int> fuse_qdq_activations(Graph& g, const ActivationChainFn& chain) {
    for (const Node& n : g.nodes)
        if (n.op == OpKind::kUnknown) return invalid_argument("fuse_qdq needs resolved ops");
    const int fused = Fuser(g, &chain).run();
    if (fused > 0) PARE_RETURN_IF_ERROR(eliminate_dead_code(g).status());
    return fused;
}

}  // namespace pare
