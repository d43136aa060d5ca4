#pragma once

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/store.hpp"

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace moat::cli {

/// A failure that ends the command. Thrown only inside the CLI; `main` prints it as one line
/// (`moat: error: <message>`) and exits 1.
class CliError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// The value of `r`, or a CliError carrying its message.
template <class T> T unwrap(Result<T> r) {
  if (!r)
    throw CliError(r.error().message);
  return std::move(*r);
}
inline void unwrap(Result<void> r) {
  if (!r)
    throw CliError(r.error().message);
}

/// What every command shares: the global options, the clock, and the command chosen on the
/// command line. Filled by CLI11 while parsing; `run()` executes the chosen command afterwards,
/// so that global options given after the subcommand are already known.
class Context {
public:
  Context();

  /// Bound to `--db`; empty when not given.
  std::string db_option;
  /// Bound to `--json`: machine-readable output.
  bool json = false;
  /// Every timestamp the CLI writes comes from here (MOAT_FAKE_TIME moves it).
  std::shared_ptr<Clock> clock;

  /// `--db`, else `$MOAT_DB`, else /var/lib/moat/moat.db.
  [[nodiscard]] std::string db_path() const;
  /// Opens the database; throws CliError when it cannot.
  [[nodiscard]] Store open_store(Store::Mode mode) const;
  /// Who is changing things, for the audit log: $SUDO_USER, else $USER, else "cli".
  [[nodiscard]] std::string actor() const;

  /// Records the command to run (called from a subcommand's CLI11 callback).
  void select(std::function<void()> command) { command_ = std::move(command); }
  /// Runs the selected command; throws CliError (or another exception) on failure.
  void run() const;

  /// Runs `write` inside one store transaction (BEGIN IMMEDIATE, so what it reads cannot change
  /// under it) and appends the audit entry in the same transaction: the change and the record
  /// of who made it land together or not at all. `write` returns Result<void> and must not
  /// throw; `detail` is read after `write` ran, so `write` may fill it in.
  template <class F>
  void commit(Store& store, UnixTime now, std::string_view action, const std::string& detail,
              F&& write) const {
    unwrap(store.transaction([&]() -> Result<void> {
      if (auto r = write(); !r)
        return r;
      return store.audit(now, actor(), action, detail);
    }));
  }

private:
  std::function<void()> command_;
};

/// The domain stored under `name`; throws CliError "no domain NAME" when there is none.
[[nodiscard]] Domain require_domain(Store& store, const Name& name);

} // namespace moat::cli
