#include "toolkit/io/files.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace pare {

Status write_file_atomic(const std::string& path, const std::string& bytes) {
    const std::string tmp = path + ".tmp." + std::to_string(::getpid());
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        if (!f) return io_error(path + ": cannot write (folder missing or not writable)");
        f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        f.close();
        if (!f) {
            std::remove(tmp.c_str());
            return io_error(path + ": writing failed (disk full?)");
        }
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        return io_error(path + ": cannot rename the temporary file into place");
    }
    return Status();
}

Result<std::string> read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return not_found(path + ": file not found or not readable");
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

}  // namespace pare
