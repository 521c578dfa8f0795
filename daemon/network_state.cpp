#include "daemon/network_state.hpp"

namespace booklore::syncd {

const char* to_string(network_state state) {
    switch (state) {
        case network_state::up:
            return "up";
        case network_state::down:
            return "down";
        case network_state::unknown:
            break;
    }
    return "unknown";
}

}  // namespace booklore::syncd
