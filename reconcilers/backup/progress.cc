#include "reconcilers/backup/progress.h"

#include <algorithm>
#include <cmath>

namespace lifeboat::reconcilers::backup {

Json ProgressJson(const vault::Progress& p, std::chrono::steady_clock::duration elapsed) {
  double seconds = std::chrono::duration<double>(elapsed).count();
  Json out = {{"bytesDone", static_cast<int64_t>(p.bytes_done)},
              {"filesDone", static_cast<int64_t>(p.files_done)}};
  if (p.bytes_total > 0) out["bytesTotal"] = static_cast<int64_t>(p.bytes_total);
  if (p.files_total > 0) out["filesTotal"] = static_cast<int64_t>(p.files_total);
  double rate = seconds > 0 ? p.bytes_done / seconds : 0;
  out["bytesPerSecond"] = std::round(rate);
  if (p.bytes_total > 0) {
    double fraction = std::min(1.0, static_cast<double>(p.bytes_done) / p.bytes_total);
    out["percent"] = std::round(fraction * 1000) / 10;
    if (rate > 0) {
      out["etaSeconds"] = std::round((p.bytes_total - std::min(p.bytes_done, p.bytes_total)) / rate);
    }
  }
  return out;
}

ProgressThrottle::ProgressThrottle(std::function<void(const Json&)> publish,
                                   std::chrono::steady_clock::duration every)
    : publish_(std::move(publish)), every_(every) {}

void ProgressThrottle::operator()(const vault::Progress& p) {
  Json progress;
  {
    std::lock_guard lock(mu_);
    last_progress_ = p;
    auto now = std::chrono::steady_clock::now();
    if (last_ != std::chrono::steady_clock::time_point{} && now - last_ < every_) return;
    last_ = now;
    progress = ProgressJson(p, now - start_);
  }
  publish_(progress);
}

Json ProgressThrottle::Final() {
  vault::Progress done;
  {
    std::lock_guard lock(mu_);
    done = last_progress_;
  }
  done.bytes_done = done.bytes_total = std::max(done.bytes_done, done.bytes_total);
  done.files_done = done.files_total = std::max(done.files_done, done.files_total);
  Json progress = ProgressJson(done, elapsed());
  progress["percent"] = 100.0;
  progress["etaSeconds"] = 0.0;
  return progress;
}

std::chrono::steady_clock::duration ProgressThrottle::elapsed() const {
  return std::chrono::steady_clock::now() - start_;
}

}  // namespace lifeboat::reconcilers::backup
