// safetensors reader and writer; see safetensors.hpp.
#include "safetensors.hpp"
#include "json_depth.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

namespace llmops::lm {
namespace {

using nlohmann::json;

// The safetensors library refuses headers above 100 MB; so do we (a corrupt length field
// would otherwise make us allocate gigabytes).
constexpr uint64_t kMaxHeader = 100'000'000;
// A header nests three deep ({"name": {"shape": [...]}}); deeper is not a safetensors header, and
// deep JSON costs far more memory than its text ("[[[[" is ~100 bytes a level once parsed).
constexpr int kMaxHeaderDepth = 8;
// A tensor's dimensions and byte size: far beyond any real tensor, small enough that products and
// sums of them cannot overflow 64 bits.
constexpr uint64_t kMaxBytes = uint64_t{1} << 56;
constexpr size_t kMaxRank = 32;

float half_to_float(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while (!(mant & 0x400)) {
        mant <<= 1;
        --exp;
      }
      bits = sign | (exp << 23) | ((mant & 0x3ff) << 13);
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  return std::bit_cast<float>(bits);
}

uint16_t float_to_half(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint16_t sign = (x >> 16) & 0x8000;
  const uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) return sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0);  // inf / nan
  if (ax >= 0x477ff000u) return sign | 0x7c00;                                   // overflow
  if (ax < 0x38800000u) {                                                        // subnormal
    const float v = std::bit_cast<float>(ax) * 16777216.0f;  // * 2^24: units of 2^-24
    return sign | static_cast<uint16_t>(std::nearbyint(v));
  }
  uint32_t m = ax + 0xc8000fffu + ((ax >> 13) & 1);  // rebias exponent, round to nearest even
  return sign | static_cast<uint16_t>(m >> 13);
}

float bf16_to_float(uint16_t h) {
  return std::bit_cast<float>(static_cast<uint32_t>(h) << 16);
}

uint16_t float_to_bf16(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;  // nan
  x += 0x7fff + ((x >> 16) & 1);                       // round to nearest even
  return static_cast<uint16_t>(x >> 16);
}

template <typename T>
T load(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

}  // namespace

const char* dtype_name(DType d) {
  switch (d) {
    case DType::kF32:
      return "F32";
    case DType::kF16:
      return "F16";
    case DType::kBF16:
      return "BF16";
    case DType::kF64:
      return "F64";
    case DType::kI64:
      return "I64";
    case DType::kI32:
      return "I32";
    case DType::kI16:
      return "I16";
    case DType::kI8:
      return "I8";
    case DType::kU8:
      return "U8";
    case DType::kBool:
      return "BOOL";
  }
  return "?";
}

size_t dtype_size(DType d) {
  switch (d) {
    case DType::kF64:
    case DType::kI64:
      return 8;
    case DType::kF32:
    case DType::kI32:
      return 4;
    case DType::kF16:
    case DType::kBF16:
    case DType::kI16:
      return 2;
    default:
      return 1;
  }
}

Result<DType> parse_dtype(const std::string& name) {
  for (DType d : {DType::kF32, DType::kF16, DType::kBF16, DType::kF64, DType::kI64, DType::kI32,
                  DType::kI16, DType::kI8, DType::kU8, DType::kBool})
    if (name == dtype_name(d)) return d;
  return Status::invalid("unsupported dtype '" + name + "'");
}

int64_t RawTensor::numel() const {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  return n;
}

std::vector<float> RawTensor::to_float() const {
  const int64_t n = numel();
  std::vector<float> out(static_cast<size_t>(n));
  const std::byte* p = data.data();
  const size_t w = dtype_size(dtype);
  for (int64_t i = 0; i < n; ++i, p += w) {
    switch (dtype) {
      case DType::kF32:
        out[i] = load<float>(p);
        break;
      case DType::kF16:
        out[i] = half_to_float(load<uint16_t>(p));
        break;
      case DType::kBF16:
        out[i] = bf16_to_float(load<uint16_t>(p));
        break;
      case DType::kF64:
        out[i] = static_cast<float>(load<double>(p));
        break;
      case DType::kI64:
        out[i] = static_cast<float>(load<int64_t>(p));
        break;
      case DType::kI32:
        out[i] = static_cast<float>(load<int32_t>(p));
        break;
      case DType::kI16:
        out[i] = load<int16_t>(p);
        break;
      case DType::kI8:
        out[i] = load<int8_t>(p);
        break;
      case DType::kU8:
      case DType::kBool:
        out[i] = load<uint8_t>(p);
        break;
    }
  }
  return out;
}

std::vector<int64_t> RawTensor::to_int64() const {
  const int64_t n = numel();
  std::vector<int64_t> out(static_cast<size_t>(n));
  const std::byte* p = data.data();
  const size_t w = dtype_size(dtype);
  for (int64_t i = 0; i < n; ++i, p += w) {
    switch (dtype) {
      case DType::kI64:
        out[i] = load<int64_t>(p);
        break;
      case DType::kI32:
        out[i] = load<int32_t>(p);
        break;
      case DType::kI16:
        out[i] = load<int16_t>(p);
        break;
      case DType::kI8:
        out[i] = load<int8_t>(p);
        break;
      case DType::kU8:
      case DType::kBool:
        out[i] = load<uint8_t>(p);
        break;
      default:
        out[i] = static_cast<int64_t>(to_float()[i]);
        break;  // rare: floats as ids
    }
  }
  return out;
}

RawTensor RawTensor::from_float(std::vector<int64_t> shape, const std::vector<float>& values,
                                DType dtype) {
  RawTensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.data.resize(values.size() * dtype_size(dtype));
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == DType::kF16) {
      const uint16_t h = float_to_half(values[i]);
      std::memcpy(&t.data[i * 2], &h, 2);
    } else if (dtype == DType::kBF16) {
      const uint16_t h = float_to_bf16(values[i]);
      std::memcpy(&t.data[i * 2], &h, 2);
    } else {
      t.dtype = DType::kF32;
      std::memcpy(&t.data[i * 4], &values[i], 4);
    }
  }
  return t;
}

RawTensor RawTensor::from_int64(std::vector<int64_t> shape, const std::vector<int64_t>& values) {
  RawTensor t;
  t.dtype = DType::kI64;
  t.shape = std::move(shape);
  t.data.resize(values.size() * 8);
  if (!values.empty()) std::memcpy(t.data.data(), values.data(), values.size() * 8);
  return t;
}

Result<SafetensorsFile> parse_safetensors(const std::byte* bytes, size_t size,
                                          const std::string& what, bool with_data) {
  auto bad = [&](const std::string& m) {
    return Status(StatusCode::kDataLoss, what + ": not a valid safetensors file: " + m);
  };
  if (size < 8) return bad("file is " + std::to_string(size) + " bytes, shorter than the header");
  const auto n = load<uint64_t>(bytes);
  if (n > kMaxHeader) return bad("header length " + std::to_string(n) + " is implausibly large");
  if (n > size - 8)
    return bad("header length " + std::to_string(n) + " exceeds the file size " +
               std::to_string(size) + " (truncated?)");
  if (const size_t at = json_too_deep(std::string_view(reinterpret_cast<const char*>(bytes) + 8, n),
                                      kMaxHeaderDepth);
      at != std::string::npos)
    return bad("header JSON nests deeper than " + std::to_string(kMaxHeaderDepth) +
               " levels (at header byte " + std::to_string(at) +
               "); a safetensors header nests 3 deep");
  json header;
  try {
    header = json::parse(reinterpret_cast<const char*>(bytes) + 8,
                         reinterpret_cast<const char*>(bytes) + 8 + n);
  } catch (const std::exception& e) {
    return bad(std::string("corrupt header JSON: ") + e.what());
  }
  if (!header.is_object()) return bad("header is not a JSON object");
  const uint64_t data_size = with_data ? size - 8 - n : UINT64_MAX;
  SafetensorsFile file;
  std::vector<std::pair<std::pair<uint64_t, uint64_t>, std::string>> ranges;
  for (auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) return bad("__metadata__ is not an object");
      for (auto& [k, v] : entry.items()) {
        if (!v.is_string()) return bad("__metadata__." + k + " is not a string");
        file.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + name + "'";
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
        !entry.contains("data_offsets"))
      return bad(where + " lacks dtype, shape or data_offsets");
    const auto& jd = entry["dtype"];
    const auto& js = entry["shape"];
    const auto& jo = entry["data_offsets"];
    if (!jd.is_string()) return bad(where + ": dtype is not a string");
    auto dt = parse_dtype(jd.get<std::string>());
    if (!dt) return bad(where + ": " + dt.status().message());
    RawTensor t;
    t.dtype = *dt;
    if (!js.is_array()) return bad(where + ": shape is not an array");
    if (js.size() > kMaxRank)
      return bad(where + ": shape has " + std::to_string(js.size()) + " dimensions (at most " +
                 std::to_string(kMaxRank) + ")");
    // The byte size, checked as it grows so that no product overflows.
    uint64_t expect = dtype_size(t.dtype);
    for (const auto& d : js) {
      if (!d.is_number_unsigned()) return bad(where + ": shape has a non-integer or negative");
      const auto dim = d.get<uint64_t>();
      if (dim > kMaxBytes || (dim > 0 && expect > kMaxBytes / dim))
        return bad(where + ": shape " + js.dump() + " is implausibly large (over 2^56 bytes)");
      expect *= dim;
      t.shape.push_back(static_cast<int64_t>(dim));
    }
    if (!jo.is_array() || jo.size() != 2 || !jo[0].is_number_unsigned() ||
        !jo[1].is_number_unsigned())
      return bad(where + ": data_offsets is not [begin, end]");
    const auto b = jo[0].get<uint64_t>(), e = jo[1].get<uint64_t>();
    if (e < b) return bad(where + ": data_offsets end before they begin");
    if (e - b != expect)
      return bad(where + ": holds " + std::to_string(e - b) + " bytes, its shape and dtype need " +
                 std::to_string(expect));
    if (e > data_size)
      return bad(where + ": data ends at byte " + std::to_string(e) + " but the file has only " +
                 std::to_string(data_size) + " data bytes (truncated?)");
    if (with_data) {
      const std::byte* p = bytes + 8 + n + b;
      t.data.assign(p, p + (e - b));
    }
    ranges.push_back({{b, e}, name});
    file.tensors.emplace(name, std::move(t));
  }
  std::sort(ranges.begin(), ranges.end());
  uint64_t at = 0;
  for (const auto& [r, name] : ranges) {
    if (r.first != at)
      return bad("tensor '" + name + "' " +
                 (r.first < at ? "overlaps the one before" : "leaves a gap"));
    at = r.second;
  }
  if (with_data && at != data_size)
    return bad(std::to_string(data_size - at) + " trailing bytes after the last tensor");
  return file;
}

namespace {
// Up to `limit` bytes of a regular file: the size of anything else (a FIFO, /dev/zero) is not
// known up front, and a weights file is never one.
Result<std::vector<std::byte>> slurp(const std::filesystem::path& path, size_t limit) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))
    return Status::invalid(path.string() + ": not a regular file (a safetensors file must be one)");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::not_found("cannot open " + path.string());
  in.seekg(0, std::ios::end);
  const auto end = in.tellg();
  if (end < 0) return Status(StatusCode::kDataLoss, "cannot read " + path.string());
  const auto size = static_cast<size_t>(end);
  in.seekg(0);
  std::vector<std::byte> buf(std::min(size, limit));
  in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(buf.size()));
  if (!in) return Status(StatusCode::kDataLoss, "cannot read " + path.string());
  return buf;
}
}  // namespace

Result<SafetensorsFile> read_safetensors(const std::filesystem::path& path) {
  auto buf = slurp(path, SIZE_MAX);
  if (!buf) return buf.status();
  return parse_safetensors(buf->data(), buf->size(), path.string());
}

Result<SafetensorsFile> read_safetensors_header(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))
    return Status::invalid(path.string() + ": not a regular file (a safetensors file must be one)");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::not_found("cannot open " + path.string());
  uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  if (!in) return parse_safetensors(nullptr, 0, path.string());
  auto buf = slurp(path, 8 + std::min(n, kMaxHeader + 1));
  if (!buf) return buf.status();
  auto r = parse_safetensors(buf->data(), buf->size(), path.string(), false);
  if (!r) return r;
  const auto size = std::filesystem::file_size(path, ec);
  uint64_t end = 0;
  for (const auto& [name, t] : r->tensors)
    end += static_cast<uint64_t>(t.numel()) * dtype_size(t.dtype);
  // The ranges are contiguous from 0 (checked above), so `end` is the last one's end: no overflow.
  if (!ec && end != size - 8 - n)
    return Status(StatusCode::kDataLoss,
                  path.string() + ": not a valid safetensors file: the header describes " +
                      std::to_string(end) + " data bytes, the file holds " +
                      std::to_string(size - 8 - n) + " (truncated?)");
  return r;
}

Status write_safetensors(const std::filesystem::path& path,
                         const std::map<std::string, RawTensor>& tensors,
                         const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t at = 0;
  for (const auto& [name, t] : tensors) {
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * dtype_size(t.dtype);
    if (bytes != t.data.size())
      return Status::invalid("tensor '" + name + "': data size does not match its shape");
    header[name] = {
        {"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {at, at + bytes}}};
    at += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  const auto tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Status::internal("cannot write " + tmp);
    const uint64_t n = text.size();
    out.write(reinterpret_cast<const char*>(&n), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& [name, t] : tensors)
      out.write(reinterpret_cast<const char*>(t.data.data()),
                static_cast<std::streamsize>(t.data.size()));
    if (!out) return Status::internal("write failed: " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Status::internal("cannot rename " + tmp + ": " + ec.message());
  return Status::ok();
}

}  // namespace llmops::lm
