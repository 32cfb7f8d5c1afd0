// Whole-file reads and writes. Writes go to a temporary file in the same folder
// that is renamed into place, so an interrupted or failed write never leaves a
// half-written file under the final name.
#pragma once

#include <string>

#include "runtime/core/status.h"

namespace pare {

Status write_file_atomic(const std::string& path, const std::string& bytes);
Result<std::string> read_file(const std::string& path);

}  // namespace pare
