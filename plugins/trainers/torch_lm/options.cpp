// Parameters of trainer/torch-lm; see options.hpp.
#include "trainers/torch_lm/options.hpp"

#include <nlohmann/json.hpp>

#include "trainers/torch_lm/run.hpp"

namespace llmops::trainers {

const char kTorchLmInputs[] = R"([{"name":"train","kind":"dataset","required":true},)"
                              R"({"name":"eval","kind":"dataset","required":false},)"
                              R"({"name":"base","kind":"model","required":false},)"
                              R"({"name":"tokenizer","kind":"tokenizer","required":false}])";
const char kTorchLmOutputs[] =
    R"([{"name":"model","kind":"model"},{"name":"adapter","kind":"adapter"},)"
    R"({"name":"tokenizer","kind":"tokenizer"},{"name":"report","kind":"report"}])";

const char kTorchLmParamsSchema[] = R"({"type":"object","additionalProperties":false,"properties":{
"mode":{"enum":["scratch","full","lora"],"description":"default: lora when `lora` is set, full with a base input, else scratch"},
"hidden":{"type":"integer","minimum":8,"default":128},
"layers":{"type":"integer","minimum":1,"default":4},
"heads":{"type":"integer","minimum":1,"default":4},
"kv_heads":{"type":"integer","minimum":1,"description":"default: heads"},
"intermediate":{"type":"integer","minimum":1,"description":"default: 8/3 hidden, rounded up to 16"},
"vocab":{"type":"integer","minimum":259,"default":1024,"description":"size of the tokenizer trained when none is given"},
"max_seq":{"type":"integer","minimum":2,"default":512},
"tie_embeddings":{"type":"boolean","default":true},
"rope_theta":{"type":"number","default":10000},
"seq_len":{"type":"integer","minimum":2,"default":256},
"packing":{"enum":["stream","conversations"],"default":"stream","description":"stream: conversations joined and cut every seq_len; conversations: whole conversations per row, so an answer sees its question"},
"document_mask":{"type":"boolean","default":true,"description":"packing conversations: each conversation attends only to itself, not to the others in its row"},
"steps":{"type":"integer","minimum":1,"description":"optimizer updates; default from epochs"},
"epochs":{"type":"number","exclusiveMinimum":0,"default":1},
"batch_size":{"type":"integer","minimum":1,"default":8},
"grad_accum":{"type":"integer","minimum":1,"default":1},
"argument_weight":{"type":"number","minimum":0,"default":1,"description":"weight in the loss of the tokens of tool-call argument values (what a call must copy from the request), relative to the other assistant tokens"},
"lr":{"type":"number","exclusiveMinimum":0,"description":"default: 3e-3 scratch, 5e-5 full, 2e-4 lora"},
"min_lr_ratio":{"type":"number","minimum":0,"maximum":1,"default":0.1},
"warmup":{"type":"integer","minimum":0,"description":"warmup steps; default 5% of the steps"},
"weight_decay":{"type":"number","minimum":0,"default":0.01},
"beta1":{"type":"number","minimum":0,"maximum":1,"default":0.9},
"beta2":{"type":"number","minimum":0,"maximum":1,"default":0.95},
"max_grad_norm":{"type":"number","minimum":0,"default":1.0},
"eval_every":{"type":"integer","minimum":0,"description":"default: a tenth of the steps"},
"eval_batches":{"type":"integer","minimum":0,"default":0},
"eval_fraction":{"type":"number","minimum":0,"maximum":0.5,"default":0.05},
"patience":{"type":"integer","minimum":0,"default":0},
"min_delta":{"type":"number","minimum":0,"default":0},
"checkpoint_every":{"type":"integer","minimum":0,"default":100},
"keep_checkpoints":{"type":"integer","minimum":1,"default":2},
"checkpoint_dir":{"type":"string"},
"keep_checkpoints_after":{"type":"boolean","default":false},
"seed":{"type":"integer","minimum":0,"default":0},
"threads":{"type":"integer","minimum":0,"default":0},
"lora":{"type":"object","additionalProperties":false,"properties":{
  "rank":{"type":"integer","minimum":1,"default":8},
  "alpha":{"type":"number","exclusiveMinimum":0,"default":16},
  "dropout":{"type":"number","minimum":0,"maximum":1,"default":0.05},
  "target_modules":{"type":"array","items":{"type":"string"}}}},
"merge_adapter":{"type":"boolean","default":true},
"distributed":{"type":"object","additionalProperties":false,"description":"data-parallel training over rank processes, see docs/trainer.md","properties":{
  "world_size":{"type":"integer","minimum":1,"description":"ranks; under Slurm the job's task count"},
  "backend":{"enum":["auto","gloo","nccl"],"default":"auto"},
  "launcher":{"enum":["auto","local","srun"],"default":"auto"},
  "timeout":{"type":"number","exclusiveMinimum":0,"default":300,"description":"seconds to join the group and for each collective"},
  "bucket_mb":{"type":"number","exclusiveMinimum":0,"default":25},
  "interface":{"type":"string","description":"network interface Gloo uses across nodes"}}},
"save_dtype":{"enum":["float32","bfloat16","float16"],"default":"float32"}}})";

Result<RunOptions> read_options(const StepContext& ctx) {
  RunOptions o;
  auto base = ctx.input("base");
  if (!ctx.input("train"))
    return Status::invalid("input 'train' is required: a dataset of OpenAI-chat JSONL");
  if (base) o.base = base->path;
  const bool has_lora = ctx.has_param("lora");
  o.mode = ctx.param_string("mode", has_lora ? "lora" : base ? "full" : "scratch");
  if (o.mode != "scratch" && o.mode != "full" && o.mode != "lora")
    return Status::invalid("mode must be scratch, full or lora, got '" + o.mode + "'");
  if (o.mode != "scratch" && !base)
    return Status::invalid("mode " + o.mode +
                           " needs a `base` input (a Hugging Face model folder)");
  if (o.mode == "scratch" && base)
    return Status::invalid(
        "mode scratch trains a new model: remove the `base` input or use mode "
        "full or lora");
  if (has_lora && o.mode != "lora")
    return Status::invalid("`lora` parameters are only used in mode lora");

  auto& a = o.arch;
  a.hidden_size = ctx.param_int("hidden", 128);
  a.num_hidden_layers = ctx.param_int("layers", 4);
  a.num_attention_heads = ctx.param_int("heads", 4);
  a.num_key_value_heads = ctx.param_int("kv_heads", a.num_attention_heads);
  a.intermediate_size = ctx.param_int("intermediate", (a.hidden_size * 8 / 3 + 15) / 16 * 16);
  o.vocab = ctx.param_int("vocab", 1024);
  o.max_seq = ctx.param_int("max_seq", 512);
  a.max_position_embeddings = o.max_seq;
  a.tie_word_embeddings = ctx.param_bool("tie_embeddings", true);
  a.rope_theta = ctx.param_double("rope_theta", 10000);
  a.vocab_size = o.vocab;
  if (a.num_attention_heads > 0) a.head_dim = a.hidden_size / a.num_attention_heads;
  if (o.mode == "scratch") {
    if (a.num_attention_heads <= 0 || a.hidden_size % a.num_attention_heads != 0)
      return Status::invalid("hidden (" + std::to_string(a.hidden_size) +
                             ") must be a multiple of heads (" +
                             std::to_string(a.num_attention_heads) + ")");
    if (auto s = a.validate(); !s) return Status::invalid("architecture: " + s.message());
    if (o.vocab < 259) return Status::invalid("vocab must be at least 259 (256 bytes + 3 special)");
  }
  o.seq_len = ctx.param_int("seq_len", std::min<int64_t>(256, o.max_seq));
  if (o.seq_len < 2) return Status::invalid("seq_len must be at least 2");
  const auto packing = ctx.param_string("packing", "stream");
  if (packing != "stream" && packing != "conversations")
    return Status::invalid("packing must be stream or conversations, got '" + packing + "'");
  o.packing = packing == "conversations" ? Packing::kConversations : Packing::kStream;
  o.document_mask = ctx.param_bool("document_mask", true);
  if (o.mode == "scratch" && o.seq_len > o.max_seq)
    return Status::invalid("seq_len " + std::to_string(o.seq_len) + " exceeds max_seq " +
                           std::to_string(o.max_seq));

  auto& t = o.train;
  t.total_steps = ctx.param_int("steps", 0);
  o.epochs = ctx.param_double("epochs", 1);
  t.batch_size = ctx.param_int("batch_size", 8);
  t.grad_accum = ctx.param_int("grad_accum", 1);
  t.lr = ctx.param_double("lr", o.mode == "scratch" ? 3e-3 : o.mode == "full" ? 5e-5 : 2e-4);
  t.min_lr_ratio = ctx.param_double("min_lr_ratio", 0.1);
  t.argument_weight = ctx.param_double("argument_weight", 1.0);
  o.warmup_given = ctx.has_param("warmup");
  t.warmup_steps = ctx.param_int("warmup", 0);
  t.weight_decay = ctx.param_double("weight_decay", 0.01);
  t.beta1 = ctx.param_double("beta1", 0.9);
  t.beta2 = ctx.param_double("beta2", 0.95);
  t.max_grad_norm = ctx.param_double("max_grad_norm", 1.0);
  o.eval_every_given = ctx.has_param("eval_every");
  t.eval_every = ctx.param_int("eval_every", 0);
  t.eval_batches = ctx.param_int("eval_batches", 0);
  o.eval_fraction = ctx.param_double("eval_fraction", 0.05);
  t.patience = ctx.param_int("patience", 0);
  t.min_delta = ctx.param_double("min_delta", 0);
  t.checkpoint_every = ctx.param_int("checkpoint_every", 100);
  t.keep_checkpoints = ctx.param_int("keep_checkpoints", 2);
  o.checkpoint_dir = ctx.param_string("checkpoint_dir", "");
  o.keep_checkpoints_after = ctx.param_bool("keep_checkpoints_after", false);
  t.seed = static_cast<uint64_t>(ctx.param_int("seed", 0));
  t.threads = static_cast<int>(ctx.param_int("threads", 0));
  t.lora_only = o.mode == "lora";
  if (t.batch_size < 1 || t.grad_accum < 1 || t.lr <= 0 || !(t.argument_weight >= 0) ||
      o.epochs <= 0 || t.threads < 0 || t.checkpoint_every < 0 || t.patience < 0 ||
      !(o.eval_fraction >= 0 && o.eval_fraction <= 0.5))
    return Status::invalid(
        "batch_size, grad_accum, lr and epochs must be positive; threads, "
        "checkpoint_every, patience and argument_weight not negative; eval_fraction in [0, 0.5]");

  if (has_lora) {
    auto j = nlohmann::json::parse(ctx.param_json("lora"), nullptr, false);
    if (!j.is_object())
      return Status::invalid("lora must be a map (rank, alpha, dropout, target_modules)");
    try {
      o.lora_rank = j.value("rank", o.lora_rank);
      o.lora_alpha = j.value("alpha", static_cast<double>(2 * o.lora_rank));
      o.lora_dropout = j.value("dropout", o.lora_dropout);
      if (j.contains("target_modules"))
        o.lora_targets = j["target_modules"].get<std::vector<std::string>>();
    } catch (const std::exception& e) {
      return Status::invalid(std::string("lora: ") + e.what());
    }
    if (o.lora_rank < 1) return Status::invalid("lora.rank must be positive");
    if (o.lora_targets.empty()) return Status::invalid("lora.target_modules is empty");
  }
  if (ctx.has_param("distributed")) {
    auto j = nlohmann::json::parse(ctx.param_json("distributed"), nullptr, false);
    if (!j.is_object())
      return Status::invalid("distributed must be a map (world_size, backend, launcher, timeout)");
    auto& d = o.dist;
    d.enabled = true;
    try {
      d.world_size = j.value("world_size", 0);
      d.backend = j.value("backend", d.backend);
      d.launcher = j.value("launcher", d.launcher);
      d.timeout_s = j.value("timeout", d.timeout_s);
      d.bucket_mb = j.value("bucket_mb", d.bucket_mb);
      d.ifname = j.value("interface", std::string());
    } catch (const std::exception& e) {
      return Status::invalid(std::string("distributed: ") + e.what());
    }
    if (d.backend == "nccl")
      return Status::invalid(
          "distributed.backend nccl needs a libtorch built with CUDA and NCCL; this one (Debian's "
          "libtorch) has neither: use backend gloo (or auto)");
    if (d.backend != "auto" && d.backend != "gloo")
      return Status::invalid("distributed.backend must be auto, gloo or nccl");
    if (d.launcher != "auto" && d.launcher != "local" && d.launcher != "srun")
      return Status::invalid("distributed.launcher must be auto, local or srun");
    if (d.world_size < 0 || !(d.timeout_s > 0) || !(d.bucket_mb > 0))
      return Status::invalid("distributed: world_size, timeout and bucket_mb must be positive");
    if (d.world_size > 0 && t.batch_size % d.world_size != 0)
      return Status::invalid(
          "batch_size " + std::to_string(t.batch_size) +
          " is not a multiple of "
          "distributed.world_size " +
          std::to_string(d.world_size) +
          ": every rank takes an equal share of each batch; use a batch_size that is a multiple");
    t.bucket_mb = d.bucket_mb;
  }
  o.merge_adapter = ctx.param_bool("merge_adapter", true);
  const auto dt = ctx.param_string("save_dtype", "float32");
  if (dt == "float32")
    o.save_dtype = lm::DType::kF32;
  else if (dt == "bfloat16")
    o.save_dtype = lm::DType::kBF16;
  else if (dt == "float16")
    o.save_dtype = lm::DType::kF16;
  else
    return Status::invalid("save_dtype must be float32, bfloat16 or float16, got '" + dt + "'");
  return o;
}

void finish_defaults(RunOptions& o) {
  auto& t = o.train;
  if (!o.warmup_given) t.warmup_steps = t.total_steps / 20;
  if (!o.eval_every_given) t.eval_every = std::max<int64_t>(1, t.total_steps / 10);
}

}  // namespace llmops::trainers
