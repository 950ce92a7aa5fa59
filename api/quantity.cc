#include "api/quantity.h"

#include <limits>

namespace lifeboat::api {
namespace {

using Int128 = __int128;

constexpr size_t kMaxSignificantDigits = 19;
constexpr int kMaxExponent = 18;

Status Invalid(std::string_view text, const std::string& why) {
  return InvalidArgumentError("invalid quantity " + Quote(text) + ": " + why);
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

Int128 Pow10(int n) {
  Int128 r = 1;
  for (int i = 0; i < n; ++i) {
    r *= 10;
  }
  return r;
}

}  // namespace

StatusOr<int64_t> ParseQuantity(std::string_view text) {
  if (text.empty()) {
    return Invalid(text, "empty (write e.g. 10Gi, 500M or 1048576)");
  }
  size_t i = 0;
  if (text[0] == '+' || text[0] == '-') {
    if (text[0] == '-') {
      return Invalid(text, "must not be negative");
    }
    ++i;
  }
  // Mantissa: digits with at most one '.'.
  std::string digits;
  int scale = 0;  // digits after the point
  bool seen_point = false;
  bool seen_digit = false;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (IsDigit(c)) {
      seen_digit = true;
      if (!(digits.empty() && c == '0')) {
        digits.push_back(c);
      }
      if (seen_point) {
        ++scale;
      }
    } else if (c == '.' && !seen_point) {
      seen_point = true;
    } else {
      break;
    }
  }
  if (!seen_digit) {
    return Invalid(text, "must start with a number (write e.g. 10Gi, 500M or 1048576)");
  }
  // Drop trailing zeros of the fraction: they carry no value.
  while (scale > 0 && !digits.empty() && digits.back() == '0') {
    digits.pop_back();
    --scale;
  }
  if (digits.empty()) {
    scale = 0;
  }
  if (digits.size() > kMaxSignificantDigits) {
    return Invalid(text, "too many digits");
  }
  std::string_view suffix = text.substr(i);
  Int128 multiplier = 1;
  int divide_pow10 = scale;
  if (suffix.empty()) {
  } else if (suffix.size() == 2 && suffix[1] == 'i') {
    int shift = 0;
    switch (suffix[0]) {
      case 'K':
        shift = 10;
        break;
      case 'M':
        shift = 20;
        break;
      case 'G':
        shift = 30;
        break;
      case 'T':
        shift = 40;
        break;
      case 'P':
        shift = 50;
        break;
      case 'E':
        shift = 60;
        break;
      default:
        return Invalid(text, "unknown suffix " + Quote(suffix) +
                                 " (use Ki, Mi, Gi, Ti, Pi, Ei, k, M, G, T, P or E)");
    }
    multiplier = Int128(1) << shift;
  } else if (suffix.size() == 1 && std::string_view("numkMGTPE").find(suffix[0]) !=
                                       std::string_view::npos) {
    switch (suffix[0]) {
      case 'n':
        divide_pow10 += 9;
        break;
      case 'u':
        divide_pow10 += 6;
        break;
      case 'm':
        divide_pow10 += 3;
        break;
      case 'k':
        multiplier = Pow10(3);
        break;
      case 'M':
        multiplier = Pow10(6);
        break;
      case 'G':
        multiplier = Pow10(9);
        break;
      case 'T':
        multiplier = Pow10(12);
        break;
      case 'P':
        multiplier = Pow10(15);
        break;
      default:
        multiplier = Pow10(18);
        break;
    }
  } else if (suffix[0] == 'e' || suffix[0] == 'E') {
    std::string_view exp = suffix.substr(1);
    bool negative = false;
    if (!exp.empty() && (exp[0] == '+' || exp[0] == '-')) {
      negative = exp[0] == '-';
      exp.remove_prefix(1);
    }
    if (exp.empty() || exp.size() > 3) {
      return Invalid(text, "bad exponent " + Quote(suffix));
    }
    int value = 0;
    for (char c : exp) {
      if (!IsDigit(c)) {
        return Invalid(text, "bad exponent " + Quote(suffix));
      }
      value = value * 10 + (c - '0');
    }
    if (negative) {
      divide_pow10 += value;
    } else if (value > kMaxExponent && !digits.empty()) {
      return Invalid(text, "too large");
    } else {
      multiplier = Pow10(std::min(value, kMaxExponent));
    }
  } else {
    return Invalid(text, "unknown suffix " + Quote(suffix) +
                             " (use Ki, Mi, Gi, Ti, Pi, Ei, k, M, G, T, P or E)");
  }
  Int128 mantissa = 0;
  for (char c : digits) {
    mantissa = mantissa * 10 + (c - '0');
  }
  Int128 value = mantissa * multiplier;  // < 10^19 * 2^60 < 2^124: no overflow
  if (value != 0) {
    if (divide_pow10 > 38) {
      return Invalid(text, "is not a whole number of bytes");
    }
    Int128 divisor = Pow10(divide_pow10);
    if (value % divisor != 0) {
      return Invalid(text, "is not a whole number of bytes");
    }
    value /= divisor;
  }
  if (value > std::numeric_limits<int64_t>::max()) {
    return Invalid(text, "too large");
  }
  return static_cast<int64_t>(value);
}

Json ToJson(const Quantity& value) {
  if (value.is_number) {
    StatusOr<int64_t> bytes = ParseQuantity(value.text);
    if (bytes.ok()) {
      return Json(*bytes);
    }
  }
  return Json(value.text);
}

void Decode(const Json& json, const std::string& path, Quantity* out, FieldErrors* errors) {
  if (json.is_string()) {
    out->text = json.get_ref<const std::string&>();
    out->is_number = false;
  } else if (json.is_number_integer() || json.is_number_unsigned()) {
    out->text = json.dump();
    out->is_number = true;
  } else {
    errors->push_back({path, "must be a quantity string like 10Gi or an integer, got " +
                                 JsonTypeName(json)});
  }
}

}  // namespace lifeboat::api
