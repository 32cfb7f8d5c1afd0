#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "runtime/ops/op_kind.h"

// docs/ops.md has a table row naming every op of ops.def.
TEST(Docs, OpsTableListsEveryOp) {
    std::ifstream f(std::string(PARE_SOURCE_DIR) + "/docs/ops.md");
    ASSERT_TRUE(f.good());
    std::stringstream ss;
    ss << f.rdbuf();
    std::string rows;
    std::string line;
    while (std::getline(ss, line)) {
        if (line.rfind("| ", 0) == 0) rows += line.substr(0, line.find('|', 2)) + ",";
    }
    for (int i = 0; i < pare::kOpCount; ++i) {
        const std::string name = pare::op_name(static_cast<pare::OpKind>(i));
        const bool found = rows.find("| " + name + " ") != std::string::npos ||
                           rows.find("| " + name + ",") != std::string::npos ||
                           rows.find(", " + name + " ") != std::string::npos ||
                           rows.find(", " + name + ",") != std::string::npos;
        EXPECT_TRUE(found) << name << " is missing from docs/ops.md";
    }
}
