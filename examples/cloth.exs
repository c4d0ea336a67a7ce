# A hanging cloth (examples/systems/cloth.ex): an n x n grid of nodes joined by structural,
# shear and bend springs, lying flat until it is let go with two corners pinned. It falls,
# swings down and hangs from the pins, sagging between them, its far edge on the floor. Every
# tenth of the run it prints the lowest point, the total energy (kinetic, spring and height
# energy, measured in the engine) and the largest stretch of a spring; at the end it draws the
# cloth seen from the front (x across, z up) to `--out PNG` (default cloth.png in the system's
# temporary directory): its structural springs as lines of dots, the floor below.
#
#     mix run examples/cloth.exs                     # 40 x 40 nodes, 6000 steps of 0.5 ms
#     mix run examples/cloth.exs 20 2000
#     mix run examples/cloth.exs 40 6000 --out /tmp/cloth.png
#
# MIX_ENV=test compiles the fixtures with the project; elsewhere they are loaded here.
unless Code.ensure_loaded?(BrokenRecord.Zero.Fixtures),
  do: Code.require_file("fixtures.ex", __DIR__)

alias BrokenRecord.Zero.Fixtures
alias BrokenRecord.Zero.Fixtures.Cloth
alias BrokenRecord.Zero.{Render, World}

Fixtures.ensure([Cloth])

{opts, args} = OptionParser.parse!(System.argv(), strict: [out: :string])

{n, steps} =
  case Enum.map(args, &String.to_integer/1) do
    [] -> {40, 6000}
    [n] -> {n, 6000}
    [n, steps] -> {n, steps}
  end

spacing = 0.05
dt = 0.0005
path = opts[:out] || Path.join(System.tmp_dir!(), "cloth.png")
state = Cloth.Setup.state(n, spacing)
world = World.new(Cloth, state)

IO.puts(
  "Cloth: #{n} x #{n} nodes, #{length(state.springs)} springs, #{steps} steps of #{dt} s, " <>
    "backend #{World.info(world).backend}"
)

IO.puts("      step        lowest        energy   max stretch")

observe = [:kinetic_energy, :spring_energy, :height_energy, :lowest, :max_stretch]

{world, _} =
  Enum.reduce(0..10, {world, 0}, fn k, {world, done} ->
    target = div(k * steps, 10)
    world = if target > done, do: World.step(world, steps: target - done, dt: dt), else: world
    v = World.observe(world, observe)
    energy = v.kinetic_energy + v.spring_energy + v.height_energy

    IO.puts(
      :io_lib.format("~10B  ~12.5f  ~12.6f  ~12.5f", [
        target,
        v.lowest,
        energy,
        v.max_stretch
      ])
    )

    {world, target}
  end)

# Each structural spring (one spacing long) as dots closer than a dot's diameter, so that they
# read as lines, and the floor as a row of dots under the cloth (in the second colour).
final = World.to_state(world)
positions = final.nodes |> Enum.map(& &1.position) |> List.to_tuple()
dots = 8

cloth =
  for %{a: a, b: b, rest: rest} <- final.springs,
      rest < 1.2 * spacing,
      t <- 0..(dots - 1) do
    {ax, ay, az} = elem(positions, a)
    {bx, by, bz} = elem(positions, b)
    s = t / dots
    %{position: {ax + s * (bx - ax), ay + s * (by - ay), az + s * (bz - az)}, floor: false}
  end

{x0, x1} = final.nodes |> Enum.map(&elem(&1.position, 0)) |> Enum.min_max()
floor_z = hd(final.grounds).height
width = x1 - x0

floor =
  for i <- 0..400,
      do: %{
        position: {x0 - 0.1 * width + 1.2 * width * i / 400, 0.0, floor_z - 0.01},
        floor: true
      }

Render.frame(%{points: cloth ++ floor}, path,
  collection: :points,
  axes: {:x, :z},
  radius: spacing / 12,
  color: :floor,
  size: {800, 800}
)

IO.puts("wrote #{path}")
