// libFuzzer target: bytes -> ONNX import -> default passes (constant folding runs
// kernels) -> prepare -> run on zero inputs. Any crash, sanitizer report, leak or
// hang is a bug; errors are fine. Tensors are capped at 16 MiB so hostile shapes
// fail cleanly instead of exhausting memory.  Run with `make fuzz`.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_util.h"
#include "runtime/ir/passes/passes.h"
#include "toolkit/onnx/onnx_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    pare::set_tensor_byte_limit(16 << 20);
    std::string bytes(reinterpret_cast<const char*>(data), size);
    pare::Result<pare::Graph> g = pare::import_onnx_bytes(bytes, "fuzz", "");
    if (!g.ok()) return 0;
    pare::Graph graph = std::move(g).value();
    pare::bind_unknown_dims(graph);  // so the passes can fold shape chains
    if (!pare::run_default_passes(graph).ok()) return 0;
    pare::prepare_and_run_on_zeros(std::move(graph));
    return 0;
}
