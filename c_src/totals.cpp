#include "brz/totals.hpp"

#include <cmath>
#include <string>

#include "brz/error.hpp"

namespace brz {
namespace {

template <class T>
Totals sum(const World<T>& w, uint32_t type, const TotalsLanes& l) {
  Totals t;
  const std::size_t n = w.count(type);
  if (l.mass == kNoLane) return t;
  const T* m = w.column(type, l.mass);
  for (std::size_t i = 0; i < n; ++i) {
    t.mass += m[i];
    t.mass_scale += std::fabs(double(m[i]));
  }
  if (l.velocity == kNoLane) return t;
  const T* vx = w.column(type, l.velocity);
  const T* vy = w.column(type, l.velocity + 1);
  const T* vz = w.column(type, l.velocity + 2);
  const T* rx = l.position == kNoLane ? nullptr : w.column(type, l.position);
  const T* ry = l.position == kNoLane ? nullptr : w.column(type, l.position + 1);
  const T* rz = l.position == kNoLane ? nullptr : w.column(type, l.position + 2);
  for (std::size_t i = 0; i < n; ++i) {
    const double mi = m[i], x = vx[i], y = vy[i], z = vz[i];
    const double px = mi * x, py = mi * y, pz = mi * z;
    const double speed = std::sqrt(x * x + y * y + z * z);
    t.momentum[0] += px;
    t.momentum[1] += py;
    t.momentum[2] += pz;
    t.momentum_scale += std::fabs(mi) * speed;
    const double ke = 0.5 * mi * (x * x + y * y + z * z);
    t.kinetic += ke;
    if (rx != nullptr) {
      const double a = rx[i], b = ry[i], c = rz[i];
      t.angular_momentum[0] += b * pz - c * py;
      t.angular_momentum[1] += c * px - a * pz;
      t.angular_momentum[2] += a * py - b * px;
      t.angular_momentum_scale += std::fabs(mi) * std::sqrt(a * a + b * b + c * c) * speed;
    }
  }
  return t;
}

void check_lane(const WorldBase& w, uint32_t type, uint32_t lane, uint32_t width,
                const char* what) {
  if (lane == kNoLane) return;
  const uint32_t lanes = w.program().lanes(type);
  if (lane >= lanes || lanes - lane < width)
    throw ArgumentError(std::string("totals: ") + what + " lane out of range");
}

}  // namespace

Totals totals(const WorldBase& world, uint32_t type, const TotalsLanes& lanes) {
  if (type >= world.counts().size()) throw ArgumentError("totals: type out of range");
  check_lane(world, type, lanes.mass, 1, "mass");
  check_lane(world, type, lanes.velocity, 3, "velocity");
  check_lane(world, type, lanes.position, 3, "position");
  if (world.precision() == Precision::F64)
    return sum(static_cast<const World<double>&>(world), type, lanes);
  return sum(static_cast<const World<float>&>(world), type, lanes);
}

}  // namespace brz
