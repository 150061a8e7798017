// Write transactions: detail::WriteTx (one store call) and Store::Batch (several calls, one
// commit). See store_impl.hpp and store.hpp.
#include "store/store_impl.hpp"

namespace llmops::store {

namespace detail {

WriteTx::WriteTx(SQLite::Database& db, BatchState& batch)
    : db_(db), nested_(batch != BatchState::kNone) {
  if (batch == BatchState::kArmed) {
    Cached(db_, "BEGIN IMMEDIATE").exec();
    batch = BatchState::kBegun;
  }
  Cached(db_, nested_ ? "SAVEPOINT call" : "BEGIN IMMEDIATE").exec();
}

void WriteTx::commit() {
  Cached(db_, nested_ ? "RELEASE call" : "COMMIT").exec();
  done_ = true;
}

WriteTx::~WriteTx() {
  if (done_) return;
  try {
    if (nested_) {
      Cached(db_, "ROLLBACK TO call").exec();
      Cached(db_, "RELEASE call").exec();
    } else {
      Cached(db_, "ROLLBACK").exec();
    }
  } catch (...) {
    // The statement that failed already reported the error; SQLite rolls back on its own when
    // the transaction cannot continue.
  }
}

}  // namespace detail

using detail::BatchState;

Result<Store::Batch> Store::batch() {
  std::lock_guard lock(impl_->mu);
  if (impl_->batch != BatchState::kNone)
    return Status::precondition("store: a batch is already open");
  impl_->batch = BatchState::kArmed;  // the first write begins the transaction
  return Batch(this);
}

Store::Batch::Batch(Batch&& other) noexcept : store_(other.store_) {
  other.store_ = nullptr;
}

Status Store::Batch::commit() {
  if (!store_) return Status::precondition("store: the batch is already closed");
  auto& impl = *store_->impl_;
  std::lock_guard lock(impl.mu);
  if (impl.batch == BatchState::kBegun) {
    Status s = detail::guarded("commit batch", [&]() -> Status {
      detail::Cached(impl.db, "COMMIT").exec();
      return Status::ok();
    });
    if (!s) return s;  // still open: the destructor rolls back
  }
  impl.batch = BatchState::kNone;
  store_ = nullptr;
  return Status::ok();
}

Store::Batch::~Batch() {
  if (!store_) return;
  auto& impl = *store_->impl_;
  std::lock_guard lock(impl.mu);
  if (impl.batch == BatchState::kBegun) {
    try {
      detail::Cached(impl.db, "ROLLBACK").exec();
    } catch (...) {
      // Nothing more to undo: SQLite has already ended the transaction.
    }
  }
  impl.batch = BatchState::kNone;
}

}  // namespace llmops::store
