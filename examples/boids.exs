# Boids (examples/systems/boids.ex): boids start at random places with random headings on a
# periodic square, 2 per unit area, and align into flocks. Prints every 25 steps the
# polarisation |sum of velocities| / (n * speed) (about 1 / sqrt(n) for random headings, 1 when
# all fly the same way) and the mean number of neighbours within the sensing radius.
#
#     mix run examples/boids.exs           # 10,000 boids
#     mix run examples/boids.exs 2000      # another count
# MIX_ENV=test compiles the fixtures with the project; elsewhere they are loaded here.
unless Code.ensure_loaded?(BrokenRecord.Zero.Fixtures),
  do: Code.require_file("fixtures.ex", __DIR__)

alias BrokenRecord.Zero.Fixtures
alias BrokenRecord.Zero.Fixtures.Boids
alias BrokenRecord.Zero.World

Fixtures.ensure([Boids])

n =
  case System.argv() do
    [] -> 10_000
    [arg] -> String.to_integer(arg)
  end

side = :math.sqrt(n / 2)
speed = 1.0
:rand.seed(:exsss, {5, 5, 5})

boids =
  for _ <- 1..n do
    angle = 2 * :math.pi() * :rand.uniform()

    %{
      position: {side * :rand.uniform(), side * :rand.uniform(), 0.0},
      velocity: {speed * :math.cos(angle), speed * :math.sin(angle), 0.0}
    }
  end

world = World.new(Boids, %{boids: boids, box: {side, side, side}}, seed: 3)

params = %{
  radius: 1.0,
  too_close: 0.5,
  align: 0.5,
  cohere: 0.02,
  separate: 0.1,
  speed: speed,
  noise: 0.05
}

report = fn world ->
  floats = fn field -> for <<x::float-native-64 <- World.column(world, :boids, field)>>, do: x end

  {vx, vy} =
    floats.(:velocity)
    |> Enum.chunk_every(3)
    |> Enum.reduce({0.0, 0.0}, fn [x, y, _], {sx, sy} -> {sx + x, sy + y} end)

  polarisation = :math.sqrt(vx * vx + vy * vy) / (n * speed)
  # The transient count holds what the last step left: nothing before the first step.
  neighbours =
    if World.info(world).step == 0,
      do: "-",
      else: :erlang.float_to_binary(Enum.sum(floats.(:neighbours)) / n, decimals: 2)

  IO.puts(
    String.pad_leading(Integer.to_string(World.info(world).step), 8) <>
      String.pad_leading(:erlang.float_to_binary(polarisation, decimals: 4), 14) <>
      String.pad_leading(neighbours, 12)
  )
end

IO.puts(
  "Boids: #{n} boids on a #{Float.round(side, 2)} x #{Float.round(side, 2)} torus, backend #{World.info(world).backend}"
)

IO.puts(
  String.pad_leading("step", 8) <>
    String.pad_leading("polarisation", 14) <> String.pad_leading("neighbours", 12)
)

Enum.reduce(0..12, world, fn block, world ->
  world = if block == 0, do: world, else: World.step(world, steps: 25, dt: 0.1, params: params)
  report.(world)
  world
end)
