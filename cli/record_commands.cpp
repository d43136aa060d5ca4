// moat record add | del | list
//
// Every change is planned against the stored records read inside the write transaction, the
// records at the changed name are checked as they will be with the rules of check_zone (all of
// which concern one name, but the apex's NS), and only then is anything written.
#include "cli/commands.hpp"
#include "cli/input.hpp"
#include "cli/output.hpp"
#include "core/zone_rules.hpp"

#include <algorithm>
#include <memory>
#include <optional>

namespace moat::cli {
namespace {

constexpr std::uint32_t kDefaultTtl = 3600;

struct RecordOptions {
  std::string domain;
  std::string owner;
  std::string type;
  std::vector<std::string> rdata;
  std::uint32_t ttl = kDefaultTtl;
  bool ttl_given = false;
};

bool same_rrset(const Rr& a, const Name& owner, std::uint16_t type) {
  return a.owner == owner && a.type == type;
}

// SOA, DNSSEC and meta types are refused with check_record's explanation before their RDATA
// is looked at, so the message says why rather than "bad RDATA".
void require_data_type(const Name& apex, const Name& owner, std::uint16_t type) {
  if (type == rrtype::SOA || is_dnssec_type(type) || is_meta_type(type))
    unwrap(check_record(apex, Rr{owner, type, 0, {}}));
}

// The rules of check_zone for a change at `owner`, given every record there as it will be:
// the other names are untouched, and only the apex holds the NS the zone needs.
Result<void> check_change(const Name& apex, const Name& owner, std::span<const Rr> at_owner) {
  return owner == apex ? check_zone(apex, at_owner) : check_names(apex, at_owner);
}

// The record to add with its TTL settled, checked with the records at its name as they will be.
Result<Rr> plan_add(Store& store, const Domain& d, const RecordOptions& o, Rr rr) {
  auto records = store.records_at(d.id, rr.owner);
  if (!records)
    return std::unexpected(records.error());
  auto existing =
      std::ranges::find_if(*records, [&](const Rr& r) { return same_rrset(r, rr.owner, rr.type); });
  // One TTL per RRset (RFC 2181 §5.2): without --ttl a new member takes the RRset's TTL; with
  // --ttl the whole RRset takes the new one (as Store::insert_record does).
  rr.ttl = o.ttl_given || existing == records->end() ? o.ttl : existing->ttl;
  for (Rr& r : *records) {
    if (!same_rrset(r, rr.owner, rr.type))
      continue;
    if (r.rdata == rr.rdata)
      return fail("record already exists: " + record_summary(r));
    r.ttl = rr.ttl;
  }
  records->push_back(rr);
  if (auto ok = check_change(d.name, rr.owner, *records); !ok)
    return std::unexpected(ok.error());
  return rr;
}

void run_record_add(const Context& ctx, const RecordOptions& o) {
  const UnixTime now = ctx.clock->now();
  Name apex = parse_domain_name(o.domain);
  Name owner = parse_owner(o.owner, apex);
  std::uint16_t type = parse_type(o.type);
  require_data_type(apex, owner, type);
  Rr rr{owner, type, o.ttl, parse_rdata_words(type, o.rdata, apex)};
  unwrap(check_record(apex, rr));

  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  Domain d = require_domain(store, apex);
  std::string detail;
  ctx.commit(store, now, "record add", detail, [&]() -> Result<void> {
    auto planned = plan_add(store, d, o, rr);
    if (!planned)
      return std::unexpected(planned.error());
    rr = std::move(*planned);
    detail = rr_to_string(rr);
    auto inserted = store.insert_record(d.id, rr);
    if (!inserted)
      return std::unexpected(inserted.error());
    if (!*inserted)
      return fail("record already exists: " + record_summary(rr));
    if (auto t = store.touch_domain(d.id, now); !t)
      return std::unexpected(t.error());
    return {};
  });
  if (ctx.json)
    print_json({{"ok", true}, {"action", "record add"}, {"record", record_json(rr)}});
  else
    print_line("added " + record_summary(rr));
}

void run_record_del(const Context& ctx, const RecordOptions& o) {
  const UnixTime now = ctx.clock->now();
  Name apex = parse_domain_name(o.domain);
  Name owner = parse_owner(o.owner, apex);
  std::uint16_t type = parse_type(o.type);
  require_data_type(apex, owner, type);
  std::optional<std::vector<std::uint8_t>> rdata;
  if (!o.rdata.empty())
    rdata = parse_rdata_words(type, o.rdata, apex);

  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  Domain d = require_domain(store, apex);
  std::vector<Rr> removed;
  std::string detail;
  ctx.commit(store, now, "record del", detail, [&]() -> Result<void> {
    auto records = store.records_at(d.id, owner);
    if (!records)
      return std::unexpected(records.error());
    std::vector<Rr> kept;
    for (Rr& r : *records) {
      bool match = same_rrset(r, owner, type) && (!rdata || r.rdata == *rdata);
      (match ? removed : kept).push_back(std::move(r));
    }
    if (removed.empty()) {
      std::string what = owner.to_string() + " " + type_to_string(type);
      if (rdata)
        what += " " + rdata_to_string(type, *rdata);
      return fail("no such record: " + what);
    }
    // Refuses, among others, removing the last NS at the apex.
    if (auto ok = check_change(apex, owner, kept); !ok)
      return ok;
    sort_canonical(removed);
    for (const Rr& r : removed)
      detail += (detail.empty() ? "" : "\n") + rr_to_string(r);
    auto n = store.delete_records(d.id, owner, type, rdata ? &*rdata : nullptr);
    if (!n)
      return std::unexpected(n.error());
    if (auto t = store.touch_domain(d.id, now); !t)
      return std::unexpected(t.error());
    return {};
  });

  if (ctx.json) {
    Json j = {{"ok", true}, {"action", "record del"}, {"deleted", Json::array()}};
    for (const Rr& r : removed)
      j["deleted"].push_back(record_json(r));
    print_json(j);
  } else if (removed.size() == 1) {
    print_line("deleted " + record_summary(removed.front()));
  } else {
    print_line("deleted " + std::to_string(removed.size()) + " records at " + owner.to_string() +
               " " + type_to_string(type));
  }
}

void run_record_list(const Context& ctx, const std::string& domain_text) {
  Name apex = parse_domain_name(domain_text);
  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  Domain d = require_domain(store, apex);
  std::vector<Rr> records = unwrap(store.records(d.id));
  sort_canonical(records);
  if (ctx.json) {
    Json arr = Json::array();
    for (const Rr& r : records)
      arr.push_back(record_json(r));
    print_json(arr);
    return;
  }
  for (const Rr& r : records)
    print_line(rr_to_string(r));
}

} // namespace

void add_record_commands(CLI::App& app, Context& ctx) {
  CLI::App* record = app.add_subcommand("record", "Add, delete and list a domain's records");
  record->require_subcommand(1);

  auto add_opts = std::make_shared<RecordOptions>();
  CLI::App* add = record->add_subcommand("add", "Add a record");
  add->add_option("DOMAIN", add_opts->domain, "The domain")->required();
  add->add_option("OWNER", add_opts->owner, "Owner, relative to the domain ('@' = apex)")
      ->required();
  add->add_option("TYPE", add_opts->type, "Record type (MX, TXT, TLSA, ...)")->required();
  add->add_option("RDATA", add_opts->rdata, "Record data in master-file format")->required();
  CLI::Option* ttl = add->add_option("--ttl", add_opts->ttl,
                                     "TTL in seconds (default 3600, or the RRset's current TTL)");
  on_run(add, ctx, [&ctx, add_opts, ttl] {
    add_opts->ttl_given = ttl->count() > 0;
    run_record_add(ctx, *add_opts);
  });

  auto del_opts = std::make_shared<RecordOptions>();
  CLI::App* del =
      record->add_subcommand("del", "Delete one record (with RDATA) or a whole RRset (without)");
  del->add_option("DOMAIN", del_opts->domain, "The domain")->required();
  del->add_option("OWNER", del_opts->owner, "Owner, relative to the domain ('@' = apex)")
      ->required();
  del->add_option("TYPE", del_opts->type, "Record type")->required();
  del->add_option("RDATA", del_opts->rdata, "Record data of the one record to delete");
  on_run(del, ctx, [&ctx, del_opts] { run_record_del(ctx, *del_opts); });

  auto list_domain = std::make_shared<std::string>();
  CLI::App* list = record->add_subcommand("list", "List a domain's records (SOA excluded)");
  list->add_option("DOMAIN", *list_domain, "The domain")->required();
  on_run(list, ctx, [&ctx, list_domain] { run_record_list(ctx, *list_domain); });
}

} // namespace moat::cli
