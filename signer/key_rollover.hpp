#pragma once

// DNSSEC key rollovers, step by step on the served state (RFC 7583, RFC 6781 §4.1.4).
//
// Every step is one transaction that changes key states and bumps the serial; the next step's
// wait starts only when moat-dnsd reports serving that serial, so a crash or an idle daemon
// only delays a rollover, never breaks one.
//
//   ZSK (pre-publication, RFC 7583 §3.2.1): new key published → after Dprp + TTLkey it signs
//     and the old one retires → after Dprp + TTLsig the old one is removed.
//   KSK (double-KSK with a double DS at the parent, RFC 7583 §3.3.1): new key published and
//     signing the DNSKEY RRset beside the old → after Dprp + TTLkey its DS is asked for (CDS,
//     CDNSKEY and `moat status`) → the admin confirms it (`moat key ds-seen`), the old DS is
//     withdrawn from CDS → after TTLds + DprpP the old key is removed.
//   CSK (double-signature, RFC 7583 §3.3.1 with the CSK signing everything): as a KSK, but the
//     DS is asked for only after Dprp + max(TTLkey, TTLsig), when no cache holds data signed
//     by the old key alone.
//   Algorithm (RFC 6781 §4.1.4, conservative): new KSK and ZSK sign everything while not yet
//     published → after Dprp + TTLsig both are published → after Dprp + TTLkey the new DS is
//     asked for → once confirmed and TTLds + DprpP later the old keys leave the DNSKEY RRset
//     but keep signing → after Dprp + TTLkey they are removed. At every instant each algorithm
//     in any DNSKEY RRset a validator may hold signs every RRset it may fetch.
//
// MOAT_CRASH_POINT=key-step makes a step abort the process just before its commit (for the
// crash tests).

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/rotation.hpp"
#include "core/store.hpp"
#include "signer/key.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace moat::signer {

/// Margins for what moat cannot observe: the child's propagation after moat-dnsd serves a
/// serial (Dprp; secondaries, clock skew) and the parent's after the admin sees a DS (DprpP).
inline constexpr std::uint32_t kPropagation = 600;
inline constexpr std::uint32_t kParentPropagation = 3600;

/// A fresh key for a domain, not stored yet: `role` "ksk", "zsk" or "csk" (a combined signing
/// key: one SEP key that signs everything), state and dates unset, a key tag different from
/// every key in `existing`.
[[nodiscard]] Result<KeyRecord> generate_key_record(Algorithm alg, std::string_view role,
                                                    const std::vector<KeyRecord>& existing,
                                                    UnixTime now);

/// A key whose DS goes to the parent: a KSK or a CSK.
[[nodiscard]] inline bool is_sep(const KeyRecord& k) { return k.role == "ksk" || k.role == "csk"; }

enum class RolloverKind { kZsk, kKsk, kCsk, kAlgorithm };
/// "zsk" | "ksk" | "csk" | "algorithm".
[[nodiscard]] Result<RolloverKind> rollover_kind_from_string(std::string_view text);

/// The intervals of RFC 7583 §3 for one domain, in seconds.
struct KeyTimings {
  std::uint32_t dnskey_ttl = 0;    ///< TTLkey
  std::uint32_t max_zone_ttl = 0;  ///< TTLsig: the longest TTL of any signed RRset
  std::uint32_t parent_ds_ttl = 0; ///< TTLds
};
[[nodiscard]] Result<KeyTimings> key_timings(Store& store, const Domain& d);

/// What a domain's keys are doing and what comes next. Computed from the store; changes
/// nothing.
struct KeyPlan {
  /// The rollover under way: "" (none), "zsk", "ksk", "csk" or "algorithm".
  std::string rollover;
  /// The keys of the step due now, with their new states (not yet written); empty when the
  /// next step must wait. `due` says what the step does.
  std::vector<KeyRecord> changes;
  std::string due;
  /// When nothing is due: the next step and what it waits for.
  std::vector<PendingStep> waiting;
  /// A rollover that the key lifetimes say must start now.
  std::optional<RolloverKind> start;
  /// Otherwise, with no rollover under way: the next one the key lifetimes will start.
  std::optional<PendingStep> scheduled;
  /// KSKs whose DS the admin must add at the registrar (and then confirm with ds-seen), and
  /// KSKs whose DS may be removed there.
  std::vector<KeyRecord> ds_to_add;
  std::vector<KeyRecord> ds_to_remove;
};
[[nodiscard]] Result<KeyPlan> plan_keys(Store& store, const Domain& d, UnixTime now);

/// Starts a rollover of `d` now: new keys generated and stored, serial bumped, audited. Fails,
/// changing nothing, when another rollover is under way or the kind does not fit the domain.
/// Returns what it did.
[[nodiscard]] Result<std::string> start_rollover(Store& store, const Domain& d, RolloverKind kind,
                                                 std::optional<Algorithm> algorithm, UnixTime now,
                                                 std::string_view actor);

/// The admin confirms that the parent publishes the DS of KSK `key_tag`: the other KSKs' DS
/// are withdrawn from CDS and the rollover's wait for the parent's TTL starts now.
[[nodiscard]] Result<std::string> confirm_ds(Store& store, const Domain& d, std::uint16_t key_tag,
                                             UnixTime now, std::string_view actor);

/// Performs, for every domain, the key step due now (at most one per domain; each waits for
/// the previous one to be served) and starts the rollovers that key lifetimes call for.
/// Returns one line per step; errors are lines starting with "error: ".
[[nodiscard]] Result<std::vector<std::string>> tick_keys(Store& store, UnixTime now,
                                                         std::string_view actor);

/// The steps of `plan` (of domain `d`) for `moat status`: the one due now, or what waits.
[[nodiscard]] std::vector<PendingStep> key_steps(const Domain& d, const KeyPlan& plan,
                                                 UnixTime now);

} // namespace moat::signer
