// The reference executor: prepare (topological order, verification, static shape
// inference, value slots and lifetimes) then run (every node's reference kernel,
// tensors released after their last use).
//
// run() checks the caller's inputs against the graph's declared dtypes and shapes
// (symbolic dims accept any size) and names the input that does not match.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "runtime/ir/graph.h"

namespace pare {

using TensorMap = std::map<std::string, Tensor>;

// Runs one node on concrete inputs (nullptr for absent optional inputs): infers the
// output shapes from the data, allocates and computes, with the optimized kernel
// when one exists (runtime/kernels/fast_ops.h) unless `reference` is set or the
// environment sets PARE_KERNELS=reference. Errors carry the node's name.
Status run_node(const Node& node, const std::vector<const Tensor*>& inputs,
                std::vector<Tensor>* outputs, bool reference = false);

class Session {
  public:
    static Result<Session> prepare(Graph graph);
    Status run(const TensorMap& inputs, TensorMap* outputs) const;
    const Graph& graph() const { return graph_; }

  private:
    Graph graph_;
    std::vector<int> input_slots_;               // per graph input
    std::vector<int> output_slots_;              // per graph output
    std::vector<std::vector<int>> node_inputs_;  // per node, -1 = absent
    std::vector<std::vector<int>> node_outputs_;
    std::vector<std::vector<int>> release_after_;    // slots whose last use is node i
    std::vector<std::pair<int, Tensor>> constants_;  // initializer slots
    int slot_count_ = 0;
};

// Checks one provided tensor against a graph input's declared type.
Status check_input(const ValueInfo& info, const Tensor& t);

}  // namespace pare
