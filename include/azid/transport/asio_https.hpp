// azid/transport/asio_https.hpp: the transport's former name, kept so that code written against it
// still compiles. The blocking transport no longer uses Asio; new code includes azid/transport/https.hpp.
#pragma once

#include "azid/transport/https.hpp"

AZID_BEGIN
/// Former name of HttpsTransport.
using AsioHttpsTransport = HttpsTransport;
AZID_END
