#pragma once

#include "core/clock.hpp"
#include "core/tsig_key.hpp"
#include "dnsd/wire.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

namespace moat::dnsd {

/// The TSIG keys moat-dnsd knows, by name.
class Keyring {
public:
  void add(TsigKey key) { keys_[key.name.lowercased()] = std::move(key); }
  [[nodiscard]] const TsigKey* find(const Name& name) const {
    auto it = keys_.find(name.lowercased());
    return it == keys_.end() ? nullptr : &it->second;
  }

private:
  std::map<Name, TsigKey> keys_;
};

/// The fudge moat signs with: how far apart two clocks may be (RFC 8945 §10 suggests 300 s).
inline constexpr std::uint16_t kTsigFudge = 300;

/// The outcome of checking a request's TSIG record (RFC 8945 §5.2).
struct TsigVerdict {
  std::uint16_t rcode = rcode::kNoError; ///< FORMERR or NOTAUTH when the check failed
  std::uint16_t error = 0;               ///< the TSIG error to put in the answer's TSIG record
  const TsigKey* key = nullptr;          ///< the key, when known (even if the MAC was bad)
  /// The answer is signed unless the key is unknown or the MAC did not verify (§5.2.1, §5.2.2).
  [[nodiscard]] bool sign_answer() const {
    return key != nullptr && error != tsig_error::kBadKey && error != tsig_error::kBadSig;
  }
};

/// Checks the TSIG record `t` of the received `message` in the RFC's order: key (BADKEY), MAC
/// (BADSIG, or FORMERR for a MAC too short to mean anything), then time (BADTIME).
[[nodiscard]] TsigVerdict verify_tsig(std::span<const std::uint8_t> message, const TsigRecord& t,
                                      const Keyring& keys, UnixTime now);

/// Signs a sequence of messages with one key and checks the other side's: the answers to one
/// signed request (each message of a transfer chains on the previous one's MAC, RFC 8945
/// §5.3.1), or a request moat sends (NOTIFY) and the response to it.
class TsigSession {
public:
  /// For the answers to `request`, whose MAC starts the chain.
  TsigSession(TsigKey key, const TsigRecord& request);
  /// For a request moat originates.
  explicit TsigSession(TsigKey key);

  /// The most a TSIG record of this key adds to a message (room to keep free).
  [[nodiscard]] std::size_t record_size() const;

  /// Appends a TSIG record signing the `len`-byte message at the start of `buf` and counts it
  /// in ARCOUNT. Returns the new length, or 0 when it does not fit. `time_signed` overrides
  /// `now` (a BADTIME answer repeats the request's time), `other` fills Other Data.
  [[nodiscard]] std::size_t sign(std::span<std::uint8_t> buf, std::size_t len, UnixTime now,
                                 std::uint16_t error = 0, std::span<const std::uint8_t> other = {},
                                 std::optional<std::uint64_t> time_signed = std::nullopt);

  /// Checks the TSIG of a response to the request signed last (for NOTIFY answers).
  [[nodiscard]] bool verify_response(std::span<const std::uint8_t> message, const TsigRecord& t,
                                     UnixTime now) const;

  [[nodiscard]] const TsigKey& key() const { return key_; }

private:
  TsigKey key_;
  std::vector<std::uint8_t> prior_mac_; ///< the request's MAC, then each message's own
  bool answering_ = false;              ///< prior_mac_ is a request's MAC to sign against
  bool first_ = true;                   ///< the next message gets the full TSIG variables
};

/// Appends an unsigned TSIG record carrying `error`, for the answers that cannot be signed
/// (BADKEY, BADSIG: RFC 8945 §5.2.1, §5.2.2). Returns the new length, or 0 if it does not fit.
[[nodiscard]] std::size_t append_unsigned_tsig(std::span<std::uint8_t> buf, std::size_t len,
                                               const TsigRecord& request, std::uint16_t error);

} // namespace moat::dnsd
