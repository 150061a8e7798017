// llmops-train-rank: one rank of trainer/torch-lm's data-parallel training (distributed.hpp).
#include "trainers/torch_lm/distributed.hpp"

int main(int argc, char** argv) {
  return llmops::trainers::train_rank_main(argc, argv);
}
