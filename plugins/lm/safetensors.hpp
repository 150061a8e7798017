// safetensors: read and write the Hugging Face tensor file format, without libtorch.
//
// A file is an 8-byte little-endian header length N, N bytes of JSON ({"name": {"dtype", "shape",
// "data_offsets": [begin, end]}, "__metadata__": {string: string}}) and the raw data. The reader
// checks everything a truncated or hand-edited file can get wrong (sizes, offsets, overlaps,
// dtypes) and names the file and the tensor in its error. The writer lays tensors out in name
// order, contiguous and 8-byte aligned, as the `safetensors` Python library does, so HF loads its
// files. Thread safety: plain values and free functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "llmops/status.hpp"

namespace llmops::lm {

enum class DType { kF32, kF16, kBF16, kF64, kI64, kI32, kI16, kI8, kU8, kBool };

const char* dtype_name(DType d);  // "F32", "BF16", ...
size_t dtype_size(DType d);
Result<DType> parse_dtype(const std::string& name);

// A tensor held in host memory, row-major, in its file's dtype.
struct RawTensor {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::vector<std::byte> data;

  int64_t numel() const;
  // Values converted to float (from any float or integer dtype) or to int64 (integer dtypes).
  std::vector<float> to_float() const;
  std::vector<int64_t> to_int64() const;

  static RawTensor from_float(std::vector<int64_t> shape, const std::vector<float>& values,
                              DType dtype = DType::kF32);  // F32, F16 or BF16
  static RawTensor from_int64(std::vector<int64_t> shape, const std::vector<int64_t>& values);
};

struct SafetensorsFile {
  std::map<std::string, RawTensor> tensors;
  std::map<std::string, std::string> metadata;
};

// Only the header: names, dtypes and shapes (data left empty). Cheap on large files.
Result<SafetensorsFile> read_safetensors_header(const std::filesystem::path& path);
Result<SafetensorsFile> read_safetensors(const std::filesystem::path& path);
// Parses a whole file held in memory; `what` names it in errors.
Result<SafetensorsFile> parse_safetensors(const std::byte* bytes, size_t size,
                                          const std::string& what, bool with_data = true);

Status write_safetensors(const std::filesystem::path& path,
                         const std::map<std::string, RawTensor>& tensors,
                         const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace llmops::lm
