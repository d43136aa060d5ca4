#pragma once

#include "dnsd/snapshot.hpp"

#include <cstdint>
#include <memory>

namespace moat::fuzz {

/// Apexes of the two zones every fuzz target is served: the same mail domain signed with NSEC
/// and with NSEC3. tests/fuzz/make_corpus.py asks for names in them.
inline constexpr const char* kNsecApex = "nsec.example.";
inline constexpr const char* kNsec3Apex = "nsec3.example.";

/// When the zones are signed (RRSIG inception and expiration follow from it), and the serial
/// of their first version. make_corpus.py signs its TSIG seeds at kSignTime too.
inline constexpr std::int64_t kSignTime = 1'800'000'000;
inline constexpr std::uint32_t kZoneSerial = 2026010101;

/// The snapshot of both zones, built on the first call and kept for the life of the process.
/// Keys and signing time are fixed and Ed25519 signatures are deterministic, so it is the same
/// byte for byte in every run and a saved crash replays exactly. Aborts if the zone does not
/// sign (a broken harness, not a finding).
[[nodiscard]] const dnsd::Snapshot& served_snapshot();

/// The zone at `apex` (one of the two above) as version 0, 1 or 2, with serial
/// kZoneSerial + version, freshly signed: version 0 is the zone served_snapshot() serves;
/// version 1 moves mx2's address (192.0.2.26 to .27); version 2 adds new A 192.0.2.8 (a new
/// name, so the NSEC or NSEC3 chain changes too). For journals: diff_zones(v0, v1), (v1, v2).
[[nodiscard]] std::shared_ptr<dnsd::ServedZone> zone_version(const char* apex, bool nsec3,
                                                             int version);

/// A zone at `apex` of SOA, NS, ns1 A and `names` TXT records (host0 to host<names-1>), signed
/// with NSEC like the others: big enough, with a few hundred names, for an AXFR of several
/// messages.
[[nodiscard]] std::shared_ptr<dnsd::ServedZone> bulk_zone(const char* apex, int names);

} // namespace moat::fuzz
