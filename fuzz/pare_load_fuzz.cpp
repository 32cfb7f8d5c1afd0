// libFuzzer target: bytes -> .pare loader (flatbuffers verifier + pare's checks)
// -> prepare -> run on zero inputs. Any crash, sanitizer report, leak or hang is a
// bug; errors are fine. Tensors are capped at 16 MiB. Run with `make fuzz`.
#include <cstddef>
#include <cstdint>

#include "runtime/exec/session.h"
#include "runtime/format/pare_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    pare::set_tensor_byte_limit(16 << 20);
    pare::Result<pare::Graph> g = pare::load_pare(data, size, "fuzz");
    if (!g.ok()) return 0;
    pare::Graph graph = std::move(g).value();
    for (auto& i : graph.inputs) {  // bind unknown dims small so shapes become static
        for (auto& d : i.shape) {
            if (d < 0) d = 2;
        }
    }
    pare::Result<pare::Session> s = pare::Session::prepare(graph);
    if (!s.ok()) return 0;
    pare::TensorMap inputs, outputs;
    for (const auto& i : s.value().graph().inputs) {
        if (!i.has_shape) return 0;
        pare::Result<pare::Tensor> t = pare::Tensor::create(i.dtype, i.shape);
        if (!t.ok()) return 0;
        inputs[i.name] = t.value();
    }
    (void)s.value().run(inputs, &outputs);
    return 0;
}
