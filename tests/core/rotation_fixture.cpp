#include "tests/core/rotation_fixture.hpp"

#include "core/c_handles.hpp"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sstream>
#include <stdexcept>

namespace moat::testing_rotation {
namespace {

// test_certs.hpp makes a new key for every certificate; a renewal that keeps its key (certbot
// --reuse-key) needs a certificate for a key we already have, so this builds one.
std::string self_signed_for(const testing_certs::TestKey& key,
                            const std::vector<std::string>& dns_names, UnixTime not_before,
                            UnixTime not_after) {
  auto fail_if = [](bool bad, const char* what) {
    if (bad)
      throw std::runtime_error(std::string("test certificate: cannot ") + what);
  };
  ossl::Bio in(BIO_new_mem_buf(key.pem.data(), static_cast<int>(key.pem.size())));
  fail_if(!in, "allocate a BIO");
  ossl::Pkey pkey(PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr));
  fail_if(!pkey, "read the key");
  ossl::X509Ptr cert(X509_new());
  fail_if(!cert, "allocate a certificate");
  X509* c = cert.get();
  static long serial = 1000;
  fail_if(X509_set_version(c, X509_VERSION_3) != 1, "set the version");
  fail_if(ASN1_INTEGER_set(X509_get_serialNumber(c), serial++) != 1, "set the serial");
  const std::string cn = dns_names.empty() ? "no name" : dns_names.front();
  fail_if(X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "CN", MBSTRING_UTF8,
                                     reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                     0) != 1,
          "set the subject");
  fail_if(X509_set_issuer_name(c, X509_get_subject_name(c)) != 1, "set the issuer");
  fail_if(ASN1_TIME_set(X509_getm_notBefore(c), static_cast<time_t>(not_before)) == nullptr,
          "set notBefore");
  fail_if(ASN1_TIME_set(X509_getm_notAfter(c), static_cast<time_t>(not_after)) == nullptr,
          "set notAfter");
  fail_if(X509_set_pubkey(c, pkey.get()) != 1, "set the public key");
  if (!dns_names.empty()) {
    std::string san;
    for (const auto& n : dns_names)
      san += (san.empty() ? "DNS:" : ",DNS:") + n;
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, c, c, nullptr, nullptr, 0);
    std::unique_ptr<X509_EXTENSION, ossl::Deleter<X509_EXTENSION, X509_EXTENSION_free>> ext(
        X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, san.c_str()));
    fail_if(!ext, "build subjectAltName");
    fail_if(X509_add_ext(c, ext.get(), -1) != 1, "add subjectAltName");
  }
  fail_if(X509_sign(c, pkey.get(), EVP_sha256()) <= 0, "sign");
  ossl::Bio out(BIO_new(BIO_s_mem()));
  fail_if(!out, "allocate a BIO");
  fail_if(PEM_write_bio_X509(out.get(), c) != 1, "write PEM");
  char* data = nullptr;
  const long len = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

} // namespace

testing::AssertionResult mentions(const std::string& message, std::string_view what) {
  if (message.find(what) != std::string::npos)
    return testing::AssertionSuccess();
  return testing::AssertionFailure()
         << "message '" << message << "' does not mention '" << what << "'";
}

testing::AssertionResult any_mentions(const std::vector<std::string>& lines,
                                      std::string_view what) {
  for (const auto& l : lines)
    if (l.find(what) != std::string::npos)
      return testing::AssertionSuccess();
  auto failure = testing::AssertionFailure() << "no line mentions '" << what << "' in:";
  for (const auto& l : lines)
    failure << "\n  " << l;
  return failure;
}

Name name(std::string_view text) {
  auto n = Name::parse(text);
  if (!n)
    throw std::runtime_error(std::string(text) + ": " + n.error().message);
  return *n;
}

// ---- certificates ----------------------------------------------------------------------------

Cert cert_for_key(const testing_certs::TestKey& key, std::vector<std::string> names,
                  UnixTime not_before, UnixTime not_after) {
  return {self_signed_for(key, names, not_before, not_after), key};
}

Cert new_cert(std::vector<std::string> names, UnixTime not_before, UnixTime not_after) {
  return cert_for_key(testing_certs::make_ec_key(), std::move(names), not_before, not_after);
}

// ---- expected records ------------------------------------------------------------------------

Rr tlsa(std::string_view host, const testing_certs::TestKey& key, std::uint16_t port) {
  std::vector<std::uint8_t> rd{3, 1, 1};
  auto digest = testing_certs::sha256(key.spki);
  rd.insert(rd.end(), digest.begin(), digest.end());
  return Rr{*(*name(host).prepend("_tcp")).prepend("_" + std::to_string(port)), rrtype::TLSA,
            kTlsaTtl, rd};
}

Rr mx(std::string_view apex, std::uint16_t priority, std::string_view host) {
  std::vector<std::uint8_t> rd{static_cast<std::uint8_t>(priority >> 8),
                               static_cast<std::uint8_t>(priority)};
  const Name exchange = name(host);
  rd.insert(rd.end(), exchange.wire().begin(), exchange.wire().end());
  return Rr{name(apex), rrtype::MX, kMxTtl, rd};
}

Rr a_record(std::string_view host, std::vector<std::uint8_t> address) {
  return Rr{name(host), rrtype::A, kMxTtl, std::move(address)};
}

bool contains(const std::vector<Rr>& rrs, const Rr& rr) {
  return std::ranges::find(rrs, rr) != rrs.end();
}

std::size_t count_type(const std::vector<Rr>& rrs, std::uint16_t type) {
  return static_cast<std::size_t>(std::ranges::count(rrs, type, &Rr::type));
}

// ---- the fake effects ------------------------------------------------------------------------

Result<void> FakeEffects::install(const MxHost& host, const CertificateRecord& cert) {
  calls.push_back({"install", host.host.to_string(), cert.fullchain_pem});
  if (fail_install)
    return fail("injected install failure");
  files[host.live_dir] = {cert.fullchain_pem, cert.key_pem};
  return {};
}

bool FakeEffects::installed(const MxHost& host, const CertificateRecord& cert) {
  auto it = files.find(host.live_dir);
  return it != files.end() && it->second.first == cert.fullchain_pem &&
         it->second.second == cert.key_pem;
}

Result<void> FakeEffects::reload(const MxHost& host) {
  auto it = files.find(host.live_dir);
  calls.push_back({"reload", host.host.to_string(), it == files.end() ? "" : it->second.first});
  if (during_reload)
    during_reload();
  if (fail_reload)
    return fail("injected reload failure");
  return {};
}

int FakeEffects::count(std::string_view what) const {
  return static_cast<int>(std::ranges::count(calls, what, &Call::what));
}

// ---- the fixture -----------------------------------------------------------------------------

void RotationFixture::SetUp() {
  auto s = Store::open(dir_.file("moat.db"), Store::Mode::kCreate);
  ASSERT_TRUE(s) << s.error().message;
  store_.emplace(std::move(*s));
  domain_id_ = add_domain("example.test.");
}

void RotationFixture::TearDown() { store_.reset(); }

std::int64_t RotationFixture::add_domain(std::string_view apex, std::uint32_t soa_minimum,
                                         std::uint32_t soa_ttl) {
  Domain d;
  d.name = name(apex);
  d.soa.mname = *d.name.prepend("ns1");
  d.soa.rname = *d.name.prepend("hostmaster");
  d.soa.minimum = soa_minimum;
  d.soa.ttl = soa_ttl;
  d.serial = 1;
  d.created = kT0 - kDay;
  auto id = store().insert_domain(d);
  if (!id)
    throw std::runtime_error("cannot insert domain: " + id.error().message);
  return *id;
}

Domain RotationFixture::domain(std::string_view apex) {
  auto d = store().find_domain(name(apex));
  if (!d || !*d)
    throw std::runtime_error("no domain " + std::string(apex));
  return **d;
}

std::uint32_t RotationFixture::serve(UnixTime at, std::string_view apex) {
  const Domain d = domain(apex);
  auto r = store().record_publication(d.id, d.serial, at);
  if (!r)
    throw std::runtime_error("record_publication: " + r.error().message);
  return d.serial;
}

std::vector<Rr> RotationFixture::derived(std::string_view apex) {
  auto rrs = derived_records(store(), domain(apex));
  if (!rrs)
    throw std::runtime_error("derived_records: " + rrs.error().message);
  return *rrs;
}

MxHost RotationFixture::add(std::string_view host, UnixTime at, std::vector<std::string> addresses,
                            std::string_view apex) {
  MxHostRequest req;
  req.host = name(host);
  req.addresses = std::move(addresses);
  auto h = add_mx_host(store(), name(apex), req, dir_.path().string(), at, "test");
  if (!h)
    throw std::runtime_error("add_mx_host: " + h.error().message);
  return *h;
}

std::optional<MxHost> RotationFixture::host_row(std::string_view host, std::int64_t domain_id) {
  auto hosts = store().mx_hosts(domain_id == 0 ? domain_id_ : domain_id);
  if (!hosts)
    throw std::runtime_error("mx_hosts: " + hosts.error().message);
  for (const auto& h : *hosts)
    if (h.host == name(host))
      return h;
  return std::nullopt;
}

std::vector<CertificateRecord> RotationFixture::certs_of(std::string_view host) {
  auto h = host_row(host);
  if (!h)
    return {};
  auto c = store().certificates(h->id);
  if (!c)
    throw std::runtime_error("certificates: " + c.error().message);
  return *c;
}

std::optional<CertificateRecord> RotationFixture::cert_in_state(std::string_view host,
                                                                std::string_view state) {
  std::optional<CertificateRecord> found;
  for (auto& c : certs_of(host))
    if (c.state == state) {
      EXPECT_FALSE(found) << "two " << state << " certificates for " << host;
      found = c;
    }
  return found;
}

std::vector<DeployResult>
RotationFixture::deploy(const Cert& cert, std::vector<std::string_view> hosts, UnixTime at) {
  std::vector<Name> names;
  for (auto h : hosts)
    names.push_back(name(h));
  auto r = deploy_certificate(store(), cert.chain, cert.key.pem, names, at, "test", effects_);
  if (!r)
    throw std::runtime_error("deploy_certificate: " + r.error().message);
  return *r;
}

std::vector<std::string> RotationFixture::tick_at(UnixTime at) {
  auto r = tick(store(), at, "test", effects_);
  if (!r)
    throw std::runtime_error("tick: " + r.error().message);
  return *r;
}

std::vector<PendingStep> RotationFixture::pending(UnixTime at) {
  auto r = pending_steps(store(), at);
  if (!r)
    throw std::runtime_error("pending_steps: " + r.error().message);
  return *r;
}

UnixTime RotationFixture::make_active(std::string_view host, const Cert& cert, UnixTime at) {
  add(host, at);
  serve(at);
  deploy(cert, {host}, at + 1);
  serve(at + 1);
  const UnixTime done = at + 1 + kTlsaWait;
  tick_at(done);
  auto row = host_row(host);
  if (!row || row->state != "active" || !cert_in_state(host, "live"))
    throw std::runtime_error("make_active: " + std::string(host) + " did not become active");
  effects_.calls.clear();
  return done;
}

std::string RotationFixture::state_dump() {
  std::ostringstream out;
  auto domains = store().list_domains();
  if (!domains)
    throw std::runtime_error("list_domains: " + domains.error().message);
  for (const Domain& d : *domains) {
    out << "domain " << d.name.to_string() << " serial " << d.serial << " version " << d.version
        << "\n";
    auto rrs = derived_records(store(), d);
    if (!rrs)
      throw std::runtime_error("derived_records: " + rrs.error().message);
    for (const Rr& rr : *rrs)
      out << "  " << rr_to_string(rr) << "\n";
    auto policy = store().sts_policy(d.id);
    if (!policy)
      throw std::runtime_error("sts_policy: " + policy.error().message);
    if (*policy) {
      out << "  policy " << (*policy)->mode << " " << (*policy)->max_age << " ["
          << ((*policy)->delete_requested ? "delete " : "") << (*policy)->updated << "]";
      for (const auto& p : (*policy)->mx_patterns)
        out << " " << p;
      out << "\n";
    }
    auto served = store().sts_served(d.id);
    if (!served)
      throw std::runtime_error("sts_served: " + served.error().message);
    if (*served)
      out << "  served " << (*served)->policy_id << " since " << (*served)->since << " serial "
          << (*served)->wait_serial << " none_until "
          << ((*served)->none_until ? std::to_string(*(*served)->none_until) : "-") << "\n";
    auto rua = store().tlsrpt_rua(d.id);
    if (!rua)
      throw std::runtime_error("tlsrpt_rua: " + rua.error().message);
    if (*rua)
      out << "  tlsrpt " << **rua << "\n";
  }
  auto hosts = store().all_mx_hosts();
  if (!hosts)
    throw std::runtime_error("all_mx_hosts: " + hosts.error().message);
  for (const MxHost& h : *hosts) {
    out << "host " << h.id << " " << h.host.to_string() << " " << h.state << " "
        << h.wait_serial.value_or(0) << "\n";
    auto certs = store().certificates(h.id);
    if (!certs)
      throw std::runtime_error("certificates: " + certs.error().message);
    for (const auto& c : *certs)
      out << "  cert " << c.id << " " << c.state << " " << c.wait_serial.value_or(0) << " "
          << c.live_since.value_or(0) << " " << c.deployed << " " << c.names << "\n"
          << c.fullchain_pem;
  }
  auto log = store().audit_log();
  if (!log)
    throw std::runtime_error("audit_log: " + log.error().message);
  out << "audit entries " << log->size() << "\n";
  return out.str();
}

} // namespace moat::testing_rotation
