// detail::Cached: prepared statements kept per connection (see store_impl.hpp).
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "store/store_impl.hpp"

namespace llmops::store {

namespace detail {
namespace {

using Statements = std::unordered_map<std::string, std::unique_ptr<SQLite::Statement>>;

std::mutex& registry_mu() {
  static std::mutex mu;
  return mu;
}
std::map<SQLite::Database*, Statements>& registry() {
  static std::map<SQLite::Database*, Statements> r;
  return r;
}

SQLite::Statement& fetch(SQLite::Database& db, const std::string& sql) {
  std::lock_guard lock(registry_mu());
  auto& stmts = registry()[&db];
  auto& slot = stmts[sql];
  if (!slot) slot = std::make_unique<SQLite::Statement>(db, sql);
  slot->reset();
  slot->clearBindings();
  return *slot;
}

}  // namespace

Cached::Cached(SQLite::Database& db, const std::string& sql) : q_(fetch(db, sql)) {}

Cached::~Cached() {
  try {
    q_.reset();
  } catch (...) {
    // reset reports the statement's last error again; it was already handled by the caller.
  }
}

void forget_statements(SQLite::Database& db) {
  std::lock_guard lock(registry_mu());
  registry().erase(&db);
}

}  // namespace detail

Store::Impl::~Impl() {
  detail::forget_statements(db);
}

}  // namespace llmops::store
