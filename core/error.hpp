#pragma once

#include <expected>
#include <string>
#include <utility>

namespace moat {

/// An expected failure: bad input, a constraint the store refuses, an I/O error.
/// The message is one line meant for an operator, without a trailing newline.
struct Error {
  std::string message;
};

template <class T> using Result = std::expected<T, Error>;

/// Shorthand for returning a failure: `return fail("bad name: " + text);`
inline std::unexpected<Error> fail(std::string message) {
  return std::unexpected<Error>(Error{std::move(message)});
}

} // namespace moat
