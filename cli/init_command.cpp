// moat init: creates the database (or brings an existing one to the current schema).
#include "cli/commands.hpp"
#include "cli/output.hpp"

#include <filesystem>
#include <system_error>

namespace moat::cli {
namespace {

void run_init(const Context& ctx) {
  const std::string path = ctx.db_path();
  // moat does not create directories: where the database lives (and who may read the private
  // keys in it) is the operator's decision.
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty() && !std::filesystem::is_directory(parent, ec))
    throw CliError("directory " + parent.string() + " does not exist; create it first (" +
                   "moat init does not create directories)");
  Store store = ctx.open_store(Store::Mode::kCreate);
  int schema = unwrap(store.schema_version());
  if (ctx.json)
    print_json({{"ok", true}, {"db", path}, {"schema", schema}});
  else
    print_line("database " + path + " ready (schema " + std::to_string(schema) + ")");
}

} // namespace

void add_init_command(CLI::App& app, Context& ctx) {
  CLI::App* init = app.add_subcommand("init", "Create the database (or upgrade its schema)");
  on_run(init, ctx, [&ctx] { run_init(ctx); });
}

} // namespace moat::cli
