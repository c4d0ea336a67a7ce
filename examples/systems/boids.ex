# Boids (Reynolds' flocking) on a periodic square (z = 0): each step a pair rule sums, for every
# boid, its neighbours within `radius` into transient fields (zero at the start of every step):
# their count, their velocities, their offsets (minimum image) and a separation push from those
# closer than `too_close`; a per-agent rule then steers towards the neighbours' mean heading and
# centre and away from crowding, adds a little Gaussian noise, and moves at constant speed.
use BrokenRecord.Zero

defsystem BrokenRecord.Zero.Fixtures.Boids do
  space periodic: [:x, :y]

  agents do
    defagent Boid do
      field :position, :vec3
      field :velocity, :vec3
      field :neighbours, :float, transient: true
      field :heading, :vec3, transient: true
      field :offset, :vec3, transient: true
      field :push, :vec3, transient: true
    end
  end

  rules do
    interaction sense(a: Boid, b: Boid, radius: float, too_close: float) do
      d = b.position - a.position
      r = length(d)

      if r < radius do
        a.neighbours = a.neighbours + 1.0
        b.neighbours = b.neighbours + 1.0
        a.heading = a.heading + b.velocity
        b.heading = b.heading + a.velocity
        a.offset = a.offset + d
        b.offset = b.offset - d

        if r < too_close do
          away = d / (r * r + 1.0e-6)
          a.push = a.push - away
          b.push = b.push + away
        end
      end
    end

    interaction steer(
                  p: Boid,
                  align: float,
                  cohere: float,
                  separate: float,
                  speed: float,
                  noise: float
                ) do
      n = max(p.neighbours, 1.0)

      v =
        p.velocity + (p.heading / n - p.velocity) * align + p.offset / n * cohere +
          p.push * separate + {normal(), normal(), 0.0} * noise

      p.velocity = normalize({v.x, v.y, 0.0}) * speed
      p.position = p.position + p.velocity * dt
    end
  end
end
