// Gloo process groups and the rendezvous store on libtorch's c10d; see collective.hpp and
// rendezvous.hpp.
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <stdexcept>

#include "trainers/torch_lm/collective.hpp"
#include "trainers/torch_lm/rendezvous.hpp"

namespace llmops::trainers {
namespace {

std::chrono::milliseconds to_ms(double s) {
  return std::chrono::milliseconds(static_cast<int64_t>(s * 1000));
}

class GlooCollective : public Collective {
 public:
  GlooCollective(c10::intrusive_ptr<c10d::ProcessGroupGloo> pg, int rank, int world,
                 std::chrono::milliseconds timeout)
      : pg_(std::move(pg)), rank_(rank), world_(world), timeout_(timeout) {}
  int rank() const override { return rank_; }
  int world() const override { return world_; }
  void allreduce_sum(std::vector<at::Tensor>& tensors) override {
    for (auto& t : tensors) {
      std::vector<at::Tensor> one{t};
      wait(pg_->allreduce(one), "allreduce");
    }
  }
  void broadcast(std::vector<at::Tensor>& tensors, int root) override {
    for (auto& t : tensors) {
      std::vector<at::Tensor> one{t};
      c10d::BroadcastOptions o;
      o.rootRank = root;
      wait(pg_->broadcast(one, o), "broadcast");
    }
  }

 private:
  void wait(const c10::intrusive_ptr<c10d::Work>& work, const char* what) {
    try {
      work->wait(timeout_);
    } catch (const std::exception& e) {
      throw std::runtime_error(std::string(what) + " failed on rank " + std::to_string(rank_) +
                               ": " + short_error(e.what()));
    }
  }
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg_;
  int rank_, world_;
  std::chrono::milliseconds timeout_;
};

class TcpRendezvous : public RendezvousServer {
 public:
  explicit TcpRendezvous(c10::intrusive_ptr<c10d::TCPStore> s) : store_(std::move(s)) {}
  uint16_t port() const override { return store_->getPort(); }

 private:
  c10::intrusive_ptr<c10d::TCPStore> store_;
};

bool is_loopback(const std::string& a) {
  return a == "localhost" || a == "::1" || a.rfind("127.", 0) == 0;
}

// Gradients or tensors in order, cut into buckets of about `bytes`.
std::vector<std::vector<at::Tensor>> buckets(const std::vector<at::Tensor>& ts, int64_t bytes) {
  std::vector<std::vector<at::Tensor>> out(1);
  int64_t size = 0;
  for (const auto& t : ts) {
    const int64_t b = t.numel() * static_cast<int64_t>(t.element_size());
    if (size > 0 && size + b > bytes) {
      out.emplace_back();
      size = 0;
    }
    out.back().push_back(t);
    size += b;
  }
  return out;
}

}  // namespace

std::string short_error(const std::string& what) {
  auto cut = what.find("\nException raised from");
  std::string s = what.substr(0, cut);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::unique_ptr<Collective> connect_gloo(const GlooOptions& o) {
  const auto timeout = to_ms(o.timeout_s);
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(o.port);
    so.isServer = false;
    so.waitWorkers = false;
    so.timeout = timeout;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(o.addr, so);
    auto store = c10::make_intrusive<c10d::PrefixStore>("llmops-ddp", tcp);
    auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
    if (!o.ifname.empty())
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(o.ifname));
    else if (is_loopback(o.addr))
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else
      opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    opts->threads = 1;
    auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, o.rank, o.world, opts);
    return std::make_unique<GlooCollective>(std::move(pg), o.rank, o.world, timeout);
  } catch (const std::exception& e) {
    throw std::runtime_error("rank " + std::to_string(o.rank) + " could not join the group at " +
                             o.addr + ":" + std::to_string(o.port) + ": " + short_error(e.what()));
  }
}

void allreduce_gradients(Collective& c, const std::vector<at::Tensor>& params, double& extra,
                         int64_t bucket_bytes) {
  std::vector<at::Tensor> grads;
  for (const auto& p : params) {
    if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
    grads.push_back(p.grad());
  }
  auto bs = buckets(grads, bucket_bytes);
  for (size_t i = 0; i < bs.size(); ++i) {
    std::vector<at::Tensor> flat_parts;
    for (const auto& g : bs[i]) flat_parts.push_back(g.reshape({-1}));
    const bool last = i + 1 == bs.size();
    if (last) flat_parts.push_back(at::full({1}, extra, at::kFloat));
    std::vector<at::Tensor> flat{at::cat(flat_parts)};
    c.allreduce_sum(flat);
    int64_t off = 0;
    for (auto& g : bs[i]) {
      g.view({-1}).copy_(flat[0].narrow(0, off, g.numel()));
      off += g.numel();
    }
    if (last) extra = flat[0][off].item<double>();
  }
}

void broadcast_tensors(Collective& c, const std::vector<at::Tensor>& tensors,
                       int64_t bucket_bytes) {
  at::NoGradGuard no_grad;
  for (auto& b : buckets(tensors, bucket_bytes)) {
    std::vector<at::Tensor> parts;
    for (const auto& t : b) parts.push_back(t.reshape({-1}));
    std::vector<at::Tensor> flat{at::cat(parts)};
    c.broadcast(flat, 0);
    int64_t off = 0;
    for (auto t : b) {
      t.view({-1}).copy_(flat[0].narrow(0, off, t.numel()));
      off += t.numel();
    }
  }
}

Result<std::unique_ptr<RendezvousServer>> RendezvousServer::start(double timeout_s) {
  try {
    c10d::TCPStoreOptions so;
    so.port = 0;
    so.isServer = true;
    so.waitWorkers = false;
    so.timeout = to_ms(timeout_s);
    auto s = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", so);
    return std::unique_ptr<RendezvousServer>(std::make_unique<TcpRendezvous>(std::move(s)));
  } catch (const std::exception& e) {
    return Status::internal("cannot start the rendezvous store: " + short_error(e.what()));
  }
}

}  // namespace llmops::trainers
