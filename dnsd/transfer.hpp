#pragma once

#include "core/clock.hpp"
#include "dnsd/snapshot.hpp"
#include "dnsd/update.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace moat::dnsd {

/// Where a request came from.
struct Peer {
  std::string address; ///< canonical IP literal (inet_ntop)
  std::uint16_t port = 0;
  std::vector<std::uint8_t> ip; ///< the address's 4 or 16 bytes (for cookies)
};

/// Shared by every connection: how many zone transfers run at once, and the bound.
struct TransferLimits {
  std::atomic<int> running{0};
  int max_running = 10;
};

/// What serve_request did, for the log; `summary` is empty when it is not worth a line.
struct RequestOutcome {
  std::string summary;
  bool refused = false; ///< a refusal or a TSIG failure: logged as a warning
};

/// Sends one message; returns false once the peer is gone (or stalled past its timeout).
using SendMessage = std::function<bool(std::span<const std::uint8_t>)>;

/// Serves what answer() leaves to the caller (kNotAnswered): UPDATE (RFC 2136) of ACME
/// challenge records, signed with a key the zone allows and applied through `apply` (refused
/// when it is null); AXFR and IXFR (RFC 5936, 1995),
/// allowed only to the zone's secondaries and with their TSIG key when one is set, and every
/// request signed with TSIG (RFC 8945: checked, and the answer signed). An IXFR is served from
/// the zone's journal, or as a whole zone when the journal does not reach back. Over UDP an
/// IXFR gets the current SOA alone (RFC 1995 §2: ask again over TCP) and an AXFR FORMERR.
[[nodiscard]] RequestOutcome serve_request(std::span<const std::uint8_t> request,
                                           const Snapshot& snapshot, const Peer& peer,
                                           bool over_tcp, UnixTime now, TransferLimits& limits,
                                           const SendMessage& send,
                                           const ApplyChallenges* apply = nullptr);

} // namespace moat::dnsd
