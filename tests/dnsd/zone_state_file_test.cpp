// The signed zone kept between runs: read back as written, and any damage is an error rather
// than a zone with wrong records (its signatures are only ever re-used for identical RRsets,
// but a damaged file must not even get that far).
#include "core/live_files.hpp"
#include "dnsd/zone_state_file.hpp"
#include "signed_zone.hpp"
#include "tests/support/temp_dir.hpp"

#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <set>
#include <string>
#include <tuple>

namespace moat::dnsd {
namespace {

using testing::records_of;
using testing::rr;

class ZoneStateFileTest : public ::testing::TestWithParam<bool> {
protected:
  std::shared_ptr<ServedZone> zone() {
    return builder_.build({rr("@", rrtype::SOA, "ns1 hostmaster 7 14400 3600 1209600 300"),
                           rr("@", rrtype::NS, "ns1"), rr("@", rrtype::MX, "10 mail"),
                           rr("ns1", rrtype::A, "192.0.2.53"), rr("mail", rrtype::A, "192.0.2.25"),
                           rr("a.b.deep", rrtype::TXT, "\"deep\""), rr("sub", rrtype::NS, "ns.sub"),
                           rr("ns.sub", rrtype::A, "192.0.2.99")},
                          GetParam());
  }
  testing::ZoneBuilder builder_;
  testing_support::TempDir dir_{"moat-zone-state"};
};

TEST_P(ZoneStateFileTest, AZoneIsReadBackAsWritten) {
  auto z = zone();
  const std::string path = dir_.file("example.test.signed");
  ASSERT_TRUE(save_zone_state(*z, path));
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
            std::filesystem::perms(0640));
  auto back = load_zone_state(path);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ((*back)->apex, z->apex);
  EXPECT_EQ((*back)->serial, z->serial);
  EXPECT_EQ((*back)->nsec3, z->nsec3);
  EXPECT_EQ(records_of(**back), records_of(*z));
  EXPECT_EQ((*back)->soa_record().rdata, z->soa_record().rdata);
  EXPECT_EQ((*back)->nsec3_nodes.size(), z->nsec3_nodes.size());
  ASSERT_EQ((*back)->nodes.size(), z->nodes.size());
  for (std::size_t i = 0; i < z->nodes.size(); ++i) {
    EXPECT_EQ((*back)->nodes[i].delegation, z->nodes[i].delegation);
    EXPECT_EQ((*back)->nodes[i].glue, z->nodes[i].glue);
  }
}

TEST_P(ZoneStateFileTest, DamageOfAnyKindIsAnError) {
  auto z = zone();
  const std::string path = dir_.file("example.test.signed");
  ASSERT_TRUE(save_zone_state(*z, path));
  auto good = read_file(path);
  ASSERT_TRUE(good);
  auto damaged = [&](const std::string& bytes) {
    EXPECT_TRUE(write_file_atomically(path, bytes, 0640));
    return load_zone_state(path);
  };
  EXPECT_FALSE(load_zone_state(dir_.file("missing.signed")));
  EXPECT_FALSE(damaged("")) << "empty";
  EXPECT_FALSE(damaged("not a zone at all, just some text that is long enough for a header....."));
  EXPECT_FALSE(damaged(good->substr(0, good->size() - 1))) << "truncated";
  for (std::size_t at : {std::size_t{10}, std::size_t{60}, good->size() / 2, good->size() - 1}) {
    std::string flipped = *good;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x40);
    auto r = damaged(flipped);
    EXPECT_FALSE(r) << "a bit flipped at " << at;
  }
  std::string longer = *good + "x";
  EXPECT_FALSE(damaged(longer)) << "trailing bytes";
  EXPECT_TRUE(damaged(*good)) << "and the file as written still reads";
}

INSTANTIATE_TEST_SUITE_P(Denial, ZoneStateFileTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Nsec3" : "Nsec"; });

} // namespace
} // namespace moat::dnsd
