// moat: the admin CLI. This file only wires the command groups together, parses the command
// line and turns failures into one line on stderr: exit 1 for a failed command, 2 for a usage
// error.
#include "cli/app.hpp"
#include "cli/commands.hpp"

#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

int main(int argc, char** argv) {
  moat::cli::Context ctx;
  CLI::App app{"moat: the admin CLI of a DNSSEC-signing authoritative DNS appliance", "moat"};
  // Set before adding subcommands, which inherit them: global options may follow the
  // subcommand ("moat record list D --db X"), and once a subcommand is chosen at a level its
  // siblings' names are plain words (an owner may be called "list").
  app.fallthrough();
  app.require_subcommand(1);
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return "moat: error: " + std::string(e.what()) + " (see moat --help)\n";
  });
  app.footer("--db and --json may also follow the subcommand. RDATA words that start with '-' "
             "go after '--'.");
  app.add_option("--db", ctx.db_option,
                 "Database path (default: $MOAT_DB, else /var/lib/moat/moat.db)");
  app.add_flag("--json", ctx.json, "Machine-readable output");

  moat::cli::add_init_command(app, ctx);
  moat::cli::add_domain_commands(app, ctx);
  moat::cli::add_record_commands(app, ctx);
  moat::cli::add_zone_commands(app, ctx);
  moat::cli::add_key_commands(app, ctx);
  moat::cli::add_mail_commands(app, ctx);
  moat::cli::add_policy_commands(app, ctx);
  moat::cli::add_transfer_commands(app, ctx);
  moat::cli::add_tick_commands(app, ctx);
  moat::cli::add_report_commands(app, ctx);
  moat::cli::add_check_command(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 checks for a missing subcommand before it complains about unknown words, so
    // "moat bogus" would only say "A subcommand is required": name the word instead.
    if (std::vector<std::string> rest = app.remaining(true);
        dynamic_cast<const CLI::RequiredError*>(&e) != nullptr &&
        std::string_view(e.what()).find("subcommand") != std::string_view::npos && !rest.empty()) {
      std::cerr << "moat: error: unknown command '" << rest.front() << "' (see moat --help)\n";
      return 2;
    }
    // Help exits 0; every usage error exits 2 after one line on stderr.
    return app.exit(e) == 0 ? 0 : 2;
  }

  try {
    ctx.run();
  } catch (const std::exception& e) {
    std::cout.flush();
    std::cerr << "moat: error: " << e.what() << '\n';
    return 1;
  } catch (...) {
    std::cout.flush();
    std::cerr << "moat: error: unexpected failure\n";
    return 1;
  }
  return 0;
}
