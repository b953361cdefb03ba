// azid/detail/call_context.hpp: what a get_token call in progress keeps on its thread (light).
#pragma once

#include <utility>

#include "azid/config.hpp"

AZID_BEGIN
namespace detail {

struct ConfidentialPlan;
struct DevToolPlan;

/// Who is calling a credential's try_get_token. A chain tells its members so (Python's
/// `within_credential_chain` and `within_dac`): inside any chain, managed identity probes IMDS
/// first and treats a silent endpoint as unavailable, so the chain moves on; inside
/// DefaultAzureCredential a developer tool that ran and failed is unavailable too; and inside any
/// chain a member's own success and failure lines go to DEBUG (errors-and-logging.md §4).
struct Caller {
  bool in_chain = false;
  bool in_default_chain = false;
  /// A sticky chain's later call to the member it settled on: the member answers as it would
  /// where the chain itself was called (alone, or in an enclosing chain), whatever options the
  /// chain gave it for the walk (spec default-and-chain.md §1: failures then propagate as-is).
  /// Not inherited by nested scopes.
  bool settled = false;
};

/// The calling thread's facts about the get_token in progress: who called it (set by chains) and,
/// while azid/async asks a credential what it would do, the plan the credential fills in instead
/// of fetching. All in one thread-local, so that a log sink can run with all of it set aside.
struct CallContext {
  Caller caller;
  ConfidentialPlan* plan = nullptr;
  DevToolPlan* tool_plan = nullptr;
  /// Inside a log sink (Logger::write): lines logged from here are dropped (a sink asking its own
  /// credential for a token would otherwise log, and be called, without end), and a request that
  /// finds its token being fetched fails instead of waiting (the fetch may be the one logging,
  /// on this thread or on the executor this thread is running).
  bool in_log_sink = false;
};
inline CallContext& call_context() noexcept {
  thread_local CallContext c;
  return c;
}

/// Sets the calling thread's CallContext aside for its lifetime, and puts it back after. The
/// logger runs its sink under one (`log_sink`): a sink that asks another credential for a token
/// gets that credential's own answer, as if called alone, instead of filling in the plan of the
/// call being logged (which would then fetch with the other credential's client and hand out its
/// token). azid/async starts an operation under one: it runs as no blocking chain's member.
class CallContextPause {
 public:
  explicit CallContextPause(bool log_sink = false) noexcept
      : saved_(std::exchange(call_context(), CallContext{})) {
    call_context().in_log_sink = log_sink;
  }
  ~CallContextPause() { call_context() = saved_; }
  CallContextPause(const CallContextPause&) = delete;
  CallContextPause& operator=(const CallContextPause&) = delete;

 private:
  CallContext saved_;
};

}  // namespace detail
AZID_END
