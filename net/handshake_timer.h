// Timing connection setup: what a request on a new connection pays before it can be sent (the TCP
// handshake, and the TLS handshake over https), measured without sending any request, so a
// calibration learns it at no cost per request (`pflab calibrate`, docs/network.md#calibration).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/result.h"
#include "engine/scheduler.h"
#include "net/http_transport.h"

namespace pflab {

/// Opens `count` connections to `endpoint`, one after another, and closes each once its handshakes
/// are done; returns how long each took, from the start of the TCP connect to the end of the TLS
/// handshake (https: the peer verified against `ca_file`, or the system's certificates when empty,
/// and its name checked). The host name is resolved once, before the first, as a pooled client
/// resolves it once. A connection that fails or takes longer than `timeout` fails the whole
/// measurement, naming the endpoint.
Result<std::vector<Nanos>> TimeHandshakes(const HttpEndpoint& endpoint, std::uint32_t count, Nanos timeout,
                                          const std::string& ca_file = "");

}  // namespace pflab
