#include "signer/key_rollover.hpp"

#include "core/derived_records.hpp"

#include <algorithm>
#include <cstdlib>

namespace moat::signer {
namespace {

bool is_live(const KeyRecord& k) { return k.state != "removed"; }

std::string tag(const KeyRecord& k) { return std::to_string(k.key_tag); }

std::string tags(const std::vector<const KeyRecord*>& keys) {
  std::string out;
  for (const KeyRecord* k : keys)
    out += (out.empty() ? "" : ", ") + k->role + " " + tag(*k);
  return out;
}

// The state of a domain's keys, with the times each state became visible.
class KeyView {
public:
  KeyView(Store& store, const Domain& d, std::vector<KeyRecord> keys)
      : store_(store), domain_(d), keys_(std::move(keys)) {}

  std::vector<const KeyRecord*> live(const char* role = nullptr) const {
    std::vector<const KeyRecord*> out;
    for (const KeyRecord& k : keys_)
      if (is_live(k) && (role == nullptr || k.role == role))
        out.push_back(&k);
    return out;
  }

  /// When `k`'s current state was first served (nullopt: not served yet). Keys from before
  /// schema 7 carry no serial: their state is as old as their last date.
  Result<std::optional<UnixTime>> visible_since(const KeyRecord& k) const {
    if (!k.state_serial)
      return std::optional<UnixTime>(
          std::max({k.created, k.published_at.value_or(0), k.active_at.value_or(0),
                    k.retired_at.value_or(0), k.removed_at.value_or(0)}));
    return store_.published_since(domain_.id, *k.state_serial);
  }

  const std::vector<KeyRecord>& all() const { return keys_; }

private:
  Store& store_;
  const Domain& domain_;
  std::vector<KeyRecord> keys_;
};

KeyRecord with_state(const KeyRecord& k, const char* state, UnixTime now) {
  KeyRecord out = k;
  out.state = state;
  const std::string s = state;
  if (s == "published")
    out.published_at = now;
  else if (s == "active") {
    if (!out.published_at || k.state == "presigning")
      out.published_at = now;
    if (!out.active_at)
      out.active_at = now;
  } else if (s == "retired")
    out.retired_at = now;
  else if (s == "postsigning")
    out.removed_at = now; // leaves the DNSKEY RRset, keeps signing
  else if (s == "removed") {
    if (!out.retired_at || k.state == "postsigning")
      out.retired_at = now;
    if (!out.removed_at)
      out.removed_at = now;
  }
  return out;
}

class Planner {
public:
  Planner(const Domain& d, const KeyView& view, const KeyTimings& t, UnixTime now, KeyPlan& plan)
      : d_(d), view_(view), t_(t), now_(now), plan_(plan) {}

  // The step `what` (moving `changes`) is due once `wait` seconds have passed since `key`'s
  // current state was served; otherwise it is recorded as waiting.
  Result<void> after_served(const KeyRecord& key, std::uint32_t wait, std::string what,
                            std::vector<KeyRecord> changes, const std::string& why) {
    auto since = view_.visible_since(key);
    if (!since)
      return std::unexpected(since.error());
    if (!*since) {
      plan_.waiting.push_back({d_.name.to_string(), "key " + tag(key), std::move(what),
                               "moat-dnsd to serve " + d_.name.to_string() + " serial " +
                                   std::to_string(*key.state_serial),
                               std::nullopt});
      return {};
    }
    return after(**since + wait, std::move(what), std::move(changes), why);
  }

  Result<void> after(UnixTime at, std::string what, std::vector<KeyRecord> changes,
                     const std::string& why) {
    if (now_ >= at) {
      plan_.changes = std::move(changes);
      plan_.due = std::move(what);
    } else {
      plan_.waiting.push_back({d_.name.to_string(), "keys", std::move(what), why, at});
    }
    return {};
  }

  Result<void> algorithm_rollover() {
    plan_.rollover = "algorithm";
    std::vector<const KeyRecord*> fresh, old;
    for (const KeyRecord* k : view_.live())
      (k->algorithm == d_.algorithm ? fresh : old).push_back(k);
    const KeyRecord* new_ksk = nullptr;
    for (const KeyRecord* k : fresh)
      if (is_sep(*k))
        new_ksk = k;
    if (fresh.empty() || new_ksk == nullptr)
      return fail(d_.name.to_string() + ": algorithm rollover without new keys");
    auto move_all = [&](const std::vector<const KeyRecord*>& keys, const char* state) {
      std::vector<KeyRecord> out;
      for (const KeyRecord* k : keys)
        out.push_back(with_state(*k, state, now_));
      return out;
    };
    const bool fresh_presigning =
        std::ranges::any_of(fresh, [](const KeyRecord* k) { return k->state == "presigning"; });
    if (fresh_presigning)
      return after_served(
          *fresh.front(), kPropagation + t_.max_zone_ttl,
          "publish the new " + algorithm_name(static_cast<Algorithm>(d_.algorithm)) + " DNSKEYs (" +
              tags(fresh) + ")",
          move_all(fresh, "active"), "every cached RRset to carry the new algorithm's signatures");
    if (new_ksk->ds_state.empty()) {
      KeyRecord k = *new_ksk;
      k.ds_state = "submit";
      return after_served(*new_ksk, kPropagation + t_.dnskey_ttl,
                          "ask the parent for the DS of KSK " + tag(*new_ksk), {k},
                          "every cached DNSKEY RRset to hold the new keys");
    }
    if (new_ksk->ds_state == "submit")
      return wait_for_ds(*new_ksk);
    const bool old_active =
        std::ranges::any_of(old, [](const KeyRecord* k) { return k->state != "postsigning"; });
    auto seen = ds_seen_at(*new_ksk);
    if (!seen)
      return wait_for_ds(*new_ksk);
    if (old_active)
      return after(*seen + t_.parent_ds_ttl + kParentPropagation,
                   "withdraw the old DNSKEYs (" + tags(old) + "); they keep signing a while",
                   move_all(old, "postsigning"), "the old DS to expire from caches");
    return after_served(*old.front(), kPropagation + t_.dnskey_ttl,
                        "stop signing with the old algorithm (" + tags(old) + ")",
                        move_all(old, "removed"),
                        "every cached DNSKEY RRset with the old algorithm to expire");
  }

  // A KSK or CSK rollover (`role`).
  Result<void> sep_rollover(const std::vector<const KeyRecord*>& ksks, const std::string& role) {
    plan_.rollover = role;
    // A new CSK signs everything from the start; data signed by the old CSK alone must be gone
    // from caches too before a validator may hold only the new DS.
    const std::uint32_t settle =
        role == "csk" ? std::max(t_.dnskey_ttl, t_.max_zone_ttl) : t_.dnskey_ttl;
    const KeyRecord* fresh = *std::ranges::max_element(
        ksks, [](const KeyRecord* a, const KeyRecord* b) { return a->id < b->id; });
    std::vector<const KeyRecord*> old;
    for (const KeyRecord* k : ksks)
      if (k != fresh)
        old.push_back(k);
    if (fresh->ds_state.empty()) {
      KeyRecord k = *fresh;
      k.ds_state = "submit";
      return after_served(*fresh, kPropagation + settle,
                          "ask the parent for the DS of " + role + " " + tag(*fresh), {k},
                          "every cached DNSKEY RRset to hold the new " + role);
    }
    if (fresh->ds_state == "submit")
      return wait_for_ds(*fresh);
    auto seen = ds_seen_at(*fresh);
    if (!seen)
      return wait_for_ds(*fresh);
    std::vector<KeyRecord> removed;
    for (const KeyRecord* k : old)
      removed.push_back(with_state(*k, "removed", now_));
    return after(*seen + t_.parent_ds_ttl + kParentPropagation,
                 "remove the old " + role + " (" + tags(old) + ")", std::move(removed),
                 "the old DS to expire from caches");
  }

  Result<void> zsk_rollover(const std::vector<const KeyRecord*>& zsks) {
    plan_.rollover = "zsk";
    std::vector<const KeyRecord*> published, active, retired;
    for (const KeyRecord* k : zsks)
      (k->state == "published" ? published : k->state == "retired" ? retired : active).push_back(k);
    if (!published.empty()) {
      std::vector<KeyRecord> changes{with_state(*published.front(), "active", now_)};
      for (const KeyRecord* k : active)
        changes.push_back(with_state(*k, "retired", now_));
      return after_served(*published.front(), kPropagation + t_.dnskey_ttl,
                          "sign with the new ZSK " + tag(*published.front()) + " and retire " +
                              tags(active),
                          std::move(changes), "every cached DNSKEY RRset to hold the new ZSK");
    }
    if (!retired.empty()) {
      std::vector<KeyRecord> changes;
      for (const KeyRecord* k : retired)
        changes.push_back(with_state(*k, "removed", now_));
      return after_served(*retired.front(), kPropagation + t_.max_zone_ttl,
                          "remove the retired " + tags(retired), std::move(changes),
                          "every cached signature of the old ZSK to expire");
    }
    return fail(d_.name.to_string() + ": more than one active ZSK and no rollover step");
  }

  // No rollover under way: start one when a key has lived its lifetime. A ZSK starts early by
  // its pre-publication interval, so that it is replaced when its lifetime ends.
  void lifetimes() {
    for (const KeyRecord* k : view_.live()) {
      if (k->state != "active" || !k->active_at)
        continue;
      if (k->role == "zsk" && d_.zsk_lifetime > 0 &&
          now_ + kPropagation + t_.dnskey_ttl >= *k->active_at + d_.zsk_lifetime)
        plan_.start = RolloverKind::kZsk;
      // A KSK whose DS was never confirmed is not rolled by itself: the rollover would wait
      // at the parent step for ever, and hold back every ZSK rollover meanwhile.
      if (is_sep(*k) && k->ds_state == "seen" && d_.ksk_lifetime > 0 &&
          now_ >= *k->active_at + d_.ksk_lifetime)
        plan_.start = k->role == "csk" ? RolloverKind::kCsk : RolloverKind::kKsk;
    }
    if (!plan_.start) {
      UnixTime next = 0;
      std::string what;
      for (const KeyRecord* k : view_.live()) {
        if (k->state != "active" || !k->active_at)
          continue;
        UnixTime at = 0;
        if (k->role == "zsk" && d_.zsk_lifetime > 0)
          at = *k->active_at + d_.zsk_lifetime - kPropagation - t_.dnskey_ttl;
        else if (is_sep(*k) && k->ds_state == "seen" && d_.ksk_lifetime > 0)
          at = *k->active_at + d_.ksk_lifetime;
        if (at > 0 && (next == 0 || at < next)) {
          next = at;
          what = k->role + " rollover (key " + tag(*k) + " reaches its lifetime)";
        }
      }
      if (next > 0)
        plan_.scheduled = PendingStep{d_.name.to_string(), "keys", what, "the key lifetime", next};
    }
  }

private:
  // When the admin confirmed the DS of the rollover's new key; nothing when its DS is not
  // confirmed (a confirmation of an older key withdrew it): the rollover waits for it again.
  static std::optional<UnixTime> ds_seen_at(const KeyRecord& k) {
    if (k.ds_state == "seen" && k.ds_seen_at)
      return *k.ds_seen_at;
    return std::nullopt;
  }

  Result<void> wait_for_ds(const KeyRecord& k) {
    plan_.waiting.push_back({d_.name.to_string(), "key " + tag(k),
                             "remove the old keys once the parent's DS has changed",
                             "the admin to add the DS of " + k.role + " " + tag(k) +
                                 " at the registrar and, once the parent serves it, run: "
                                 "moat key ds-seen " +
                                 d_.name.to_string() + " " + tag(k),
                             std::nullopt});
    return {};
  }

  const Domain& d_;
  const KeyView& view_;
  const KeyTimings& t_;
  UnixTime now_;
  KeyPlan& plan_;
};

// Writes `changes` (and `fresh` new keys) in one transaction with a new serial that carries
// them; an optional domain update first (a new algorithm).
Result<void> commit_keys(Store& store, const Domain& d, std::vector<KeyRecord> changes,
                         std::vector<KeyRecord> fresh, const Domain* updated, UnixTime now,
                         std::string_view actor, std::string_view action,
                         const std::string& detail) {
  return store.transaction([&]() -> Result<void> {
    if (updated != nullptr)
      if (auto r = store.update_domain(*updated); !r)
        return r;
    auto serial = store.touch_domain(d.id, now);
    if (!serial)
      return std::unexpected(serial.error());
    for (KeyRecord& k : changes) {
      k.state_serial = *serial;
      if (auto r = store.update_key_state(k); !r)
        return r;
    }
    for (KeyRecord& k : fresh) {
      k.domain_id = d.id;
      k.state_serial = *serial;
      if (auto r = store.insert_key(k); !r)
        return std::unexpected(r.error());
    }
    if (auto r = store.audit(now, actor, action, d.name.to_string() + ": " + detail); !r)
      return r;
    // Crash injection for the rollover tests: die with every write of the step done but not
    // committed. SQLite's journal must leave the previous state whole.
    if (const char* crash = std::getenv("MOAT_CRASH_POINT");
        crash != nullptr && std::string_view(crash) == "key-step")
      std::abort();
    return Result<void>{};
  });
}

} // namespace

Result<KeyRecord> generate_key_record(Algorithm alg, std::string_view role,
                                      const std::vector<KeyRecord>& existing, UnixTime now) {
  if (role != "ksk" && role != "zsk" && role != "csk")
    return fail("unknown key role '" + std::string(role) + "'");
  for (int attempt = 0; attempt < 16; ++attempt) {
    auto key = SigningKey::generate(alg, role == "zsk" ? kZskFlags : kKskFlags);
    if (!key)
      return std::unexpected(key.error());
    // Distinct key tags keep signatures unambiguous for validators and for the CLI.
    if (std::ranges::any_of(existing,
                            [&](const KeyRecord& k) { return k.key_tag == key->key_tag(); }))
      continue;
    KeyRecord k;
    k.role = std::string(role);
    k.algorithm = static_cast<std::uint8_t>(alg);
    k.key_tag = key->key_tag();
    k.dnskey_rdata = key->dnskey_rdata();
    k.private_pem = key->private_pem();
    k.created = now;
    return k;
  }
  return fail("could not generate a key with an unused key tag");
}

Result<RolloverKind> rollover_kind_from_string(std::string_view text) {
  if (text == "zsk")
    return RolloverKind::kZsk;
  if (text == "ksk")
    return RolloverKind::kKsk;
  if (text == "csk")
    return RolloverKind::kCsk;
  if (text == "algorithm")
    return RolloverKind::kAlgorithm;
  return fail("unknown rollover '" + std::string(text) + "' (zsk, ksk, csk or algorithm)");
}

Result<KeyTimings> key_timings(Store& store, const Domain& d) {
  KeyTimings t;
  t.dnskey_ttl = d.dnskey_ttl;
  t.parent_ds_ttl = d.parent_ds_ttl;
  auto records = desired_records(store, d);
  if (!records)
    return std::unexpected(records.error());
  t.max_zone_ttl = std::max({d.soa.ttl, d.dnskey_ttl, d.soa.minimum});
  for (const Rr& rr : *records)
    t.max_zone_ttl = std::max(t.max_zone_ttl, rr.ttl);
  // A TTL lowered (or a record deleted) since does not shorten what caches hold: the longest
  // TTL of every version served lately counts too.
  auto served = store.max_published_ttl(d.id);
  if (!served)
    return std::unexpected(served.error());
  t.max_zone_ttl = std::max(t.max_zone_ttl, *served);
  return t;
}

Result<KeyPlan> plan_keys(Store& store, const Domain& d, UnixTime now) {
  auto keys = store.keys(d.id);
  if (!keys)
    return std::unexpected(keys.error());
  auto timings = key_timings(store, d);
  if (!timings)
    return std::unexpected(timings.error());
  KeyPlan plan;
  KeyView view(store, d, std::move(*keys));
  Planner planner(d, view, *timings, now, plan);

  // The newest SEP key: a rollover's new key, whose DS must not stay withdrawn.
  std::int64_t newest_sep = 0;
  for (const KeyRecord& k : view.all())
    if (is_sep(k) && is_live(k))
      newest_sep = std::max(newest_sep, k.id);
  for (const KeyRecord& k : view.all()) {
    if (is_sep(k) && is_live(k) &&
        (k.ds_state == "submit" || (k.ds_state == "withdrawn" && k.id == newest_sep))) {
      plan.ds_to_add.push_back(k);
      continue;
    }
    // An old DS may go once it is withdrawn; say so for a month after the key left.
    if (is_sep(k) && k.ds_state == "withdrawn" &&
        (!k.removed_at || now < *k.removed_at + 30 * 86400))
      plan.ds_to_remove.push_back(k);
  }

  const auto live = view.live();
  const bool mixed_algorithms =
      std::ranges::any_of(live, [&](const KeyRecord* k) { return k->algorithm != d.algorithm; });
  Result<void> r;
  if (mixed_algorithms)
    r = planner.algorithm_rollover();
  else if (auto ksks = view.live("ksk"); ksks.size() > 1)
    r = planner.sep_rollover(ksks, "ksk");
  else if (auto csks = view.live("csk"); csks.size() > 1)
    r = planner.sep_rollover(csks, "csk");
  else if (auto zsks = view.live("zsk"); zsks.size() > 1)
    r = planner.zsk_rollover(zsks);
  else
    planner.lifetimes();
  if (!r)
    return std::unexpected(r.error());
  return plan;
}

Result<std::string> start_rollover(Store& store, const Domain& d, RolloverKind kind,
                                   std::optional<Algorithm> algorithm, UnixTime now,
                                   std::string_view actor) {
  auto plan = plan_keys(store, d, now);
  if (!plan)
    return std::unexpected(plan.error());
  if (!plan->rollover.empty())
    return fail(d.name.to_string() + ": a " + plan->rollover +
                " rollover is under way; it must finish first (moat status " + d.name.to_string() +
                ")");
  auto keys = store.keys(d.id);
  if (!keys)
    return std::unexpected(keys.error());
  const auto current_alg = static_cast<Algorithm>(d.algorithm);
  std::vector<KeyRecord> fresh;
  Domain updated = d;
  std::string detail;
  auto make = [&](Algorithm alg, const char* role, const char* state) -> Result<void> {
    std::vector<KeyRecord> taken = *keys;
    taken.insert(taken.end(), fresh.begin(), fresh.end());
    auto k = generate_key_record(alg, role, taken, now);
    if (!k)
      return std::unexpected(k.error());
    KeyRecord rec = with_state(*k, state, now);
    fresh.push_back(std::move(rec));
    return {};
  };
  // A domain signs with a KSK and a ZSK, or with one CSK; each is rolled as what it is.
  const bool uses_csk =
      std::ranges::any_of(*keys, [](const KeyRecord& k) { return k.role == "csk" && is_live(k); });
  const std::string signs_with = uses_csk ? " signs with a CSK: roll it with 'csk'"
                                          : " signs with a KSK and a ZSK, not a CSK: roll them "
                                            "with 'ksk' and 'zsk'";
  Result<void> made;
  switch (kind) {
  case RolloverKind::kCsk:
    if (!uses_csk)
      return fail(d.name.to_string() + signs_with);
    made = make(current_alg, "csk", "active");
    detail = "CSK rollover: new CSK published, signing everything beside the old";
    break;
  case RolloverKind::kZsk:
    if (uses_csk)
      return fail(d.name.to_string() + signs_with);
    made = make(current_alg, "zsk", "published");
    detail = "ZSK rollover: new ZSK published, not signing yet";
    break;
  case RolloverKind::kKsk:
    if (uses_csk)
      return fail(d.name.to_string() + signs_with);
    made = make(current_alg, "ksk", "active");
    detail = "KSK rollover: new KSK published, signing the DNSKEY RRset beside the old";
    break;
  case RolloverKind::kAlgorithm:
    if (!algorithm)
      return fail("an algorithm rollover needs --algorithm");
    if (*algorithm == current_alg)
      return fail(d.name.to_string() + " already signs with " + algorithm_name(*algorithm));
    updated.algorithm = static_cast<std::uint8_t>(*algorithm);
    made = make(*algorithm, uses_csk ? "csk" : "ksk", "presigning");
    if (made && !uses_csk)
      made = make(*algorithm, "zsk", "presigning");
    detail = "algorithm rollover to " + algorithm_name(*algorithm) +
             ": new keys sign everything, published later";
    break;
  }
  if (!made)
    return std::unexpected(made.error());
  std::vector<const KeyRecord*> fresh_ptrs;
  for (const KeyRecord& k : fresh)
    fresh_ptrs.push_back(&k);
  detail += " (" + tags(fresh_ptrs) + ")";
  if (auto r =
          commit_keys(store, d, {}, fresh, kind == RolloverKind::kAlgorithm ? &updated : nullptr,
                      now, actor, "key rollover", detail);
      !r)
    return std::unexpected(r.error());
  return detail;
}

Result<std::string> confirm_ds(Store& store, const Domain& d, std::uint16_t key_tag, UnixTime now,
                               std::string_view actor) {
  auto keys = store.keys(d.id);
  if (!keys)
    return std::unexpected(keys.error());
  auto it = std::ranges::find_if(
      *keys, [&](const KeyRecord& k) { return k.key_tag == key_tag && is_sep(k) && is_live(k); });
  if (it == keys->end())
    return fail(d.name.to_string() + " has no KSK with key tag " + std::to_string(key_tag) +
                " (moat key list " + d.name.to_string() + ")");
  if (it->ds_state == "seen")
    return fail("the DS of KSK " + std::to_string(key_tag) + " is already confirmed");
  if (it->ds_state != "submit" && it->ds_state != "withdrawn")
    return fail("KSK " + std::to_string(key_tag) +
                " is not ready for its DS yet: adding it now could break validation; "
                "moat status " +
                d.name.to_string() + " says when it is");
  std::vector<KeyRecord> changes;
  KeyRecord confirmed = *it;
  confirmed.ds_state = "seen";
  confirmed.ds_seen_at = now;
  changes.push_back(confirmed);
  std::string withdrawn;
  for (const KeyRecord& k : *keys)
    // Only the keys this one replaces: an older key confirmed late must not withdraw the DS of
    // the key a rollover is bringing in.
    if (&k != &*it && k.id < it->id && is_sep(k) && is_live(k) &&
        (k.ds_state == "seen" || k.ds_state == "submit")) {
      KeyRecord w = k;
      w.ds_state = "withdrawn";
      changes.push_back(w);
      withdrawn += (withdrawn.empty() ? "" : ", ") + std::to_string(k.key_tag);
    }
  // The state_serial of these keys stays: their rollover waits are counted from what they
  // were, the DS confirmation from ds_seen_at.
  auto tx = store.transaction([&]() -> Result<void> {
    if (auto s = store.touch_domain(d.id, now); !s)
      return std::unexpected(s.error());
    for (const KeyRecord& k : changes)
      if (auto r = store.update_key_state(k); !r)
        return r;
    return store.audit(now, actor, "key ds-seen",
                       d.name.to_string() + ": DS of KSK " + std::to_string(key_tag) +
                           " confirmed at the parent");
  });
  if (!tx)
    return std::unexpected(tx.error());
  std::string line = "DS of KSK " + std::to_string(key_tag) + " of " + d.name.to_string() +
                     " confirmed at the parent";
  if (!withdrawn.empty())
    line += "; the DS of " + withdrawn +
            " is withdrawn from CDS and may be removed at the "
            "registrar";
  return line;
}

Result<std::vector<std::string>> tick_keys(Store& store, UnixTime now, std::string_view actor) {
  std::vector<std::string> done;
  auto domains = store.list_domains();
  if (!domains)
    return std::unexpected(domains.error());
  for (const Domain& d : *domains) {
    auto plan = plan_keys(store, d, now);
    if (!plan) {
      done.push_back("error: " + plan.error().message);
      continue;
    }
    if (!plan->changes.empty()) {
      if (auto r = commit_keys(store, d, plan->changes, {}, nullptr, now, actor, "tick", plan->due);
          !r)
        done.push_back("error: " + d.name.to_string() + ": " + r.error().message);
      else
        done.push_back(d.name.to_string() + ": " + plan->due);
    } else if (plan->start) {
      auto r = start_rollover(store, d, *plan->start, std::nullopt, now, actor);
      done.push_back(r ? d.name.to_string() + ": " + *r
                       : "error: " + d.name.to_string() + ": " + r.error().message);
    }
  }
  return done;
}

std::vector<PendingStep> key_steps(const Domain& d, const KeyPlan& plan, UnixTime now) {
  std::vector<PendingStep> out = plan.waiting;
  if (!plan.changes.empty())
    out.insert(out.begin(), {d.name.to_string(), "keys", plan.due, "moat tick", now});
  return out;
}

} // namespace moat::signer
