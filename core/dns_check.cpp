// Validation with ldns: its resolver asks the one server given (no recursion, DO set, TCP after
// a truncated answer) and its verify functions check signatures and NSEC/NSEC3 denials at the
// time given. Only ldns types inside; the header speaks moat's.
#include "core/dns_check.hpp"

#include <algorithm>
#include <memory>
#include <optional>
// After the standard headers: ldns's headers define bool for C.
#include <ldns/ldns.h>

namespace moat {
namespace {

struct RrListFree {
  void operator()(ldns_rr_list* l) const { ldns_rr_list_deep_free(l); }
};
struct RrListShallowFree {
  void operator()(ldns_rr_list* l) const { ldns_rr_list_free(l); }
};
struct RrFree {
  void operator()(ldns_rr* r) const { ldns_rr_free(r); }
};
struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
struct RdfFree {
  void operator()(ldns_rdf* r) const { ldns_rdf_deep_free(r); }
};
struct ResolverFree {
  void operator()(ldns_resolver* r) const { ldns_resolver_deep_free(r); }
};
using RrList = std::unique_ptr<ldns_rr_list, RrListFree>;
using RrPtr = std::unique_ptr<ldns_rr, RrFree>;
using Pkt = std::unique_ptr<ldns_pkt, PktFree>;
using Rdf = std::unique_ptr<ldns_rdf, RdfFree>;

RrList new_list() { return RrList(ldns_rr_list_new()); }

/// A moat record as an ldns one (through its uncompressed wire form).
RrPtr to_ldns(const Rr& rr) {
  std::vector<std::uint8_t> wire = rr.owner.wire();
  const std::uint8_t fixed[] = {static_cast<std::uint8_t>(rr.type >> 8),
                                static_cast<std::uint8_t>(rr.type),
                                0,
                                1,
                                static_cast<std::uint8_t>(rr.ttl >> 24),
                                static_cast<std::uint8_t>(rr.ttl >> 16),
                                static_cast<std::uint8_t>(rr.ttl >> 8),
                                static_cast<std::uint8_t>(rr.ttl),
                                static_cast<std::uint8_t>(rr.rdata.size() >> 8),
                                static_cast<std::uint8_t>(rr.rdata.size())};
  wire.insert(wire.end(), std::begin(fixed), std::end(fixed));
  wire.insert(wire.end(), rr.rdata.begin(), rr.rdata.end());
  ldns_rr* out = nullptr;
  std::size_t pos = 0;
  if (ldns_wire2rr(&out, wire.data(), wire.size(), &pos, LDNS_SECTION_ANSWER) != LDNS_STATUS_OK)
    return nullptr;
  return RrPtr(out);
}

/// An ldns record as a moat one.
std::optional<Rr> from_ldns(const ldns_rr* rr) {
  ldns_buffer* buf = ldns_buffer_new(512);
  std::optional<Rr> out;
  if (ldns_rr_rdata2buffer_wire(buf, rr) == LDNS_STATUS_OK) {
    const ldns_rdf* owner = ldns_rr_owner(rr);
    auto name = Name::from_wire(
        std::span<const std::uint8_t>(ldns_rdf_data(owner), ldns_rdf_size(owner)));
    if (name) {
      const auto* data = static_cast<const std::uint8_t*>(ldns_buffer_begin(buf));
      out = Rr{*name, static_cast<std::uint16_t>(ldns_rr_get_type(rr)), ldns_rr_ttl(rr),
               std::vector<std::uint8_t>(data, data + ldns_buffer_position(buf))};
    }
  }
  ldns_buffer_free(buf);
  return out;
}

Rdf name_rdf(const Name& name) {
  return Rdf(ldns_dname_new_frm_data(static_cast<std::uint16_t>(name.wire().size()),
                                     name.wire().data()));
}

bool same_name(const ldns_rdf* a, const ldns_rdf* b) { return ldns_dname_compare(a, b) == 0; }

/// The RRSIGs in `list` covering `type` at `owner`.
RrList signatures_of(const ldns_rr_list* list, const ldns_rdf* owner, ldns_rr_type type) {
  RrList out = new_list();
  for (std::size_t i = 0; i < ldns_rr_list_rr_count(list); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(list, i);
    if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_RRSIG && same_name(ldns_rr_owner(rr), owner) &&
        ldns_rdf2rr_type(ldns_rr_rrsig_typecovered(rr)) == type)
      ldns_rr_list_push_rr(out.get(), ldns_rr_clone(rr));
  }
  return out;
}

/// Verifies `rrset` with any of `sigs` made by one of `keys` at `now`; returns the latest
/// expiration among the signatures that hold, or nullopt with `why` set.
std::optional<UnixTime> verify(const ldns_rr_list* rrset, const ldns_rr_list* sigs,
                               const ldns_rr_list* keys, UnixTime now, std::string& why) {
  if (ldns_rr_list_rr_count(sigs) == 0) {
    why = "no RRSIG";
    return std::nullopt;
  }
  std::optional<UnixTime> best;
  for (std::size_t i = 0; i < ldns_rr_list_rr_count(sigs); ++i) {
    const ldns_rr* sig = ldns_rr_list_rr(sigs, i);
    // ldns puts pointers to the keys themselves in this list: free only the list.
    std::unique_ptr<ldns_rr_list, RrListShallowFree> good(ldns_rr_list_new());
    const ldns_status s = ldns_verify_rrsig_keylist_time(rrset, sig, keys, static_cast<time_t>(now),
                                                         good.get());
    if (s != LDNS_STATUS_OK) {
      why = ldns_get_errorstr_by_id(s);
      continue;
    }
    const auto expires =
        static_cast<UnixTime>(ldns_rdf2native_time_t(ldns_rr_rrsig_expiration(sig)));
    best = best ? std::max(*best, expires) : expires;
  }
  return best;
}

} // namespace

struct DnsChecker::Impl {
  std::unique_ptr<ldns_resolver, ResolverFree> resolver;
  RrList keys = new_list(); ///< the zone's validated DNSKEY RRset
  std::vector<std::uint16_t> anchored;
  UnixTime dnskey_expires = 0;
  UnixTime now = 0;

  /// Sends the question; nullptr with `why` when no answer came.
  Pkt ask(const Name& name, std::uint16_t type, std::string& why) {
    Rdf qname = name_rdf(name);
    ldns_pkt* raw = nullptr;
    const ldns_status s = ldns_resolver_send(&raw, resolver.get(), qname.get(),
                                             static_cast<ldns_rr_type>(type), LDNS_RR_CLASS_IN, 0);
    if (s != LDNS_STATUS_OK || raw == nullptr) {
      why = std::string("no answer: ") + ldns_get_errorstr_by_id(s);
      return nullptr;
    }
    return Pkt(raw);
  }

  CheckedAnswer query(const Name& name, std::uint16_t type) {
    CheckedAnswer out;
    Pkt pkt = ask(name, type, out.detail);
    if (!pkt)
      return out;
    const ldns_pkt_rcode rcode = ldns_pkt_get_rcode(pkt.get());
    if (rcode != LDNS_RCODE_NOERROR && rcode != LDNS_RCODE_NXDOMAIN) {
      ldns_lookup_table* lt = ldns_lookup_by_id(ldns_rcodes, static_cast<int>(rcode));
      out.detail = std::string("the server answered ") + (lt ? lt->name : "an error");
      return out;
    }
    Rdf qname = name_rdf(name);
    const ldns_rr_list* answer = ldns_pkt_answer(pkt.get());
    RrList rrset = new_list();
    for (std::size_t i = 0; i < ldns_rr_list_rr_count(answer); ++i) {
      const ldns_rr* rr = ldns_rr_list_rr(answer, i);
      if (ldns_rr_get_type(rr) == static_cast<ldns_rr_type>(type) &&
          same_name(ldns_rr_owner(rr), qname.get()))
        ldns_rr_list_push_rr(rrset.get(), ldns_rr_clone(rr));
    }
    if (rcode == LDNS_RCODE_NOERROR && ldns_rr_list_rr_count(rrset.get()) > 0) {
      RrList sigs = signatures_of(answer, qname.get(), static_cast<ldns_rr_type>(type));
      std::string why;
      auto expires = verify(rrset.get(), sigs.get(), keys.get(), now, why);
      if (!expires) {
        out.status = CheckedAnswer::Status::kBogus;
        out.detail = "signature does not validate: " + why;
        return out;
      }
      for (std::size_t i = 0; i < ldns_rr_list_rr_count(rrset.get()); ++i)
        if (auto r = from_ldns(ldns_rr_list_rr(rrset.get(), i)))
          out.records.push_back(std::move(*r));
      out.status = CheckedAnswer::Status::kSecure;
      out.expires = *expires;
      return out;
    }
    return denial(pkt.get(), qname.get(), type, rcode);
  }

  /// NODATA or NXDOMAIN: every NSEC/NSEC3 RRset in the authority section must be signed, and
  /// together they must deny the question.
  CheckedAnswer denial(const ldns_pkt* pkt, const ldns_rdf* qname, std::uint16_t type,
                       ldns_pkt_rcode rcode) {
    CheckedAnswer out;
    out.status = CheckedAnswer::Status::kBogus;
    const ldns_rr_list* authority = ldns_pkt_authority(pkt);
    RrList nsecs = new_list(), sigs = new_list();
    bool nsec3 = false;
    for (std::size_t i = 0; i < ldns_rr_list_rr_count(authority); ++i) {
      const ldns_rr* rr = ldns_rr_list_rr(authority, i);
      const ldns_rr_type t = ldns_rr_get_type(rr);
      if (t == LDNS_RR_TYPE_NSEC || t == LDNS_RR_TYPE_NSEC3) {
        nsec3 = t == LDNS_RR_TYPE_NSEC3;
        ldns_rr_list_push_rr(nsecs.get(), ldns_rr_clone(rr));
      } else if (t == LDNS_RR_TYPE_RRSIG) {
        ldns_rr_list_push_rr(sigs.get(), ldns_rr_clone(rr));
      }
    }
    if (ldns_rr_list_rr_count(nsecs.get()) == 0) {
      out.detail = "no NSEC or NSEC3 records prove the answer";
      return out;
    }
    UnixTime expires = 0;
    for (std::size_t i = 0; i < ldns_rr_list_rr_count(nsecs.get()); ++i) {
      ldns_rr* n = ldns_rr_list_rr(nsecs.get(), i);
      RrList one = new_list();
      ldns_rr_list_push_rr(one.get(), ldns_rr_clone(n));
      RrList s = signatures_of(sigs.get(), ldns_rr_owner(n), ldns_rr_get_type(n));
      std::string why;
      auto e = verify(one.get(), s.get(), keys.get(), now, why);
      if (!e) {
        out.detail = "a denial record's signature does not validate: " + why;
        return out;
      }
      expires = expires == 0 ? *e : std::min(expires, *e);
    }
    RrPtr question(ldns_rr_new());
    ldns_rr_set_owner(question.get(), ldns_rdf_clone(qname));
    ldns_rr_set_type(question.get(), static_cast<ldns_rr_type>(type));
    ldns_rr_set_class(question.get(), LDNS_RR_CLASS_IN);
    const ldns_status s =
        nsec3 ? ldns_dnssec_verify_denial_nsec3(question.get(), nsecs.get(), sigs.get(), rcode,
                                                static_cast<ldns_rr_type>(type),
                                                rcode == LDNS_RCODE_NOERROR)
              : ldns_dnssec_verify_denial(question.get(), nsecs.get(), sigs.get());
    if (s != LDNS_STATUS_OK) {
      out.detail = std::string("the denial does not hold: ") + ldns_get_errorstr_by_id(s);
      return out;
    }
    out.status = CheckedAnswer::Status::kAbsent;
    out.expires = expires;
    return out;
  }
};

Result<DnsChecker> DnsChecker::open(const ListenAddress& server, const Name& zone,
                                    const std::vector<Rr>& anchors, UnixTime now) {
  auto impl = std::make_unique<Impl>();
  impl->now = now;
  impl->resolver.reset(ldns_resolver_new());
  Rdf address(ldns_rdf_new_frm_str(server.ipv6 ? LDNS_RDF_TYPE_AAAA : LDNS_RDF_TYPE_A,
                                   server.host.c_str()));
  if (!address || ldns_resolver_push_nameserver(impl->resolver.get(), address.get()) !=
                      LDNS_STATUS_OK)
    return fail("bad server address " + server.to_string());
  ldns_resolver* r = impl->resolver.get();
  ldns_resolver_set_port(r, server.port);
  ldns_resolver_set_recursive(r, false);
  ldns_resolver_set_dnssec(r, true);
  ldns_resolver_set_edns_udp_size(r, 1232);
  ldns_resolver_set_fallback(r, true); // TCP after TC
  ldns_resolver_set_retry(r, 2);
  ldns_resolver_set_timeout(r, timeval{2, 0});
  ldns_resolver_set_random(r, false);

  std::string why;
  Pkt pkt = impl->ask(zone, LDNS_RR_TYPE_DNSKEY, why);
  if (!pkt)
    return fail("DNSKEY " + zone.to_string() + " from " + server.to_string() + ": " + why);
  Rdf apex = name_rdf(zone);
  RrList dnskeys = new_list();
  const ldns_rr_list* answer = ldns_pkt_answer(pkt.get());
  for (std::size_t i = 0; i < ldns_rr_list_rr_count(answer); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(answer, i);
    if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_DNSKEY && same_name(ldns_rr_owner(rr), apex.get()))
      ldns_rr_list_push_rr(dnskeys.get(), ldns_rr_clone(rr));
  }
  if (ldns_rr_list_rr_count(dnskeys.get()) == 0)
    return fail("the server at " + server.to_string() + " has no DNSKEY records for " +
                zone.to_string() + " (is the zone served there?)");
  // The keys the anchors name: a DS matching a DNSKEY, or the DNSKEY itself.
  RrList anchored = new_list();
  for (const Rr& a : anchors) {
    RrPtr anchor = to_ldns(a);
    if (!anchor)
      return fail("a trust anchor does not parse");
    for (std::size_t i = 0; i < ldns_rr_list_rr_count(dnskeys.get()); ++i) {
      ldns_rr* key = ldns_rr_list_rr(dnskeys.get(), i);
      if (ldns_rr_compare_ds(anchor.get(), key) || ldns_rr_compare(anchor.get(), key) == 0) {
        ldns_rr_list_push_rr(anchored.get(), ldns_rr_clone(key));
        impl->anchored.push_back(ldns_calc_keytag(key));
      }
    }
  }
  if (impl->anchored.empty())
    return fail("no DNSKEY of " + zone.to_string() + " matches the DS the parent holds or the "
                "trust anchor given: validating resolvers find the zone bogus");
  RrList sigs = signatures_of(answer, apex.get(), LDNS_RR_TYPE_DNSKEY);
  auto expires = verify(dnskeys.get(), sigs.get(), anchored.get(), now, why);
  if (!expires)
    return fail("the DNSKEY RRset of " + zone.to_string() +
                " is not validly signed by a key the DS names: " + why);
  impl->dnskey_expires = *expires;
  impl->keys = std::move(dnskeys);
  return DnsChecker(std::move(impl));
}

DnsChecker::DnsChecker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DnsChecker::DnsChecker(DnsChecker&&) noexcept = default;
DnsChecker& DnsChecker::operator=(DnsChecker&&) noexcept = default;
DnsChecker::~DnsChecker() = default;

CheckedAnswer DnsChecker::query(const Name& name, std::uint16_t type) {
  return impl_->query(name, type);
}
const std::vector<std::uint16_t>& DnsChecker::anchored_key_tags() const { return impl_->anchored; }
UnixTime DnsChecker::dnskey_expires() const { return impl_->dnskey_expires; }

} // namespace moat
