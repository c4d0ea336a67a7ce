// Error types of the BrokenRecord Zero engine. Every rejection the engine makes is one of these.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace brz {

/// Base class of every engine error.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

/// Invalid input: malformed program binary, bad rule id, bad sizes. The NIF maps it to
/// ArgumentError with what() as the message.
class ArgumentError : public Error {
 public:
  explicit ArgumentError(const std::string& msg) : Error(msg) {}
};

/// A stored lane became NaN or +-inf. `step` is 1-based.
class NumericalError : public Error {
 public:
  NumericalError(uint32_t type, uint64_t index, uint32_t lane, uint64_t step)
      : Error("non-finite value in type " + std::to_string(type) + " agent " +
              std::to_string(index) + " lane " + std::to_string(lane) + " at step " +
              std::to_string(step)),
        type(type),
        index(index),
        lane(lane),
        step(step) {}
  uint32_t type;
  uint64_t index;
  uint32_t lane;
  uint64_t step;
};

}  // namespace brz
