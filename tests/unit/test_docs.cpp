// README.md against the code: the two commands come first, the quickstart is five lines, and
// every troubleshooting section an error message or `azid doctor` points at is a heading under
// "## Troubleshooting". Section names are taken from real messages (built by the functions that
// build them), from every credential's `name` (messages splice it in), and from the literal
// references in the sources.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "azid.hpp"
#include "azid/chain.hpp"
#include "azid/detail/entra.hpp"
#if __has_include("azid/default_azure_credential.hpp")
#include "azid/default_azure_credential.hpp"
#define AZID_TEST_HAS_DAC 1
#endif

#ifndef AZID_SOURCE_DIR
#error "tests/CMakeLists.txt defines AZID_SOURCE_DIR (the repository root)"
#endif

namespace fs = std::filesystem;
using namespace azid;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

const std::string& readme() {
  static const std::string text = slurp(fs::path(AZID_SOURCE_DIR) / "README.md");
  return text;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

/// The `### ` headings between "## Troubleshooting" and the next `## ` heading (code blocks skipped).
std::set<std::string> troubleshooting_headings() {
  std::set<std::string> out;
  bool inside = false, fenced = false;
  for (const std::string& l : lines_of(readme())) {
    if (l.rfind("```", 0) == 0) fenced = !fenced;
    if (fenced) continue;
    if (l.rfind("## ", 0) == 0)
      inside = (l == "## Troubleshooting");
    else if (inside && l.rfind("### ", 0) == 0)
      out.insert(l.substr(4));
  }
  return out;
}

/// Every `section "X"` in a message.
std::set<std::string> sections_named_in(const std::string& message) {
  static const std::regex re(R"re(section "([^"]+)")re");
  std::set<std::string> out;
  for (std::sregex_iterator it(message.begin(), message.end(), re), end; it != end; ++it)
    out.insert((*it)[1]);
  return out;
}

/// Literal references in the sources: `section \"X\"` inside a C++ string in include/ and the
/// tool, and the section strings of `azid doctor`'s advice (`{"...", "X"}`, `section = "X"`).
std::set<std::string> sections_in_sources() {
  static const std::regex literal(R"re(section \\"([^"\\]+)\\")re");
  static const std::regex doctor_advice(R"re("([A-Z][A-Za-z]+(?:-[a-z]+)?)"\})re");
  static const std::regex doctor_assign(R"re(section(?: = |\()"([^"]+)")re");
  std::set<std::string> out;
  auto scan = [&](const fs::path& p, const std::regex& re) {
    const std::string text = slurp(p);
    for (std::sregex_iterator it(text.begin(), text.end(), re), end; it != end; ++it)
      out.insert((*it)[1]);
  };
  const fs::path root(AZID_SOURCE_DIR);
  for (const auto& e : fs::recursive_directory_iterator(root / "include")) {
    if (!e.is_regular_file()) continue;
    const auto ext = e.path().extension();
    if (ext == ".hpp" || ext == ".ipp") scan(e.path(), literal);
  }
  if (fs::exists(root / "examples" / "azid")) {
    for (const auto& e : fs::directory_iterator(root / "examples" / "azid")) {
      if (!e.is_regular_file()) continue;
      const auto ext = e.path().extension();
      if (ext != ".cpp" && ext != ".hpp") continue;
      scan(e.path(), literal);
      if (e.path().filename() == "doctor.cpp") {
        scan(e.path(), doctor_advice);
        scan(e.path(), doctor_assign);
      }
    }
  }
  return out;
}

/// Every credential's `name`: token-endpoint failures and chain failures point at a section with
/// that name.
std::vector<std::string_view> credential_names() {
  std::vector<std::string_view> names = {
      ClientSecretCredential<>::name,        CertificateCredential<>::name,
      ClientAssertionCredential<>::name,     EnvironmentCredential<>::name,
      WorkloadIdentityCredential<>::name,    AzurePipelinesCredential<>::name,
      ManagedIdentityCredential<>::name,     AzureCliCredential<>::name,
      AzureDeveloperCliCredential<>::name,   AzurePowerShellCredential<>::name,
      Chain<ClientSecretCredential<>>::name,
  };
#if defined(AZID_TEST_HAS_DAC)
  names.push_back(DefaultAzureCredential<>::name);
#endif
  return names;
}

/// What a token endpoint refusal says, for a credential called `name`.
std::string sts_failure_message(std::string_view name) {
  HttpResponse res;
  res.status = 401;
  res.body =
      R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Trace ID: t Correlation ID: c Timestamp: 2024-01-01 00:00:00Z","error_codes":[7000215]})";
  res.body.reserve(res.body.size() + 64);
  const TokenResult r = detail::token_result(name, "https://login.example/t/oauth2/v2.0/token", res,
                                             {}, std::chrono::system_clock::now(), Failure::failed);
  REQUIRE_FALSE(r.ok());
  return r.error_info().message;
}

}  // namespace

TEST_SUITE("docs") {
  TEST_CASE("README opens with the two commands: the demo, then the whole suite") {
    const std::string& t = readme();
    const auto first_heading = t.find("\n## ");
    const auto demo = t.find("--target azid-demo && ./build/examples/azid-demo");
    const auto suite = t.find("ctest --test-dir build --output-on-failure");
    REQUIRE(demo != std::string::npos);
    REQUIRE(suite != std::string::npos);
    CHECK(demo < suite);
    CHECK(suite < first_heading);
    // Both are the first two fenced blocks.
    const auto fence1 = t.find("```sh");
    const auto fence2 = t.find("```sh", t.find("```", fence1 + 5) + 3);
    CHECK(fence1 < demo);
    CHECK(demo < fence2);
    CHECK(fence2 < suite);
  }

  TEST_CASE("the quickstart is five lines") {
    const std::string& t = readme();
    const auto qs = t.find("## Quickstart");
    REQUIRE(qs != std::string::npos);
    const auto open = t.find("```cpp\n", qs);
    REQUIRE(open != std::string::npos);
    const auto close = t.find("```", open + 7);
    const auto code = lines_of(t.substr(open + 7, close - open - 7));
    CAPTURE(t.substr(open, close - open));
    CHECK(code.size() == 5);
  }

  TEST_CASE("the failure messages' troubleshooting sections are README headings") {
    const auto headings = troubleshooting_headings();
    REQUIRE_FALSE(headings.empty());
    std::set<std::string> referenced;
    for (std::string_view name : credential_names()) {
      const auto named = sections_named_in(sts_failure_message(name));
      CAPTURE(name);
      CHECK(named.size() == 1);  // the message does point somewhere
      referenced.insert(named.begin(), named.end());
    }
    std::vector<CredentialAttempt> attempts{
        {"EnvironmentCredential", "EnvironmentCredential: not configured.", true}};
    for (std::string_view chain :
         {Chain<ClientSecretCredential<>>::name, std::string_view("DefaultAzureCredential")}) {
      const auto named = sections_named_in(detail::chain_failure_message(chain, attempts));
      CHECK(named.size() == 1);
      referenced.insert(named.begin(), named.end());
    }
    for (const std::string& s : referenced) {
      CAPTURE(s);
      CHECK(headings.count(s) == 1);
    }
  }

  TEST_CASE("every credential has a troubleshooting section under its own name") {
    const auto headings = troubleshooting_headings();
    for (std::string_view name : credential_names()) {
      CAPTURE(name);
      CHECK(headings.count(std::string(name)) == 1);
    }
  }

  TEST_CASE("sections named in the sources and by azid doctor are README headings") {
    const auto headings = troubleshooting_headings();
    const auto named = sections_in_sources();
    if (fs::exists(fs::path(AZID_SOURCE_DIR) / "examples" / "azid" / "doctor.cpp"))
      CHECK_FALSE(named.empty());
    for (const std::string& s : named) {
      CAPTURE(s);
      CHECK(headings.count(s) == 1);
    }
    // "see the README's Troubleshooting" needs the part itself.
    CHECK(readme().find("\n## Troubleshooting\n") != std::string::npos);
  }
}
