#include "frontend/dns/wire/types.h"

#include <gtest/gtest.h>

namespace meshkv::dns {
namespace {

TEST(TypesTest, TypeMnemonics) {
  EXPECT_EQ(TypeFromText("A"), RrType::kA);
  EXPECT_EQ(TypeFromText("aaaa"), RrType::kAaaa);
  EXPECT_EQ(TypeFromText("Caa"), RrType::kCaa);
  EXPECT_EQ(TypeFromText("SRV"), RrType::kSrv);
  EXPECT_EQ(TypeFromText("axfr"), RrType::kAxfr);
  EXPECT_EQ(TypeFromText("TYPE123"), 123);
  EXPECT_EQ(TypeFromText("type1"), RrType::kA);
  EXPECT_EQ(TypeFromText("TYPE65535"), 65535);
  EXPECT_EQ(TypeFromText("TYPE65536"), std::nullopt);
  EXPECT_EQ(TypeFromText("TYPE"), std::nullopt);
  EXPECT_EQ(TypeFromText("TYPE-1"), std::nullopt);
  EXPECT_EQ(TypeFromText("NOPE"), std::nullopt);
  EXPECT_EQ(TypeFromText(""), std::nullopt);
  EXPECT_EQ(TypeToText(RrType::kMx), "MX");
  EXPECT_EQ(TypeToText(RrType::kCaa), "CAA");
  EXPECT_EQ(TypeToText(123), "TYPE123");
  for (uint32_t type = 0; type <= 65535; type += 7) {
    EXPECT_EQ(TypeFromText(TypeToText(static_cast<uint16_t>(type))), type);
  }
}

TEST(TypesTest, ClassRcodeOpcode) {
  EXPECT_EQ(ClassFromText("in"), RrClass::kIn);
  EXPECT_EQ(ClassFromText("CH"), RrClass::kCh);
  EXPECT_EQ(ClassFromText("CLASS4"), 4);
  EXPECT_EQ(ClassFromText("XX"), std::nullopt);
  EXPECT_EQ(ClassToText(RrClass::kAny), "ANY");
  EXPECT_EQ(ClassToText(4), "CLASS4");
  EXPECT_EQ(RcodeToText(0), "NOERROR");
  EXPECT_EQ(RcodeToText(3), "NXDOMAIN");
  EXPECT_EQ(RcodeToText(16), "BADVERS");
  EXPECT_EQ(RcodeToText(12), "RCODE12");
  EXPECT_EQ(OpcodeToText(Opcode::kNotify), "NOTIFY");
  EXPECT_EQ(OpcodeToText(static_cast<Opcode>(9)), "OPCODE9");
}

}  // namespace
}  // namespace meshkv::dns
