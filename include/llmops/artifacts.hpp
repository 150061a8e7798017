// The names plugins and the engine agree on: artifact kinds and the deployment metadata contract.
//
// An artifact's kind is a lowercase word saying what it is. A plugin declares the kind of each
// input and output in its descriptor and passes it to StepContext::output(); `llmops validate`
// refuses a step whose input is wired to an output of another kind, so plugins compose when they
// use the same words. The kinds below are the ones the built-in plugins make and take; a plugin
// may use others. Header-only constants, no state: safe from any thread.
#pragma once

namespace llmops {

namespace artifact_kind {
// A data set, usually JSONL chat conversations in data.jsonl: curators make them; trainers,
// evaluators and monitors read them; a monitor's `production` output is one too.
inline constexpr char kDataset[] = "dataset";
// A tokenizer: `tokenizer.json` (Hugging Face tokenizers format).
inline constexpr char kTokenizer[] = "tokenizer";
// A model: a Hugging Face model folder (config.json, model.safetensors, tokenizer files).
inline constexpr char kModel[] = "model";
// A LoRA adapter: adapter_config.json and adapter_model.safetensors (PEFT layout).
inline constexpr char kAdapter[] = "adapter";
// A report: report.json (and often report.md); evaluations, data cards, monitor findings.
inline constexpr char kReport[] = "report";
// An evaluator's verdict on a model: blessing.json says whether it passed its gates.
inline constexpr char kBlessing[] = "blessing";
// What a deployer put where: deployment.json, with the same JSON as the artifact's metadata
// (see namespace deployment below).
inline constexpr char kDeployment[] = "deployment";
// A literal path given as a step input is sealed as one of these two.
inline constexpr char kFile[] = "file";
inline constexpr char kDirectory[] = "directory";
// Only in a descriptor's declared inputs/outputs: accepts (or may be) any kind.
inline constexpr char kAny[] = "any";
}  // namespace artifact_kind

// The deployment contract. A deployer writes output `deployment` (kind kDeployment) and sets its
// metadata (StepContext::set_output_metadata) to a JSON object. The engine copies every such
// artifact into the store's deployments table, with an append-only history, which is what
// `llmops deployments`, rollback and `${{ deployments.NAME.* }}` in a pipeline read:
//
//   kName           string, required: the deployment's name, one serving slot ("tasks"). Without
//                   it the engine records nothing.
//   kAction         string: what this step did to the deployment, one of the actions below;
//                   "start" when absent. A "stop" ends what the deployment serves.
//   kModelDigest    string: the digest ("sha256:...") of the model artifact now served, the
//                   step's model input; `${{ deployments.NAME.model }}` resolves to it.
//   kEndpoint       string: where clients reach it, e.g. "http://127.0.0.1:8080/v1".
//   kCanaryPercent  integer 0..100: the share of traffic the new model gets. Between 1 and 99
//                   the change is a canary: the model before it still counts as the one
//                   deployed (for `${{ deployments.NAME.model }}` and rollback); 0 or 100 (or
//                   absent) switches all traffic.
//
// Everything else in the object is kept as it is in the history. Monitors read the deployment
// from the artifact's folder (kFileName, the same JSON) and use, besides kName:
//
//   kHost, kPort    where to send replayed traffic (monitor/drift's `replay` input).
//   kVersion        the version label the server logs with each request; a monitor judges
//                   that version's traffic.
//   kRequestLog     the folder the server writes its request log into.
namespace deployment {
inline constexpr char kFileName[] = "deployment.json";

inline constexpr char kName[] = "name";
inline constexpr char kAction[] = "action";
inline constexpr char kModelDigest[] = "model_digest";
inline constexpr char kEndpoint[] = "endpoint";
inline constexpr char kCanaryPercent[] = "canary_percent";

inline constexpr char kHost[] = "host";
inline constexpr char kPort[] = "port";
inline constexpr char kVersion[] = "version";
inline constexpr char kRequestLog[] = "request_log";

// Values of kAction.
inline constexpr char kStart[] = "start";        // a new server for this name
inline constexpr char kLoad[] = "load";          // a new model switched in, all traffic
inline constexpr char kCanary[] = "canary";      // a new model on kCanaryPercent of traffic
inline constexpr char kRollback[] = "rollback";  // back to the model before
inline constexpr char kPromote[] = "promote";    // the canary takes all traffic
inline constexpr char kStop[] = "stop";          // nothing served any more
}  // namespace deployment

}  // namespace llmops
