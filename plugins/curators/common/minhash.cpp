#include "minhash.hpp"

#include <algorithm>
#include <limits>

#include "text.hpp"

namespace llmops::curators {

MinHasher::MinHasher(int num_perm, int shingle_words, uint64_t seed)
    : shingle_words_(shingle_words) {
  uint64_t s = seed;
  for (int i = 0; i < num_perm; ++i) {
    s = mix64(s);
    a_.push_back(s | 1);
    s = mix64(s);
    b_.push_back(s);
  }
}

void MinHasher::signature_of_shingles(const std::vector<uint64_t>& sh,
                                      std::vector<uint32_t>& sig) const {
  const size_t n = a_.size();
  sig.assign(n, std::numeric_limits<uint32_t>::max());
  uint32_t* out = sig.data();
  const uint64_t* a = a_.data();
  const uint64_t* b = b_.data();
  for (uint64_t x : sh) {
    // (a*x + b) >> 32 over 2^64: a multiply-shift universal family; the loop vectorises.
    for (size_t i = 0; i < n; ++i) {
      const uint32_t v = static_cast<uint32_t>((a[i] * x + b[i]) >> 32);
      out[i] = v < out[i] ? v : out[i];
    }
  }
}

void MinHasher::signature(std::string_view text, std::vector<uint32_t>& sig) const {
  std::vector<uint64_t> wh, sh;
  word_hashes(text, wh);
  shingles(wh, static_cast<size_t>(shingle_words_), sh);
  std::sort(sh.begin(), sh.end());
  sh.erase(std::unique(sh.begin(), sh.end()), sh.end());
  signature_of_shingles(sh, sig);
}

double estimated_jaccard(const uint32_t* a, const uint32_t* b, int n) {
  int eq = 0;
  for (int i = 0; i < n; ++i) eq += a[i] == b[i];
  return n ? static_cast<double>(eq) / n : 0;
}

LshIndex::LshIndex(int num_perm, int bands, double threshold)
    : num_perm_(num_perm),
      bands_(bands),
      rows_(bands > 0 ? num_perm / bands : 0),
      threshold_(threshold),
      buckets_(static_cast<size_t>(std::max(bands, 0))),
      next_(static_cast<size_t>(std::max(bands, 0))) {}

uint64_t LshIndex::band_key(const std::vector<uint32_t>& sig, int band) const {
  uint64_t h = mix64(static_cast<uint64_t>(band) + 0x51ed);
  for (int r = 0; r < rows_; ++r) h = mix64(h ^ sig[static_cast<size_t>(band * rows_ + r)]);
  return h;
}

int64_t LshIndex::query(const std::vector<uint32_t>& sig, double* best_out) const {
  int64_t best_id = -1;
  double best = -1;
  std::vector<uint32_t> seen;
  for (int b = 0; b < bands_; ++b) {
    auto it = buckets_[static_cast<size_t>(b)].find(band_key(sig, b));
    if (it == buckets_[static_cast<size_t>(b)].end()) continue;
    for (uint32_t id = it->second; id != UINT32_MAX; id = next_[static_cast<size_t>(b)][id]) {
      if (std::find(seen.begin(), seen.end(), id) != seen.end()) continue;
      seen.push_back(id);
      const double j =
          estimated_jaccard(sig.data(), &sigs_[static_cast<size_t>(id) * num_perm_], num_perm_);
      if (j > best) best = j, best_id = id;
    }
  }
  if (best_out) *best_out = best;
  return best >= threshold_ ? best_id : -1;
}

int64_t LshIndex::insert(const std::vector<uint32_t>& sig) {
  const auto id = static_cast<uint32_t>(count_++);
  sigs_.insert(sigs_.end(), sig.begin(), sig.end());
  for (int b = 0; b < bands_; ++b) {
    auto& bucket = buckets_[static_cast<size_t>(b)];
    auto& next = next_[static_cast<size_t>(b)];
    next.push_back(UINT32_MAX);
    auto [it, fresh] = bucket.try_emplace(band_key(sig, b), id);
    if (!fresh) {
      next[id] = it->second;  // push to the front of the chain
      it->second = id;
    }
  }
  return id;
}

size_t LshIndex::memory_bytes() const {
  size_t n = sigs_.capacity() * sizeof(uint32_t);
  for (size_t b = 0; b < buckets_.size(); ++b)
    n += buckets_[b].size() * 32 + buckets_[b].bucket_count() * 8 + next_[b].capacity() * 4;
  return n;
}

}  // namespace llmops::curators
