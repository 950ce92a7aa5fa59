// Drives the replication engine for bench/replication/compare.sh (the sender side of a cycle and
// the target-side materialise), printing one JSON object per cycle.
//   replication_bench_tool replicate --endpoint URL --ca-file F --token-file F --state-dir D
//       [--site S --namespace N --policy P] [--bandwidth-limit BYTES] [--loop-seconds N] PATH...
//   replication_bench_tool materialize --root DIR [--site S --namespace N --policy P]
//       [--point ID|latest] --target DIR
#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "api/json.h"
#include "engines/replication/sender.h"
#include "engines/replication/store.h"

namespace {

using namespace lifeboat;
using namespace lifeboat::replication;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) {
    return 0;
  }
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int Usage() {
  std::cerr << "usage: replication_bench_tool replicate|materialize [flags] (see the source)\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    return Usage();
  }
  std::string mode = argv[1];
  std::map<std::string, std::string> flags = {
      {"site", "bench-site"}, {"namespace", "bench"}, {"policy", "data"}, {"point", "latest"}};
  std::vector<std::string> paths;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a.starts_with("--") && i + 1 < argc) {
      flags[a.substr(2)] = argv[++i];
    } else {
      paths.push_back(a);
    }
  }
  if (mode == "materialize") {
    PointRef ref{flags["root"], flags["site"], flags["namespace"], flags["policy"]};
    std::string point = flags["point"];
    if (point == "latest") {
      auto points = ListPoints(ref);
      if (!points.ok() || points->empty()) {
        std::cerr << "no points: " << points.status() << "\n";
        return 1;
      }
      point = points->back().id;
    }
    auto start = std::chrono::steady_clock::now();
    auto stats = Materialize(ref, point, flags["target"]);
    if (!stats.ok()) {
      std::cerr << stats.status() << "\n";
      return 1;
    }
    Json j;
    j["point"] = point;
    j["files"] = stats->files;
    j["bytes"] = stats->bytes;
    j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << j.dump() << "\n";
    return 0;
  }
  if (mode != "replicate" || paths.empty()) {
    return Usage();
  }
  TargetEndpoint target;
  target.endpoint = flags["endpoint"];
  target.ca_pem = ReadFile(flags["ca-file"]);
  target.token = ReadFile(flags["token-file"]);
  while (!target.token.empty() && target.token.back() == '\n') {
    target.token.pop_back();
  }
  ReplicateOptions options;
  options.site = flags["site"];
  options.ns = flags["namespace"];
  options.policy = flags["policy"];
  options.state_dir = flags["state-dir"];
  options.bandwidth_limit =
      flags.contains("bandwidth-limit") ? std::stoull(flags["bandwidth-limit"]) : 0;
  std::vector<Volume> volumes;
  for (const std::string& p : paths) {
    volumes.push_back({"", p});
  }
  double loop_seconds = flags.contains("loop-seconds") ? std::stod(flags["loop-seconds"]) : 0;
  auto loop_start = std::chrono::steady_clock::now();
  std::vector<double> rpo;  // seconds from a point's capture to the commit of the next one
  int64_t previous_capture = -1;
  int cycles = 0;
  do {
    auto r = Replicate(volumes, target, options);
    int64_t end = NowMs();
    if (!r.ok()) {
      std::cerr << "replicate: " << r.status() << "\n";
      return 1;
    }
    ++cycles;
    Json j;
    j["point"] = r->point.id;
    j["full"] = r->full;
    j["seconds"] = static_cast<double>(r->duration.count()) / 1000.0;
    j["filesChanged"] = r->files_changed;
    j["bytesScanned"] = r->bytes_scanned;
    j["bytesHashed"] = r->bytes_hashed;
    j["chunksSent"] = r->chunks_sent;
    j["dataBytesSent"] = r->data_bytes_sent;
    j["bytesSent"] = r->bytes_sent;
    j["bytesReceived"] = r->bytes_received;
    if (previous_capture >= 0) {
      rpo.push_back(static_cast<double>(end - previous_capture) / 1000.0);
      j["rpoSeconds"] = rpo.back();
    }
    previous_capture = r->point.time_ms;
    std::cout << j.dump() << "\n" << std::flush;
  } while (std::chrono::duration<double>(std::chrono::steady_clock::now() - loop_start).count() <
           loop_seconds);
  if (loop_seconds > 0) {
    Json s;
    s["cycles"] = cycles;
    s["rpoP50Seconds"] = Percentile(rpo, 0.5);
    s["rpoP90Seconds"] = Percentile(rpo, 0.9);
    s["rpoMaxSeconds"] = rpo.empty() ? 0 : *std::max_element(rpo.begin(), rpo.end());
    std::cout << "summary " << s.dump() << "\n";
  }
  return 0;
}
