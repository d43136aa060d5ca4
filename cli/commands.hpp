#pragma once

#include "cli/app.hpp"

#include <CLI/CLI.hpp>
#include <functional>
#include <utility>

/// Each function adds one command (or group of subcommands) to the `moat` command line. The
/// subcommands' callbacks only select what to run (Context::select); main runs it after the
/// whole command line is parsed.
namespace moat::cli {

/// Makes `command` what main runs when `sub` is chosen on the command line.
inline void on_run(CLI::App* sub, Context& ctx, std::function<void()> command) {
  sub->callback([&ctx, command = std::move(command)] { ctx.select(command); });
}

void add_init_command(CLI::App& app, Context& ctx);
void add_domain_commands(CLI::App& app, Context& ctx);
void add_record_commands(CLI::App& app, Context& ctx);
void add_zone_commands(CLI::App& app, Context& ctx);
/// `key list` and `ds`.
void add_key_commands(CLI::App& app, Context& ctx);
/// `mx add|del|list` and `cert deploy|list`.
void add_mail_commands(CLI::App& app, Context& ctx);
/// `policy set|show|del` and `tlsrpt set|del`.
void add_policy_commands(CLI::App& app, Context& ctx);
/// `tsig add|list|del` and `secondary add|list|del`.
void add_transfer_commands(CLI::App& app, Context& ctx);
/// `tick` and `status`.
void add_tick_commands(CLI::App& app, Context& ctx);
/// `reports` and `reports import` (SMTP TLS reports).
void add_report_commands(CLI::App& app, Context& ctx);
/// `check`: the live domain audited as a sender would.
void add_check_command(CLI::App& app, Context& ctx);

} // namespace moat::cli
