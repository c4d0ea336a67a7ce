# The Sun and the eight planets over 100 years (examples/systems/solar_system.ex): circular,
# coplanar orbits at each planet's mean distance to start with (the Sun moving so that the total
# momentum is zero), kick-drift-kick leapfrog with a step of one day, and the total energy
# (the built-in :kinetic_energy plus the `gravity` potential, evaluated in the engine) sampled
# every 10 days by World.stream/2. It prints the relative energy drift every 10 years.
#
#     mix run examples/solar_system.exs              # 100 years
#     mix run examples/solar_system.exs 12           # 12 years
#     mix run examples/solar_system.exs 100 --out /tmp/solar
#
# `--out DIR` also writes the orbits (every sampled position of every body, coloured by body)
# as solar_system.png and the energy drift over time as solar_energy.png (docs/io.md).
# MIX_ENV=test compiles the fixtures with the project; elsewhere they are loaded here.
unless Code.ensure_loaded?(BrokenRecord.Zero.Fixtures),
  do: Code.require_file("fixtures.ex", __DIR__)

alias BrokenRecord.Zero.Fixtures
alias BrokenRecord.Zero.Fixtures.SolarSystem
alias BrokenRecord.Zero.{Render, World}

Fixtures.ensure([SolarSystem])

{opts, args} = OptionParser.parse!(System.argv(), strict: [out: :string])

years =
  case args do
    [] -> 100
    [arg] -> String.to_integer(arg)
  end

g = 2.959122082855911e-4

# name, mean distance from the Sun (AU), mass (solar masses)
planets = [
  {"Mercury", 0.387, 1.660e-7},
  {"Venus", 0.723, 2.448e-6},
  {"Earth", 1.0, 3.003e-6},
  {"Mars", 1.524, 3.227e-7},
  {"Jupiter", 5.203, 9.548e-4},
  {"Saturn", 9.537, 2.858e-4},
  {"Uranus", 19.19, 4.366e-5},
  {"Neptune", 30.07, 5.151e-5}
]

bodies =
  planets
  |> Enum.with_index()
  |> Enum.map(fn {{_name, a, m}, k} ->
    # spread out along their orbits, each moving at the circular speed
    phase = 2.4 * k
    v = :math.sqrt(g * (1.0 + m) / a)

    %{
      position: {a * :math.cos(phase), a * :math.sin(phase), 0.0},
      velocity: {-v * :math.sin(phase), v * :math.cos(phase), 0.0},
      mass: m
    }
  end)

{px, py} =
  Enum.reduce(bodies, {0.0, 0.0}, fn %{velocity: {vx, vy, _}, mass: m}, {px, py} ->
    {px + m * vx, py + m * vy}
  end)

sun = %{position: {0.0, 0.0, 0.0}, velocity: {-px, -py, 0.0}, mass: 1.0}
world = World.new(SolarSystem, %{bodies: [sun | bodies]})
days = round(years * 365.25 / 10) * 10

IO.puts(
  "Solar system: the Sun and #{length(planets)} planets, #{years} years " <>
    "(#{days} steps of 1 day), backend #{World.info(world).backend}"
)

IO.puts("  year        energy  rel. drift")

samples =
  world
  |> World.stream(
    steps: days,
    every: 10,
    dt: 1.0,
    observe: [:kinetic_energy, :gravity],
    frames: opts[:out] != nil
  )
  |> Enum.map(fn s ->
    # each sample's world is live only until the next sample's steps: its positions now
    positions = if s[:world], do: Enum.map(World.to_state(s.world).bodies, & &1.position)

    s
    |> Map.drop([:world])
    |> Map.merge(%{energy: s.values.kinetic_energy + s.values.gravity, positions: positions})
  end)

e0 = hd(samples).energy

# the first sample of every decade, and the last
rows =
  samples
  |> Enum.chunk_by(&trunc(&1.time / 3652.5))
  |> Enum.map(&hd/1)
  |> Kernel.++([List.last(samples)])
  |> Enum.uniq()

for s <- rows do
  IO.puts(
    :io_lib.format("~6.1f  ~12.5e  ~10.2e", [s.time / 365.25, s.energy, (s.energy - e0) / abs(e0)])
  )
end

worst = samples |> Enum.map(&abs((&1.energy - e0) / e0)) |> Enum.max()
IO.puts(:io_lib.format("largest relative energy drift: ~.2e", [worst]))

if dir = opts[:out] do
  File.mkdir_p!(dir)

  # every sampled position of every body, each body its own colour
  trail =
    for s <- samples,
        {position, body} <- Enum.with_index(s.positions),
        do: %{position: position, body: body}

  orbits = Path.join(dir, "solar_system.png")

  Render.frame(%{trail: trail}, orbits,
    collection: :trail,
    radius: 0.08,
    color: :body,
    colormap: :plasma,
    size: {800, 800}
  )

  drift =
    for s <- samples,
        do: %{step: s.step, time: s.time / 365.25, values: %{drift: (s.energy - e0) / abs(e0)}}

  energy = Path.join(dir, "solar_energy.png")
  Render.plot(drift, energy, size: {800, 400})
  IO.puts("wrote #{orbits} and #{energy}")
end
