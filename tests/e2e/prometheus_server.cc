#include "tests/e2e/prometheus_server.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <fstream>
#include <optional>
#include <thread>

#include "tests/support/process.h"

namespace lifeboat::testing {

int FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

std::string UrlEncode(const std::string& text) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

bool Eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return done();
}

bool PrometheusServer::Installed() { return RunCommand("command -v prometheus").exit_code == 0; }

PrometheusServer::PrometheusServer(const std::filesystem::path& dir,
                                   const std::vector<std::string>& targets,
                                   const std::vector<std::filesystem::path>& rule_files) {
  std::filesystem::create_directories(dir);
  port_ = FreeLoopbackPort();
  std::string config = "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n";
  if (!rule_files.empty()) {
    config += "rule_files:\n";
    for (const auto& f : rule_files) config += "  - " + f.string() + "\n";
  }
  config += "scrape_configs:\n  - job_name: lifeboat\n    static_configs:\n      - targets: [";
  for (size_t i = 0; i < targets.size(); ++i) {
    config += (i ? ", '" : "'") + targets[i] + "'";
  }
  config += "]\n";
  std::ofstream(dir / "prometheus.yml") << config;
  process_ = std::make_unique<Subprocess>(std::vector<std::string>{
      "prometheus", "--config.file=" + (dir / "prometheus.yml").string(),
      "--storage.tsdb.path=" + (dir / "tsdb").string(),
      "--web.listen-address=127.0.0.1:" + std::to_string(port_)});
  ready_ = process_->WaitForText("Server is ready to receive web requests",
                                 std::chrono::seconds(60));
  if (!ready_) ADD_FAILURE() << "Prometheus did not start:\n" << process_->output();
}

Json PrometheusServer::Api(const std::string& path) const {
  auto response = HttpGet(port_, "/api/v1/" + path);
  if (!response.ok()) return nullptr;
  return Json::parse(response->body, nullptr, false);
}

Json PrometheusServer::Query(const std::string& expr, std::optional<double> time) const {
  std::string path = "query?query=" + UrlEncode(expr);
  if (time) path += "&time=" + std::to_string(*time);
  return Api(path);
}

std::optional<double> PrometheusServer::Value(const std::string& expr,
                                              std::optional<double> time) const {
  Json answer = Query(expr, time);
  if (!HasData(answer)) return std::nullopt;
  const Json& value = answer["data"]["result"][0]["value"];
  if (!value.is_array() || value.size() != 2 || !value[1].is_string()) return std::nullopt;
  return std::stod(value[1].get<std::string>());
}

bool PrometheusServer::HasData(const Json& answer) {
  return answer.is_object() && answer.value("status", "") == "success" &&
         answer["data"]["result"].is_array() && !answer["data"]["result"].empty();
}

bool PrometheusServer::Firing(const std::string& name) const {
  return HasData(Query("ALERTS{alertname=\"" + name + "\",alertstate=\"firing\"}"));
}

}  // namespace lifeboat::testing
