#include "dnsd/challenge_writer.hpp"

namespace moat::dnsd {

Result<void> ChallengeWriter::apply(std::int64_t domain_id,
                                    const std::vector<ChallengeChange>& changes) {
  std::lock_guard lock(mutex_);
  const UnixTime now = clock_->now();
  return store_.transaction([&]() -> Result<void> {
    int changed = 0;
    for (const ChallengeChange& c : changes) {
      switch (c.kind) {
      case ChallengeChange::Kind::kAdd:
        if (auto r = store_.put_acme_challenge(domain_id,
                                               {c.owner, c.ttl, c.rdata, now, now + kLifetime});
            !r)
          return r;
        ++changed;
        break;
      case ChallengeChange::Kind::kDeleteAll:
      case ChallengeChange::Kind::kDeleteOne: {
        auto n = store_.delete_acme_challenges(
            domain_id, c.owner, c.kind == ChallengeChange::Kind::kDeleteOne ? &c.rdata : nullptr);
        if (!n)
          return std::unexpected(n.error());
        changed += *n;
        break;
      }
      }
    }
    auto all = store_.acme_challenges(domain_id);
    if (!all)
      return std::unexpected(all.error());
    if (all->size() > kMaxPerDomain)
      return fail("more than " + std::to_string(kMaxPerDomain) + " challenge records");
    if (changed == 0)
      return {}; // RFC 2136 §3.7: nothing changed, so the serial stays
    auto serial = store_.touch_domain(domain_id, now);
    return serial ? Result<void>{} : std::unexpected(serial.error());
  });
}

} // namespace moat::dnsd
