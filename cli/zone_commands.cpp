// moat zone import | export
#include "cli/commands.hpp"
#include "cli/input.hpp"
#include "cli/key_info.hpp"
#include "cli/output.hpp"
#include "cli/provision.hpp"
#include "core/derived_records.hpp"
#include "core/zone_rules.hpp"
#include "signer/key.hpp"
#include "signer/zone_signer.hpp"
#include "signer/zone_source.hpp"

#include <algorithm>
#include <memory>
#include <optional>
#include <tuple>

namespace moat::cli {
namespace {

struct ImportOptions {
  std::string domain;
  std::string file;
  std::string algorithm = "ecdsap256";
  bool algorithm_given = false;
  bool nsec3 = false;
};

struct ExportOptions {
  std::string domain;
  bool sign = false;
};

/// The fields of SOA RDATA (RFC 1035 §3.3.13).
struct SoaData {
  Name mname, rname;
  std::uint32_t serial = 0, refresh = 0, retry = 0, expire = 0, minimum = 0;
};

// Length of the uncompressed wire name at the start of `wire`, or nothing when malformed.
std::optional<std::size_t> wire_name_length(std::span<const std::uint8_t> wire) {
  std::size_t i = 0;
  while (i < wire.size()) {
    std::uint8_t len = wire[i];
    if (len == 0)
      return i + 1;
    if (len > 63)
      return std::nullopt; // a compression pointer or a reserved label type
    i += len + 1;
  }
  return std::nullopt;
}

Result<SoaData> parse_soa(std::span<const std::uint8_t> rdata) {
  SoaData soa;
  std::size_t pos = 0;
  for (Name* name : {&soa.mname, &soa.rname}) {
    auto len = wire_name_length(rdata.subspan(pos));
    if (!len)
      return fail("malformed SOA RDATA");
    auto parsed = Name::from_wire(rdata.subspan(pos, *len));
    if (!parsed)
      return fail("malformed SOA RDATA: " + parsed.error().message);
    *name = parsed->lowercased();
    pos += *len;
  }
  if (rdata.size() - pos != 20)
    return fail("malformed SOA RDATA");
  for (std::uint32_t* field : {&soa.serial, &soa.refresh, &soa.retry, &soa.expire, &soa.minimum}) {
    *field = std::uint32_t{rdata[pos]} << 24 | std::uint32_t{rdata[pos + 1]} << 16 |
             std::uint32_t{rdata[pos + 2]} << 8 | std::uint32_t{rdata[pos + 3]};
    pos += 4;
  }
  return soa;
}

// RFC 1982: a is greater than b.
bool serial_greater(std::uint32_t a, std::uint32_t b) {
  std::uint32_t diff = a - b;
  return diff != 0 && diff < 0x80000000u;
}

void apply_soa(Domain& d, const SoaData& soa, std::uint32_t soa_ttl) {
  d.soa.mname = soa.mname;
  d.soa.rname = soa.rname;
  d.soa.refresh = soa.refresh;
  d.soa.retry = soa.retry;
  d.soa.expire = soa.expire;
  d.soa.minimum = soa.minimum;
  d.soa.ttl = soa_ttl;
}

/// What a zone file holds, as moat will store it.
struct ImportedZone {
  Rr soa;
  SoaData soa_data;
  std::vector<Rr> records; ///< everything but the SOA and DNSSEC records, without duplicates
  std::size_t skipped = 0; ///< DNSSEC records left out
};

ImportedZone read_zone_file(const std::string& file, const Name& apex) {
  ZoneFile zone = unwrap(parse_zone_file(file, apex));
  ImportedZone out;
  bool have_soa = false;
  for (Rr& rr : zone.records) {
    if (rr.type == rrtype::SOA) {
      if (rr.owner != apex)
        throw CliError(file + ": SOA record at " + rr.owner.to_string() + ", not at the apex " +
                       apex.to_string());
      if (have_soa)
        throw CliError(file + ": more than one SOA record");
      have_soa = true;
      out.soa = std::move(rr);
    } else if (is_dnssec_type(rr.type)) {
      ++out.skipped;
    } else {
      out.records.push_back(std::move(rr));
    }
  }
  // An identical record twice is one record, as name servers load it. (Records that differ
  // only in TTL stay, for check_zone to report.)
  std::ranges::sort(out.records, [](const Rr& a, const Rr& b) {
    return std::tie(a.owner, a.type, a.rdata, a.ttl) < std::tie(b.owner, b.type, b.rdata, b.ttl);
  });
  auto dup = std::ranges::unique(out.records);
  out.records.erase(dup.begin(), dup.end());
  if (!have_soa)
    throw CliError(file + ": no SOA record at the apex " + apex.to_string());
  auto soa = parse_soa(out.soa.rdata);
  if (!soa)
    throw CliError(file + ": " + soa.error().message);
  out.soa_data = std::move(*soa);
  if (auto ok = check_zone(apex, out.records); !ok)
    throw CliError(file + ": " + ok.error().message);
  return out;
}

void run_zone_import(const Context& ctx, const ImportOptions& o) {
  const UnixTime now = ctx.clock->now();
  Name apex = parse_domain_name(o.domain);
  auto alg = unwrap(signer::algorithm_from_string(o.algorithm));
  ImportedZone zone = read_zone_file(o.file, apex);
  if (zone.skipped > 0)
    print_notice("skipped " + std::to_string(zone.skipped) +
                 " DNSSEC records (DNSKEY, RRSIG, NSEC, ...): moat signs the zone itself");

  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  std::optional<Domain> existing = unwrap(store.find_domain(apex));
  Domain d;
  std::vector<KeyRecord> keys;
  std::string detail;
  if (!existing) {
    d.name = apex;
    apply_soa(d, zone.soa_data, zone.soa.ttl);
    d.serial = zone.soa_data.serial;
    d.algorithm = static_cast<std::uint8_t>(alg);
    d.nsec3 = o.nsec3;
    d.created = now;
    detail = o.file + ": " + std::to_string(zone.records.size()) + " records, new domain, serial " +
             std::to_string(d.serial);
    keys = create_domain(ctx, store, d, zone.records, now, "zone import", detail);
  } else {
    if (o.algorithm_given && static_cast<std::uint8_t>(alg) != existing->algorithm)
      throw CliError("domain " + apex.to_string() + " already signs with " +
                     algorithm_label(existing->algorithm) +
                     "; --algorithm applies only when the import creates the domain");
    ctx.commit(store, now, "zone import", detail, [&]() -> Result<void> {
      // Re-read inside the transaction: the row is what this import replaces.
      auto current = store.find_domain(apex);
      if (!current)
        return std::unexpected(current.error());
      if (!*current)
        return fail("no domain " + apex.to_string());
      d = std::move(**current);
      apply_soa(d, zone.soa_data, zone.soa.ttl);
      d.nsec3 = d.nsec3 || o.nsec3;
      // The serial must move forward for secondaries: the file's, if it is ahead.
      std::uint32_t next = d.serial + 1;
      d.serial = serial_greater(zone.soa_data.serial, next) ? zone.soa_data.serial : next;
      detail = o.file + ": " + std::to_string(zone.records.size()) + " records, serial " +
               std::to_string(d.serial);
      if (auto r = store.delete_all_records(d.id); !r)
        return r;
      for (const Rr& rr : zone.records) {
        if (auto r = store.insert_record(d.id, rr); !r)
          return std::unexpected(r.error());
      }
      // touch_domain bumps the version the daemons poll; update_domain then sets the serial
      // chosen above (touch_domain would pick its own).
      if (auto r = store.touch_domain(d.id, now); !r)
        return std::unexpected(r.error());
      return store.update_domain(d);
    });
  }

  if (ctx.json) {
    print_json({{"ok", true},
                {"action", "zone import"},
                {"domain", apex.to_string()},
                {"created", !existing},
                {"records", zone.records.size()},
                {"skipped_dnssec", zone.skipped},
                {"serial", d.serial}});
  } else {
    std::string line = "imported " + std::to_string(zone.records.size()) + " records into " +
                       apex.to_string() + " (serial " + std::to_string(d.serial);
    if (!existing)
      line += "; new domain, " + algorithm_label(d.algorithm) + ", " + key_tags_summary(keys);
    print_line(line + ")");
  }
}

void run_zone_export(const Context& ctx, const ExportOptions& o) {
  Name apex = parse_domain_name(o.domain);
  Store store = ctx.open_store(Store::Mode::kOpenExisting);
  Domain d = require_domain(store, apex);
  if (!o.sign) {
    std::vector<Rr> records = unwrap(desired_records(store, d));
    sort_canonical(records);
    print_line("; moat export of " + apex.to_string() + " serial " + std::to_string(d.serial));
    print_line(rr_to_string(signer::soa_record(d)));
    for (const Rr& rr : records)
      print_line(rr_to_string(rr));
    return;
  }
  signer::ZoneSource src = unwrap(signer::load_zone_source(store, d));
  signer::ZoneSigner zone_signer;
  signer::SignedZone zone =
      unwrap(zone_signer.sign(src.content, src.key_set(), src.policy, ctx.clock->now()));
  std::string text = signer::master_file_text(zone);
  text.pop_back(); // print_line adds the last newline
  print_line(text);
}

} // namespace

void add_zone_commands(CLI::App& app, Context& ctx) {
  CLI::App* zone = app.add_subcommand("zone", "Import and export whole zones");
  zone->require_subcommand(1);

  auto import_opts = std::make_shared<ImportOptions>();
  CLI::App* import = zone->add_subcommand(
      "import", "Replace a domain's records with a master file's (creating the domain if new)");
  import->add_option("DOMAIN", import_opts->domain, "The domain")->required();
  import->add_option("FILE", import_opts->file, "RFC 1035 master file")->required();
  CLI::Option* alg =
      import->add_option("--algorithm", import_opts->algorithm,
                         "For a new domain: ecdsap256 (default), ed25519, rsasha256");
  import->add_flag("--nsec3", import_opts->nsec3,
                   "NSEC3 (0 extra iterations, no salt) instead of NSEC");
  on_run(import, ctx, [&ctx, import_opts, alg] {
    import_opts->algorithm_given = alg->count() > 0;
    run_zone_import(ctx, *import_opts);
  });

  auto export_opts = std::make_shared<ExportOptions>();
  CLI::App* exp = zone->add_subcommand("export", "Print the zone as a master file");
  exp->add_option("DOMAIN", export_opts->domain, "The domain")->required();
  exp->add_flag("--signed", export_opts->sign,
                "Sign it: with DNSKEY, CDS, CDNSKEY, RRSIG and NSEC or NSEC3 records");
  on_run(exp, ctx, [&ctx, export_opts] { run_zone_export(ctx, *export_opts); });
}

} // namespace moat::cli
