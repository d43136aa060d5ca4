// TSIG (RFC 8945): what each MAC covers (§4.3), the checks on a request in the RFC's order
// (§5.2), and the chaining of MACs over the messages of one transfer (§5.3.1).
#include "dnsd/tsig.hpp"

#include "core/rr.hpp"

#include <algorithm>
#include <openssl/crypto.h>

namespace moat::dnsd {
namespace {

void put16(std::vector<std::uint8_t>& v, std::uint16_t x) {
  v.push_back(static_cast<std::uint8_t>(x >> 8));
  v.push_back(static_cast<std::uint8_t>(x));
}

void put48(std::vector<std::uint8_t>& v, std::uint64_t x) {
  for (int shift = 40; shift >= 0; shift -= 8)
    v.push_back(static_cast<std::uint8_t>(x >> shift));
}

void append(std::vector<std::uint8_t>& v, std::span<const std::uint8_t> bytes) {
  v.insert(v.end(), bytes.begin(), bytes.end());
}

// The TSIG variables of §4.3.3: key name and algorithm in canonical form, class ANY, TTL 0.
void put_variables(std::vector<std::uint8_t>& v, const Name& key, const Name& algorithm,
                   std::uint64_t time_signed, std::uint16_t fudge, std::uint16_t error,
                   std::span<const std::uint8_t> other) {
  append(v, key.lowercased().wire());
  put16(v, kClassAny);
  put16(v, 0); // TTL
  put16(v, 0);
  append(v, algorithm.lowercased().wire());
  put48(v, time_signed);
  put16(v, fudge);
  put16(v, error);
  put16(v, static_cast<std::uint16_t>(other.size()));
  append(v, other);
}

// A received message as it was signed: without its TSIG record, ARCOUNT one less, and the
// original ID (a forwarder may have changed the one in the header).
void put_signed_part(std::vector<std::uint8_t>& v, std::span<const std::uint8_t> message,
                     const TsigRecord& t) {
  const std::size_t start = v.size();
  append(v, message.first(t.offset));
  v[start] = static_cast<std::uint8_t>(t.original_id >> 8);
  v[start + 1] = static_cast<std::uint8_t>(t.original_id);
  const std::uint16_t arcount =
      static_cast<std::uint16_t>(((v[start + 10] << 8) | v[start + 11]) - 1);
  v[start + 10] = static_cast<std::uint8_t>(arcount >> 8);
  v[start + 11] = static_cast<std::uint8_t>(arcount);
}

bool macs_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool outside_fudge(std::uint64_t time_signed, std::uint16_t fudge, UnixTime now) {
  const std::int64_t t = static_cast<std::int64_t>(time_signed);
  return now < t - fudge || now > t + fudge;
}

// Writes one TSIG record at buf[len...]; returns the new length, or 0 when it does not fit.
std::size_t write_record(std::span<std::uint8_t> buf, std::size_t len, const Name& key,
                         const Name& algorithm, std::uint64_t time_signed, std::uint16_t fudge,
                         std::span<const std::uint8_t> mac, std::uint16_t error,
                         std::span<const std::uint8_t> other) {
  if (len < kHeaderSize)
    return 0;
  std::vector<std::uint8_t> rr;
  append(rr, key.lowercased().wire()); // never compressed: the peer hashes it as written
  put16(rr, rrtype::TSIG);
  put16(rr, kClassAny);
  put16(rr, 0);
  put16(rr, 0);
  std::vector<std::uint8_t> rdata;
  append(rdata, algorithm.lowercased().wire());
  put48(rdata, time_signed);
  put16(rdata, fudge);
  put16(rdata, static_cast<std::uint16_t>(mac.size()));
  append(rdata, mac);
  rdata.push_back(buf[0]); // original ID: the message's own
  rdata.push_back(buf[1]);
  put16(rdata, error);
  put16(rdata, static_cast<std::uint16_t>(other.size()));
  append(rdata, other);
  put16(rr, static_cast<std::uint16_t>(rdata.size()));
  append(rr, rdata);
  if (len + rr.size() > buf.size())
    return 0;
  std::copy(rr.begin(), rr.end(), buf.begin() + static_cast<std::ptrdiff_t>(len));
  const std::uint16_t arcount = static_cast<std::uint16_t>(((buf[10] << 8) | buf[11]) + 1);
  buf[10] = static_cast<std::uint8_t>(arcount >> 8);
  buf[11] = static_cast<std::uint8_t>(arcount);
  return len + rr.size();
}

} // namespace

TsigVerdict verify_tsig(std::span<const std::uint8_t> message, const TsigRecord& t,
                        const Keyring& keys, UnixTime now) {
  TsigVerdict v;
  const TsigKey* key = keys.find(t.key);
  // §5.2.1: an unknown key, or a known name with another algorithm, is BADKEY.
  if (key == nullptr || tsig_algorithm_from_name(t.algorithm) != key->algorithm) {
    v.rcode = rcode::kNotAuth;
    v.error = tsig_error::kBadKey;
    return v;
  }
  v.key = key;
  // §5.2.2.1: a MAC longer than the hash, or shorter than max(10, half of it), is malformed.
  const std::size_t full = tsig_mac_size(key->algorithm);
  if (t.mac.size() > full || t.mac.size() < std::max<std::size_t>(10, full / 2)) {
    v.rcode = rcode::kFormErr;
    v.key = nullptr;
    return v;
  }
  std::vector<std::uint8_t> data;
  put_signed_part(data, message, t);
  put_variables(data, t.key, t.algorithm, t.time_signed, t.fudge, t.error, t.other);
  std::vector<std::uint8_t> mac = tsig_hmac(key->algorithm, key->secret, data);
  if (mac.size() != full ||
      !macs_equal(std::span<const std::uint8_t>(mac).first(t.mac.size()), t.mac)) {
    v.rcode = rcode::kNotAuth;
    v.error = tsig_error::kBadSig;
    return v;
  }
  if (t.mac.size() < full) { // moat accepts only whole MACs (a local policy, §5.2.2.1)
    v.rcode = rcode::kNotAuth;
    v.error = tsig_error::kBadTrunc;
    return v;
  }
  if (outside_fudge(t.time_signed, t.fudge, now)) { // §5.2.3
    v.rcode = rcode::kNotAuth;
    v.error = tsig_error::kBadTime;
  }
  return v;
}

TsigSession::TsigSession(TsigKey key, const TsigRecord& request)
    : key_(std::move(key)), prior_mac_(request.mac), answering_(true) {}

TsigSession::TsigSession(TsigKey key) : key_(std::move(key)) {}

std::size_t TsigSession::record_size() const {
  // Owner, type/class/TTL/RDLENGTH, algorithm, 16 fixed bytes, MAC, 6 bytes of Other Data.
  return key_.name.wire().size() + 10 + tsig_algorithm_name(key_.algorithm).wire().size() + 16 +
         tsig_mac_size(key_.algorithm) + 6;
}

std::size_t TsigSession::sign(std::span<std::uint8_t> buf, std::size_t len, UnixTime now,
                              std::uint16_t error, std::span<const std::uint8_t> other,
                              std::optional<std::uint64_t> time_signed) {
  const std::uint64_t when = time_signed.value_or(static_cast<std::uint64_t>(now));
  const Name algorithm = tsig_algorithm_name(key_.algorithm);
  std::vector<std::uint8_t> data;
  if (answering_ || !first_) {
    put16(data, static_cast<std::uint16_t>(prior_mac_.size()));
    append(data, prior_mac_);
  }
  append(data, buf.first(len));
  if (first_) {
    put_variables(data, key_.name, algorithm, when, kTsigFudge, error, other);
  } else { // §5.3.1: later messages of a stream cover only the timers
    put48(data, when);
    put16(data, kTsigFudge);
  }
  std::vector<std::uint8_t> mac = tsig_hmac(key_.algorithm, key_.secret, data);
  std::size_t out = write_record(buf, len, key_.name, algorithm, when, kTsigFudge, mac, error,
                                 first_ ? other : std::span<const std::uint8_t>());
  if (out == 0)
    return 0;
  prior_mac_ = std::move(mac);
  first_ = false;
  return out;
}

bool TsigSession::verify_response(std::span<const std::uint8_t> message, const TsigRecord& t,
                                  UnixTime now) const {
  if (t.key.lowercased() != key_.name.lowercased() ||
      tsig_algorithm_from_name(t.algorithm) != key_.algorithm || t.error != 0 ||
      t.mac.size() != tsig_mac_size(key_.algorithm))
    return false;
  std::vector<std::uint8_t> data;
  put16(data, static_cast<std::uint16_t>(prior_mac_.size()));
  append(data, prior_mac_);
  put_signed_part(data, message, t);
  put_variables(data, t.key, t.algorithm, t.time_signed, t.fudge, t.error, t.other);
  return macs_equal(tsig_hmac(key_.algorithm, key_.secret, data), t.mac) &&
         !outside_fudge(t.time_signed, t.fudge, now);
}

std::size_t append_unsigned_tsig(std::span<std::uint8_t> buf, std::size_t len,
                                 const TsigRecord& request, std::uint16_t error) {
  return write_record(buf, len, request.key, request.algorithm, request.time_signed, request.fudge,
                      {}, error, {});
}

} // namespace moat::dnsd
