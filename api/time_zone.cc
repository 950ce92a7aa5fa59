#include "api/time_zone.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <optional>

#include "api/codec.h"

namespace lifeboat::api {
namespace {

constexpr int64_t kSecondsPerDay = 86400;
// Transitions from the POSIX rule are generated up to this year.
constexpr int64_t kLastRuleYear = 2200;
constexpr size_t kMaxTzifBytes = 1 << 20;

Status Unknown(const std::string& name, const std::string& why) {
  return InvalidArgumentError("unknown time zone " + Quote(name) + why);
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int64_t y, unsigned m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// A reader of big-endian integers over the TZif bytes.
class Reader {
 public:
  explicit Reader(const std::string& data) : data_(data) {}
  bool Has(size_t n) const { return pos_ + n <= data_.size(); }
  void Skip(size_t n) { pos_ += n; }
  size_t pos() const { return pos_; }
  uint64_t Read(size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) {
      v = (v << 8) | static_cast<unsigned char>(data_[pos_ + i]);
    }
    pos_ += n;
    return v;
  }
  std::string Rest() const { return data_.substr(pos_); }

 private:
  const std::string& data_;
  size_t pos_ = 0;
};

struct Header {
  uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
  char version;
};

bool ReadHeader(Reader& r, Header* h) {
  if (!r.Has(44)) {
    return false;
  }
  if (r.Read(4) != 0x545a6966) {  // "TZif"
    return false;
  }
  h->version = static_cast<char>(r.Read(1));
  r.Skip(15);
  h->isutcnt = static_cast<uint32_t>(r.Read(4));
  h->isstdcnt = static_cast<uint32_t>(r.Read(4));
  h->leapcnt = static_cast<uint32_t>(r.Read(4));
  h->timecnt = static_cast<uint32_t>(r.Read(4));
  h->typecnt = static_cast<uint32_t>(r.Read(4));
  h->charcnt = static_cast<uint32_t>(r.Read(4));
  return h->typecnt > 0;
}

size_t BlockSize(const Header& h, size_t time_size) {
  return size_t{h.timecnt} * time_size + h.timecnt + size_t{h.typecnt} * 6 + h.charcnt +
         size_t{h.leapcnt} * (time_size + 4) + h.isstdcnt + h.isutcnt;
}

// POSIX TZ rule ("CET-1CEST,M3.5.0,M10.5.0/3").
struct PosixRule {
  int32_t std_offset = 0;  // seconds east of UTC
  bool has_dst = false;
  int32_t dst_offset = 0;
  struct Date {
    char kind = 'M';  // 'M' month.week.day, 'J' julian 1..365 without Feb 29, 'N' 0..365
    int month = 0, week = 0, weekday = 0, day = 0;
    int32_t time = 2 * 3600;  // local time of the change (may be negative or > 24h)
  } start, end;
};

class PosixParser {
 public:
  explicit PosixParser(std::string_view s) : s_(s) {}
  std::optional<PosixRule> Parse() {
    PosixRule rule;
    if (!Name()) {
      return std::nullopt;
    }
    auto std_off = Offset();
    if (!std_off) {
      return std::nullopt;
    }
    rule.std_offset = -*std_off;  // POSIX offsets are west of UTC
    if (Done()) {
      return rule;
    }
    if (!Name()) {
      return std::nullopt;
    }
    rule.has_dst = true;
    rule.dst_offset = rule.std_offset + 3600;
    if (!Done() && Peek() != ',') {
      auto dst_off = Offset();
      if (!dst_off) {
        return std::nullopt;
      }
      rule.dst_offset = -*dst_off;
    }
    if (Done()) {
      // No rule: POSIX leaves it implementation-defined; use the US rules.
      rule.start = {'M', 3, 2, 0, 0, 7200};
      rule.end = {'M', 11, 1, 0, 0, 7200};
      return rule;
    }
    if (!Eat(',') || !DateRule(&rule.start) || !Eat(',') || !DateRule(&rule.end) || !Done()) {
      return std::nullopt;
    }
    return rule;
  }

 private:
  bool Done() const { return i_ >= s_.size(); }
  char Peek() const { return s_[i_]; }
  bool Eat(char c) {
    if (!Done() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool Name() {
    if (Eat('<')) {
      size_t close = s_.find('>', i_);
      if (close == std::string_view::npos) {
        return false;
      }
      i_ = close + 1;
      return true;
    }
    size_t start = i_;
    while (!Done() && ((Peek() >= 'A' && Peek() <= 'Z') || (Peek() >= 'a' && Peek() <= 'z'))) {
      ++i_;
    }
    return i_ - start >= 3;
  }
  std::optional<int> Number(int max_digits) {
    int v = 0;
    int n = 0;
    while (!Done() && Peek() >= '0' && Peek() <= '9' && n < max_digits) {
      v = v * 10 + (Peek() - '0');
      ++i_;
      ++n;
    }
    if (n == 0) {
      return std::nullopt;
    }
    return v;
  }
  // [+-]hh[:mm[:ss]] in seconds.
  std::optional<int32_t> Offset() {
    int sign = 1;
    if (Eat('-')) {
      sign = -1;
    } else {
      Eat('+');
    }
    auto h = Number(3);
    if (!h) {
      return std::nullopt;
    }
    int32_t total = *h * 3600;
    if (Eat(':')) {
      auto m = Number(2);
      if (!m) {
        return std::nullopt;
      }
      total += *m * 60;
      if (Eat(':')) {
        auto sec = Number(2);
        if (!sec) {
          return std::nullopt;
        }
        total += *sec;
      }
    }
    return sign * total;
  }
  bool DateRule(PosixRule::Date* d) {
    if (Eat('M')) {
      d->kind = 'M';
      auto m = Number(2);
      if (!m || !Eat('.')) {
        return false;
      }
      auto w = Number(1);
      if (!w || !Eat('.')) {
        return false;
      }
      auto wd = Number(1);
      if (!wd || *m < 1 || *m > 12 || *w < 1 || *w > 5 || *wd > 6) {
        return false;
      }
      d->month = *m;
      d->week = *w;
      d->weekday = *wd;
    } else if (Eat('J')) {
      d->kind = 'J';
      auto n = Number(3);
      if (!n || *n < 1 || *n > 365) {
        return false;
      }
      d->day = *n;
    } else {
      d->kind = 'N';
      auto n = Number(3);
      if (!n || *n > 365) {
        return false;
      }
      d->day = *n;
    }
    d->time = 2 * 3600;
    if (Eat('/')) {
      auto t = Offset();
      if (!t) {
        return false;
      }
      d->time = *t;
    }
    return true;
  }

  std::string_view s_;
  size_t i_ = 0;
};

// Local-midnight day number (days since epoch) of a rule date in `year`.
int64_t RuleDay(const PosixRule::Date& d, int64_t year) {
  if (d.kind == 'J') {
    int64_t day = d.day - 1;  // 0-based, Feb 29 never counted
    if (IsLeap(year) && d.day >= 60) {
      ++day;
    }
    return DaysFromCivil(year, 1, 1) + day;
  }
  if (d.kind == 'N') {
    return DaysFromCivil(year, 1, 1) + d.day;
  }
  int64_t first = DaysFromCivil(year, static_cast<unsigned>(d.month), 1);
  int first_weekday = static_cast<int>(((first % 7) + 11) % 7);  // 1970-01-01 was a Thursday (4)
  int64_t day = first + ((d.weekday - first_weekday + 7) % 7) + int64_t{7} * (d.week - 1);
  int64_t last = first + DaysInMonth(year, static_cast<unsigned>(d.month)) - 1;
  while (day > last) {
    day -= 7;
  }
  return day;
}

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 255 || name[0] == '/' || name.find("..") != std::string::npos) {
    return false;
  }
  for (char c : name) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '_' || c == '-' || c == '+';
    if (!ok) {
      return false;
    }
  }
  return true;
}

}  // namespace

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t* year, unsigned* month, unsigned* day) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *day = doy - (153 * mp + 2) / 5 + 1;
  *month = mp < 10 ? mp + 3 : mp - 9;
  *year = y + (*month <= 2);
}

TimeZone TimeZone::Utc() {
  TimeZone tz;
  tz.name_ = "UTC";
  return tz;
}

StatusOr<TimeZone> TimeZone::Load(const std::string& name) {
  if (name == "UTC" || name == "Etc/UTC") {
    TimeZone tz = Utc();
    tz.name_ = name;
    return tz;
  }
  if (!ValidName(name)) {
    return Unknown(name, ": not an IANA name like Europe/Paris");
  }
  const char* dir_env = std::getenv("TZDIR");
  std::string dir = dir_env != nullptr && *dir_env != '\0' ? dir_env : "/usr/share/zoneinfo";
  std::ifstream in(dir + "/" + name, std::ios::binary);
  if (!in) {
    return Unknown(name, " (no such zone in " + dir + ")");
  }
  std::string data;
  data.resize(kMaxTzifBytes);
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  data.resize(static_cast<size_t>(in.gcount()));

  Reader r(data);
  Header h{};
  if (!ReadHeader(r, &h)) {
    return Unknown(name, " (" + dir + "/" + name + " is not a TZif file)");
  }
  size_t time_size = 4;
  if (h.version >= '2') {
    if (!r.Has(BlockSize(h, 4))) {
      return Unknown(name, " (truncated TZif file)");
    }
    r.Skip(BlockSize(h, 4));
    if (!ReadHeader(r, &h)) {
      return Unknown(name, " (bad TZif v2 header)");
    }
    time_size = 8;
  }
  if (!r.Has(BlockSize(h, time_size))) {
    return Unknown(name, " (truncated TZif file)");
  }
  std::vector<int64_t> times(h.timecnt);
  for (auto& t : times) {
    uint64_t raw = r.Read(time_size);
    t = time_size == 8 ? static_cast<int64_t>(raw) : static_cast<int32_t>(raw);
  }
  std::vector<uint8_t> indices(h.timecnt);
  for (auto& idx : indices) {
    idx = static_cast<uint8_t>(r.Read(1));
  }
  std::vector<int32_t> type_offsets(h.typecnt);
  for (auto& off : type_offsets) {
    off = static_cast<int32_t>(static_cast<uint32_t>(r.Read(4)));
    r.Skip(2);  // isdst, abbreviation index
  }
  r.Skip(h.charcnt + size_t{h.leapcnt} * (time_size + 4) + h.isstdcnt + h.isutcnt);

  TimeZone tz;
  tz.name_ = name;
  tz.initial_offset_ = type_offsets[0];
  for (size_t i = 0; i < times.size(); ++i) {
    if (indices[i] >= type_offsets.size()) {
      return Unknown(name, " (corrupt TZif file)");
    }
    if (!tz.transitions_.empty() && times[i] <= tz.transitions_.back()) {
      continue;
    }
    tz.transitions_.push_back(times[i]);
    tz.offsets_.push_back(type_offsets[indices[i]]);
  }

  // Version 2+ footer: "\n<POSIX TZ>\n" governs times after the last transition.
  if (time_size == 8) {
    std::string rest = r.Rest();
    if (rest.size() >= 2 && rest[0] == '\n') {
      size_t end = rest.find('\n', 1);
      std::string tz_string = rest.substr(1, end == std::string::npos ? std::string::npos : end - 1);
      std::optional<PosixRule> rule = PosixParser(tz_string).Parse();
      if (rule && rule->has_dst) {
        int64_t last = tz.transitions_.empty() ? INT64_MIN : tz.transitions_.back();
        int64_t year;
        unsigned month, day;
        CivilFromDays((last == INT64_MIN ? 0 : last) / kSecondsPerDay, &year, &month, &day);
        for (int64_t y = year; y <= kLastRuleYear; ++y) {
          // The start of DST is given in standard time, the end in daylight time.
          int64_t start = RuleDay(rule->start, y) * kSecondsPerDay + rule->start.time -
                          rule->std_offset;
          int64_t end_t = RuleDay(rule->end, y) * kSecondsPerDay + rule->end.time -
                          rule->dst_offset;
          std::pair<int64_t, int32_t> changes[2] = {{start, rule->dst_offset},
                                                    {end_t, rule->std_offset}};
          if (changes[1].first < changes[0].first) {
            std::swap(changes[0], changes[1]);
          }
          for (const auto& [at, offset] : changes) {
            if (at > last) {
              tz.transitions_.push_back(at);
              tz.offsets_.push_back(offset);
              last = at;
            }
          }
        }
      } else if (rule && tz.transitions_.empty()) {
        tz.initial_offset_ = rule->std_offset;
      }
    }
  }
  return tz;
}

int32_t TimeZone::OffsetAt(int64_t utc_seconds) const {
  auto it = std::upper_bound(transitions_.begin(), transitions_.end(), utc_seconds);
  if (it == transitions_.begin()) {
    return initial_offset_;
  }
  return offsets_[static_cast<size_t>(it - transitions_.begin()) - 1];
}

int64_t TimeZone::FromLocal(int64_t local_seconds) const {
  // Zone offsets stay within ±26 h and transitions are far more than 2 days apart, so the
  // offsets a day before and a day after cover every candidate.
  int32_t before = OffsetAt(local_seconds - kSecondsPerDay);
  int32_t after = OffsetAt(local_seconds + kSecondsPerDay);
  std::optional<int64_t> best;
  for (int32_t offset : {before, after}) {
    int64_t candidate = local_seconds - offset;
    if (OffsetAt(candidate) == offset && (!best || candidate < *best)) {
      best = candidate;
    }
  }
  if (best) {
    return *best;
  }
  // Skipped wall time: the instant of the forward jump, the first transition after the
  // earliest reading.
  int64_t earliest = local_seconds - std::max(before, after);
  auto it = std::upper_bound(transitions_.begin(), transitions_.end(), earliest);
  if (it != transitions_.end()) {
    return *it;
  }
  return local_seconds - after;
}

}  // namespace lifeboat::api
