#include "api/quantity.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace lifeboat::api {
namespace {

using ::testing::HasSubstr;

TEST(QuantityTest, ParsesBinaryDecimalAndExponentForms) {
  EXPECT_EQ(*ParseQuantity("10Gi"), int64_t{10} << 30);
  EXPECT_EQ(*ParseQuantity("500M"), 500'000'000);
  EXPECT_EQ(*ParseQuantity("1.5Ki"), 1536);
  EXPECT_EQ(*ParseQuantity("512Ki"), 524288);
  EXPECT_EQ(*ParseQuantity("1048576"), 1048576);
  EXPECT_EQ(*ParseQuantity("1k"), 1000);
  EXPECT_EQ(*ParseQuantity("2Ei"), int64_t{2} << 60);
  EXPECT_EQ(*ParseQuantity("1e3"), 1000);
  EXPECT_EQ(*ParseQuantity("1E6"), 1'000'000);
  EXPECT_EQ(*ParseQuantity("+5"), 5);
  EXPECT_EQ(*ParseQuantity("0"), 0);
  EXPECT_EQ(*ParseQuantity("0.000"), 0);
  EXPECT_EQ(*ParseQuantity("1000m"), 1);  // 1000 milli-bytes is exactly one byte
  EXPECT_EQ(*ParseQuantity(".5Ki"), 512);
}

TEST(QuantityTest, RejectsFractionalNegativeUnknownAndHuge) {
  auto message = [](std::string_view text) { return ParseQuantity(text).status().message(); };
  EXPECT_EQ(message("10GB"),
            "invalid quantity \"10GB\": unknown suffix \"GB\" (use Ki, Mi, Gi, Ti, Pi, Ei, k, M, "
            "G, T, P or E)");
  EXPECT_THAT(message("0.5"), HasSubstr("is not a whole number of bytes"));
  EXPECT_THAT(message("100m"), HasSubstr("is not a whole number of bytes"));
  EXPECT_THAT(message("1.0001Ki"), HasSubstr("is not a whole number of bytes"));
  EXPECT_THAT(message("-1Gi"), HasSubstr("must not be negative"));
  EXPECT_THAT(message(""), HasSubstr("empty"));
  EXPECT_THAT(message("Gi"), HasSubstr("must start with a number"));
  EXPECT_THAT(message("8Ei"), HasSubstr("too large"));
  EXPECT_THAT(message("1e19"), HasSubstr("too large"));
  EXPECT_THAT(message("12345678901234567890123"), HasSubstr("too many digits"));
  EXPECT_THAT(message("1e"), HasSubstr("bad exponent"));
  EXPECT_THAT(message("1.2.3"), HasSubstr("unknown suffix \".3\""));
}

TEST(QuantityTest, FieldAcceptsStringsAndIntegersAndRoundTrips) {
  FieldErrors errors;
  Quantity q;
  Decode(Json("10Gi"), "spec.x", &q, &errors);
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(q.text, "10Gi");
  EXPECT_EQ(ToJson(q), Json("10Gi"));
  Decode(Json(4096), "spec.x", &q, &errors);
  EXPECT_TRUE(errors.empty());
  EXPECT_TRUE(q.is_number);
  EXPECT_EQ(*q.Bytes(), 4096);
  EXPECT_EQ(ToJson(q), Json(4096));
  Decode(Json(1.5), "spec.x", &q, &errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].ToString(),
            "spec.x: must be a quantity string like 10Gi or an integer, got number");
}

}  // namespace
}  // namespace lifeboat::api
