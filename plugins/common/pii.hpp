// PII redaction: e-mail addresses, phone numbers, IPv4/IPv6 addresses, credit-card numbers that
// pass the Luhn check, and API keys/secrets are replaced by typed placeholders (<EMAIL>, <PHONE>,
// <IP>, <CREDIT_CARD>, <API_KEY>). Hand-written scanners rather than std::regex: std::regex is an
// order of magnitude too slow for the throughput goal and its backtracking can blow the stack on
// long lines. Shared by the curators (data sets) and llmops-serve (its request log), through
// plugins_common. Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace llmops::common {

struct PiiCounts {
  int64_t email = 0, phone = 0, ipv4 = 0, ipv6 = 0, credit_card = 0, api_key = 0;
  int64_t total() const { return email + phone + ipv4 + ipv6 + credit_card + api_key; }
  PiiCounts& operator+=(const PiiCounts& o) {
    email += o.email, phone += o.phone, ipv4 += o.ipv4, ipv6 += o.ipv6;
    credit_card += o.credit_card, api_key += o.api_key;
    return *this;
  }
};

struct PiiOptions {
  bool email = true, phone = true, ip = true, credit_card = true, api_key = true;
};

// Returns `s` with PII replaced; adds what it found to `counts`.
std::string redact_pii(std::string_view s, PiiCounts& counts, const PiiOptions& opt = {});

// Luhn checksum over the digits of `s` (other characters ignored).
bool luhn_ok(std::string_view digits);

}  // namespace llmops::common
