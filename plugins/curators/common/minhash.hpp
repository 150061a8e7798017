// MinHash signatures over word 5-gram shingles, and an LSH index (bands x rows) that finds earlier
// items whose estimated Jaccard similarity reaches a threshold. Deterministic: the permutations
// come from a fixed seed, so every run and machine computes the same signatures. Memory: num_perm *
// 4 bytes per indexed item plus one bucket entry per band. Thread safety: MinHasher is immutable
// after construction; LshIndex is not thread-safe.
#pragma once

#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace llmops::curators {

class MinHasher {
 public:
  MinHasher(int num_perm, int shingle_words = 5, uint64_t seed = 1);
  int num_perm() const { return static_cast<int>(a_.size()); }
  // Signature of `text` (num_perm values); empty text gives all 0xffffffff.
  void signature(std::string_view text, std::vector<uint32_t>& sig) const;
  void signature_of_shingles(const std::vector<uint64_t>& shingles,
                             std::vector<uint32_t>& sig) const;

 private:
  std::vector<uint64_t> a_, b_;
  int shingle_words_;
};

double estimated_jaccard(const uint32_t* a, const uint32_t* b, int n);

class LshIndex {
 public:
  // num_perm must be divisible by bands.
  LshIndex(int num_perm, int bands, double threshold);
  // The id of an indexed item with estimated Jaccard >= threshold (the most similar), or -1.
  int64_t query(const std::vector<uint32_t>& sig, double* best = nullptr) const;
  // Adds an item; returns its id (0, 1, 2, ... in insertion order).
  int64_t insert(const std::vector<uint32_t>& sig);
  size_t size() const { return count_; }
  size_t memory_bytes() const;

 private:
  uint64_t band_key(const std::vector<uint32_t>& sig, int band) const;
  int num_perm_, bands_, rows_;
  double threshold_;
  size_t count_ = 0;
  std::vector<uint32_t> sigs_;
  // Per band: key -> first item id in that bucket; more items chain through next_.
  std::vector<std::unordered_map<uint64_t, uint32_t>> buckets_;
  std::vector<std::vector<uint32_t>> next_;  // per band, per item: next id in bucket or UINT32_MAX
};

}  // namespace llmops::curators
