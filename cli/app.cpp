#include "cli/app.hpp"

#include "core/locations.hpp"

#include <cstdlib>

namespace moat::cli {
namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::string(v) : std::string();
}

} // namespace

Context::Context() : clock(system_clock()) {}

std::string Context::db_path() const {
  return db_option.empty() ? default_database_path() : db_option;
}

Store Context::open_store(Store::Mode mode) const { return unwrap(Store::open(db_path(), mode)); }

std::string Context::actor() const {
  for (const char* var : {"SUDO_USER", "USER"}) {
    if (std::string v = env(var); !v.empty())
      return v;
  }
  return "cli";
}

Domain require_domain(Store& store, const Name& name) {
  auto found = unwrap(store.find_domain(name));
  if (!found)
    throw CliError("no domain " + name.to_string());
  return std::move(*found);
}

void Context::run() const {
  if (!command_)
    throw CliError("no command given (see moat --help)");
  command_();
}

} // namespace moat::cli
