#include "toolkit/data/npy.h"

#include <gtest/gtest.h>

#include <cstring>

#include "test_util.h"

using namespace pare;

TEST(Npy, RoundTripEveryDtype) {
    for (DType t : {DType::kFloat32, DType::kFloat16, DType::kInt8, DType::kUint8, DType::kInt32,
                    DType::kInt64, DType::kBool}) {
        Tensor x = Tensor::create(t, {2, 3}).value();
        for (size_t i = 0; i < x.nbytes(); ++i)
            static_cast<uint8_t*>(x.raw())[i] = static_cast<uint8_t>(i % 2);
        Result<Tensor> y = parse_npy(serialize_npy(x), "mem");
        ASSERT_TRUE(y.ok()) << y.status().message();
        EXPECT_EQ(y.value().dtype(), t);
        EXPECT_EQ(y.value().shape(), (Shape{2, 3}));
        EXPECT_EQ(std::memcmp(x.raw(), y.value().raw(), x.nbytes()), 0);
    }
    Tensor scalar = Tensor::from_vector<float>({5}, {});
    EXPECT_EQ(parse_npy(serialize_npy(scalar), "s").value().shape(), Shape{});
    Tensor vec = Tensor::from_vector<float>({1, 2}, {2});
    EXPECT_EQ(serialize_npy(vec).find("(2,)") != std::string::npos, true);
}

TEST(Npy, RejectsMalformedFiles) {
    std::string good = serialize_npy(Tensor::from_vector<float>({1, 2, 3}, {3}));
    EXPECT_FALSE(parse_npy("", "f").ok());
    EXPECT_FALSE(parse_npy("hello world, not numpy", "f").ok());
    EXPECT_FALSE(parse_npy(good.substr(0, good.size() - 1), "f").ok());  // truncated data
    EXPECT_FALSE(parse_npy(good.substr(0, 20), "f").ok());               // truncated header
    std::string f64 = good;
    f64.replace(f64.find("<f4"), 3, "<f8");
    Result<Tensor> r = parse_npy(f64, "f.npy");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("'<f8'"), std::string::npos);
}
