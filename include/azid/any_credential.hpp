// azid/any_credential.hpp: AnyCredential, one credential chosen at run time (type erasure for tools
// and plugin boundaries; chains stay static).
#pragma once

#include <memory>
#include <string_view>
#include <type_traits>
#include <utility>

#include "azid/config.hpp"
#include "azid/core/access_token.hpp"
#include "azid/core/concepts.hpp"
#include "azid/core/result.hpp"

AZID_BEGIN

/// Holds any Credential behind one indirect call. Use it where the kind of credential is a
/// run-time choice (a command-line flag, configuration); compose static chains otherwise.
class AnyCredential {
 public:
  template <Credential C>
  requires(!std::is_same_v<std::remove_cvref_t<C>, AnyCredential>) explicit AnyCredential(
      std::unique_ptr<C> c)
      : self_(std::make_unique<Model<C>>(std::move(c))) {}

  template <Credential C, class... A>
  [[nodiscard]] static AnyCredential make(A&&... args) {
    return AnyCredential(std::make_unique<C>(std::forward<A>(args)...));
  }

  [[nodiscard]] TokenResult try_get_token(const TokenRequestContext& ctx) const {
    return self_->try_get_token(ctx);
  }
  [[nodiscard]] AccessToken get_token(const TokenRequestContext& ctx) const {
    return try_get_token(ctx).value();
  }
  /// The wrapped credential's class name.
  [[nodiscard]] std::string_view name() const noexcept { return self_->name(); }

 private:
  struct Concept {
    virtual ~Concept() = default;
    virtual TokenResult try_get_token(const TokenRequestContext&) const = 0;
    virtual std::string_view name() const noexcept = 0;
  };
  template <class C>
  struct Model final : Concept {
    explicit Model(std::unique_ptr<C> c) : c_(std::move(c)) {}
    TokenResult try_get_token(const TokenRequestContext& ctx) const override {
      return c_->try_get_token(ctx);
    }
    std::string_view name() const noexcept override { return C::name; }
    std::unique_ptr<C> c_;
  };
  std::unique_ptr<Concept> self_;
};

AZID_END
