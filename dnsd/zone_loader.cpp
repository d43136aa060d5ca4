#include "dnsd/zone_loader.hpp"

#include "core/live_files.hpp"
#include "signer/zone_source.hpp"

#include <algorithm>
#include <chrono>
#include <set>

namespace moat::dnsd {

ZoneLoader::ZoneLoader(Store store, std::shared_ptr<Clock> clock, std::string dump_dir)
    : store_(std::move(store)), clock_(std::move(clock)), dump_dir_(std::move(dump_dir)) {}

bool ZoneLoader::store_changed() {
  // A store that cannot answer is left to the regular poll, which says why in the log every
  // --poll-ms rather than a hundred times a second.
  auto version = store_.data_version();
  return version && *version != data_version_;
}

Result<std::shared_ptr<const Snapshot>> ZoneLoader::poll(std::vector<ZoneEvent>& events) {
  const std::int64_t now = clock_->now();
  // Taken before anything is read: a commit landing during this poll changes it again, and the
  // next store_changed() says so.
  if (auto version = store_.data_version(); version)
    data_version_ = *version;
  // ACME challenge records live a day at most: drop the expired ones as a change of their zone.
  auto expiry = store_.next_acme_expiry();
  if (!expiry)
    return std::unexpected(expiry.error());
  if (*expiry && **expiry <= now)
    if (auto r = store_.transaction([&]() -> Result<void> {
          auto expired = store_.expire_acme_challenges(now);
          if (!expired)
            return std::unexpected(expired.error());
          for (std::int64_t domain : *expired)
            if (auto serial = store_.touch_domain(domain, now); !serial)
              return std::unexpected(serial.error());
          return {};
        });
        !r)
      return std::unexpected(r.error());
  auto versions = store_.domain_versions();
  if (!versions)
    return std::unexpected(versions.error());
  bool changed = false;
  std::set<std::int64_t> present;
  for (auto [id, version] : *versions) {
    present.insert(id);
    auto& state = zones_[id];
    if (state.version == version && now < state.refresh_at)
      continue;
    if (state.version == version && state.served != nullptr) {
      // Signatures due for refresh: the re-signed zone is a new version of the zone and gets
      // a new serial, so that secondaries and the acknowledgements see it (as Knot and BIND
      // do). Should the bump fail (a busy database), re-sign under the same serial anyway:
      // expiring signatures matter more.
      if (auto r = store_.transaction([&]() -> Result<void> {
            auto serial = store_.touch_domain(id, now);
            return serial ? Result<void>{} : std::unexpected(serial.error());
          });
          r)
        version += 1;
    }
    auto started = std::chrono::steady_clock::now();
    const bool first = state.served == nullptr;
    // Read everything in one read transaction so the CLI's commit is seen whole.
    Result<signer::ZoneSource> src = fail("not read");
    std::vector<TransferPeer> peers;
    std::vector<Name> acme_keys;
    auto tx = store_.read_transaction([&]() -> Result<void> {
      auto domains = store_.list_domains();
      if (!domains)
        return std::unexpected(domains.error());
      for (const Domain& d : *domains)
        if (d.id == id) {
          src = signer::load_zone_source(store_, d);
          auto secondaries = store_.secondaries(id);
          if (!secondaries)
            return std::unexpected(secondaries.error());
          for (const Secondary& x : *secondaries)
            peers.push_back({x.address, x.port, x.tsig_key});
          auto keys = store_.acme_update_keys(id);
          if (!keys)
            return std::unexpected(keys.error());
          acme_keys = std::move(*keys);
          return {};
        }
      src = fail("domain vanished while loading");
      return {};
    });
    if (!tx)
      src = std::unexpected(tx.error());
    Result<signer::SignedZone> signed_zone =
        // The zone served now is the previous build: its signatures are re-used from there.
        src ? signer::sign_zone(src->content, src->key_set(), src->policy, now, state.served.get())
            : Result<signer::SignedZone>(std::unexpected(src.error()));
    if (!signed_zone) {
      events.push_back({ZoneEvent::Kind::kFailed, src ? src->domain.name.to_string() : state.name,
                        id, 0, 0, 0, 0, 0, signed_zone.error().message});
      state.version = version; // do not retry in a loop; the next change retries
      state.refresh_at = now + 60;
      continue;
    }
    const signer::SignedZone& sz = *signed_zone;
    if (!dump_dir_.empty()) {
      const std::string path = dump_dir_ + "/" + sz.apex.to_string() + "zone";
      if (auto w = write_file_atomically(path, signer::master_file_text(sz), 0640); !w) {
        // Not served unless dumped: the dump is promised to be what is served.
        events.push_back({ZoneEvent::Kind::kFailed, src->domain.name.to_string(), id, 0, 0, 0, 0, 0,
                          w.error().message});
        state.refresh_at = now + 60;
        continue;
      }
    }
    ZoneEvent ev{first ? ZoneEvent::Kind::kLoaded : ZoneEvent::Kind::kReloaded,
                 src->domain.name.to_string(),
                 id,
                 sz.serial,
                 sz.rrsets_changed,
                 sz.signatures_made,
                 sz.signatures_reused,
                 0,
                 {}};
    for (const signer::SignedRrset& set : sz.rrsets)
      ev.max_ttl = std::max(ev.max_ttl, set.ttl);
    state.name = ev.zone;
    state.version = version;
    state.refresh_at = sz.earliest_expiration - src->policy.sig_refresh;
    std::shared_ptr<ServedZone> served = ServedZone::build(std::move(*signed_zone));
    served->secondaries = std::move(peers);
    served->domain_id = id;
    served->acme_keys = std::move(acme_keys);
    // Only zones with secondaries keep a journal: nobody else may ask for an IXFR.
    if (!served->secondaries.empty() && state.served != nullptr &&
        state.served->serial != served->serial)
      served->journal =
          kept_journal(state.served->journal,
                       std::make_shared<const ZoneDiff>(diff_zones(*state.served, *served)),
                       served->record_count);
    state.served = std::move(served);
    ev.milliseconds =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
            .count();
    events.push_back(std::move(ev));
    changed = true;
  }
  for (auto it = zones_.begin(); it != zones_.end();) {
    if (!present.contains(it->first)) {
      events.push_back({ZoneEvent::Kind::kRemoved, it->second.name, it->first, 0, 0, 0, 0, 0, {}});
      it = zones_.erase(it);
      changed = true;
    } else {
      ++it;
    }
  }
  if (!changed)
    return std::shared_ptr<const Snapshot>();
  auto snap = std::make_shared<Snapshot>();
  auto keys = store_.tsig_keys();
  if (!keys)
    return std::unexpected(keys.error());
  auto keyring = std::make_shared<Keyring>();
  for (TsigKey& k : *keys)
    keyring->add(std::move(k));
  snap->keys = std::move(keyring);
  for (const auto& [_, state] : zones_)
    if (state.served)
      snap->zones.push_back(state.served);
  return std::shared_ptr<const Snapshot>(std::move(snap));
}

Result<void> ZoneLoader::acknowledge(const std::vector<ZoneEvent>& events) {
  const UnixTime now = clock_->now();
  for (const ZoneEvent& e : events) {
    if (e.kind != ZoneEvent::Kind::kLoaded && e.kind != ZoneEvent::Kind::kReloaded)
      continue;
    if (auto r = store_.record_publication(e.domain_id, e.serial, now, e.max_ttl); !r)
      return r;
  }
  return {};
}

} // namespace moat::dnsd
