// ClientAssertionCredential on testing::Platform: the callback's assertion on the wire, when the
// callback runs, and its failures.
#include <doctest/doctest.h>

#include <atomic>
#include <stdexcept>
#include <string>

#include "azid/credentials/client_assertion.hpp"
#include "azid/testing/platform.hpp"
#include "form_fields.hpp"

using namespace azid;

namespace {
constexpr const char* tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
constexpr const char* client = "11111111-2222-3333-4444-555555555555";
const std::string ok_body =
    R"({"token_type":"Bearer","expires_in":3599,"access_token":"header.payload.sig"})";

TokenRequestContext scope(std::string s = "https://vault.azure.net/.default") {
  TokenRequestContext c;
  c.scopes = {std::move(s)};
  return c;
}
using Cred = ClientAssertionCredential<testing::Platform>;
static_assert(Credential<Cred>);
}  // namespace

TEST_SUITE("client_assertion") {
  TEST_CASE("the callback runs once per network request and its assertion is sent as is") {
    testing::Platform p;
    p.transport().push(200, ok_body);
    p.transport().push(200, ok_body);
    std::atomic<int> calls{0};
    Cred cred(
        tenant, client, [&] { return "assertion-" + std::to_string(++calls); }, {}, p);
    (void)cred.get_token(scope());
    (void)cred.get_token(scope());  // cache hit: no call
    CHECK(calls == 1);
    (void)cred.get_token(scope("https://storage.azure.com/.default"));
    CHECK(calls == 2);
    const auto reqs = p.transport().requests();
    REQUIRE(reqs.size() == 2);
    CHECK(azid_test::form_value(reqs[0].body, "client_assertion") == "assertion-1");
    CHECK(azid_test::form_value(reqs[1].body, "client_assertion") == "assertion-2");
    CHECK(azid_test::form_value(reqs[0].body, "client_assertion_type") ==
          "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    CHECK(azid_test::form_value(reqs[0].body, "client_id") == client);
  }

  TEST_CASE("a callback that throws or returns nothing fails without a request") {
    testing::Platform p;
    SUBCASE("throws") {
      Cred cred(
          tenant, client, []() -> std::string { throw std::runtime_error("vault unreachable"); },
          {}, p);
      auto r = cred.try_get_token(scope());
      REQUIRE(r.failure() == Failure::failed);
      CHECK(r.error_info().message ==
            "ClientAssertionCredential: the assertion function failed: vault unreachable");
    }
    SUBCASE("empty") {
      Cred cred(
          tenant, client, [] { return std::string(); }, {}, p);
      CHECK(cred.try_get_token(scope()).error_info().message.find("returned nothing") !=
            std::string::npos);
    }
    CHECK(p.transport().request_count() == 0);
  }

  TEST_CASE("arguments are validated") {
    testing::Platform p;
    CHECK_THROWS_WITH_AS(Cred(tenant, client, Cred::AssertionFunction{}, {}, p),
                         doctest::Contains("'func'"), std::invalid_argument);
    CHECK_THROWS_AS(Cred(
                        "a b", client, [] { return std::string("x"); }, {}, p),
                    std::invalid_argument);
  }

  TEST_CASE("STS refusals of the assertion carry the guide's advice") {
    struct Row {
      long long code;
      const char* phrase;
    };
    for (const Row& row :
         {Row{700021,
              "Client assertion application identifier doesn't match 'client_id' parameter."},
          Row{700023, "Client assertion audience claim does not match Realm issuer."},
          Row{50027, "JWT token is invalid or malformed."}}) {
      CAPTURE(row.code);
      testing::Platform p;
      const std::string code = std::to_string(row.code);
      p.transport().push(400, R"({"error":"invalid_client","error_description":"AADSTS)" + code +
                                  R"(: refused.","error_codes":[)" + code + "]}");
      Cred cred(
          tenant, client, [] { return std::string("a.b.c"); }, {}, p);
      auto r = cred.try_get_token(scope());
      REQUIRE(r.failure() == Failure::failed);
      CHECK(r.error_info().message.find("invalid_client: " + code + " - AADSTS" + code) !=
            std::string::npos);
      CHECK(r.error_info().message.find(row.phrase) != std::string::npos);
    }
  }

  TEST_CASE("multi-tenant: other tenants need additionally_allowed_tenants") {
    testing::Platform p;
    auto ctx = scope();
    ctx.tenant_id = "contoso.onmicrosoft.com";
    Cred refused(
        tenant, client, [] { return std::string("x"); }, {}, p);
    CHECK(refused.try_get_token(ctx).error_info().message.find(
              "not configured to acquire tokens for tenant contoso.onmicrosoft.com") !=
          std::string::npos);
    p.transport().push(200, ok_body);
    ClientAssertionCredentialOptions o;
    o.additionally_allowed_tenants = {"*"};
    Cred allowed(
        tenant, client, [] { return std::string("x"); }, o, p);
    CHECK(allowed.try_get_token(ctx).ok());
    CHECK(p.transport().requests().at(0).url.find("/contoso.onmicrosoft.com/") !=
          std::string::npos);
  }
}
