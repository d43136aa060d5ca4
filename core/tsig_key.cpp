#include "core/tsig_key.hpp"

#include <array>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace moat {
namespace {

struct Algorithm {
  std::string_view name;
  const EVP_MD* (*digest)();
  std::size_t size;
};

constexpr std::array<Algorithm, 5> kAlgorithms{{
    {"hmac-sha1", EVP_sha1, 20},
    {"hmac-sha224", EVP_sha224, 28},
    {"hmac-sha256", EVP_sha256, 32},
    {"hmac-sha384", EVP_sha384, 48},
    {"hmac-sha512", EVP_sha512, 64},
}};

const Algorithm* find(std::string_view name) {
  for (const auto& a : kAlgorithms)
    if (a.name == name)
      return &a;
  return nullptr;
}

} // namespace

bool tsig_algorithm_known(std::string_view algorithm) { return find(algorithm) != nullptr; }

Name tsig_algorithm_name(std::string_view algorithm) {
  auto n = Name::parse(std::string(algorithm) + ".");
  return n ? *n : Name();
}

std::string tsig_algorithm_from_name(const Name& wire_name) {
  std::string text = wire_name.lowercased().to_string();
  if (!text.empty() && text.back() == '.')
    text.pop_back();
  return find(text) != nullptr ? text : std::string();
}

std::size_t tsig_mac_size(std::string_view algorithm) {
  const Algorithm* a = find(algorithm);
  return a != nullptr ? a->size : 0;
}

std::vector<std::uint8_t> tsig_hmac(std::string_view algorithm,
                                    std::span<const std::uint8_t> secret,
                                    std::span<const std::uint8_t> data) {
  const Algorithm* a = find(algorithm);
  if (a == nullptr)
    return {};
  std::vector<std::uint8_t> out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  // A zero-length key is legal HMAC; give OpenSSL a valid pointer for it.
  static const std::uint8_t empty = 0;
  if (HMAC(a->digest(), secret.empty() ? &empty : secret.data(), static_cast<int>(secret.size()),
           data.empty() ? &empty : data.data(), data.size(), out.data(), &len) == nullptr)
    return {};
  out.resize(len);
  return out;
}

Result<std::vector<std::uint8_t>> generate_tsig_secret(std::string_view algorithm) {
  const Algorithm* a = find(algorithm);
  if (a == nullptr)
    return fail("unknown TSIG algorithm " + std::string(algorithm));
  std::vector<std::uint8_t> secret(a->size);
  if (RAND_bytes(secret.data(), static_cast<int>(secret.size())) != 1)
    return fail("cannot draw random bytes for a TSIG secret");
  return secret;
}

std::string base64_encode(const std::vector<std::uint8_t>& data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data.data(),
                          static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

Result<std::vector<std::uint8_t>> base64_decode(std::string_view text) {
  auto bad = [] { return fail("not valid base64 (A-Z a-z 0-9 + /, padded with =)"); };
  if (text.empty() || text.size() % 4 != 0 || text.size() > 4096)
    return bad();
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || (c == '=' && i + 2 >= text.size());
    if (!ok)
      return bad();
  }
  if (text[text.size() - 2] == '=' && text.back() != '=')
    return bad();
  std::vector<std::uint8_t> out(text.size() / 4 * 3);
  int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0)
    return bad();
  // EVP_DecodeBlock counts padding as zero bytes.
  std::size_t pad = text.back() == '=' ? (text[text.size() - 2] == '=' ? 2 : 1) : 0;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

Result<Name> parse_tsig_key_name(std::string_view text) {
  if (text.empty())
    return fail("a TSIG key needs a name");
  std::string absolute(text);
  if (absolute.back() != '.')
    absolute += '.';
  auto name = Name::parse(absolute);
  if (!name)
    return fail("bad TSIG key name '" + std::string(text) + "': " + name.error().message);
  if (name->label_count() == 0)
    return fail("a TSIG key name cannot be the root");
  return name->lowercased();
}

} // namespace moat
