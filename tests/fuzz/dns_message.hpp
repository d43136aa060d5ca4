#pragma once

#include "core/error.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace moat::fuzz {

/// Sections of a DNS message, in wire order.
enum class Section { kQuestion, kAnswer, kAuthority, kAdditional };

/// One resource record as read back from a message.
struct ReadRecord {
  Section section = Section::kAnswer;
  std::uint16_t type = 0;
  std::uint16_t klass = 0;  ///< for OPT the requester's UDP size
  std::uint32_t ttl = 0;    ///< for OPT the extended RCODE, version and flags
  std::size_t rdata_at = 0; ///< offset of the RDATA in the message
  std::size_t rdata_size = 0;
};

/// A DNS message as it reads on the wire, parsed independently of moat's own parser and writer
/// so that it can judge what they produce.
struct ReadMessage {
  std::uint16_t id = 0;
  std::uint16_t flags = 0;                  ///< octets 2 and 3 of the header
  std::array<std::uint16_t, 4> counts{};    ///< QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT
  std::array<std::size_t, 4> section_end{}; ///< the offset just past each section
  std::vector<std::uint8_t> qname;          ///< first question's name, uncompressed, case kept
  std::uint16_t qtype = 0;
  std::uint16_t qclass = 0;
  std::vector<ReadRecord> records; ///< answer, authority and additional, in order
  std::optional<ReadRecord> opt;   ///< the OPT record (also in `records`), if any

  [[nodiscard]] bool qr() const { return (flags & 0x8000) != 0; }
  [[nodiscard]] std::uint8_t opcode() const { return (flags >> 11) & 0x0f; }
  [[nodiscard]] bool aa() const { return (flags & 0x0400) != 0; }
  [[nodiscard]] bool tc() const { return (flags & 0x0200) != 0; }
  [[nodiscard]] bool rd() const { return (flags & 0x0100) != 0; }
  [[nodiscard]] bool cd() const { return (flags & 0x0010) != 0; }
  /// The RCODE with the OPT record's upper 8 bits (RFC 6891 §6.1.3).
  [[nodiscard]] std::uint16_t full_rcode() const;
};

/// Reads a whole message and checks its structure: exactly as many questions and records as the
/// header counts, no bytes left over, every name (those in NS, CNAME, PTR, MX and SOA RDATA too)
/// at most 255 octets and compressed only with pointers to earlier offsets past the header, RDATA
/// lengths that fit, and at most one OPT record, owned by the root, in the additional section.
/// The error says what is wrong.
[[nodiscard]] Result<ReadMessage> read_message(std::span<const std::uint8_t> message);

} // namespace moat::fuzz
