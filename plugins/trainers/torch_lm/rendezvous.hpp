// The rendezvous point of a data-parallel training step: a c10d TCPStore that the launching
// process (trainer/torch-lm's step, like torchrun's agent) hosts on a free port, so the ranks
// find each other without a port being chosen in advance. Torch-free header (gloo.cpp holds it).
// Thread safety: construct and destroy from one thread; the store serves on its own thread.
#pragma once

#include <cstdint>
#include <memory>

#include "llmops/status.hpp"

namespace llmops::trainers {

class RendezvousServer {
 public:
  // Listens on every interface on a port the kernel picks.
  static Result<std::unique_ptr<RendezvousServer>> start(double timeout_s);
  virtual ~RendezvousServer() = default;
  virtual uint16_t port() const = 0;
};

}  // namespace llmops::trainers
