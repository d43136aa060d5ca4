#pragma once
// The DNS half of `moat check`: asks one server, as a validating resolver would, for a
// domain's records, and checks each answer's DNSSEC chain up to the DS the parent holds (or a
// given trust anchor). Answers carry the records and when their signatures run out.

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/locations.hpp"
#include "core/name.hpp"
#include "core/rr.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace moat {

/// What a validating resolver makes of one question.
struct CheckedAnswer {
  enum class Status {
    kSecure,  ///< records, signed by a key of the validated DNSKEY RRset
    kAbsent,  ///< no such records, proven by signed NSEC/NSEC3
    kBogus,   ///< a signature or denial that does not hold: senders get SERVFAIL
    kFailed,  ///< no usable answer (timeout, REFUSED, SERVFAIL)
  } status = Status::kFailed;
  std::vector<Rr> records;   ///< the RRset when secure
  UnixTime expires = 0;      ///< earliest RRSIG expiration among what was validated
  std::string detail;        ///< why, for bogus and failed
};

class DnsChecker {
public:
  /// Queries `server` for the DNSKEY RRset of `zone` and validates it against `anchors` (DS or
  /// DNSKEY records): it must be signed by a key one of them names. Fails, saying why, when
  /// the server does not answer or nothing validates.
  [[nodiscard]] static Result<DnsChecker> open(const ListenAddress& server, const Name& zone,
                                               const std::vector<Rr>& anchors, UnixTime now);
  DnsChecker(DnsChecker&&) noexcept;
  DnsChecker& operator=(DnsChecker&&) noexcept;
  ~DnsChecker();

  /// The question answered and validated with the zone's keys (which are enough: the names
  /// checked are all in the zone; a name in another zone comes back kFailed or kBogus).
  [[nodiscard]] CheckedAnswer query(const Name& name, std::uint16_t type);

  /// The key tags of the DNSKEYs that the anchors vouch for, and when the DNSKEY RRset's
  /// signature runs out.
  [[nodiscard]] const std::vector<std::uint16_t>& anchored_key_tags() const;
  [[nodiscard]] UnixTime dnskey_expires() const;

  struct Impl;

private:
  explicit DnsChecker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

} // namespace moat
