// libFuzzer target for the safetensors reader (plugins/lm/safetensors.cpp, torch-free): any bytes
// given as a file must parse or give an error (never a crash, an overflow or an allocation beyond
// the input), header-only and whole; what parses must be consistent.
//   see tests/fuzz/run_fuzzers.sh for the build command
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "lm/safetensors.hpp"

using namespace llmops::lm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto* bytes = reinterpret_cast<const std::byte*>(data);
  auto header = parse_safetensors(bytes, size, "fuzz.safetensors", /*with_data=*/false);
  auto whole = parse_safetensors(bytes, size, "fuzz.safetensors", /*with_data=*/true);
  if (!whole) return 0;
  if (!header) std::abort();  // a file that reads whole has a good header
  uint64_t total = 0;
  for (const auto& [name, t] : whole->tensors) {
    const uint64_t bytes_needed = static_cast<uint64_t>(t.numel()) * dtype_size(t.dtype);
    if (bytes_needed != t.data.size()) std::abort();  // the data is exactly what the shape needs
    total += bytes_needed;
    if (t.numel() <= (1 << 16)) {
      (void)t.to_float();
      if (t.dtype != DType::kF32 && t.dtype != DType::kF16 && t.dtype != DType::kBF16 &&
          t.dtype != DType::kF64)
        (void)t.to_int64();
    }
  }
  if (total > size) std::abort();  // the tensors are inside the file
  return 0;
}
