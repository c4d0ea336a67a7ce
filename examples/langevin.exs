# A Langevin thermostat (examples/systems/langevin.ex) heating 100,000 free particles from rest to
# kT = 1.5: the temperature (2/3 of the mean kinetic energy per particle) printed every 50 steps
# relaxes to the target as 1 - exp(-2 gamma t), whatever the masses (1, 2 and 3 here). The run is
# reproducible: same seed, same numbers, on any backend, ISA or thread count.
#
#     mix run examples/langevin.exs            # 100,000 particles
#     mix run examples/langevin.exs 10000      # another count
# MIX_ENV=test compiles the fixtures with the project; elsewhere they are loaded here.
unless Code.ensure_loaded?(BrokenRecord.Zero.Fixtures),
  do: Code.require_file("fixtures.ex", __DIR__)

alias BrokenRecord.Zero.Fixtures
alias BrokenRecord.Zero.Fixtures.Langevin
alias BrokenRecord.Zero.World

Fixtures.ensure([Langevin])

n =
  case System.argv() do
    [] -> 100_000
    [arg] -> String.to_integer(arg)
  end

kt = 1.5
gamma = 1.0
dt = 0.01

particles =
  for i <- 1..n,
      do: %{position: {0.0, 0.0, 0.0}, velocity: {0.0, 0.0, 0.0}, mass: 1.0 + rem(i, 3)}

world = World.new(Langevin, %{particles: particles}, seed: 2026)

floats = fn bin -> for <<x::float-native-64 <- bin>>, do: x end

temperature = fn world ->
  v = floats.(World.column(world, :particles, :velocity))
  m = floats.(World.column(world, :particles, :mass))

  mv2 =
    v
    |> Enum.chunk_every(3)
    |> Enum.zip_with(m, fn [x, y, z], m -> m * (x * x + y * y + z * z) end)
    |> Enum.sum()

  mv2 / (3 * n)
end

IO.puts(
  "Langevin (BAOAB): #{n} particles, kT = #{kt}, gamma = #{gamma}, dt = #{dt}, backend #{World.info(world).backend}"
)

IO.puts(
  String.pad_leading("step", 6) <>
    String.pad_leading("T", 10) <> String.pad_leading("expected", 10)
)

Enum.reduce(0..10, world, fn block, world ->
  world =
    if block == 0,
      do: world,
      else: World.step(world, steps: 50, dt: dt, rules: [:baoab], params: %{gamma: gamma, kt: kt})

  step = World.info(world).step
  expected = kt * (1 - :math.exp(-2 * gamma * step * dt))

  IO.puts(
    String.pad_leading(Integer.to_string(step), 6) <>
      String.pad_leading(:erlang.float_to_binary(temperature.(world), decimals: 4), 10) <>
      String.pad_leading(:erlang.float_to_binary(expected, decimals: 4), 10)
  )

  world
end)
