#pragma once
// Reports that arrive by mail (RFC 8460 §5.3): a multipart/report message whose part of type
// application/tlsrpt+gzip (or +json) is the report, usually base64-encoded. An operator pipes
// the message, or the saved attachment, into `moat reports import`.

#include "core/error.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace moat {

/// The report bodies in `content`: the content itself when it is gzip or JSON already, else
/// every application/tlsrpt+gzip or application/tlsrpt+json part of the mail message it is,
/// decoded from base64 (or taken as is for 7bit/8bit/binary). Fails when a message holds no
/// such part or a part cannot be decoded. Bounded: MIME nesting 8, 100 parts.
[[nodiscard]] Result<std::vector<std::string>> tlsrpt_bodies(std::string_view content);

} // namespace moat
