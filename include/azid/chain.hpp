// azid/chain.hpp: Chain<Cs...>, credentials tried in order, resolved at compile time (models Credential).
#pragma once

#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "azid/config.hpp"
#include "azid/core/access_token.hpp"
#include "azid/core/concepts.hpp"
#include "azid/core/log.hpp"
#include "azid/core/result.hpp"
#include "azid/detail/caller.hpp"

AZID_BEGIN

struct ChainOptions {
  /// After the first success, call only that credential (its failures then propagate as they
  /// are, with no fallback). DefaultAzureCredential sets it; a plain chain does not by default.
  bool sticky = false;
  /// Name used in messages and logs ("ChainedTokenCredential" unless a wrapper sets its own).
  std::string_view display_name = "ChainedTokenCredential";
  /// Bit i set: member i is tried (DefaultAzureCredential narrows its compiled members at run
  /// time with AZURE_TOKEN_CREDENTIALS). Members whose bit is clear are skipped and not listed.
  std::uint32_t enabled = 0xFFFF'FFFFu;
  /// Where the chain logs; null: through each member's platform (when it exposes one). Must
  /// outlive the chain (a platform's logger lives in the platform's shared state).
  const Logger* logger = nullptr;
  /// The chain is DefaultAzureCredential's: members are told so while the chain walks them (a
  /// developer tool that ran and failed is then unavailable, as Python's `within_dac`).
  bool default_chain = false;
};

namespace detail {

/// azid/async's walk of a chain (async/get_token.hpp); records a sticky chain's selection.
struct ChainAsync;

/// The chain's failure message (default-and-chain.md §1): the guide's phrase, then every
/// credential tried and why.
inline std::string chain_failure_message(std::string_view chain,
                                         const std::vector<CredentialAttempt>& attempts) {
  std::string m(chain);
  m += " failed to retrieve a token from the included credentials.\nAttempted credentials:";
  for (const auto& a : attempts) {
    m += "\n\t";
    m += a.credential;
    if (!a.message.empty()) {
      m += ": ";
      // A member's "<Name>: reason" is not prefixed twice. A message that goes on with the
      // name as its subject ("EnvironmentCredential authentication unavailable. ...") is kept
      // whole: it is the guide's phrase, verbatim.
      std::string_view msg = a.message;
      if (msg.size() > a.credential.size() + 1 &&
          msg.substr(0, a.credential.size()) == a.credential &&
          msg.substr(a.credential.size(), 2) == ": ")
        msg.remove_prefix(a.credential.size() + 2);
      for (char c : msg) {
        m.push_back(c);
        if (c == '\n') m += "\t  ";  // keep multi-line reasons inside their entry
      }
    }
  }
  m += "\nTo fix this, act on the reason given for the credential you meant to use (or exclude the "
       "ones you did not); enable logging at INFO (azid: --log-level info) to see each credential "
       "tried and its diagnostics, and see the azid troubleshooting guide, section \"";
  m += chain;
  m += "\".";
  return m;
}

/// Holds one chain member. Built either from a member (moved in) or in place from a factory
/// returning one, for members that cannot be moved (ManagedIdentityCredential holds a mutex).
template <class C>
struct ChainSlot {
  explicit ChainSlot(C&& c) : value(std::move(c)) {}
  template <class F>
  requires std::same_as<std::invoke_result_t<F&>, C>
  explicit ChainSlot(F&& make) : value(make()) {}
  C value;
};

template <class C>
const Logger* logger_of(const C& c) noexcept {
  // Only a platform the member holds (returned by reference) outlives this call.
  if constexpr (requires {
                  c.platform().logger();
                  requires std::is_lvalue_reference_v<decltype(c.platform())>;
                })
    return &static_cast<const Logger&>(c.platform().logger());
  else
    return nullptr;
}

}  // namespace detail

/// Tries each credential in order and returns the first token. A CredentialUnavailableError
/// (Failure::unavailable) moves on to the next member; any other failure stops the chain. While
/// the chain walks them, members know they are in a chain (detail::ChainScope): managed identity
/// probes IMDS and reports a silent endpoint as unavailable, and members log their own outcome at
/// DEBUG. A sticky chain's later calls go to the chosen member as if it stood alone. When
/// no member produced a token the error lists every credential tried and why; its type is
/// CredentialUnavailableError when every member was unavailable (so a chain nested in a chain
/// moves on), else that of the failure that stopped it.
///
/// Members live in a std::tuple and are called through a fold expression: no virtual calls, no
/// heap. Thread-safe like its members.
template <Credential... Cs>
class Chain {
  static_assert(sizeof...(Cs) >= 1, "Chain<> needs at least one credential");
  static_assert(sizeof...(Cs) <= 32,
                "Chain<> holds at most 32 credentials (ChainOptions::enabled has one bit each); "
                "nest a Chain in a Chain for more");

 public:
  static constexpr std::string_view name = "ChainedTokenCredential";

  explicit Chain(Cs... members) : members_(std::move(members)...) {}
  Chain(ChainOptions options, Cs... members) : members_(std::move(members)...), options_(options) {}
  /// Builds member i in place from `make_i()`, which returns a Cs_i by value (no move needed).
  template <class... Fs>
  requires(sizeof...(Fs) == sizeof...(Cs))
      Chain(std::in_place_t, ChainOptions options, Fs&&... make)
      : members_(std::forward<Fs>(make)...), options_(options) {}

  Chain(Chain&& o) noexcept
      : members_(std::move(o.members_)),
        options_(o.options_),
        selected_(o.selected_.load(std::memory_order_relaxed)) {}

  [[nodiscard]] TokenResult try_get_token(const TokenRequestContext& ctx) const {
    if (options_.sticky) {
      if (const int s = selected_.load(std::memory_order_acquire); s >= 0) {
        detail::Caller settled = detail::current_caller();  // as the chain itself was called
        settled.settled = true;
        const detail::ChainScope scope(settled);
        return call_one(static_cast<std::size_t>(s), ctx);
      }
    }
    return walk(ctx, std::index_sequence_for<Cs...>{});
  }

  [[nodiscard]] AccessToken get_token(const TokenRequestContext& ctx) const {
    return try_get_token(ctx).value();
  }

  /// The I-th member.
  template <std::size_t I>
  [[nodiscard]] const auto& member() const noexcept {
    return std::get<I>(members_).value;
  }
  /// Index of the member a sticky chain settled on, or -1.
  [[nodiscard]] int selected() const noexcept { return selected_.load(std::memory_order_acquire); }
  [[nodiscard]] const ChainOptions& options() const noexcept { return options_; }

 private:
  template <std::size_t... I>
  TokenResult call_one(std::size_t index, const TokenRequestContext& ctx,
                       std::index_sequence<I...>) const {
    TokenResult out;
    (void)((index == I ? (out = std::get<I>(members_).value.try_get_token(ctx), true) : false) ||
           ...);
    return out;
  }
  TokenResult call_one(std::size_t index, const TokenRequestContext& ctx) const {
    return call_one(index, ctx, std::index_sequence_for<Cs...>{});
  }

  template <std::size_t... I>
  TokenResult walk(const TokenRequestContext& ctx, std::index_sequence<I...>) const {
    std::vector<CredentialAttempt> attempts;  // allocates only when a member fails
    TokenResult out;
    bool done = false;
    auto step = [&](auto index) {
      constexpr std::size_t i = decltype(index)::value;
      if (((options_.enabled >> i) & 1u) == 0) return false;  // narrowed out at run time
      const auto& m = std::get<i>(members_).value;
      using M = std::remove_cvref_t<decltype(m)>;
      TokenResult r;
      {
        const detail::ChainScope scope({true, options_.default_chain});
        r = m.try_get_token(ctx);
      }
      switch (r.failure()) {
        case Failure::none:
          if (!r.ok()) break;
          if (options_.sticky) selected_.store(static_cast<int>(i), std::memory_order_release);
          log(LogLevel::info, m, [&] {
            return std::string(options_.display_name) + " acquired a token from " +
                   std::string(M::name);
          });
          out = std::move(r);
          return true;
        case Failure::unavailable:
          attempts.push_back({std::string(M::name), r.error_info().message, true});
          return false;
        case Failure::invalid_argument:
          out = std::move(r);  // the caller's mistake: no other member would do better
          return true;
        default: {
          attempts.push_back({std::string(M::name), r.error_info().message, false});
          ErrorInfo info = r.error_info();
          info.credential = std::string(options_.display_name);
          info.message = detail::chain_failure_message(options_.display_name, attempts);
          info.attempts = std::move(attempts);
          log(LogLevel::warning, m, [&] { return info.message; });
          out = TokenResult::error(r.failure(), std::move(info));
          return true;
        }
      }
      return false;
    };
    done = (step(std::integral_constant<std::size_t, I>{}) || ...);
    if (done) return out;
    ErrorInfo info;
    info.credential = std::string(options_.display_name);
    info.message = detail::chain_failure_message(options_.display_name, attempts);
    info.attempts = std::move(attempts);
    log(LogLevel::warning, std::get<0>(members_).value, [&] { return info.message; });
    return TokenResult::error(Failure::unavailable, std::move(info));
  }

  template <class M, class F>
  void log(LogLevel level, const M& m, F&& text) const {
    const Logger* l = options_.logger != nullptr ? options_.logger : detail::logger_of(m);
    if (l != nullptr && l->enabled(level)) l->write(level, text());
  }

  std::tuple<detail::ChainSlot<Cs>...> members_;
  ChainOptions options_;
  mutable std::atomic<int> selected_{-1};

  friend struct detail::ChainAsync;
};

AZID_END
