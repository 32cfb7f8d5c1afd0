// libFuzzer target: bytes -> .pare loader (flatbuffers verifier + pare's checks)
// -> prepare -> run on zero inputs. Any crash, sanitizer report, leak or hang is a
// bug; errors are fine. Tensors are capped at 16 MiB. Run with `make fuzz`.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_util.h"
#include "runtime/format/pare_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    pare::set_tensor_byte_limit(16 << 20);
    pare::Result<pare::Graph> g = pare::load_pare(data, size, "fuzz");
    if (!g.ok()) return 0;
    pare::prepare_and_run_on_zeros(std::move(g).value());
    return 0;
}
