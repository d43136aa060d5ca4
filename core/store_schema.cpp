#include "core/store_impl.hpp"

#include <iterator>

namespace moat {

// Forward migrations; entry i takes the schema from user_version i to i + 1. Never edit one
// that has shipped: add the next.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE domains (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE,           -- apex, lower case, trailing dot
  soa_mname   TEXT NOT NULL,
  soa_rname   TEXT NOT NULL,
  soa_refresh INTEGER NOT NULL,
  soa_retry   INTEGER NOT NULL,
  soa_expire  INTEGER NOT NULL,
  soa_minimum INTEGER NOT NULL,
  soa_ttl     INTEGER NOT NULL,
  serial      INTEGER NOT NULL,
  algorithm   INTEGER NOT NULL,
  nsec3       INTEGER NOT NULL DEFAULT 0,
  dnskey_ttl  INTEGER NOT NULL DEFAULT 3600,
  version     INTEGER NOT NULL DEFAULT 1,
  created     INTEGER NOT NULL
);
CREATE TABLE records (
  id        INTEGER PRIMARY KEY,
  domain_id INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
  owner     BLOB NOT NULL,                    -- wire form, lower case
  type      INTEGER NOT NULL,
  ttl       INTEGER NOT NULL,
  rdata     BLOB NOT NULL,
  UNIQUE (domain_id, owner, type, rdata)
);
CREATE INDEX records_by_domain ON records(domain_id);
CREATE TABLE keys (
  id           INTEGER PRIMARY KEY,
  domain_id    INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
  role         TEXT NOT NULL CHECK (role IN ('ksk', 'zsk', 'csk')),
  algorithm    INTEGER NOT NULL,
  key_tag      INTEGER NOT NULL,
  dnskey_rdata BLOB NOT NULL,
  private_pem  TEXT NOT NULL,
  state        TEXT NOT NULL,
  created      INTEGER NOT NULL
);
CREATE TABLE audit (
  id     INTEGER PRIMARY KEY,
  at     INTEGER NOT NULL,
  actor  TEXT NOT NULL,
  action TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
)sql",
    // 2: what moat-dnsd reports it publishes, and the MX hosts with their certificates.
    R"sql(
CREATE TABLE zone_publications (
  domain_id INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
  serial    INTEGER NOT NULL,                 -- a serial moat-dnsd served
  at        INTEGER NOT NULL,                 -- first time it served it
  PRIMARY KEY (domain_id, serial)
);
CREATE TABLE mx_hosts (
  id          INTEGER PRIMARY KEY,
  domain_id   INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
  host        TEXT NOT NULL,                  -- lower case, trailing dot
  priority    INTEGER NOT NULL,
  port        INTEGER NOT NULL,
  addresses   TEXT NOT NULL,                  -- space-separated, published when host is in-zone
  live_dir    TEXT NOT NULL,
  on_live     TEXT NOT NULL,
  state       TEXT NOT NULL CHECK (state IN ('adding', 'active', 'removing')),
  wait_serial INTEGER,                        -- the serial the current step waits to see served
  created     INTEGER NOT NULL,
  UNIQUE (domain_id, host)
);
CREATE TABLE certificates (
  id                 INTEGER PRIMARY KEY,
  mx_host_id         INTEGER NOT NULL REFERENCES mx_hosts(id) ON DELETE CASCADE,
  state              TEXT NOT NULL CHECK (state IN ('staged', 'live', 'retired')),
  fullchain_pem      TEXT NOT NULL,
  key_pem            TEXT NOT NULL,
  spki_sha256        BLOB NOT NULL,
  issuer_spki_sha256 BLOB NOT NULL,
  names              TEXT NOT NULL,
  not_before         INTEGER NOT NULL,
  not_after          INTEGER NOT NULL,
  wait_serial        INTEGER,                 -- staged: the serial that publishes its TLSA
  deployed           INTEGER NOT NULL,
  live_since         INTEGER
);
CREATE UNIQUE INDEX one_staged_and_one_live_per_host ON certificates(mx_host_id, state)
  WHERE state IN ('staged', 'live');
)sql",
    // 3: MTA-STS policies, what moat-httpsd reports it serves, and TLSRPT.
    R"sql(
CREATE TABLE sts_policies (
  domain_id        INTEGER PRIMARY KEY REFERENCES domains(id) ON DELETE CASCADE,
  mode             TEXT NOT NULL CHECK (mode IN ('enforce', 'testing', 'none')),
  max_age          INTEGER NOT NULL,
  mx_patterns      TEXT NOT NULL,             -- space-separated; '' = one line per MX host
  delete_requested INTEGER NOT NULL DEFAULT 0,
  https_addresses  TEXT NOT NULL DEFAULT '',  -- A/AAAA of mta-sts.DOMAIN: where moat-httpsd listens
  updated          INTEGER NOT NULL
);
CREATE TABLE sts_served (
  domain_id   INTEGER PRIMARY KEY REFERENCES domains(id) ON DELETE CASCADE,
  policy_id   TEXT NOT NULL,                  -- id of the text moat-httpsd serves now
  policy_text TEXT NOT NULL,
  since       INTEGER NOT NULL,               -- first time it served this text
  wait_serial INTEGER NOT NULL,               -- the serial that publishes this id in DNS
  none_until  INTEGER                         -- until when senders may cache an earlier policy
);
CREATE TABLE tlsrpt (
  domain_id INTEGER PRIMARY KEY REFERENCES domains(id) ON DELETE CASCADE,
  rua       TEXT NOT NULL                     -- comma-separated URIs
);
)sql",
    // 4: the certificates moat-httpsd presents for mta-sts.DOMAIN (WebPKI, no TLSA involved).
    R"sql(
CREATE TABLE web_certificates (
  domain_id     INTEGER PRIMARY KEY REFERENCES domains(id) ON DELETE CASCADE,
  fullchain_pem TEXT NOT NULL,
  key_pem       TEXT NOT NULL,
  not_after     INTEGER NOT NULL,
  deployed      INTEGER NOT NULL
);
)sql",
    // 5: a domain may ask for TLSA 2 1 1 of each MX host's issuing CA beside 3 1 1.
    R"sql(
ALTER TABLE domains ADD COLUMN tlsa_issuer INTEGER NOT NULL DEFAULT 0;
)sql",
    // 6: when each key entered each state of its life (RFC 7583: published, active, retired,
    // removed), for `moat key list` and the rollover timings.
    R"sql(
ALTER TABLE keys ADD COLUMN published_at INTEGER;
ALTER TABLE keys ADD COLUMN active_at INTEGER;
ALTER TABLE keys ADD COLUMN retired_at INTEGER;
ALTER TABLE keys ADD COLUMN removed_at INTEGER;
UPDATE keys SET published_at = created, active_at = created WHERE state = 'active';
)sql",
    // 7: key rollovers. Per domain: key lifetimes, signature validity and refresh, the TTL the
    // parent gives its DS. Per key: the serial that made its current state visible (the wait
    // for the next step starts once moat-dnsd serves it) and where its DS stands at the parent
    // ('' unknown, 'submit' asked for by CDS, 'seen' confirmed, 'withdrawn' no longer wanted).
    // Existing KSKs are taken as already delegated to.
    R"sql(
ALTER TABLE domains ADD COLUMN zsk_lifetime INTEGER NOT NULL DEFAULT 7776000;
ALTER TABLE domains ADD COLUMN ksk_lifetime INTEGER NOT NULL DEFAULT 0;
ALTER TABLE domains ADD COLUMN sig_validity INTEGER NOT NULL DEFAULT 1209600;
ALTER TABLE domains ADD COLUMN sig_refresh INTEGER NOT NULL DEFAULT 604800;
ALTER TABLE domains ADD COLUMN parent_ds_ttl INTEGER NOT NULL DEFAULT 86400;
ALTER TABLE keys ADD COLUMN state_serial INTEGER;
ALTER TABLE keys ADD COLUMN ds_state TEXT NOT NULL DEFAULT '';
ALTER TABLE keys ADD COLUMN ds_seen_at INTEGER;
UPDATE keys SET ds_state = 'seen', ds_seen_at = created WHERE role = 'ksk' AND state = 'active';
)sql",
    // 8: the longest TTL of each zone version served, so that a rollover's waits still cover
    // what caches took with a TTL since lowered (or a record since deleted).
    R"sql(
ALTER TABLE zone_publications ADD COLUMN max_ttl INTEGER NOT NULL DEFAULT 0;
)sql",
    // 9: zone transfers. TSIG keys by name (RFC 8945), and per domain the secondaries allowed
    // to transfer the zone and sent NOTIFY (RFC 5936, 1995, 1996). A key in use cannot go.
    R"sql(
CREATE TABLE tsig_keys (
  name      TEXT PRIMARY KEY,                 -- lower case, absolute (xfr-key.)
  algorithm TEXT NOT NULL,                    -- hmac-sha256, ...
  secret    BLOB NOT NULL,
  created   INTEGER NOT NULL
);
CREATE TABLE secondaries (
  id        INTEGER PRIMARY KEY,
  domain_id INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
  address   TEXT NOT NULL,                    -- IP address literal
  port      INTEGER NOT NULL,
  tsig_key  TEXT REFERENCES tsig_keys(name),
  created   INTEGER NOT NULL,
  UNIQUE (domain_id, address)
);
)sql",
    // 10: ACME DNS-01 by dynamic UPDATE (RFC 2136). The TSIG keys allowed to change TXT records
    // at a domain's _acme-challenge names, and the records so received (written by moat-dnsd),
    // each gone by itself at `expires`.
    R"sql(
CREATE TABLE acme_update_keys (
  domain_id INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
  tsig_key  TEXT NOT NULL REFERENCES tsig_keys(name),
  created   INTEGER NOT NULL,
  PRIMARY KEY (domain_id, tsig_key)
);
CREATE TABLE acme_challenges (
  id        INTEGER PRIMARY KEY,
  domain_id INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
  owner     BLOB NOT NULL,                    -- wire form, lower case
  ttl       INTEGER NOT NULL,
  rdata     BLOB NOT NULL,                    -- TXT RDATA
  created   INTEGER NOT NULL,
  expires   INTEGER NOT NULL,
  UNIQUE (domain_id, owner, rdata)
);
CREATE INDEX acme_challenges_expires ON acme_challenges (expires);
)sql",
    // 11: the names whose records changed, in commit order, for moat-dnsd to re-sign only those
    // (and their NSEC/NSEC3 neighbours) instead of the whole zone. Written by triggers, so that
    // no way of changing records can forget it; moat-dnsd deletes what it has read, and a reader
    // that finds its place deleted knows it missed changes.
    R"sql(
CREATE TABLE zone_changes (
  id        INTEGER PRIMARY KEY AUTOINCREMENT, -- never re-used: readers keep where they are
  domain_id INTEGER NOT NULL,                  -- no foreign key: outlives its domain harmlessly
  owner     BLOB NOT NULL                      -- wire form, lower case
);
CREATE TABLE zone_changes_forgotten (          -- one row: the log is deleted up to here
  up_to INTEGER NOT NULL
);
INSERT INTO zone_changes_forgotten VALUES (0);
CREATE TRIGGER records_changes_insert AFTER INSERT ON records
  BEGIN INSERT INTO zone_changes (domain_id, owner) VALUES (NEW.domain_id, NEW.owner); END;
CREATE TRIGGER records_changes_delete AFTER DELETE ON records
  BEGIN INSERT INTO zone_changes (domain_id, owner) VALUES (OLD.domain_id, OLD.owner); END;
CREATE TRIGGER records_changes_update AFTER UPDATE ON records
  BEGIN
    INSERT INTO zone_changes (domain_id, owner) VALUES (OLD.domain_id, OLD.owner);
    INSERT INTO zone_changes (domain_id, owner) VALUES (NEW.domain_id, NEW.owner);
  END;
CREATE TRIGGER acme_changes_insert AFTER INSERT ON acme_challenges
  BEGIN INSERT INTO zone_changes (domain_id, owner) VALUES (NEW.domain_id, NEW.owner); END;
CREATE TRIGGER acme_changes_delete AFTER DELETE ON acme_challenges
  BEGIN INSERT INTO zone_changes (domain_id, owner) VALUES (OLD.domain_id, OLD.owner); END;
CREATE TRIGGER acme_changes_update AFTER UPDATE ON acme_challenges
  BEGIN
    INSERT INTO zone_changes (domain_id, owner) VALUES (OLD.domain_id, OLD.owner);
    INSERT INTO zone_changes (domain_id, owner) VALUES (NEW.domain_id, NEW.owner);
  END;
)sql",
    // 12: SMTP TLS reports (RFC 8460) received by moat-httpsd or imported, kept as received
    // (decompressed JSON) with the columns the summaries select on. A reporter that sends a
    // report again (a retried POST, a file imported twice) finds it there: one row per
    // organisation and report id.
    R"sql(
CREATE TABLE tlsrpt_reports (
  id           INTEGER PRIMARY KEY,
  domain_id    INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
  organization TEXT NOT NULL,
  report_id    TEXT NOT NULL,
  range_start  INTEGER NOT NULL,
  range_end    INTEGER NOT NULL,
  received     INTEGER NOT NULL,
  source       TEXT NOT NULL,                  -- "https 192.0.2.7" or "import"
  json         TEXT NOT NULL,
  UNIQUE (domain_id, organization, report_id)
);
CREATE INDEX tlsrpt_reports_by_end ON tlsrpt_reports (domain_id, range_end);
CREATE INDEX tlsrpt_reports_by_received ON tlsrpt_reports (domain_id, received);
)sql",
};

const int kSchemaVersion = static_cast<int>(std::size(kMigrations));

} // namespace moat
