// Comparing the real puppets with the model.
#pragma once

#include <string>

#include "model.hpp"
#include "puppet.hpp"

namespace uvtask::fuzz {

/// True when every real puppet is where the model says it is now: same phase, same command,
/// as many log lines, and a handle done exactly when the model's puppet has ended. Cheap: what
/// the driver polls while it waits for the puppets to be quiet.
[[nodiscard]] bool same_places(World& world, const Model& model);

/// Every difference between the real puppets, queues and locks and the model's: logs, how each
/// ended, cancelling() counts, cancelled(), queue sizes and waiters, lock states. Empty if none.
[[nodiscard]] std::string differences(World& world, const Model& model);

/// The real puppets, as `Model::state_text` shows the model's.
[[nodiscard]] std::string real_state(World& world);

/// Every puppet's log, expected and real side by side where they differ.
[[nodiscard]] std::string logs(World& world, const Model& model);

}  // namespace uvtask::fuzz
