#include "runtime/core/tensor.h"

#include <gtest/gtest.h>

#include <cmath>

#include "runtime/core/half.h"

using namespace pare;

TEST(Tensor, CreateZeroFilledAndAligned) {
    Tensor t = Tensor::create(DType::kFloat32, {2, 3}).value();
    EXPECT_EQ(t.numel(), 6);
    EXPECT_EQ(t.nbytes(), 24u);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw()) % 64, 0u);
    for (int i = 0; i < 6; ++i) EXPECT_EQ(t.data<float>()[i], 0.0f);
}

TEST(Tensor, RejectsNegativeOverflowingAndHugeShapes) {
    EXPECT_FALSE(Tensor::create(DType::kFloat32, {2, -1}).ok());
    EXPECT_FALSE(Tensor::create(DType::kFloat32, {int64_t{1} << 40, int64_t{1} << 40}).ok());
    EXPECT_FALSE(Tensor::create(DType::kFloat32, {int64_t{1} << 33}).ok());  // 32 GiB > limit
    EXPECT_EQ(shape_numel({3, 0, 5}).value(), 0);
}

TEST(Tensor, CopiesAliasCloneDoesNot) {
    Tensor a = Tensor::from_vector<float>({1, 2, 3, 4}, {4});
    Tensor b = a;
    Tensor c = a.clone();
    a.data<float>()[0] = 9;
    EXPECT_EQ(b.data<float>()[0], 9);
    EXPECT_EQ(c.data<float>()[0], 1);
    EXPECT_FALSE(a.reshaped({3}).ok());
    EXPECT_EQ(a.reshaped({2, 2}).value().shape(), (Shape{2, 2}));
}

TEST(Half, KnownValuesAndRoundTrip) {
    EXPECT_EQ(float_to_half(1.0f), 0x3c00);
    EXPECT_EQ(float_to_half(-2.0f), 0xc000);
    EXPECT_EQ(float_to_half(65504.0f), 0x7bff);
    EXPECT_EQ(float_to_half(1e6f), 0x7c00);  // overflow to inf
    EXPECT_EQ(half_to_float(0x3555), 0.333251953125f);
    EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
    EXPECT_TRUE(std::isnan(half_to_float(float_to_half(NAN))));
    for (uint32_t h = 0; h < 0x7c00;
         h += 7) {  // every 7th finite positive half survives a round trip
        EXPECT_EQ(float_to_half(half_to_float(static_cast<uint16_t>(h))), h);
    }
    // Ties round to even: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10.
    EXPECT_EQ(float_to_half(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
}
