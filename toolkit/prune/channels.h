// The channel analysis behind structured pruning (internal to toolkit/prune/).
//
// Every channel of every tracked value gets an id; ids that must be removed
// together are united (union-find). A Conv or Gemm makes fresh ids for its
// outputs; BatchNormalization, activations, pooling and depthwise convolutions
// pass their input's ids on; Add/Mul/... unite their inputs' ids; Concat joins,
// Split/Slice cut, Flatten repeats each id over the spatial positions. A graph
// input, a graph output or an op the analysis does not understand freezes the ids
// it touches. Each place that holds a channel axis -- a weight's axis, a bias, a
// per-channel constant, a Split's sizes -- is a Slot listing the id at each index.
#pragma once

#include <string>
#include <vector>

#include "runtime/ir/graph.h"

namespace pare {

struct ChannelSlot {
    enum Kind {
        kMake,       // Conv/Gemm/MatMul output channels: weight axis `axis`, bias (input 2)
        kRead,       // Conv/Gemm/MatMul input channels: weight axis `axis`
        kDepthwise,  // depthwise Conv: weight axis 0, bias, the group attribute
        kParam,      // a per-channel initializer: input `input`, axis `axis`
        kSplit,      // Split along the channels: output `output`'s sizes
        kSlice,      // Slice of channels [begin, end)
        kReshape,    // Reshape (N, C, H, W) -> (N, C*H*W): its shape's second entry
    };
    Kind kind = kMake;
    int node = 0;
    int input = 1;
    int axis = 0;
    int output = 0;
    int64_t begin = 0, end = 0;  // kSlice, kSplit: the range of `ids` the output takes
    std::vector<int> ids;        // the channel id at each index of the axis
};

class ChannelAnalysis {
  public:
    // g: ops resolved, topologically sorted, shapes inferred.
    static Result<ChannelAnalysis> run(const Graph& g);

    int find(int id) const;
    bool frozen(int id) const { return frozen_[static_cast<size_t>(find(id))] != 0; }
    // Why id's class is frozen ("" when it is not).
    const std::string& frozen_by(int id) const { return why_[static_cast<size_t>(find(id))]; }
    void freeze(int id, const std::string& why);

    const std::vector<ChannelSlot>& slots() const { return slots_; }

  private:
    int fresh();
    void unite(int a, int b);
    void freeze_all(const std::vector<int>& ids, const std::string& why);

    mutable std::vector<int> parent_;
    std::vector<char> frozen_;
    std::vector<std::string> why_;
    std::vector<ChannelSlot> slots_;
    friend struct ChannelWalker;
};

}  // namespace pare
