// Reading, tokenising and packing chat data; see data.hpp.
#include "trainers/torch_lm/data.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>

namespace llmops::trainers {
namespace fs = std::filesystem;

Result<std::vector<fs::path>> list_jsonl(const fs::path& path) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return std::vector<fs::path>{path};
  if (!fs::is_directory(path, ec))
    return Status::not_found("training data '" + path.string() + "' does not exist");
  if (fs::is_regular_file(path / "data.jsonl", ec))
    return std::vector<fs::path>{path / "data.jsonl"};
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::end(it);
       it.increment(ec))
    if (it->is_regular_file() && it->path().extension() == ".jsonl") files.push_back(it->path());
  if (ec) return Status::internal("cannot list " + path.string() + ": " + ec.message());
  std::sort(files.begin(), files.end());
  if (files.empty())
    return Status::invalid(path.string() +
                           ": holds no .jsonl file (expected OpenAI-chat JSONL: one "
                           "{\"messages\": [...]} per line)");
  return files;
}

Result<std::vector<Conversation>> read_conversations(const fs::path& path) {
  auto files = list_jsonl(path);
  if (!files) return files.status();
  std::vector<Conversation> out;
  for (const auto& f : *files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) return Status::not_found("cannot read " + f.string());
    std::string line;
    for (int64_t n = 1; std::getline(in, line); ++n) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      auto msgs = lm::parse_chat_messages(line);
      // Built with append: GCC 12 warns falsely (-Wrestrict) on long operator+ chains.
      std::string where = f.string();
      where.append(":").append(std::to_string(n)).append(": ");
      if (!msgs) {
        const std::string m = msgs.status().message();
        where.append(m.empty() ? "not a chat JSON line" : m);
        where.append(" (expected {\"messages\": [{\"role\": ..., \"content\": ...}]})");
        return Status::invalid(where);
      }
      if (msgs->empty()) return Status::invalid(where + "no messages");
      out.push_back(std::move(*msgs));
    }
  }
  if (out.empty()) return Status::invalid(path.string() + ": holds no conversations");
  return out;
}

namespace {

// Whole conversations, first-fit decreasing into rows of seq_len (each row starts at a
// conversation's start, so an answer always sees its question unless the conversation itself is
// longer than a row: those are cut into rows of their own as the stream is).
struct Item {
  std::vector<int64_t> ids, labels;
  std::vector<uint8_t> argument;
};

void pack_whole(const std::vector<Item>& items, int64_t seq_len, int64_t eot, PackedData& p) {
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return items[a].ids.size() > items[b].ids.size(); });
  std::vector<std::vector<size_t>> rows;
  std::vector<int64_t> room;
  // The row holding [begin, end) of each listed item.
  auto emit_row = [&](const std::vector<size_t>& list, int64_t begin, int64_t end) {
    int64_t j = 0;
    for (size_t i : list) {
      const auto& it = items[i];
      for (auto k = begin; k < std::min<int64_t>(end, static_cast<int64_t>(it.ids.size()));
           ++k, ++j) {
        p.ids.push_back(it.ids[k]);
        p.labels.push_back(j > 0 ? it.labels[k] : -100);
        p.argument.push_back(j > 0 ? it.argument[k] : 0);
      }
    }
    for (; j < seq_len; ++j) {
      p.ids.push_back(eot);
      p.labels.push_back(-100);
      p.argument.push_back(0);
    }
  };
  for (size_t i : order) {
    const auto n = static_cast<int64_t>(items[i].ids.size());
    if (n > seq_len) {  // its own rows, overlapping by one token
      for (int64_t start = 0; start + 1 < n; start += seq_len - 1)
        emit_row({i}, start, std::min(n, start + seq_len));
      continue;
    }
    size_t r = 0;
    while (r < rows.size() && room[r] < n) ++r;
    if (r == rows.size()) {
      rows.emplace_back();
      room.push_back(seq_len);
    }
    rows[r].push_back(i);
    room[r] -= n;
  }
  for (const auto& row : rows) emit_row(row, 0, seq_len);
}

}  // namespace

Result<PackedData> pack_conversations(const lm::Tokenizer& tok,
                                      const std::vector<Conversation>& convs, int64_t seq_len,
                                      Packing packing) {
  if (seq_len < 2) return Status::invalid("seq_len must be at least 2");
  auto eot = tok.token_to_id("<|endoftext|>");
  if (!eot) return Status::invalid("the tokenizer has no <|endoftext|> token");
  std::vector<int64_t> ids, labels;
  std::vector<uint8_t> argument;
  std::vector<Item> items;
  PackedData p;
  p.seq_len = seq_len;
  for (const auto& c : convs) {
    auto enc = lm::encode_chatml(tok, c);
    if (!enc) return enc.status();
    const size_t first = ids.size();
    for (size_t i = 0; i < enc->ids.size(); ++i) {
      ids.push_back(enc->ids[i]);
      labels.push_back(enc->loss_mask[i] ? enc->ids[i] : -100);
      argument.push_back(enc->loss_mask[i] == 2 ? 1 : 0);
      p.target_tokens += enc->loss_mask[i] ? 1 : 0;
    }
    ids.push_back(*eot);
    labels.push_back(-100);
    argument.push_back(0);
    if (packing == Packing::kConversations)
      items.push_back({{ids.begin() + first, ids.end()},
                       {labels.begin() + first, labels.end()},
                       {argument.begin() + first, argument.end()}});
  }
  p.tokens = static_cast<int64_t>(ids.size());
  if (p.target_tokens == 0) return Status::invalid("the data has no assistant tokens to train on");
  if (packing == Packing::kConversations) {
    pack_whole(items, seq_len, *eot, p);
    return p;
  }
  // Rows start every seq_len - 1 tokens; the last row is padded with ignored <|endoftext|>.
  const int64_t stride = seq_len - 1;
  for (int64_t start = 0; start + 1 < p.tokens; start += stride) {
    for (int64_t j = 0; j < seq_len; ++j) {
      const int64_t k = start + j;
      p.ids.push_back(k < p.tokens ? ids[k] : *eot);
      p.labels.push_back(k < p.tokens && j > 0 ? labels[k] : -100);
      p.argument.push_back(k < p.tokens && j > 0 ? argument[k] : 0);
    }
  }
  return p;
}

double unigram_loss(const PackedData& train, const PackedData& on, int64_t vocab) {
  std::map<int64_t, double> count;
  double total = 0;
  auto targets = [](const PackedData& d, auto&& fn) {
    for (size_t i = 0; i < d.labels.size(); ++i)
      if (d.labels[i] >= 0 && i % d.seq_len != 0) fn(d.labels[i]);
  };
  targets(train, [&](int64_t t) {
    count[t] += 1;
    total += 1;
  });
  double nll = 0, n = 0;
  targets(on, [&](int64_t t) {
    auto it = count.find(t);
    const double c = it == count.end() ? 0 : it->second;
    nll -= std::log((c + 1) / (total + static_cast<double>(vocab)));
    n += 1;
  });
  return n > 0 ? nll / n : 0;
}

void split_eval(std::vector<Conversation>& train, std::vector<Conversation>& eval,
                double fraction) {
  if (fraction <= 0 || train.size() < 2) return;
  const auto every = std::max<size_t>(2, static_cast<size_t>(std::llround(1.0 / fraction)));
  std::vector<Conversation> keep;
  for (size_t i = 0; i < train.size(); ++i)
    ((i % every == every - 1) ? eval : keep).push_back(std::move(train[i]));
  train = std::move(keep);
}

namespace {
constexpr char kPackedMagic[8] = {'L', 'M', 'P', 'A', 'C', 'K', '0', '2'};
}

Status save_packed(const fs::path& file, const PackedData& d) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  const int64_t head[4] = {d.seq_len, static_cast<int64_t>(d.ids.size()), d.tokens,
                           d.target_tokens};
  out.write(kPackedMagic, sizeof kPackedMagic);
  out.write(reinterpret_cast<const char*>(head), sizeof head);
  out.write(reinterpret_cast<const char*>(d.ids.data()),
            static_cast<std::streamsize>(d.ids.size() * sizeof(int64_t)));
  out.write(reinterpret_cast<const char*>(d.labels.data()),
            static_cast<std::streamsize>(d.labels.size() * sizeof(int64_t)));
  out.write(reinterpret_cast<const char*>(d.argument.data()),
            static_cast<std::streamsize>(d.argument.size()));
  out.close();
  return out ? Status::ok() : Status::internal("cannot write " + file.string());
}

Result<PackedData> load_packed(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  char magic[8];
  int64_t head[4];
  if (!in.read(magic, sizeof magic) || std::string(magic, 8) != std::string(kPackedMagic, 8) ||
      !in.read(reinterpret_cast<char*>(head), sizeof head) || head[0] <= 0 || head[1] < 0 ||
      head[1] % head[0] != 0)
    return Status::invalid(file.string() + ": not a packed data file");
  std::error_code ec;
  const auto want = sizeof magic + sizeof head + 17 * static_cast<uintmax_t>(head[1]);
  if (fs::file_size(file, ec) != want)
    return Status::invalid(file.string() + ": truncated packed data file");
  PackedData d;
  d.seq_len = head[0];
  d.tokens = head[2];
  d.target_tokens = head[3];
  d.ids.resize(static_cast<size_t>(head[1]));
  d.labels.resize(static_cast<size_t>(head[1]));
  d.argument.resize(static_cast<size_t>(head[1]));
  in.read(reinterpret_cast<char*>(d.ids.data()), static_cast<std::streamsize>(head[1] * 8));
  in.read(reinterpret_cast<char*>(d.labels.data()), static_cast<std::streamsize>(head[1] * 8));
  in.read(reinterpret_cast<char*>(d.argument.data()), static_cast<std::streamsize>(head[1]));
  if (!in) return Status::invalid(file.string() + ": truncated packed data file");
  return d;
}

}  // namespace llmops::trainers
