// Model statistics for `pare info`: op histogram, parameters, MACs per op and in
// total, initializer bytes by dtype. MACs count multiply-accumulates of Conv,
// ConvTranspose, Gemm and MatMul from inferred shapes (others are not counted).
#pragma once

#include <map>
#include <string>

#include "runtime/ir/graph.h"

namespace pare {

struct NodeStats {
    std::string name, op;
    Shape output;        // first output's shape (dims < 0 unknown)
    int64_t params = 0;  // elements of the node's initializer inputs
    int64_t macs = 0;
};

struct ModelStats {
    std::vector<NodeStats> nodes;
    std::map<std::string, int> op_counts;
    int64_t parameters = 0;
    std::map<std::string, int64_t> bytes_by_dtype;
    int64_t macs = 0;
    bool macs_complete = true;  // false when some shapes were unknown
};

// g must have inferred shapes (value_info filled).
ModelStats compute_stats(const Graph& g);

}  // namespace pare
