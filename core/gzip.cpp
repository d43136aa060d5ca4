#include "core/gzip.hpp"

#include <algorithm>
#include <memory>
#include <zlib.h>

namespace moat {
namespace {

struct Inflater {
  z_stream z{};
  bool ready = false;
  Inflater() { ready = inflateInit2(&z, 16 + MAX_WBITS) == Z_OK; } // 16+: gzip wrapper only
  ~Inflater() {
    if (ready)
      inflateEnd(&z);
  }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;
};

} // namespace

bool looks_gzipped(std::string_view data) {
  return data.size() >= 2 && static_cast<unsigned char>(data[0]) == 0x1f &&
         static_cast<unsigned char>(data[1]) == 0x8b;
}

Result<std::string> gunzip(std::string_view compressed, std::size_t max_output) {
  if (!looks_gzipped(compressed))
    return fail("not gzip data");
  Inflater in;
  if (!in.ready)
    return fail("cannot start zlib");
  std::string out;
  // zlib counts in uInt; the callers' bounds are megabytes, far below.
  in.z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  in.z.avail_in = static_cast<uInt>(std::min<std::size_t>(compressed.size(), UINT32_MAX));
  if (in.z.avail_in != compressed.size())
    return fail("gzip data too large");
  char chunk[16384];
  for (;;) {
    in.z.next_out = reinterpret_cast<Bytef*>(chunk);
    in.z.avail_out = sizeof chunk;
    const int rc = inflate(&in.z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
      return fail(std::string("damaged gzip data") + (in.z.msg ? std::string(": ") + in.z.msg : ""));
    const std::size_t produced = sizeof chunk - in.z.avail_out;
    if (out.size() + produced > max_output)
      return fail("gzip data decompresses to more than " + std::to_string(max_output) + " octets");
    out.append(chunk, produced);
    if (rc == Z_STREAM_END) {
      if (in.z.avail_in == 0)
        return out;
      // Another member may follow (RFC 1952 §2.2); anything else is not gzip.
      const std::string_view rest(reinterpret_cast<const char*>(in.z.next_in), in.z.avail_in);
      if (!looks_gzipped(rest))
        return fail("data after the end of the gzip stream");
      if (inflateReset(&in.z) != Z_OK)
        return fail("cannot restart zlib");
      continue;
    }
    if (rc == Z_BUF_ERROR && produced == 0)
      return fail("gzip data cut short"); // no progress possible: the input ended early
  }
}

} // namespace moat
