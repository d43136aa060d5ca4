#pragma once

#include "dnsd/snapshot.hpp"

namespace moat::fuzz {

/// Apexes of the two zones every fuzz target is served: the same mail domain signed with NSEC
/// and with NSEC3. tests/fuzz/make_corpus.py asks for names in them.
inline constexpr const char* kNsecApex = "nsec.example.";
inline constexpr const char* kNsec3Apex = "nsec3.example.";

/// The snapshot of both zones, built on the first call and kept for the life of the process.
/// Keys and signing time are fixed and Ed25519 signatures are deterministic, so it is the same
/// byte for byte in every run and a saved crash replays exactly. Aborts if the zone does not
/// sign (a broken harness, not a finding).
[[nodiscard]] const dnsd::Snapshot& served_snapshot();

} // namespace moat::fuzz
