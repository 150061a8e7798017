// Expression parsing and evaluation for `when:` and `${{ }}` (see engine/spec/template.hpp).
//
// A small recursive-descent parser: the grammar is tiny and its error messages must name the
// column, which no general-purpose expression library on this machine does for us.
//   or      := and ('||' and)*
//   and     := compare ('&&' compare)*
//   compare := unary (('=='|'!='|'<'|'<='|'>'|'>=') unary)?
//   unary   := '!' unary | primary
//   primary := NUMBER | STRING | true | false | null | REF | '(' or ')'
//   REF     := IDENT ('.' SEGMENT)*     IDENT [A-Za-z_][A-Za-z0-9_-]*, SEGMENT [A-Za-z0-9_-]+
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <memory>

#include "engine/spec/template.hpp"

namespace llmops::engine {
namespace {

using nlohmann::json;

enum class Tok { kEnd, kNumber, kString, kRef, kTrue, kFalse, kNull, kOp, kLParen, kRParen };

struct Token {
  Tok kind = Tok::kEnd;
  std::string text;  // operator, string value, or the number's text
  std::vector<std::string> path;
  size_t col = 0;  // 1-based
};

struct Node {
  enum Kind { kLit, kRef, kNot, kAnd, kOr, kCmp } kind;
  json value;
  std::vector<std::string> path;
  std::string op;
  std::unique_ptr<Node> a, b;
  size_t col = 0;
};

bool ident_start(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
}
bool ident_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
}

// "${{" -> "(  " and "}}" -> " )" outside string literals, keeping every column where it was.
std::string strip_template_braces(const std::string& in) {
  std::string s = in;
  char quote = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (quote) {
      if (c == '\\' && quote == '"' && i + 1 < s.size()) {
        ++i;
      } else if (c == quote) {
        quote = 0;
      }
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (s.compare(i, 3, "${{") == 0) {
      s.replace(i, 3, "(  ");
      i += 2;
    } else if (s.compare(i, 2, "}}") == 0) {
      s.replace(i, 2, " )");
      i += 1;
    }
  }
  return s;
}

class Parser {
 public:
  explicit Parser(const std::string& text) : original_(text), s_(strip_template_braces(text)) {}

  Result<std::unique_ptr<Node>> parse() {
    if (auto st = lex(); !st.is_ok()) return st;
    if (tokens_.size() == 1) return fail(1, "the expression is empty; write e.g. params.flag");
    auto node = parse_or();
    if (!error_.empty()) return Status::invalid(error_);
    if (peek().kind != Tok::kEnd) {
      return fail(peek().col, "unexpected " + describe(peek()) +
                                  " after a complete expression; join conditions with && or ||");
    }
    return node;
  }

 private:
  Status fail(size_t col, const std::string& msg) {
    if (error_.empty()) {
      error_ = "in expression '" + original_ + "' at column " + std::to_string(col) + ": " + msg;
    }
    return Status::invalid(error_);
  }

  static std::string describe(const Token& t) {
    switch (t.kind) {
      case Tok::kEnd:
        return "end of expression";
      case Tok::kNumber:
        return "number " + t.text;
      case Tok::kString:
        return "string '" + t.text + "'";
      case Tok::kRef:
        return "'" + join_ref(t.path) + "'";
      case Tok::kTrue:
        return "'true'";
      case Tok::kFalse:
        return "'false'";
      case Tok::kNull:
        return "'null'";
      case Tok::kOp:
        return "'" + t.text + "'";
      case Tok::kLParen:
        return "'('";
      case Tok::kRParen:
        return "')'";
    }
    return "token";
  }

  Status lex() {
    size_t i = 0;
    const size_t n = s_.size();
    while (i < n) {
      char c = s_[i];
      size_t col = i + 1;
      if (std::isspace(static_cast<unsigned char>(c))) {
        ++i;
        continue;
      }
      Token t;
      t.col = col;
      if (c == '(' || c == ')') {
        t.kind = c == '(' ? Tok::kLParen : Tok::kRParen;
        ++i;
      } else if (c == '\'' || c == '"') {
        t.kind = Tok::kString;
        ++i;
        bool closed = false;
        while (i < n) {
          if (s_[i] == c) {
            if (c == '\'' && i + 1 < n && s_[i + 1] == '\'') {  // '' is a quote in '...'
              t.text += '\'';
              i += 2;
              continue;
            }
            closed = true;
            ++i;
            break;
          }
          if (c == '"' && s_[i] == '\\' && i + 1 < n) {
            char e = s_[i + 1];
            t.text += e == 'n' ? '\n' : e == 't' ? '\t' : e;
            i += 2;
            continue;
          }
          t.text += s_[i++];
        }
        if (!closed) return fail(col, std::string("unclosed string: add the closing ") + c);
      } else if (std::isdigit(static_cast<unsigned char>(c)) ||
                 (c == '-' && i + 1 < n &&
                  (std::isdigit(static_cast<unsigned char>(s_[i + 1])) || s_[i + 1] == '.')) ||
                 (c == '.' && i + 1 < n && std::isdigit(static_cast<unsigned char>(s_[i + 1])))) {
        t.kind = Tok::kNumber;
        size_t start = i;
        if (c == '-') ++i;
        while (i < n &&
               (std::isalnum(static_cast<unsigned char>(s_[i])) || s_[i] == '.' ||
                ((s_[i] == '+' || s_[i] == '-') && (s_[i - 1] == 'e' || s_[i - 1] == 'E'))))
          ++i;
        t.text = s_.substr(start, i - start);
        char* end = nullptr;
        std::strtod(t.text.c_str(), &end);
        if (end == nullptr || *end != '\0') return fail(col, "'" + t.text + "' is not a number");
      } else if (ident_start(c)) {
        size_t start = i;
        while (i < n && ident_char(s_[i])) ++i;
        t.path.push_back(s_.substr(start, i - start));
        while (i < n && s_[i] == '.') {
          size_t seg = i + 1;
          size_t j = seg;
          while (j < n && ident_char(s_[j])) ++j;
          if (j == seg) {
            return fail(i + 1, "'" + join_ref(t.path) +
                                   ".' must be followed by a name, as in steps.a.outputs.model");
          }
          t.path.push_back(s_.substr(seg, j - seg));
          i = j;
        }
        t.kind = Tok::kRef;
        if (t.path.size() == 1) {
          const std::string& w = t.path[0];
          if (w == "true") t.kind = Tok::kTrue;
          if (w == "false") t.kind = Tok::kFalse;
          if (w == "null") t.kind = Tok::kNull;
        }
      } else {
        static const char* kOps[] = {"==", "!=", "<=", ">=", "&&", "||", "<", ">", "!"};
        for (const char* op : kOps) {
          if (s_.compare(i, std::char_traits<char>::length(op), op) == 0) {
            t.kind = Tok::kOp;
            t.text = op;
            break;
          }
        }
        if (t.kind != Tok::kOp) {
          std::string hint = c == '='               ? " (use == to compare)"
                             : c == '&'             ? " (use && for 'and')"
                             : c == '|'             ? " (use || for 'or')"
                             : c == '{' || c == '}' ? " (templates are written ${{ ... }})"
                                                    : "";
          return fail(col, std::string("unexpected character '") + c + "'" + hint);
        }
        i += t.text.size();
      }
      tokens_.push_back(std::move(t));
    }
    Token end;
    end.col = n + 1;
    tokens_.push_back(end);
    return Status::ok();
  }

  const Token& peek() const { return tokens_[pos_]; }
  bool is_op(const char* op) const { return peek().kind == Tok::kOp && peek().text == op; }

  std::unique_ptr<Node> binary(Node::Kind kind, std::string op, std::unique_ptr<Node> a,
                               std::unique_ptr<Node> b, size_t col) {
    auto node = std::make_unique<Node>();
    node->kind = kind;
    node->op = std::move(op);
    node->a = std::move(a);
    node->b = std::move(b);
    node->col = col;
    return node;
  }

  std::unique_ptr<Node> parse_or() {
    auto left = parse_and();
    while (error_.empty() && is_op("||")) {
      size_t col = tokens_[pos_++].col;
      left = binary(Node::kOr, "||", std::move(left), parse_and(), col);
    }
    return left;
  }

  std::unique_ptr<Node> parse_and() {
    auto left = parse_compare();
    while (error_.empty() && is_op("&&")) {
      size_t col = tokens_[pos_++].col;
      left = binary(Node::kAnd, "&&", std::move(left), parse_compare(), col);
    }
    return left;
  }

  std::unique_ptr<Node> parse_compare() {
    auto left = parse_unary();
    if (!error_.empty()) return left;
    for (const char* op : {"==", "!=", "<", "<=", ">", ">="}) {
      if (is_op(op)) {
        size_t col = tokens_[pos_++].col;
        left = binary(Node::kCmp, op, std::move(left), parse_unary(), col);
        if (error_.empty() && peek().kind == Tok::kOp && peek().text != "&&" &&
            peek().text != "||") {
          (void)fail(peek().col, "comparisons cannot be chained; use parentheses and && instead");
        }
        break;
      }
    }
    return left;
  }

  // Parentheses and '!' nest by recursion: bounded, so a hostile expression cannot overflow
  // the stack.
  static constexpr int kMaxNesting = 64;
  bool too_deep(size_t col) {
    if (nesting_ < kMaxNesting) return false;
    (void)fail(col, "the expression nests more than " + std::to_string(kMaxNesting) +
                        " levels of parentheses or '!'; simplify it");
    return true;
  }

  std::unique_ptr<Node> parse_unary() {
    if (is_op("!")) {
      size_t col = tokens_[pos_++].col;
      if (too_deep(col)) return nullptr;
      ++nesting_;
      auto operand = parse_unary();
      --nesting_;
      return binary(Node::kNot, "!", std::move(operand), nullptr, col);
    }
    return parse_primary();
  }

  std::unique_ptr<Node> parse_primary() {
    const Token& t = peek();
    auto node = std::make_unique<Node>();
    node->col = t.col;
    node->kind = Node::kLit;
    switch (t.kind) {
      case Tok::kNumber: {
        if (t.text.find_first_of(".eE") == std::string::npos) {
          node->value = std::strtoll(t.text.c_str(), nullptr, 10);
        } else {
          node->value = std::strtod(t.text.c_str(), nullptr);
        }
        break;
      }
      case Tok::kString:
        node->value = t.text;
        break;
      case Tok::kTrue:
        node->value = true;
        break;
      case Tok::kFalse:
        node->value = false;
        break;
      case Tok::kNull:
        node->value = nullptr;
        break;
      case Tok::kRef:
        node->kind = Node::kRef;
        node->path = t.path;
        refs_.push_back(t.path);
        break;
      case Tok::kLParen: {
        if (too_deep(t.col)) return nullptr;
        ++pos_;
        ++nesting_;
        node = parse_or();
        --nesting_;
        if (!error_.empty()) return node;
        if (peek().kind != Tok::kRParen) {
          (void)fail(peek().col, "expected ')' to close the '(' at column " +
                                     std::to_string(t.col) + ", found " + describe(peek()));
          return node;
        }
        ++pos_;
        return node;
      }
      default:
        (void)fail(t.col,
                   "expected a value (a number, a 'string', true, false, null or a "
                   "reference such as params.x), found " +
                       describe(t));
        return node;
    }
    ++pos_;
    return node;
  }

 public:
  std::vector<std::vector<std::string>> refs_;
  const std::string& original() const { return original_; }

 private:
  std::string original_;
  std::string s_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int nesting_ = 0;
  std::string error_;
};

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "bool";
    case json::value_t::string:
      return "string";
    case json::value_t::array:
      return "list";
    case json::value_t::object:
      return "map";
    default:
      return "number";
  }
}

std::string show(const json& v) {
  return v.is_string() ? "'" + v.get<std::string>() + "'" : v.dump();
}

std::optional<double> as_number(const json& v) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    if (s.empty()) return std::nullopt;
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (end && *end == '\0' && !std::isspace(static_cast<unsigned char>(s[0]))) return d;
  }
  return std::nullopt;
}

class Evaluator {
 public:
  Evaluator(const Scope& scope, const std::string& text) : scope_(scope), text_(text) {}

  Result<json> eval(const Node& n) {
    switch (n.kind) {
      case Node::kLit:
        return n.value;
      case Node::kRef: {
        auto v = scope_.lookup(n.path);
        if (!v) {
          return Status::invalid("in expression '" + text_ + "': unknown reference '" +
                                 join_ref(n.path) + "' (nothing by that name exists yet)");
        }
        return *v;
      }
      case Node::kNot: {
        auto a = eval(*n.a);
        if (!a) return a.status();
        return json(!json_truthy(*a));
      }
      case Node::kAnd:
      case Node::kOr: {
        auto a = eval(*n.a);
        if (!a) return a.status();
        bool left = json_truthy(*a);
        if (n.kind == Node::kAnd && !left) return json(false);
        if (n.kind == Node::kOr && left) return json(true);
        auto b = eval(*n.b);
        if (!b) return b.status();
        return json(json_truthy(*b));
      }
      case Node::kCmp: {
        auto a = eval(*n.a);
        if (!a) return a.status();
        auto b = eval(*n.b);
        if (!b) return b.status();
        return compare(*a, *b, n.op, n.col);
      }
    }
    return Status::internal("bad expression node");
  }

 private:
  Result<json> compare(const json& a, const json& b, const std::string& op, size_t col) {
    int cmp = 0;
    bool ordered = true;
    auto na = as_number(a), nb = as_number(b);
    if (a.is_number() && b.is_number()) {
      double x = a.get<double>(), y = b.get<double>();
      cmp = x < y ? -1 : x > y ? 1 : 0;
    } else if (a.is_string() && b.is_string()) {
      cmp = a.get_ref<const std::string&>().compare(b.get_ref<const std::string&>());
      cmp = cmp < 0 ? -1 : cmp > 0 ? 1 : 0;
    } else if ((a.is_number() || b.is_number()) && na && nb) {
      // A number against a numeric string (env values, -p overrides): compare as numbers.
      cmp = *na < *nb ? -1 : *na > *nb ? 1 : 0;
    } else {
      ordered = false;
    }
    if (op == "==" || op == "!=") {
      bool eq = ordered ? cmp == 0 : a == b;
      return json(op == "==" ? eq : !eq);
    }
    if (!ordered) {
      return Status::invalid("in expression '" + text_ + "' at column " + std::to_string(col) +
                             ": cannot compare " + type_name(a) + " " + show(a) + " with " +
                             type_name(b) + " " + show(b) + " using '" + op +
                             "'; only numbers with numbers and strings with strings are ordered");
    }
    if (op == "<") return json(cmp < 0);
    if (op == "<=") return json(cmp <= 0);
    if (op == ">") return json(cmp > 0);
    return json(cmp >= 0);
  }

  const Scope& scope_;
  const std::string& text_;
};

}  // namespace

bool json_truthy(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return false;
    case json::value_t::boolean:
      return v.get<bool>();
    case json::value_t::string:
      return !v.get_ref<const std::string&>().empty();
    case json::value_t::array:
    case json::value_t::object:
      return !v.empty();
    case json::value_t::number_float:
      return v.get<double>() != 0.0 && !std::isnan(v.get<double>());
    default:
      return v.get<double>() != 0.0;
  }
}

std::string join_ref(const std::vector<std::string>& path) {
  std::string out;
  for (const auto& p : path) {
    if (!out.empty()) out += '.';
    out += p;
  }
  return out;
}

Result<json> evaluate_expression(const std::string& expr, const Scope& scope) {
  Parser parser(expr);
  auto ast = parser.parse();
  if (!ast) return ast.status();
  Evaluator ev(scope, expr);
  return ev.eval(**ast);
}

Result<bool> evaluate_condition(const std::string& when_text, const Scope& scope) {
  bool blank = true;
  for (char c : when_text) blank = blank && std::isspace(static_cast<unsigned char>(c));
  if (blank) return true;
  auto v = evaluate_expression(when_text, scope);
  if (!v) return v.status();
  return json_truthy(*v);
}

Result<std::vector<std::vector<std::string>>> expression_refs(const std::string& expr) {
  Parser parser(expr);
  auto ast = parser.parse();
  if (!ast) return ast.status();
  return std::move(parser.refs_);
}

}  // namespace llmops::engine
