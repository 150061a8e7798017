// `${{ ... }}` templates: finding them in strings and rendering them (see
// engine/spec/template.hpp).
#include "engine/spec/template.hpp"
#include "base/strings.hpp"

#include <cctype>
#include <cstdlib>

namespace llmops::engine {

using nlohmann::json;

std::optional<json> JsonScope::lookup(const std::vector<std::string>& path) const {
  const json* cur = &root_;
  for (const auto& part : path) {
    if (cur->is_object()) {
      auto it = cur->find(part);
      if (it == cur->end()) {
        cur = nullptr;
        break;
      }
      cur = &*it;
    } else if (cur->is_array() && !part.empty() &&
               part.find_first_not_of("0123456789") == std::string::npos) {
      size_t index = std::strtoul(part.c_str(), nullptr, 10);
      if (index >= cur->size()) {
        cur = nullptr;
        break;
      }
      cur = &(*cur)[index];
    } else {
      cur = nullptr;
      break;
    }
  }
  if (cur) return *cur;
  if (process_env_ && path.size() == 2 && path[0] == "env") {
    if (const char* v = std::getenv(path[1].c_str())) return json(std::string(v));
  }
  return std::nullopt;
}

Result<std::vector<TemplateSpan>> find_templates(const std::string& text) {
  std::vector<TemplateSpan> spans;
  size_t i = 0;
  while ((i = text.find("${{", i)) != std::string::npos) {
    size_t j = i + 3;
    char quote = 0;
    size_t close = std::string::npos;
    for (; j < text.size(); ++j) {
      char c = text[j];
      if (quote) {
        if (c == '\\' && quote == '"') {
          ++j;
        } else if (c == quote) {
          quote = 0;
        }
      } else if (c == '\'' || c == '"') {
        quote = c;
      } else if (text.compare(j, 2, "}}") == 0) {
        close = j;
        break;
      }
    }
    if (close == std::string::npos) {
      return Status::invalid("unclosed template '${{' at column " + std::to_string(i + 1) +
                             " of '" + text + "': close it with '}}'");
    }
    std::string expr = base::trim(text.substr(i + 3, close - i - 3));
    if (expr.empty()) {
      return Status::invalid("empty template '${{ }}' at column " + std::to_string(i + 1) +
                             ": write an expression inside, e.g. ${{ params.name }}");
    }
    spans.push_back({i, close + 2, expr});
    i = close + 2;
  }
  return spans;
}

std::string stringify_value(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump();
}

Result<json> render_string(const std::string& text, const Scope& scope) {
  auto spans = find_templates(text);
  if (!spans) return spans.status();
  if (spans->empty()) return json(text);
  if (spans->size() == 1 && (*spans)[0].begin == 0 && (*spans)[0].end == text.size()) {
    return evaluate_expression((*spans)[0].expr, scope);
  }
  std::string out;
  size_t at = 0;
  for (const auto& span : *spans) {
    out.append(text, at, span.begin - at);
    auto v = evaluate_expression(span.expr, scope);
    if (!v) return v.status();
    out += stringify_value(*v);
    at = span.end;
  }
  out.append(text, at, std::string::npos);
  return json(out);
}

Result<json> render_json(const json& value, const Scope& scope) {
  if (value.is_string()) return render_string(value.get_ref<const std::string&>(), scope);
  if (value.is_array()) {
    json out = json::array();
    for (const auto& item : value) {
      auto r = render_json(item, scope);
      if (!r) return r.status();
      out.push_back(std::move(*r));
    }
    return out;
  }
  if (value.is_object()) {
    json out = json::object();
    for (auto it = value.begin(); it != value.end(); ++it) {
      auto r = render_json(it.value(), scope);
      if (!r) return r.status();
      out[it.key()] = std::move(*r);
    }
    return out;
  }
  return value;
}

}  // namespace llmops::engine
