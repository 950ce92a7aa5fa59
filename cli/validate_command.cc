#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "api/manifest.h"
#include "cli/commands.h"
#include "cli/flags.h"

namespace lifeboat::cli {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxFileBytes = 64 * 1024 * 1024;

bool IsManifestFile(const fs::path& p) {
  std::string ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

// The files named by -f: files as given, directories searched recursively for
// .yaml/.yml/.json (sorted, so output is stable). Problems are appended to `problems`.
std::vector<std::string> CollectFiles(const std::vector<std::string>& args,
                                      std::vector<std::string>* problems) {
  std::vector<std::string> files;
  for (const std::string& arg : args) {
    if (arg == "-") {
      files.push_back(arg);
      continue;
    }
    std::error_code ec;
    fs::file_status st = fs::status(arg, ec);
    if (ec || !fs::exists(st)) {
      problems->push_back(arg + ": no such file or directory");
      continue;
    }
    if (!fs::is_directory(st)) {
      files.push_back(arg);
      continue;
    }
    std::vector<std::string> found;
    fs::recursive_directory_iterator it(arg, fs::directory_options::skip_permission_denied, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file(ec) && IsManifestFile(it->path())) {
        found.push_back(it->path().string());
      }
    }
    if (ec) {
      problems->push_back(arg + ": " + ec.message());
    }
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

bool ReadAll(const std::string& file, std::string* text, std::string* error) {
  if (file == "-") {
    std::ostringstream buffer;
    buffer << std::cin.rdbuf();
    *text = buffer.str();
    return true;
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    *error = file + ": cannot read: " + std::strerror(errno);
    return false;
  }
  // Bounded, so `-f /dev/zero` ends with an error instead of exhausting memory.
  text->clear();
  char chunk[1 << 16];
  while (text->size() <= kMaxFileBytes && in.read(chunk, sizeof chunk).gcount() > 0) {
    text->append(chunk, static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) {
    *error = file + ": cannot read (is it a directory?)";
    return false;
  }
  if (text->size() > kMaxFileBytes) {
    *error = file + ": larger than 64 MiB; not a manifest";
    return false;
  }
  return true;
}

std::string Describe(const Json& object) {
  std::string kind = "<no kind>";
  std::string name = "<no name>";
  if (object.is_object()) {
    auto k = object.find("kind");
    if (k != object.end() && k->is_string() && !k->get_ref<const std::string&>().empty()) {
      kind = k->get<std::string>();
    }
    auto meta = object.find("metadata");
    if (meta != object.end() && meta->is_object()) {
      auto n = meta->find("name");
      auto g = meta->find("generateName");
      if (n != meta->end() && n->is_string() && !n->get_ref<const std::string&>().empty()) {
        name = n->get<std::string>();
      } else if (g != meta->end() && g->is_string()) {
        name = g->get<std::string>() + "*";
      }
    }
  }
  return kind + "/" + name;
}

}  // namespace

int RunValidate(const Args& args) {
  FlagSet flags("lifeboat validate", "lifeboat validate -f FILE|DIR [-f ...]",
                "Validates Lifeboat manifests offline (multi-document YAML or JSON; directories\n"
                "are searched recursively for .yaml, .yml and .json; '-' reads stdin). Prints\n"
                "one line per problem, file:line: Kind/name: field.path: message, and exits 1\n"
                "when there is any problem, 0 when every object is valid.");
  flags.Repeated("filename", "f", "a manifest file or a directory of .yaml/.yml/.json files");
  if (std::optional<int> exit_code = flags.ParseCommandLine(args)) {
    return *exit_code;
  }
  std::vector<std::string> inputs = flags.GetAll("filename");
  inputs.insert(inputs.end(), flags.positionals().begin(), flags.positionals().end());
  if (inputs.empty()) {
    std::cerr << "lifeboat validate: give at least one -f FILE|DIR\n" << flags.Help();
    return 2;
  }
  std::vector<std::string> problems;
  std::vector<std::string> files = CollectFiles(inputs, &problems);
  size_t objects = 0;
  for (const std::string& file : files) {
    std::string text;
    std::string error;
    if (!ReadAll(file, &text, &error)) {
      problems.push_back(error);
      continue;
    }
    std::string shown = file == "-" ? "<stdin>" : file;
    StatusOr<std::vector<api::Document>> docs = api::ParseManifests(text, shown);
    if (!docs.ok()) {
      problems.push_back(docs.status().message());
      continue;
    }
    for (const api::Document& doc : *docs) {
      ++objects;
      std::vector<std::pair<int, std::string>> lines;
      for (const api::FieldError& e : api::ValidateObject(doc.object)) {
        int line = doc.LineOf(e.path);
        lines.emplace_back(line, shown + ":" + std::to_string(line) + ": " +
                                     Describe(doc.object) + ": " + e.ToString());
      }
      std::stable_sort(lines.begin(), lines.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      for (auto& [line, text] : lines) {
        problems.push_back(std::move(text));
      }
    }
  }
  for (const std::string& p : problems) {
    std::cout << p << "\n";
  }
  std::cout.flush();
  std::cerr << "validated " << objects << (objects == 1 ? " object" : " objects") << " in "
            << files.size() << (files.size() == 1 ? " file" : " files") << ": " << problems.size()
            << (problems.size() == 1 ? " error" : " errors") << "\n";
  return problems.empty() ? 0 : 1;
}

}  // namespace lifeboat::cli
