#pragma once
// The device's network as the daemon knows it. Strings appear only at the protocol edge.

namespace booklore::syncd {

enum class network_state { unknown, up, down };

/// `up`, `down` or `unknown`, as `status` and the replies show it.
const char* to_string(network_state state);

}  // namespace booklore::syncd
