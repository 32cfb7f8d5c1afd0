// The .pare deployment format: a graph and its weights in one flatbuffers file
// (schema runtime/format/pare.fbs, version kPareFormatVersion), read without
// protobuf or any library beyond the header-only flatbuffers.
//
// Loading never trusts the file: the flatbuffers verifier checks every offset,
// length and nesting against the buffer, then pare checks every dtype, shape,
// element count and byte size (against overflow and the tensor size limit),
// attribute kinds and names, resolves ops and verifies the graph. Any failure is
// an error naming the file and the part that is wrong; nothing is half-loaded.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/ir/graph.h"

namespace pare {

// The newest version written and read; files without sparse tensors are written
// as version 1, which every pare reads.
constexpr uint32_t kPareFormatVersion = 2;

// The graph as .pare bytes.
Result<std::vector<uint8_t>> save_pare(const Graph& g);
// A graph from .pare bytes; `label` names the source in errors.
Result<Graph> load_pare(const uint8_t* data, size_t size, const std::string& label);
Result<Graph> load_pare_file(const std::string& path);
// Whether bytes start like a .pare file (its file identifier).
bool looks_like_pare(const uint8_t* data, size_t size);

}  // namespace pare
