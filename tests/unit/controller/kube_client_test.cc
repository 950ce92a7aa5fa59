#include "controller/kube_client.h"

#include <gtest/gtest.h>

namespace lifeboat::controller {
namespace {

Json KubeStatus(int code, const std::string& reason, const std::string& message) {
  return {{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"},
          {"code", code},     {"reason", reason},   {"message", message}};
}

TEST(StatusFromHttpTest, MapsKubernetesErrorsToStatusCodes) {
  struct Case {
    int http;
    std::string reason;
    StatusCode want;
  };
  for (const Case& c : std::vector<Case>{{404, "NotFound", StatusCode::kNotFound},
                                         {409, "Conflict", StatusCode::kAborted},
                                         {409, "AlreadyExists", StatusCode::kAlreadyExists},
                                         {422, "Invalid", StatusCode::kInvalidArgument},
                                         {400, "BadRequest", StatusCode::kInvalidArgument},
                                         {410, "Expired", StatusCode::kOutOfRange},
                                         {401, "Unauthorized", StatusCode::kUnauthenticated},
                                         {403, "Forbidden", StatusCode::kPermissionDenied},
                                         {429, "TooManyRequests", StatusCode::kUnavailable},
                                         {500, "InternalError", StatusCode::kUnavailable},
                                         {503, "ServiceUnavailable", StatusCode::kUnavailable},
                                         {418, "", StatusCode::kUnknown}}) {
    Status s = StatusFromHttp(c.http, KubeStatus(c.http, c.reason, "boom").dump(), "get x");
    EXPECT_EQ(s.code(), c.want) << c.http << " " << c.reason << " → " << s;
    EXPECT_NE(s.message().find("get x"), std::string::npos) << s;
  }
}

TEST(StatusFromHttpTest, InvalidCarriesTheFieldCauses) {
  Json body = KubeStatus(422, "Invalid", "BackupPolicy.lifeboat.dev \"db\" is invalid");
  Json causes = Json::array();
  causes.push_back({{"field", "spec.rpo"}, {"message", "Invalid value: \"x\""}});
  causes.push_back({{"field", "spec.volumes"}, {"message", "Required value"}});
  body["details"]["causes"] = causes;
  Status s = StatusFromHttp(422, body.dump(), "create backuppolicies.lifeboat.dev prod/db");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("spec.rpo: Invalid value: \"x\""), std::string::npos) << s;
  EXPECT_NE(s.message().find("spec.volumes: Required value"), std::string::npos) << s;
}

TEST(StatusFromHttpTest, NonJsonBodiesAreQuoted) {
  Status s = StatusFromHttp(502, "<html>bad gateway</html>", "list x");
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("bad gateway"), std::string::npos);
}

TEST(StatusFromKubeStatusTest, WatchErrorEventExpiredIsOutOfRange) {
  Status s = StatusFromKubeStatus(KubeStatus(410, "Expired", "too old resource version"), "w");
  EXPECT_EQ(s.code(), StatusCode::kOutOfRange);
  EXPECT_EQ(s.message().rfind("Expired", 0), 0u) << s;
}

TEST(ObjectKeyTest, ParsesAndFormats) {
  EXPECT_EQ(ObjectKey::Parse("ns/name"), (ObjectKey{"ns", "name"}));
  EXPECT_EQ(ObjectKey::Parse("name"), (ObjectKey{"", "name"}));
  EXPECT_EQ((ObjectKey{"ns", "n"}).ToString(), "ns/n");
  EXPECT_EQ(KeyOf(Json{{"metadata", {{"namespace", "a"}, {"name", "b"}}}}), "a/b");
  EXPECT_EQ(KeyOf(Json::object()), "");
}

}  // namespace
}  // namespace lifeboat::controller
