// trainer/torch-lm's step; see run.hpp.
#include "trainers/torch_lm/run.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "llmops/artifacts.hpp"
#include "lm/llama.hpp"
#include "trainers/torch_lm/bpe_trainer.hpp"
#include "trainers/torch_lm/distributed.hpp"
#include "trainers/torch_lm/model_setup.hpp"
#include "trainers/torch_lm/options.hpp"
#include "trainers/torch_lm/trainer.hpp"

namespace llmops::trainers {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr char kChatTemplate[] =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}";

class ContextObserver : public TrainObserver {
 public:
  explicit ContextObserver(StepContext& ctx) : ctx_(ctx) {}
  void progress(int64_t step, int64_t total, const std::string& note) override {
    ctx_.progress(static_cast<double>(step), static_cast<double>(total), note);
  }
  void metric(const std::string& name, double value, int64_t step) override {
    ctx_.metric(name, value, step);
  }
  void log(const std::string& m) override { ctx_.info(m); }
  bool cancelled() override { return ctx_.cancelled(); }

 private:
  StepContext& ctx_;
};

Status write_text(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
  return out ? Status::ok() : Status::internal("cannot write " + p.string());
}

// Copies the tokenizer files of `from` (a folder) into `to`; writes a tokenizer_config.json when
// there is none, so HF's AutoTokenizer finds the chat template and special tokens.
Status write_tokenizer_files(const fs::path& tokenizer_json, const fs::path& to, int64_t max_len) {
  std::error_code ec;
  fs::copy_file(tokenizer_json, to / "tokenizer.json", fs::copy_options::overwrite_existing, ec);
  if (ec) return Status::internal("cannot copy tokenizer.json: " + ec.message());
  const auto dir = tokenizer_json.parent_path();
  for (const char* f : {"tokenizer_config.json", "special_tokens_map.json"})
    if (fs::exists(dir / f))
      fs::copy_file(dir / f, to / f, fs::copy_options::overwrite_existing, ec);
  if (!fs::exists(to / "tokenizer_config.json")) {
    json cfg = {{"tokenizer_class", "PreTrainedTokenizerFast"},
                {"bos_token", nullptr},
                {"eos_token", "<|im_end|>"},
                {"pad_token", "<|endoftext|>"},
                {"model_max_length", max_len},
                {"clean_up_tokenization_spaces", false},
                {"chat_template", kChatTemplate}};
    if (auto s = write_text(to / "tokenizer_config.json", cfg.dump(2) + "\n"); !s) return s;
  }
  return Status::ok();
}

// FNV-1a: a stable hash (std::hash may change between library versions) of what determines the
// training result, so that a checkpoint is only resumed by the same training.
std::string fingerprint(const StepContext& ctx) {
  json p = json::parse(ctx.params_json(), nullptr, false);
  if (p.is_object())
    // How the work is spread (threads, ranks) and where checkpoints go do not change the
    // result, so a checkpoint resumes across them (e.g. with another world size).
    for (const char* k : {"threads", "checkpoint_every", "keep_checkpoints", "checkpoint_dir",
                          "keep_checkpoints_after", "distributed"})
      p.erase(k);
  std::string text = p.dump();
  for (const auto& in : ctx.inputs())
    text += "|" + in.name + "=" + (in.digest.empty() ? in.path.string() : in.digest);
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

Status run_impl(StepContext& ctx) {
  auto opts = read_options(ctx);
  if (!opts) return opts.status();
  RunOptions& o = *opts;

  // Data.
  auto train_in = ctx.input("train");
  auto convs = read_conversations(train_in->path);
  if (!convs) return convs.status();
  std::vector<Conversation> eval_convs;
  if (auto ev = ctx.input("eval")) {
    auto e = read_conversations(ev->path);
    if (!e) return e.status();
    eval_convs = std::move(*e);
  } else {
    split_eval(*convs, eval_convs, o.eval_fraction);
  }
  ctx.info("data: " + std::to_string(convs->size()) + " training and " +
           std::to_string(eval_convs.size()) + " evaluation conversations");

  // Tokenizer: the input, else the base model's, else trained on the training data.
  const auto tok_dir = ctx.output("tokenizer", artifact_kind::kTokenizer);
  fs::path tok_file;
  if (auto t = ctx.input("tokenizer")) {
    tok_file = fs::is_directory(t->path) ? t->path / "tokenizer.json" : t->path;
  } else if (o.base) {
    tok_file = *o.base / "tokenizer.json";
    if (!fs::exists(tok_file))
      return Status::invalid("base model " + o.base->string() +
                             " has no tokenizer.json; give a `tokenizer` input");
  } else {
    std::vector<std::string> texts;
    for (const auto& c : *convs) texts.push_back(lm::render_chatml(c));
    BpeTrainOptions bo;
    bo.vocab_size = o.vocab;
    auto j = train_bpe_tokenizer(texts, bo);
    if (!j) return j.status();
    tok_file = ctx.scratch_dir() / "tokenizer.json";
    if (auto s = write_text(tok_file, *j); !s) return s;
    ctx.info("trained a byte-level BPE tokenizer (vocab " + std::to_string(o.vocab) + ")");
  }
  auto tok = lm::Tokenizer::load(tok_file);
  if (!tok) return tok.status();
  if (!tok->token_to_id("<|im_start|>") || !tok->token_to_id("<|im_end|>") ||
      !tok->token_to_id("<|endoftext|>"))
    return Status::invalid(tok_file.string() +
                           ": the tokenizer lacks the ChatML tokens <|im_start|>, <|im_end|> "
                           "and <|endoftext|>");
  if (auto s = write_tokenizer_files(tok_file, tok_dir, o.max_seq); !s) return s;

  // Model: built here, or by each rank of data-parallel training (model_setup.hpp).
  ModelSpec spec;
  spec.mode = o.mode;
  spec.base = o.base;
  spec.seed = o.train.seed;
  lm::LlamaConfig cfg;
  if (o.base) {
    auto c = lm::read_llama_config(*o.base / "config.json");
    if (!c) return c.status();
    cfg = *c;
    if (tok->vocab_size() > cfg.vocab_size)
      return Status::invalid("the tokenizer has " + std::to_string(tok->vocab_size()) +
                             " tokens but the base model's vocabulary is " +
                             std::to_string(cfg.vocab_size));
    if (o.seq_len > cfg.max_position_embeddings)
      return Status::invalid("seq_len " + std::to_string(o.seq_len) +
                             " exceeds the base model's max_position_embeddings " +
                             std::to_string(cfg.max_position_embeddings));
  } else {
    cfg = o.arch;
    cfg.vocab_size = std::max(cfg.vocab_size, tok->vocab_size());
    cfg.eos_token_id = *tok->token_to_id("<|im_end|>");
    cfg.pad_token_id = *tok->token_to_id("<|endoftext|>");
    spec.config = cfg;
  }
  if (o.mode == "lora") {
    lm::LoraConfig lc;
    lc.r = o.lora_rank;
    lc.alpha = o.lora_alpha;
    lc.dropout = o.lora_dropout;
    lc.target_modules = o.lora_targets;
    spec.lora = lc;
  }

  if (o.packing == Packing::kConversations && o.document_mask)
    o.train.segment_token = *tok->token_to_id("<|endoftext|>");
  auto train = pack_conversations(*tok, *convs, o.seq_len, o.packing);
  if (!train) return train.status();
  Result<PackedData> eval = PackedData{};
  if (!eval_convs.empty()) eval = pack_conversations(*tok, eval_convs, o.seq_len, o.packing);
  if (!eval) return eval.status();
  const int64_t per_step = o.train.batch_size * o.train.grad_accum;
  if (o.train.total_steps <= 0)
    o.train.total_steps = std::max<int64_t>(
        1, static_cast<int64_t>(std::ceil(o.epochs * static_cast<double>(train->rows()) /
                                          static_cast<double>(per_step))));
  finish_defaults(o);
  const double unigram = unigram_loss(*train, eval->rows() ? *eval : *train, cfg.vocab_size);
  const auto in_arguments = std::count(train->argument.begin(), train->argument.end(), 1);
  ctx.info("packed " + std::to_string(train->tokens) + " tokens (" +
           std::to_string(train->target_tokens) + " assistant, " + std::to_string(in_arguments) +
           " of them in tool-call argument values) into " + std::to_string(train->rows()) +
           " rows of " + std::to_string(o.seq_len) + "; " + std::to_string(o.train.total_steps) +
           " steps; unigram loss " + std::to_string(unigram));

  o.train.fingerprint = fingerprint(ctx);
  o.train.checkpoint_dir = o.checkpoint_dir.empty()
                               ? ctx.scratch_dir().parent_path().parent_path() / "checkpoints"
                               : o.checkpoint_dir;
  if (o.train.threads != 1 && !o.dist.enabled && std::getenv("OMP_WAIT_POLICY") == nullptr)
    ctx.warn(
        "OMP_WAIT_POLICY is not set: on a busy machine OpenMP threads spin against each "
        "other and training can be many times slower; set OMP_WAIT_POLICY=passive in the "
        "environment of llmops (it is read when libtorch loads) or use threads: 1");
  ModelOutputs outs;
  outs.dtype = o.save_dtype;
  if (o.mode == "lora") outs.adapter_dir = ctx.output("adapter", artifact_kind::kAdapter);
  if (o.mode != "lora" || o.merge_adapter)
    outs.model_dir = ctx.output("model", artifact_kind::kModel);

  Result<TrainSummary> sum = TrainSummary{};
  if (o.dist.enabled) {
    sum = run_distributed(ctx, o, spec, *train, *eval, outs);
  } else {
    auto model = build_model(spec);
    if (!model) return model.status();
    ContextObserver obs(ctx);
    auto res = train_model(*model, *train, eval->rows() ? &*eval : nullptr, o.train, obs);
    if (!res) return res.status();
    if (auto s = save_trained_model(*model, spec, outs); !s) return s;
    sum = TrainSummary{*res, model->parameter_count(), 1};
  }
  if (!sum) return sum.status();
  const TrainResult* res = &sum->result;
  if (!outs.model_dir.empty()) {
    if (auto s = write_tokenizer_files(tok_file, outs.model_dir, o.max_seq); !s) return s;
    json gen = {{"eos_token_id", cfg.eos_token_id}, {"pad_token_id", cfg.pad_token_id}};
    if (auto s = write_text(outs.model_dir / "generation_config.json", gen.dump(2) + "\n"); !s)
      return s;
  }
  json report = {{"mode", o.mode},
                 {"steps", res->steps},
                 {"total_steps", o.train.total_steps},
                 {"resumed_from", res->resumed_from},
                 {"early_stopped", res->early_stopped},
                 {"train_loss", res->train_loss},
                 {"unigram_loss", unigram},
                 {"tokens_per_s", res->tokens_per_s},
                 {"train_seconds", res->train_seconds},
                 {"parameters", sum->parameters},
                 {"world_size", sum->world},
                 {"allreduce_seconds", res->comm_seconds},
                 {"train_rows", train->rows()},
                 {"train_tokens", train->tokens},
                 {"train_target_tokens", train->target_tokens},
                 {"seq_len", o.seq_len},
                 {"vocab_size", cfg.vocab_size},
                 {"config", json::parse(lm::llama_config_to_json(cfg))},
                 {"params", json::parse(ctx.params_json(), nullptr, false)},
                 {"loss_curve", res->loss_curve},
                 {"eval_curve", res->eval_curve}};
  if (std::isfinite(res->eval_loss)) report["eval_loss"] = res->eval_loss;
  const auto rdir = ctx.output("report", artifact_kind::kReport);
  if (auto s = write_text(rdir / "report.json", report.dump(2) + "\n"); !s) return s;

  ctx.metric("train_loss", res->train_loss);
  if (std::isfinite(res->eval_loss)) ctx.metric("eval_loss", res->eval_loss);
  ctx.metric("unigram_loss", unigram);
  ctx.metric("tokens_per_s", res->tokens_per_s);
  ctx.metric("steps", static_cast<double>(res->steps));
  ctx.metric("parameters", static_cast<double>(sum->parameters));
  if (sum->world > 1) {
    ctx.metric("world_size", sum->world);
    ctx.metric("allreduce_share", res->comm_seconds / std::max(1e-9, res->train_seconds));
  }
  if (!o.keep_checkpoints_after) {
    // Only our own folders: checkpoint_dir may be a user's folder holding other things.
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(o.train.checkpoint_dir, ec)) {
      const auto n = e.path().filename().string();
      if (n.rfind("step-", 0) == 0 || n.rfind(".tmp-step-", 0) == 0) fs::remove_all(e.path(), ec);
    }
    fs::remove(o.train.checkpoint_dir, ec);  // only if now empty
  }
  return Status::ok();
}

}  // namespace

Status run_torch_lm(StepContext& ctx) {
  try {
    return run_impl(ctx);
  } catch (const std::exception& e) {
    return Status::internal(std::string("torch-lm: ") + e.what());
  }
}

}  // namespace llmops::trainers
