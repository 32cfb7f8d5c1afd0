// The executor: prepare, then run.
//
// prepare validates the graph, sorts it, infers shapes, chooses a kernel per node
// (an optimized one from runtime/kernels/ with its weights packed, else the
// reference kernel), fuses an activation into the node before it when the kernel
// can apply it, and, when every value's shape is static, plans memory: value
// lifetimes are packed into one arena, with reshapes as views and elementwise ops
// in place where their input dies. run then allocates nothing but the returned
// outputs and does no shape work. When some shape is only known from the data
// (symbolic dims left unbound, data-dependent shapes), run infers shapes and
// allocates per node instead, with the same kernels.
//
// run() checks the caller's inputs against the graph's declared dtypes and shapes
// (symbolic dims accept any size) and names the input that does not match. One
// run at a time per Session (concurrent calls are serialized).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/core/thread_pool.h"
#include "runtime/ir/graph.h"

namespace pare {

using TensorMap = std::map<std::string, Tensor>;
class PreparedKernel;

// Runs one node on concrete inputs (nullptr for absent optional inputs): infers the
// output shapes from the data, allocates and computes, with the optimized kernel
// when one exists (runtime/kernels/fast_ops.h) unless `reference` is set or the
// environment sets PARE_KERNELS=reference. Errors carry the node's name.
Status run_node(const Node& node, const std::vector<const Tensor*>& inputs,
                std::vector<Tensor>* outputs, bool reference = false);

struct SessionOptions {
    int threads = 1;         // threads for kernels (the caller's thread counts as one)
    bool reference = false;  // reference kernels only (so does PARE_KERNELS=reference)
    bool fuse = true;        // fuse activations into the kernel before them
};

// What prepare decided, for `pare info --plan` and tests.
struct PlanStep {
    std::string node, op, kernel;  // kernel: "reference" or the optimized kernel's name
    std::string fused;             // name of the activation node folded into this one
};
struct MemoryPlan {
    bool planned = false;     // false: shapes not static, run allocates per node
    int64_t arena_bytes = 0;  // the arena holding every intermediate and output value
    int64_t naive_bytes = 0;  // sum of those values' sizes, one buffer each
    int values = 0;           // values placed in the arena
    int views = 0;            // reshapes placed over their input
    int in_place = 0;         // elementwise results placed over their dying input
};

class Session {
  public:
    static Result<Session> prepare(Graph graph, const SessionOptions& options = {});
    // step_ms, when given, receives each plan step's wall time in milliseconds.
    Status run(const TensorMap& inputs, TensorMap* outputs,
               std::vector<double>* step_ms = nullptr) const;
    const Graph& graph() const { return graph_; }
    const std::vector<PlanStep>& plan() const { return plan_; }
    const MemoryPlan& memory_plan() const { return memory_; }
    int threads() const { return pool_ ? pool_->size() : 1; }

    Session();
    Session(Session&&) noexcept;
    Session& operator=(Session&&) noexcept;
    ~Session();

  private:
    struct Step {
        int node = -1;
        std::vector<int> in, out;  // slots; -1 = absent input
        std::unique_ptr<PreparedKernel> kernel;
        bool overwrites_input = false;  // view or in place: the output shares input 0's bytes
        int residual = -1;         // slot added by the kernel as it stores (a fused Add), or -1
        std::vector<int> release;  // slots whose last use is this step (unplanned run)
    };
    Status plan_memory();
    Status run_planned(std::vector<Tensor>& slots, std::vector<double>* step_ms) const;
    Status run_dynamic(std::vector<Tensor>& slots, std::vector<double>* step_ms) const;

    Graph graph_;
    std::vector<Step> steps_;
    std::vector<PlanStep> plan_;
    std::vector<int> input_slots_;   // per graph input
    std::vector<int> output_slots_;  // per graph output
    std::vector<std::pair<int, Tensor>> constants_;
    std::vector<Tensor> planned_;  // per slot: its arena view (planned runs)
    std::shared_ptr<uint8_t> arena_;
    int slot_count_ = 0;
    MemoryPlan memory_;
    std::unique_ptr<ThreadPool> pool_;
    std::unique_ptr<std::mutex> run_mu_;
};

// Checks one provided tensor against a graph input's declared type.
Status check_input(const ValueInfo& info, const Tensor& t);

}  // namespace pare
