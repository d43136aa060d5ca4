// main() for fuzz targets built without libFuzzer (any compiler, the ordinary and ASan builds):
// runs LLVMFuzzerTestOneInput once on each file named, and on each file in each directory named.
// ctest uses it to replay the seed corpus; it also replays a saved crash under gdb or valgrind.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

void run_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "replay: cannot open %s\n", path.c_str());
    std::exit(2);
  }
  const std::vector<std::uint8_t> input((std::istreambuf_iterator<char>(in)),
                                        std::istreambuf_iterator<char>());
  // A copy of exactly the input's size, so that ASan sees any read past its end.
  const auto copy = std::make_unique<std::uint8_t[]>(input.size());
  std::copy(input.begin(), input.end(), copy.get());
  (void)LLVMFuzzerTestOneInput(copy.get(), input.size());
}

} // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize != nullptr)
    LLVMFuzzerInitialize(&argc, &argv);
  std::size_t inputs = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg(argv[i]);
    std::vector<std::filesystem::path> files;
    if (std::filesystem::is_directory(arg)) {
      for (const auto& entry : std::filesystem::directory_iterator(arg))
        if (entry.is_regular_file())
          files.push_back(entry.path());
      std::sort(files.begin(), files.end()); // the same order in every run
    } else {
      files.push_back(arg);
    }
    for (const auto& f : files) {
      run_file(f);
      ++inputs;
    }
  }
  std::printf("replay: %zu inputs, no failure\n", inputs);
  // No input at all is a misconfigured test, not a pass.
  return inputs > 0 ? 0 : 1;
}
