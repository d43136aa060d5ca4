#include "dnsd/zone_loader.hpp"

#include "core/derived_records.hpp"
#include "core/live_files.hpp"
#include "dnsd/zone_patch.hpp"
#include "dnsd/zone_state_file.hpp"
#include "signer/zone_source.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>

namespace moat::dnsd {

ZoneLoader::ZoneLoader(Store store, std::shared_ptr<Clock> clock, std::string dump_dir,
                       std::string state_dir)
    : store_(std::move(store)), clock_(std::move(clock)), dump_dir_(std::move(dump_dir)),
      state_dir_(std::move(state_dir)) {}

bool ZoneLoader::store_changed() {
  // A store that cannot answer is left to the regular poll, which says why in the log every
  // --poll-ms rather than a hundred times a second.
  auto version = store_.data_version();
  return version && *version != data_version_;
}

namespace {

// More names changed than this since the last load, and the whole zone is read instead.
constexpr std::size_t kMaxPatchNames = 1000;
// The change log is read this many entries at most at a time; more (a bulk change), and every
// zone is read whole.
constexpr int kMaxLogRead = 20000;

// The keys of a zone and their states: a patch signs with the keys of the last whole load,
// so any difference here means a whole load.
std::string key_states(const std::vector<KeyRecord>& keys) {
  std::string out;
  for (const KeyRecord& k : keys)
    out += std::to_string(k.id) + ' ' + k.role + ' ' + std::to_string(k.key_tag) + ' ' + k.state +
           ' ' + k.ds_state + '\n';
  return out;
}

// What a patch takes from the last whole load: the apex and the signing policy.
bool same_policy(const Domain& a, const Domain& b) {
  return a.name == b.name && a.nsec3 == b.nsec3 && a.dnskey_ttl == b.dnskey_ttl &&
         a.sig_validity == b.sig_validity && a.sig_refresh == b.sig_refresh;
}

// Adds the names at which `a` and `b` (a few dozen derived records) differ.
void differing_owners(const std::vector<Rr>& a, const std::vector<Rr>& b, std::set<Name>& out) {
  for (const Rr& r : a)
    if (std::ranges::find(b, r) == b.end())
      out.insert(r.owner.lowercased());
  for (const Rr& r : b)
    if (std::ranges::find(a, r) == a.end())
      out.insert(r.owner.lowercased());
}

// True when every key that signs now is in `z`'s DNSKEY RRset. The signer re-uses a signature
// when its key tag matches, and a tag alone can name another key: a domain deleted and added
// again under the same name has new keys, and its kept zone the old ones' signatures.
bool signed_by(const ServedZone& z, const signer::KeySet& keys) {
  const ServedNode* apex = z.node_at(z.apex);
  const ServedRrset* dnskeys = apex != nullptr ? apex->find(rrtype::DNSKEY) : nullptr;
  if (dnskeys == nullptr)
    return false;
  for (const auto* list : {&keys.ksks, &keys.zsks})
    for (const signer::SigningKey* k : *list)
      if (std::ranges::none_of(dnskeys->rdatas,
                               [&](auto rd) { return std::ranges::equal(rd, k->dnskey_rdata()); }))
        return false;
  return true;
}

std::uint32_t max_ttl(const ServedZone& z) {
  std::uint32_t ttl = 0;
  for (const auto* list : {&z.nodes, &z.nsec3_nodes})
    for (const ServedNode& node : *list)
      for (const ServedRrset& set : node.rrsets)
        ttl = std::max(ttl, set.ttl);
  return ttl;
}

} // namespace

Result<void> ZoneLoader::read_change_log() {
  auto log = change_cursor_ < 0 ? Result<Store::ZoneChanges>(Store::ZoneChanges{})
                                : store_.zone_changes(change_cursor_, kMaxLogRead);
  if (!log)
    return std::unexpected(log.error());
  if (change_cursor_ < 0 || log->missed || log->changes.size() >= kMaxLogRead) {
    // First poll (every zone is read whole anyway), a log deleted under us (another reader),
    // or a bulk change: carry on from the end of the log, every zone read whole.
    auto last = store_.last_zone_change();
    if (!last)
      return std::unexpected(last.error());
    change_cursor_ = *last;
    for (auto& [_, state] : zones_)
      state.whole = true;
    return {};
  }
  for (Store::ZoneChange& c : log->changes) {
    if (auto it = zones_.find(c.domain_id); it != zones_.end())
      it->second.pending.insert(std::move(c.owner)); // (new zones are read whole)
    change_cursor_ = c.id;
  }
  return {};
}

Result<void> ZoneLoader::read_rules(std::int64_t id, Loaded& out) {
  auto secondaries = store_.secondaries(id);
  if (!secondaries)
    return std::unexpected(secondaries.error());
  for (const Secondary& x : *secondaries)
    out.peers.push_back({x.address, x.port, x.tsig_key});
  auto acme = store_.acme_update_keys(id);
  if (!acme)
    return std::unexpected(acme.error());
  out.acme_keys = std::move(*acme);
  return {};
}

std::string ZoneLoader::state_path(const Name& apex) const {
  return state_dir_ + "/" + apex.to_string() + "signed";
}

std::vector<std::string> ZoneLoader::save_state() {
  std::vector<std::string> errors;
  if (state_dir_.empty())
    return errors;
  for (auto& [_, state] : zones_) {
    if (state.served == nullptr || state.saved_serial == state.served->serial)
      continue;
    if (auto r = save_zone_state(*state.served, state_path(state.served->apex)); !r) {
      errors.push_back(state.name + ": " + r.error().message);
      continue;
    }
    state.saved_serial = state.served->serial;
  }
  return errors;
}

Result<ZoneLoader::Loaded> ZoneLoader::load_whole(std::int64_t id, ZoneState& state,
                                                  std::int64_t now) {
  // Read everything in one read transaction so the CLI's commit is seen whole.
  Result<signer::ZoneSource> src = fail("not read");
  Loaded out;
  std::string keys;
  std::vector<Rr> derived;
  auto tx = store_.read_transaction([&]() -> Result<void> {
    auto d = store_.find_domain_by_id(id);
    if (!d)
      return std::unexpected(d.error());
    if (!*d)
      return fail("domain vanished while loading");
    state.name = (*d)->name.to_string();
    state.pending.clear(); // all read now
    src = signer::load_zone_source(store_, **d);
    auto key_rows = store_.keys(id);
    if (!key_rows)
      return std::unexpected(key_rows.error());
    keys = key_states(*key_rows);
    auto derived_now = derived_records(store_, **d);
    if (!derived_now)
      return std::unexpected(derived_now.error());
    derived = std::move(*derived_now);
    return read_rules(id, out);
  });
  if (!tx)
    return std::unexpected(tx.error());
  if (!src)
    return std::unexpected(src.error());
  // The zone served now is the previous build: its signatures are re-used from there. Before
  // the first load, the zone kept by the last run is.
  std::shared_ptr<const ServedZone> previous = state.served;
  if (previous == nullptr && !state_dir_.empty()) {
    const std::string path = state_path(src->domain.name);
    auto kept = load_zone_state(path);
    if (kept && (*kept)->apex == src->domain.name && signed_by(**kept, src->key_set()))
      previous = std::move(*kept);
    else if (kept)
      out.warning = "signatures kept by the last run not used: made with other keys";
    else if (std::filesystem::exists(path))
      out.warning = "signatures kept by the last run not used: " + kept.error().message;
  }
  auto signed_zone =
      signer::sign_zone(src->content, src->key_set(), src->policy, now, previous.get());
  if (!signed_zone)
    return std::unexpected(signed_zone.error());
  out.rrsets_changed = signed_zone->rrsets_changed;
  out.signatures_made = signed_zone->signatures_made;
  out.signatures_reused = signed_zone->signatures_reused;
  out.earliest_expiration = signed_zone->earliest_expiration;
  out.served = ServedZone::build(std::move(*signed_zone));
  // What later patches need; the content itself is not kept.
  src->content.records = {};
  state.source = std::make_shared<const signer::ZoneSource>(std::move(*src));
  state.key_states = std::move(keys);
  state.derived = std::move(derived);
  return out;
}

Result<std::optional<ZoneLoader::Loaded>> ZoneLoader::load_changes(std::int64_t id,
                                                                   ZoneState& state,
                                                                   std::int64_t now) {
  if (state.whole || state.served == nullptr || state.source == nullptr ||
      now >= state.refresh_at || state.pending.size() > kMaxPatchNames)
    return std::nullopt;
  Loaded out;
  ZoneChangeSet change;
  bool whole = false;
  std::vector<Rr> derived;
  auto tx = store_.read_transaction([&]() -> Result<void> {
    auto d = store_.find_domain_by_id(id);
    if (!d)
      return std::unexpected(d.error());
    if (!*d || !same_policy(**d, state.source->domain)) {
      whole = true; // (a vanished domain: the whole load says so)
      return {};
    }
    auto key_rows = store_.keys(id);
    if (!key_rows)
      return std::unexpected(key_rows.error());
    auto derived_now = derived_records(store_, **d);
    if (!derived_now)
      return std::unexpected(derived_now.error());
    std::set<Name> names = state.pending;
    differing_owners(state.derived, *derived_now, names);
    if (key_states(*key_rows) != state.key_states || names.size() > kMaxPatchNames) {
      whole = true;
      return {};
    }
    change.soa = signer::soa_record(**d);
    for (const Name& name : names) {
      auto records = desired_records_at(store_, **d, *derived_now, name);
      if (!records)
        return std::unexpected(records.error());
      change.owners.emplace(name, std::move(*records));
    }
    derived = std::move(*derived_now);
    return read_rules(id, out);
  });
  if (!tx)
    return std::unexpected(tx.error());
  if (whole)
    return std::nullopt;
  auto patched = patch_zone(*state.served, change, state.source->key_set(), state.source->policy,
                            now);
  if (!patched)
    return std::unexpected(patched.error());
  if (!*patched)
    return std::nullopt;
  PatchedZone& p = **patched;
  state.pending.clear();
  state.derived = std::move(derived);
  out.served = std::move(p.zone);
  out.diff = std::make_shared<const ZoneDiff>(std::move(p.diff));
  out.rrsets_changed = p.rrsets_changed;
  out.signatures_made = p.counts.made;
  out.signatures_reused = p.counts.reused;
  out.patched = true;
  // The signatures not re-made keep their earlier expirations.
  out.earliest_expiration =
      std::min(p.counts.earliest_expiration, state.refresh_at + state.source->policy.sig_refresh);
  return std::optional<Loaded>(std::move(out));
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
  // The versions first, the change log after: every change a version shows is in the log read.
  auto versions = store_.domain_versions();
  if (!versions)
    return std::unexpected(versions.error());
  if (auto r = read_change_log(); !r)
    return std::unexpected(r.error());
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
    // Only the names that changed when that is all that changed; the whole zone otherwise.
    auto patched = load_changes(id, state, now);
    Result<Loaded> loaded = patched && *patched ? Result<Loaded>(std::move(**patched))
                            : patched           ? load_whole(id, state, now)
                                                : Result<Loaded>(std::unexpected(patched.error()));
    if (loaded && !dump_dir_.empty()) {
      const std::string path = dump_dir_ + "/" + loaded->served->apex.to_string() + "zone";
      if (auto w = write_file_atomically(path, master_file_text(*loaded->served), 0640); !w)
        loaded = std::unexpected(w.error()); // not served unless dumped: the dump is promised
    }
    if (!loaded) {
      events.push_back({ZoneEvent::Kind::kFailed, state.name, id, 0, 0, 0, 0, 0,
                        loaded.error().message});
      state.version = version; // do not retry in a loop; the next change retries
      state.refresh_at = now + 60;
      state.whole = true; // what changed meanwhile is not known by name
      continue;
    }
    std::shared_ptr<ServedZone> served = std::move(loaded->served);
    ZoneEvent ev{first ? ZoneEvent::Kind::kLoaded : ZoneEvent::Kind::kReloaded,
                 state.name,
                 id,
                 served->serial,
                 loaded->rrsets_changed,
                 loaded->signatures_made,
                 loaded->signatures_reused,
                 0,
                 {}};
    ev.max_ttl = max_ttl(*served);
    ev.warning = std::move(loaded->warning);
    ev.patched = loaded->patched;
    state.version = version;
    state.whole = false;
    state.refresh_at = loaded->earliest_expiration - state.source->policy.sig_refresh;
    served->secondaries = std::move(loaded->peers);
    served->domain_id = id;
    served->acme_keys = std::move(loaded->acme_keys);
    // Only zones with secondaries keep a journal: nobody else may ask for an IXFR.
    if (!served->secondaries.empty() && state.served != nullptr &&
        state.served->serial != served->serial)
      served->journal = kept_journal(
          state.served->journal,
          loaded->diff != nullptr ? loaded->diff
                                  : std::make_shared<const ZoneDiff>(diff_zones(*state.served, *served)),
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
      // Its kept zone goes too: a domain added again under the name starts afresh.
      if (!state_dir_.empty() && it->second.served != nullptr) {
        std::error_code ignored;
        std::filesystem::remove(state_path(it->second.served->apex), ignored);
      }
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
  // The change log read so far is in the zones' pending names now.
  if (change_cursor_ > changes_forgotten_) {
    if (auto r = store_.forget_zone_changes(change_cursor_); !r)
      return r;
    changes_forgotten_ = change_cursor_;
  }
  return {};
}

} // namespace moat::dnsd
