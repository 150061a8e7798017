#include "engine/triggers/watch.hpp"

#include <fnmatch.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <set>

#include "base/hash.hpp"
#include "store/blob_store.hpp"

namespace fs = std::filesystem;

namespace llmops::engine {

namespace {

struct Component {
  std::string text;
  size_t offset = 0;  // in the whole glob
};

std::vector<Component> split(const std::string& glob) {
  std::vector<Component> out;
  size_t start = 0;
  for (size_t i = 0; i <= glob.size(); ++i) {
    if (i == glob.size() || glob[i] == '/') {
      if (i > start) out.push_back({glob.substr(start, i - start), start});
      start = i + 1;
    }
  }
  return out;
}

bool has_wildcard(const std::string& c) {
  for (size_t i = 0; i < c.size(); ++i) {
    if (c[i] == '\\') {
      ++i;
    } else if (c[i] == '*' || c[i] == '?' || c[i] == '[') {
      return true;
    }
  }
  return false;
}

std::string unescape(const std::string& c) {
  std::string out;
  for (size_t i = 0; i < c.size(); ++i) {
    if (c[i] == '\\' && i + 1 < c.size()) ++i;
    out += c[i];
  }
  return out;
}

class Walker {
 public:
  Walker(std::vector<Component> parts, size_t limit) : parts_(std::move(parts)), limit_(limit) {}

  Status walk(const fs::path& dir, const std::string& shown, size_t i) {
    const std::string& comp = parts_[i].text;
    const bool last = i + 1 == parts_.size();
    std::error_code ec;
    if (comp == "**") {
      if (Status s = walk(dir, shown, i + 1); !s) return s;
      for (const auto& e : fs::directory_iterator(dir, ec)) {
        const std::string name = e.path().filename().string();
        if (name.empty() || name[0] == '.') continue;
        std::error_code ec2;
        if (!e.is_symlink(ec2) && e.is_directory(ec2)) {
          if (Status s = walk(e.path(), shown + name + "/", i); !s) return s;
        }
      }
      return Status::ok();
    }
    if (!has_wildcard(comp)) {
      const std::string name = unescape(comp);
      return visit(dir / name, shown + name, last, i);
    }
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      const std::string name = e.path().filename().string();
      if (::fnmatch(comp.c_str(), name.c_str(), FNM_PERIOD) != 0) continue;
      if (Status s = visit(e.path(), shown + name, last, i); !s) return s;
    }
    return Status::ok();
  }

  std::set<std::string>& found() { return found_; }

 private:
  Status visit(const fs::path& p, const std::string& shown, bool last, size_t i) {
    std::error_code ec;
    if (last) {
      if (fs::is_regular_file(p, ec)) {
        found_.insert(shown);
        if (found_.size() > limit_) {
          return Status::invalid("matches more than " + std::to_string(limit_) +
                                 " files; narrow it down");
        }
      }
      return Status::ok();
    }
    if (fs::is_directory(p, ec)) return walk(p, shown + "/", i + 1);
    return Status::ok();
  }

  std::vector<Component> parts_;
  size_t limit_;
  std::set<std::string> found_;
};

}  // namespace

Status check_glob(const std::string& glob, size_t* error_offset) {
  auto fail = [&](size_t at, std::string message) {
    if (error_offset) *error_offset = at;
    return Status::invalid("glob '" + glob + "': " + message);
  };
  if (glob.empty()) return fail(0, "empty: name the files, e.g. data/incoming/*.jsonl");
  if (glob.back() == '/') {
    return fail(glob.size() - 1,
                "ends with '/': the last part must name files, e.g. data/incoming/*.jsonl");
  }
  const auto parts = split(glob);
  for (size_t k = 0; k < parts.size(); ++k) {
    const std::string& c = parts[k].text;
    const size_t base = parts[k].offset;
    if (c == "**") {
      if (k + 1 == parts.size()) {
        return fail(base, "the last part must name files, not '**' (write **/*.jsonl)");
      }
      continue;
    }
    for (size_t i = 0; i < c.size(); ++i) {
      if (c[i] == '\\') {
        if (i + 1 == c.size()) return fail(base + i, "'\\' at the end of a part escapes nothing");
        ++i;
      } else if (c[i] == '*' && i + 1 < c.size() && c[i + 1] == '*') {
        return fail(base + i, "'**' must be a whole path part, as in data/**/*.jsonl");
      } else if (c[i] == '[') {
        size_t j = i + 1;
        if (j < c.size() && (c[j] == '!' || c[j] == '^')) ++j;
        if (j < c.size() && c[j] == ']') ++j;  // a leading ']' is a member
        while (j < c.size() && c[j] != ']') ++j;
        if (j >= c.size()) {
          return fail(base + i, "unclosed '[' (write \\[ for a literal bracket)");
        }
        i = j;
      }
    }
  }
  return Status::ok();
}

Result<std::vector<std::string>> expand_glob(const std::string& glob, const fs::path& base,
                                             size_t limit) {
  if (Status s = check_glob(glob); !s) return s;
  const bool absolute = glob[0] == '/';
  Walker walker(split(glob), limit);
  if (Status s = walker.walk(absolute ? fs::path("/") : base, absolute ? "/" : "", 0); !s) {
    return Status::invalid("glob '" + glob + "' " + s.message());
  }
  return std::vector<std::string>(walker.found().begin(), walker.found().end());
}

Result<std::string> DigestCache::sha256_of(const fs::path& file, int64_t* size) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    return Status::not_found(file.string() + ": " + std::strerror(errno));
  }
  auto ns = [](const timespec& t) { return int64_t{t.tv_sec} * 1000000000 + t.tv_nsec; };
  const Stamp stamp{static_cast<int64_t>(st.st_size), ns(st.st_mtim), ns(st.st_ctim),
                    static_cast<int64_t>(st.st_ino)};
  Entry& e = entries_[file.string()];
  e.seen = true;
  if (size) *size = stamp.size;
  if (e.stamp == stamp && !e.sha256.empty()) return e.sha256;
  auto hex = base::sha256_file_hex(file);
  if (!hex) return hex.status();
  e.stamp = stamp;
  e.sha256 = *hex;
  return e.sha256;
}

void DigestCache::sweep() {
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (!it->second.seen) {
      it = entries_.erase(it);
    } else {
      it->second.seen = false;
      ++it;
    }
  }
}

Result<WatchSnapshot> snapshot_watch(const WatchSpec& watch, const fs::path& base,
                                     DigestCache& cache) {
  std::set<std::string> paths;
  for (const auto& g : watch.globs) {
    auto files = expand_glob(g, base);
    if (!files) return files.status();
    paths.insert(files->begin(), files->end());
  }
  WatchSnapshot snap;
  std::string lines;
  for (const auto& p : paths) {
    const fs::path real = fs::path(p).is_absolute() ? fs::path(p) : base / p;
    WatchedFile f;
    f.path = p;
    auto hex = cache.sha256_of(real, &f.size);
    if (!hex) {
      if (hex.status().code() == StatusCode::kNotFound) continue;  // gone since the listing
      return hex.status();
    }
    f.sha256 = *hex;
    lines += f.path;
    lines += '\0';
    lines += f.sha256;
    lines += '\n';
    snap.files.push_back(std::move(f));
  }
  cache.sweep();
  snap.digest = "sha256:" + base::sha256_hex(lines);
  return snap;
}

}  // namespace llmops::engine
