#pragma once

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/store.hpp"
#include "dnsd/snapshot.hpp"
#include "signer/zone_signer.hpp"
#include "signer/zone_source.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace moat::dnsd {

/// What a (re)load did to one zone, for the log.
struct ZoneEvent {
  enum class Kind { kLoaded, kReloaded, kRemoved, kFailed } kind;
  std::string zone;
  std::int64_t domain_id = 0;
  std::uint32_t serial = 0;
  std::size_t rrsets_changed = 0;
  std::size_t signatures_made = 0;
  std::size_t signatures_reused = 0;
  double milliseconds = 0;
  std::string error;         ///< for kFailed: the zone keeps being served as it was
  std::string warning;       ///< something to log that did not stop the load
  std::uint32_t max_ttl = 0; ///< the longest TTL in the zone served (reported with the serial)
  bool patched = false;      ///< only the names that changed were read and signed
};

/// Reads desired state from the store, signs what changed and builds snapshots. Runs on one
/// thread (it owns a Store connection). Each zone is signed with the one it replaces as the
/// previous build, so unchanged RRsets keep their signatures without a second copy of them.
class ZoneLoader {
public:
  /// With a `dump_dir`, every zone signed is also written there as DIR/APEXzone (master file
  /// text, atomically) before it is served: what the server answers from, for inspection.
  /// With a `state_dir`, save_state() keeps each served zone there (DIR/APEXsigned, see
  /// zone_state_file.hpp), and the first load of a zone re-uses the signatures kept.
  ZoneLoader(Store store, std::shared_ptr<Clock> clock, std::string dump_dir = {},
             std::string state_dir = {});

  /// Looks for domains added, changed (version bumped), removed, or whose signatures are due
  /// for refresh; signs them and returns a new snapshot, or nullptr when nothing changed.
  /// `events` receives one entry per zone touched.
  [[nodiscard]] Result<std::shared_ptr<const Snapshot>> poll(std::vector<ZoneEvent>& events);

  /// True when another connection committed to the store since the last poll() began; false
  /// when the question itself fails (the regular poll() reports why). Costs microseconds, so
  /// that the server can ask every few milliseconds and poll() only when something changed.
  [[nodiscard]] bool store_changed();

  /// Writes to the state directory every zone served whose serial is not there yet; returns
  /// one message per zone it could not write.
  [[nodiscard]] std::vector<std::string> save_state();

  /// Reports to the store that the zones of `events` are now served (the acknowledgement
  /// `moat tick` waits for). Call after the snapshot holding them was published.
  [[nodiscard]] Result<void> acknowledge(const std::vector<ZoneEvent>& events);

private:
  struct ZoneState {
    std::int64_t version = -1;
    std::string name;
    std::shared_ptr<const ServedZone> served;
    std::int64_t refresh_at = 0; ///< when the earliest signature needs renewing
    // What a patch (re-signing only the names that changed) needs from the last whole load,
    // and compares with the store to know that nothing else changed.
    std::shared_ptr<const signer::ZoneSource> source; ///< keys and policy; its content dropped
    std::string key_states;        ///< the keys and their states, as read then
    std::vector<Rr> derived;       ///< the records moat derived then (MX, TLSA, MTA-STS, ...)
    std::set<Name> pending;        ///< names changed since the zone was last read
    bool whole = true;             ///< the next load must read and sign the whole zone
    std::optional<std::uint32_t> saved_serial; ///< the serial in the state directory
  };

  /// What one (re)load read and made, for the common end of both ways of loading.
  struct Loaded {
    std::shared_ptr<ServedZone> served;
    std::shared_ptr<const ZoneDiff> diff; ///< when known without comparing whole zones
    std::vector<TransferPeer> peers;
    std::vector<Name> acme_keys;
    std::size_t rrsets_changed = 0, signatures_made = 0, signatures_reused = 0;
    std::int64_t earliest_expiration = 0;
    bool patched = false;
    std::string warning;
  };

  /// Reads the whole zone and signs it, re-using the signatures of the zone served.
  [[nodiscard]] Result<Loaded> load_whole(std::int64_t id, ZoneState& state, std::int64_t now);
  /// Applies the names changed since the last load to the zone served (see patch_zone), or
  /// returns nullopt when only a whole load will do.
  [[nodiscard]] Result<std::optional<Loaded>> load_changes(std::int64_t id, ZoneState& state,
                                                           std::int64_t now);
  /// Where save_state() keeps the zone `apex`.
  [[nodiscard]] std::string state_path(const Name& apex) const;
  /// Reads who may transfer and UPDATE zone `id`.
  [[nodiscard]] Result<void> read_rules(std::int64_t id, Loaded& out);
  /// Moves the change log into the zones' pending names.
  [[nodiscard]] Result<void> read_change_log();

  Store store_;
  std::shared_ptr<Clock> clock_;
  std::string dump_dir_;
  std::string state_dir_;
  std::map<std::int64_t, ZoneState> zones_; ///< by domain id
  std::int64_t data_version_ = -1;          ///< the store's data_version when poll() began
  std::int64_t change_cursor_ = -1;         ///< the last change log entry read (-1: none yet)
  std::int64_t changes_forgotten_ = 0;      ///< the change log is deleted up to here
};

} // namespace moat::dnsd
