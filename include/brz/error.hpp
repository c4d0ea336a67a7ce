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

/// A pair rule's cutoff bound exceeds half the box edge on a periodic axis: the minimum image
/// would no longer be the only image within the cutoff. The NIF raises it as the term
/// {:cutoff_too_large, rule, bound, axis, len}.
class CutoffError : public ArgumentError {
 public:
  CutoffError(uint32_t rule, double bound, int axis, double len)
      : ArgumentError("rule " + std::to_string(rule) + ": cutoff bound " + std::to_string(bound) +
                      " exceeds half the box edge " + std::to_string(len) + " on axis " +
                      std::to_string(axis)),
        rule(rule),
        bound(bound),
        axis(axis),
        len(len) {}
  uint32_t rule;
  double bound;
  int axis;
  double len;
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
