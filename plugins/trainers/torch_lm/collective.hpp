// The collectives data-parallel training needs (trainer.hpp's TrainOptions::collective), and the
// Gloo process group that provides them on CPU (gloo.cpp, on libtorch's c10d). NCCL is not
// offered: Debian's libtorch is built without CUDA and NCCL.
//
// Faults: a collective that cannot complete (a peer died: seen in milliseconds as a closed
// connection; a peer stuck: after `timeout_s`) throws std::runtime_error with c10d's reason
// without its backtrace, so the rank exits instead of hanging.
// Thread safety: one collective at a time, from one thread.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace llmops::trainers {

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int world() const = 0;
  // Sums each tensor over the ranks, in place (contiguous tensors; one call per tensor list).
  virtual void allreduce_sum(std::vector<at::Tensor>& tensors) = 0;
  // Copies rank `root`'s tensors to every rank, in place.
  virtual void broadcast(std::vector<at::Tensor>& tensors, int root) = 0;
};

struct GlooOptions {
  std::string addr = "127.0.0.1";  // where the rendezvous store listens (rendezvous.hpp)
  int port = 0;
  int rank = 0, world = 1;
  double timeout_s = 300;  // store connection and every collective
  // The network device Gloo binds: "" = the address this host's name resolves to, unless addr is
  // a loopback address (then loopback); else a network interface name (like GLOO_SOCKET_IFNAME).
  std::string ifname;
};

// Joins the group (blocks until every rank has joined or the timeout passes); throws
// std::runtime_error with a message naming the address on failure.
std::unique_ptr<Collective> connect_gloo(const GlooOptions& options);

// Sums the gradients of `params` over the ranks in buckets of about `bucket_bytes` (one
// allreduce per bucket of flattened gradients); `extra` (e.g. the loss) rides in the last one.
// Missing gradients count as zeros.
void allreduce_gradients(Collective& c, const std::vector<at::Tensor>& params, double& extra,
                         int64_t bucket_bytes);

// Makes every rank's tensors equal to rank 0's (bucketed like allreduce_gradients).
void broadcast_tensors(Collective& c, const std::vector<at::Tensor>& tensors, int64_t bucket_bytes);

// c10d's exception text without its "Exception raised from ..." backtrace.
std::string short_error(const std::string& what);

}  // namespace llmops::trainers
