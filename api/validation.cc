#include "api/validation.h"

#include <cctype>
#include <sstream>

#include "api/codec.h"
#include "api/cron.h"
#include "api/duration.h"
#include "api/time_zone.h"

namespace lifeboat::api {
namespace {

constexpr size_t kMaxLabelLength = 63;
constexpr size_t kMaxSubdomainLength = 253;

std::string FormatNumber(double v) {
  std::ostringstream out;
  out.precision(15);
  out << v;
  return out.str();
}

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

bool IsQualifiedNamePart(std::string_view s) {
  if (s.empty() || s.size() > kMaxLabelLength || !IsAlnum(s.front()) || !IsAlnum(s.back())) {
    return false;
  }
  for (char c : s) {
    if (!IsAlnum(c) && c != '-' && c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

}  // namespace

bool IsDns1123Label(std::string_view s) {
  if (s.empty() || s.size() > kMaxLabelLength || !IsLowerAlnum(s.front()) ||
      !IsLowerAlnum(s.back())) {
    return false;
  }
  for (char c : s) {
    if (!IsLowerAlnum(c) && c != '-') {
      return false;
    }
  }
  return true;
}

bool IsDns1123Subdomain(std::string_view s) {
  if (s.empty() || s.size() > kMaxSubdomainLength) {
    return false;
  }
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? dot : dot - start);
    // Subdomain labels have no length limit of their own beyond the total.
    if (label.empty() || !IsLowerAlnum(label.front()) || !IsLowerAlnum(label.back())) {
      return false;
    }
    for (char c : label) {
      if (!IsLowerAlnum(c) && c != '-') {
        return false;
      }
    }
    if (dot == std::string_view::npos) {
      return true;
    }
    start = dot + 1;
  }
}

void ValidateDns1123Label(const std::string& value, const std::string& path,
                          FieldErrors* errors) {
  if (!IsDns1123Label(value)) {
    errors->push_back({path, Quote(value) +
                                 " is not a DNS-1123 label: at most 63 lowercase letters, digits "
                                 "and '-', starting and ending with a letter or digit"});
  }
}

void ValidateDns1123Subdomain(const std::string& value, const std::string& path,
                              FieldErrors* errors) {
  if (!IsDns1123Subdomain(value)) {
    errors->push_back({path, Quote(value) +
                                 " is not a DNS-1123 subdomain: at most 253 lowercase letters, "
                                 "digits, '-' and '.', starting and ending with a letter or "
                                 "digit"});
  }
}

void ValidateQualifiedName(const std::string& value, const std::string& path,
                           FieldErrors* errors) {
  std::string_view name = value;
  size_t slash = name.find('/');
  bool ok = true;
  if (slash != std::string_view::npos) {
    ok = IsDns1123Subdomain(name.substr(0, slash));
    name = name.substr(slash + 1);
  }
  if (!ok || !IsQualifiedNamePart(name)) {
    errors->push_back({path, Quote(value) +
                                 " is not a qualified name: an optional DNS subdomain prefix and "
                                 "'/', then at most 63 letters, digits, '-', '_' and '.', "
                                 "starting and ending with a letter or digit"});
  }
}

void ValidateLabelValue(const std::string& value, const std::string& path,
                        FieldErrors* errors) {
  if (!value.empty() && !IsQualifiedNamePart(value)) {
    errors->push_back({path, "label value " + Quote(value) +
                                 " must be at most 63 letters, digits, '-', '_' and '.', "
                                 "starting and ending with a letter or digit"});
  }
}

void ValidateRequiredString(const std::string& value, const std::string& path,
                            FieldErrors* errors) {
  if (value.empty()) {
    errors->push_back({path, "required"});
  }
}

void ValidateAbsolutePath(const std::string& value, const std::string& path,
                          FieldErrors* errors) {
  if (value.empty()) {
    errors->push_back({path, "required"});
  } else if (value[0] != '/') {
    errors->push_back({path, "must be an absolute path, got " + Quote(value)});
  } else if (value.find('\0') != std::string::npos) {
    errors->push_back({path, "must not contain NUL characters"});
  }
}

void ValidateUrl(const std::string& value, std::initializer_list<std::string_view> schemes,
                 const std::string& path, FieldErrors* errors) {
  if (value.empty()) {
    errors->push_back({path, "required"});
    return;
  }
  std::string allowed;
  for (std::string_view scheme : schemes) {
    std::string prefix = std::string(scheme) + "://";
    if (value.rfind(prefix, 0) == 0) {
      std::string_view rest = std::string_view(value).substr(prefix.size());
      std::string_view host = rest.substr(0, rest.find_first_of("/?#"));
      if (host.empty() || host.front() == ':') {
        errors->push_back({path, "URL " + Quote(value) + " has no host"});
        return;
      }
      for (char c : value) {
        if (std::isspace(static_cast<unsigned char>(c)) ||
            std::iscntrl(static_cast<unsigned char>(c))) {
          errors->push_back({path, "URL " + Quote(value) + " contains spaces or control "
                                   "characters"});
          return;
        }
      }
      return;
    }
    allowed += allowed.empty() ? "" : " or ";
    allowed += prefix;
  }
  errors->push_back({path, "must be a URL starting with " + allowed + ", got " + Quote(value)});
}

void ValidateMin(std::optional<int64_t> value, int64_t min, const std::string& path,
                 FieldErrors* errors) {
  if (value && *value < min) {
    errors->push_back({path, "must be >= " + std::to_string(min) + ", got " +
                                 std::to_string(*value)});
  }
}

void ValidateRange(std::optional<int64_t> value, int64_t min, int64_t max,
                   const std::string& path, FieldErrors* errors) {
  if (value && (*value < min || *value > max)) {
    errors->push_back({path, "must be between " + std::to_string(min) + " and " +
                                 std::to_string(max) + ", got " + std::to_string(*value)});
  }
}

void ValidateNumberRange(std::optional<double> value, double min, double max,
                         const std::string& path, FieldErrors* errors) {
  if (value && !(*value >= min && *value <= max)) {
    errors->push_back({path, "must be between " + FormatNumber(min) + " and " +
                                 FormatNumber(max) + ", got " + FormatNumber(*value)});
  }
}

void ValidateDuration(const std::optional<std::string>& value, DurationRule rule,
                      const std::string& path, FieldErrors* errors) {
  if (!value) {
    return;
  }
  StatusOr<std::chrono::milliseconds> d = ParseDuration(*value);
  if (!d.ok()) {
    errors->push_back({path, d.status().message()});
  } else if (rule == DurationRule::kPositive && d->count() <= 0) {
    errors->push_back({path, "must be longer than 0s, got " + Quote(*value)});
  }
}

std::optional<int64_t> ValidateQuantity(const std::optional<Quantity>& value, bool positive,
                                        const std::string& path, FieldErrors* errors) {
  if (!value) {
    return std::nullopt;
  }
  StatusOr<int64_t> bytes = value->Bytes();
  if (!bytes.ok()) {
    errors->push_back({path, bytes.status().message()});
    return std::nullopt;
  }
  if (positive && *bytes <= 0) {
    errors->push_back({path, "must be greater than 0, got " + Quote(value->text)});
    return std::nullopt;
  }
  return *bytes;
}

void ValidateCron(const std::string& value, const std::string& path, FieldErrors* errors) {
  StatusOr<CronSchedule> schedule = CronSchedule::Parse(value);
  if (!schedule.ok()) {
    errors->push_back({path, schedule.status().message()});
  }
}

void ValidateTimeZone(const std::string& value, const std::string& path, FieldErrors* errors) {
  StatusOr<TimeZone> zone = TimeZone::Load(value);
  if (!zone.ok()) {
    errors->push_back({path, zone.status().message()});
  }
}

}  // namespace lifeboat::api
