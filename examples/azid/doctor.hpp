// examples/azid/doctor.hpp: `azid doctor`, the troubleshooting guide run against this machine.
#pragma once

namespace azid_cli {

/// Reports, for the default chain, what each member does here and why, the managed identity
/// source, whether IMDS answers, the developer tools, and the identity the chain's token is for.
/// Returns the exit code: 0 a token could be had, 1 the chain stops at a hard failure, 2 none
/// could be had, 64 an invalid request or AZURE_TOKEN_CREDENTIALS, 74 the report could not be
/// written. @throws UsageError for bad arguments.
int cmd_doctor(int argc, char** argv);

}  // namespace azid_cli
