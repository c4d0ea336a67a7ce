# Wolf Sheep Predation (examples/systems/wolf_sheep.ex), NetLogo's model with grass, on a
# periodic square of patches: sheep graze, wolves eat sheep, both pay energy to move, die when
# it runs out and reproduce by sharing it. NetLogo's defaults: 51 x 51 patches, 100 sheep, 50
# wolves, gains 4 and 20, reproduction 4 % and 5 % per step, grass regrowth 30 steps. Prints
# the populations and the grown patches every 25 steps.
#
#     mix run examples/wolf_sheep.exs            # 51 x 51 patches
#     mix run examples/wolf_sheep.exs 101 1000   # 101 x 101 patches, 1,000 steps
#     mix run examples/wolf_sheep.exs --out /tmp/ws   # also writes the populations' plot
# MIX_ENV=test compiles the fixtures with the project; elsewhere they are loaded here.
unless Code.ensure_loaded?(BrokenRecord.Zero.Fixtures),
  do: Code.require_file("fixtures.ex", __DIR__)

alias BrokenRecord.Zero.Fixtures
alias BrokenRecord.Zero.Fixtures.WolfSheep
alias BrokenRecord.Zero.World

Fixtures.ensure([WolfSheep])

{opts, args} = OptionParser.parse!(System.argv(), strict: [out: :string])

{side, steps} =
  case args do
    [] -> {51, 500}
    [s] -> {String.to_integer(s), 500}
    [s, t] -> {String.to_integer(s), String.to_integer(t)}
  end

params = WolfSheep.Setup.params()

# NetLogo's densities: 100 sheep and 50 wolves on 51 x 51 patches.
state =
  WolfSheep.Setup.state(
    side,
    round(side * side * 100 / 2601),
    round(side * side * 50 / 2601),
    params,
    17
  )

world = World.new(WolfSheep, state, seed: 17)

IO.puts("Wolf Sheep Predation: #{side} x #{side} patches, backend #{World.info(world).backend}")

IO.puts(Enum.map_join(~w(step sheep wolves grass), &String.pad_leading(&1, 8)))

# Prints a row and returns the sample for the plot.
report = fn world ->
  counts = World.counts(world)

  grass =
    for <<g::float-native-64 <- World.column(world, :patches, :grown)>>, reduce: 0 do
      n -> n + round(g)
    end

  IO.puts(
    Enum.map_join(
      [World.info(world).step, counts.sheep, counts.wolves, grass],
      &String.pad_leading(Integer.to_string(&1), 8)
    )
  )

  step = World.info(world).step
  %{step: step, time: step, values: %{sheep: counts.sheep, wolves: counts.wolves, grass: grass}}
end

{samples, _world} =
  Enum.map_reduce(0..div(steps, 25), world, fn block, world ->
    world = if block == 0, do: world, else: World.step(world, steps: 25, dt: 1.0, params: params)
    {report.(world), world}
  end)

# `--out DIR`: the populations over time as a picture (docs/io.md).
if dir = opts[:out] do
  File.mkdir_p!(dir)
  path = Path.join(dir, "wolf_sheep.png")
  :ok = BrokenRecord.Zero.Render.plot(samples, path, size: {800, 500}, x: :step)
  IO.puts("wrote #{path}")
end
