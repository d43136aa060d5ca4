#include "core/name.hpp"

#include <algorithm>
#include <cstdint>
#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace moat {
namespace {

// Passes when `message` contains `what`; the failure shows both.
testing::AssertionResult mentions(const std::string& message, std::string_view what) {
  if (message.find(what) != std::string::npos)
    return testing::AssertionSuccess();
  return testing::AssertionFailure()
         << "message '" << message << "' does not mention '" << what << "'";
}

Name name(std::string_view text) {
  auto n = Name::parse(text);
  EXPECT_TRUE(n) << text << ": " << n.error().message;
  return n ? *n : Name();
}

std::vector<std::uint8_t> bytes(std::initializer_list<int> v) { return {v.begin(), v.end()}; }

TEST(Name, ParsesAbsoluteName) {
  auto n = Name::parse("mail.example.test.");
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(n->wire(), bytes({4, 'm', 'a', 'i', 'l', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 4, 't',
                              'e', 's', 't', 0}));
  EXPECT_EQ(n->to_string(), "mail.example.test.");
  EXPECT_EQ(n->label_count(), 3u);
}

TEST(Name, CompletesRelativeNameWithOrigin) {
  Name origin = name("example.test.");
  auto n = Name::parse("www", &origin);
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(n->to_string(), "www.example.test.");

  auto deep = Name::parse("a.b", &origin);
  ASSERT_TRUE(deep) << deep.error().message;
  EXPECT_EQ(deep->to_string(), "a.b.example.test.");
}

TEST(Name, IgnoresOriginForAbsoluteName) {
  Name origin = name("example.test.");
  auto n = Name::parse("www.other.test.", &origin);
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(n->to_string(), "www.other.test.");
}

TEST(Name, TakesRelativeNameAsAbsoluteWithoutOrigin) {
  auto n = Name::parse("www.example.test");
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(n->to_string(), "www.example.test.");
}

TEST(Name, ParsesAtSignAsOrigin) {
  Name origin = name("example.test.");
  auto n = Name::parse("@", &origin);
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, origin);
  EXPECT_FALSE(Name::parse("@"));
}

TEST(Name, ParsesRoot) {
  auto n = Name::parse(".");
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_TRUE(n->is_root());
  EXPECT_EQ(n->wire(), bytes({0}));
  EXPECT_EQ(n->to_string(), ".");
  EXPECT_EQ(n->label_count(), 0u);
  EXPECT_EQ(*n, Name());
}

TEST(Name, ParsesEscapedDotInsideLabel) {
  auto n = Name::parse("a\\.b.example.");
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(n->label_count(), 2u);
  EXPECT_EQ(n->first_label(), "a.b");
  EXPECT_EQ(n->to_string(), "a\\.b.example.");
}

TEST(Name, ParsesDecimalEscape) {
  auto n = Name::parse("\\065bc.example.");
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(n->first_label(), "Abc");
  EXPECT_EQ(n->to_string(), "Abc.example.");

  auto zero = Name::parse("\\000.example.");
  ASSERT_TRUE(zero) << zero.error().message;
  EXPECT_EQ(zero->first_label(), std::string(1, '\0'));
}

TEST(Name, RefusesBadDecimalEscape) {
  EXPECT_FALSE(Name::parse("\\256.example."));
  EXPECT_FALSE(Name::parse("\\06.example."));
  EXPECT_FALSE(Name::parse("example\\"));
}

TEST(Name, RefusesEmptyText) { EXPECT_FALSE(Name::parse("")); }

TEST(Name, RefusesEmptyLabel) {
  auto n = Name::parse("a..b");
  ASSERT_FALSE(n);
  EXPECT_TRUE(mentions(n.error().message, "a..b"));
  EXPECT_FALSE(Name::parse(".a.example."));
  EXPECT_FALSE(Name::parse("a.example.."));
}

TEST(Name, RefusesLabelOver63Octets) {
  std::string ok = std::string(63, 'a') + ".example.";
  EXPECT_TRUE(Name::parse(ok));
  std::string bad = std::string(64, 'a') + ".example.";
  auto n = Name::parse(bad);
  ASSERT_FALSE(n);
  EXPECT_TRUE(mentions(n.error().message, "63"));
}

TEST(Name, RefusesNameOver255Octets) {
  std::string l63(63, 'a');
  // 3 * 64 + 62 + 1 = 255 octets: the longest legal name.
  std::string longest = l63 + "." + l63 + "." + l63 + "." + std::string(61, 'b') + ".";
  auto ok = Name::parse(longest);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->wire().size(), 255u);

  std::string too_long = l63 + "." + l63 + "." + l63 + "." + std::string(62, 'b') + ".";
  EXPECT_FALSE(Name::parse(too_long));
}

TEST(Name, RefusesRelativeNameThatOriginMakesTooLong) {
  std::string l63(63, 'a');
  Name origin = name(l63 + "." + l63 + "." + l63 + ".");
  // 193 octets of origin + 62 = 255; one more octet is too long.
  EXPECT_TRUE(Name::parse(std::string(61, 'b'), &origin));
  EXPECT_FALSE(Name::parse(std::string(62, 'b'), &origin));
}

TEST(Name, RefusesWhiteSpace) {
  EXPECT_FALSE(Name::parse("a b.example."));
  EXPECT_FALSE(Name::parse("a\tb.example."));
  EXPECT_FALSE(Name::parse("www.example.\n"));
  EXPECT_FALSE(Name::parse(" www.example."));
}

TEST(Name, AcceptsEscapedWhiteSpace) {
  auto n = Name::parse("a\\ b.example.");
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(n->first_label(), "a b");
  EXPECT_EQ(n->to_string(), "a\\032b.example.");
}

TEST(Name, EscapesSpecialCharactersInToString) {
  Name n = name("a\\.b\\\\c\\\"\\(\\)\\;\\@\\$.example.");
  EXPECT_EQ(n.first_label(), "a.b\\c\"();@$");
  EXPECT_EQ(n.to_string(), "a\\.b\\\\c\\\"\\(\\)\\;\\@\\$.example.");
  EXPECT_EQ(name("\\001\\127\\200\\255.example.").to_string(), "\\001\\127\\200\\255.example.");
}

TEST(Name, RoundTripsEveryOctetThroughToString) {
  // One label holding each of the 256 octet values (split over several labels of <= 63).
  for (int start = 0; start < 256; start += 63) {
    std::vector<std::uint8_t> wire;
    int end = std::min(start + 63, 256);
    wire.push_back(static_cast<std::uint8_t>(end - start));
    for (int c = start; c < end; ++c)
      wire.push_back(static_cast<std::uint8_t>(c));
    wire.push_back(0);
    auto n = Name::from_wire(wire);
    ASSERT_TRUE(n) << n.error().message;
    std::string text = n->to_string();
    auto back = Name::parse(text);
    ASSERT_TRUE(back) << text << ": " << back.error().message;
    EXPECT_EQ(back->wire(), wire) << text;
  }
}

TEST(Name, ComparesEqualIgnoringCase) {
  Name a = name("WWW.Example.TEST.");
  Name b = name("www.example.test.");
  EXPECT_EQ(a, b);
  EXPECT_EQ(a <=> b, std::strong_ordering::equal);
  EXPECT_EQ(NameHash{}(a), NameHash{}(b));
  // Case is preserved in the wire form.
  EXPECT_NE(a.wire(), b.wire());
  EXPECT_EQ(a.to_string(), "WWW.Example.TEST.");
  EXPECT_NE(name("www.example.test."), name("www.example.tesu."));
  EXPECT_NE(name("www.example."), name("www.example.test."));
}

TEST(Name, OrdersCanonicallyAsRfc4034Section6_1) {
  const std::vector<std::string> expected = {
      "example.",         "a.example.",      "yljkjljk.a.example.",
      "Z.a.example.",     "zABC.a.EXAMPLE.", "z.example.",
      "\\001.z.example.", "*.z.example.",    "\\200.z.example.",
  };
  std::vector<Name> names;
  for (auto it = expected.rbegin(); it != expected.rend(); ++it)
    names.push_back(name(*it));
  std::ranges::sort(names);
  std::vector<std::string> got;
  for (const auto& n : names)
    got.push_back(n.to_string());
  EXPECT_EQ(got, expected);
  for (std::size_t i = 0; i + 1 < names.size(); ++i)
    EXPECT_LT(names[i], names[i + 1]) << got[i] << " < " << got[i + 1];
}

TEST(Name, OrdersShorterLabelBeforeItsExtension) {
  EXPECT_LT(name("a.example."), name("aa.example."));
  EXPECT_LT(name("z.example."), name("a.zz.example."));
  EXPECT_LT(name("."), name("example."));
}

TEST(Name, IsSubdomainOfItselfAndItsAncestors) {
  Name www = name("www.Example.test.");
  EXPECT_TRUE(www.is_subdomain_of(name("example.TEST.")));
  EXPECT_TRUE(www.is_subdomain_of(name("test.")));
  EXPECT_TRUE(www.is_subdomain_of(Name()));
  EXPECT_TRUE(www.is_subdomain_of(www));
  EXPECT_FALSE(name("example.test.").is_subdomain_of(www));
}

TEST(Name, IsNotSubdomainOfNameThatOnlySharesASuffixString) {
  EXPECT_FALSE(name("bexample.").is_subdomain_of(name("example.")));
  EXPECT_FALSE(name("www.bexample.").is_subdomain_of(name("example.")));
  EXPECT_FALSE(name("example.").is_subdomain_of(name("bexample.")));
  EXPECT_FALSE(name("a.other.test.").is_subdomain_of(name("example.test.")));
}

TEST(Name, ParentRemovesFirstLabelAndStopsAtRoot) {
  EXPECT_EQ(name("www.example.test.").parent().to_string(), "example.test.");
  EXPECT_EQ(name("test.").parent().to_string(), ".");
  EXPECT_TRUE(Name().parent().is_root());
}

TEST(Name, StripLabelsRemovesLeadingLabels) {
  Name n = name("a.b.example.test.");
  EXPECT_EQ(n.strip_labels(0), n);
  EXPECT_EQ(n.strip_labels(2).to_string(), "example.test.");
  EXPECT_EQ(n.strip_labels(4).to_string(), ".");
  EXPECT_TRUE(n.strip_labels(10).is_root());
}

TEST(Name, PrependAddsALabel) {
  auto n = name("mail.example.test.").prepend("_tcp");
  ASSERT_TRUE(n) << n.error().message;
  auto m = n->prepend("_25");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->to_string(), "_25._tcp.mail.example.test.");

  auto dotted = Name().prepend("a.b");
  ASSERT_TRUE(dotted) << dotted.error().message;
  EXPECT_EQ(dotted->label_count(), 1u);
  EXPECT_EQ(dotted->to_string(), "a\\.b.");
}

TEST(Name, PrependRefusesBadLabelsAndOverlongResult) {
  Name n = name("example.test.");
  EXPECT_FALSE(n.prepend(""));
  EXPECT_FALSE(n.prepend(std::string(64, 'a')));
  EXPECT_TRUE(n.prepend(std::string(63, 'a')));

  std::string l63(63, 'a');
  Name full = name(l63 + "." + l63 + "." + l63 + "." + std::string(61, 'b') + ".");
  EXPECT_FALSE(full.prepend("x"));
}

TEST(Name, LowercasedFoldsOnlyAsciiLetters) {
  Name n = name("WWW.Ex\\200AMPLE.test.");
  Name low = n.lowercased();
  EXPECT_EQ(low.wire(), name("www.ex\\200ample.test.").wire());
  EXPECT_EQ(low, n);
}

TEST(Name, DetectsWildcard) {
  EXPECT_TRUE(name("*.example.test.").is_wildcard());
  EXPECT_FALSE(name("a.*.example.test.").is_wildcard());
  EXPECT_FALSE(name("*a.example.test.").is_wildcard());
  EXPECT_FALSE(name("example.test.").is_wildcard());
  EXPECT_FALSE(Name().is_wildcard());
}

TEST(Name, CountsLabels) {
  EXPECT_EQ(Name().label_count(), 0u);
  EXPECT_EQ(name("test.").label_count(), 1u);
  EXPECT_EQ(name("_25._tcp.mail.example.test.").label_count(), 5u);
}

TEST(Name, FromWireAcceptsOneWellFormedName) {
  auto n = Name::from_wire(bytes({3, 'w', 'w', 'w', 4, 't', 'e', 's', 't', 0}));
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(n->to_string(), "www.test.");
  auto root = Name::from_wire(bytes({0}));
  ASSERT_TRUE(root) << root.error().message;
  EXPECT_TRUE(root->is_root());
}

TEST(Name, FromWireRefusesTruncatedName) {
  EXPECT_FALSE(Name::from_wire({}));
  EXPECT_FALSE(Name::from_wire(bytes({3, 'w', 'w'})));
  EXPECT_FALSE(Name::from_wire(bytes({3, 'w', 'w', 'w'})));
  EXPECT_FALSE(Name::from_wire(bytes({3, 'w', 'w', 'w', 4, 't'})));
}

TEST(Name, FromWireRefusesTrailingBytes) {
  EXPECT_FALSE(Name::from_wire(bytes({0, 0})));
  EXPECT_FALSE(Name::from_wire(bytes({3, 'w', 'w', 'w', 0, 1})));
}

TEST(Name, FromWireRefusesBadLabelLength) {
  // 64 is over the label limit; 0xC0 is a compression pointer, not allowed here.
  std::vector<std::uint8_t> w{64};
  w.insert(w.end(), 64, 'a');
  w.push_back(0);
  EXPECT_FALSE(Name::from_wire(w));
  EXPECT_FALSE(Name::from_wire(bytes({0xC0, 0x0C})));
  EXPECT_FALSE(Name::from_wire(bytes({3, 'w', 'w', 'w', 0xC0, 0x0C})));
}

TEST(Name, FromWireRefusesNameOver255Octets) {
  std::vector<std::uint8_t> w;
  for (int i = 0; i < 4; ++i) {
    w.push_back(63);
    w.insert(w.end(), 63, 'a');
  }
  w.push_back(0); // 257 octets
  EXPECT_FALSE(Name::from_wire(w));
}

TEST(Name, WritesRelativeString) {
  Name origin = name("example.test.");
  EXPECT_EQ(name("www.example.test.").to_relative_string(origin), "www");
  EXPECT_EQ(name("a.b.EXAMPLE.test.").to_relative_string(origin), "a.b");
  EXPECT_EQ(name("example.test.").to_relative_string(origin), "@");
  EXPECT_EQ(name("a\\.b.example.test.").to_relative_string(origin), "a\\.b");
  EXPECT_EQ(name("www.other.test.").to_relative_string(origin), "www.other.test.");
  EXPECT_EQ(name("bexample.test.").to_relative_string(origin), "bexample.test.");
  EXPECT_EQ(name("www.test.").to_relative_string(Name()), "www.test.");
}

TEST(Name, RelativeStringParsesBackToSameName) {
  Name origin = name("example.test.");
  for (const char* text :
       {"www.example.test.", "example.test.", "x\\.y.z.example.test.", "other.test."}) {
    Name n = name(text);
    auto back = Name::parse(n.to_relative_string(origin), &origin);
    ASSERT_TRUE(back) << text << ": " << back.error().message;
    EXPECT_EQ(back->wire(), n.wire()) << text;
  }
}

} // namespace
} // namespace moat
