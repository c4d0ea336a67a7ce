# A + B <-> C in a spherical container (examples/systems/chemical_reactions.ex): molecules of
# A and B (mass 1) fly ballistically and bounce off the wall; on contact an A and a B merge into
# a C (mass 2) with probability exp(-ea / e), e the energy of their relative motion, and a C
# splits back into A + B with probability `rate * dt` per step. Prints the compile-time proof
# that every rule conserves mass, then the counts of A, B and C and the total mass every 40
# steps: the total stays what it was while the counts move towards equilibrium.
#
#     mix run examples/chemical_reactions.exs          # 20,000 molecules
#     mix run examples/chemical_reactions.exs 5000     # another count
# MIX_ENV=test compiles the fixtures with the project; elsewhere they are loaded here.
unless Code.ensure_loaded?(BrokenRecord.Zero.Fixtures),
  do: Code.require_file("fixtures.ex", __DIR__)

alias BrokenRecord.Zero.Fixtures
alias BrokenRecord.Zero.Fixtures.ChemicalReactions
alias BrokenRecord.Zero.World

Fixtures.ensure([ChemicalReactions])

n =
  case System.argv() do
    [] -> 20_000
    [arg] -> String.to_integer(arg)
  end

# A number density of 0.05 in a sphere, temperature 1 (unit masses).
radius = :math.pow(3 * n / (4 * :math.pi() * 0.05), 1 / 3)
:rand.seed(:exsss, {3, 3, 3})

point_in_ball = fn point_in_ball ->
  p = {2 * :rand.uniform() - 1, 2 * :rand.uniform() - 1, 2 * :rand.uniform() - 1}
  {x, y, z} = p
  if x * x + y * y + z * z < 1, do: p, else: point_in_ball.(point_in_ball)
end

molecules =
  for i <- 1..n do
    {x, y, z} = point_in_ball.(point_in_ball)

    %{
      position: {x * radius, y * radius, z * radius},
      velocity: {:rand.normal(), :rand.normal(), :rand.normal()},
      kind: if(rem(i, 2) == 0, do: :a, else: :b)
    }
  end

params = %{contact: 1.0, ea: 1.0, rate: 0.02, kick: 1.0, radius: radius}
world = World.new(ChemicalReactions, %{molecules: molecules}, seed: 5)

IO.puts(
  "A + B <-> C: #{n} molecules in a sphere of radius #{Float.round(radius, 2)}, backend #{World.info(world).backend}"
)

for {rule, laws} <- ChemicalReactions.__system__().conservation, {law, verdict} <- laws do
  IO.puts("  #{rule} conserves #{law}: #{inspect(verdict)}")
end

floats = fn world, field ->
  for <<x::float-native-64 <- World.column(world, :molecules, field)>>, do: x
end

IO.puts(Enum.map_join(~w(step A B C mass), &String.pad_leading(&1, 10)))

report = fn world ->
  kinds = Enum.frequencies(floats.(world, :kind))
  mass = Enum.sum(floats.(world, :mass))

  IO.puts(
    Enum.map_join(
      [
        World.info(world).step,
        Map.get(kinds, 0.0, 0),
        Map.get(kinds, 1.0, 0),
        Map.get(kinds, 2.0, 0)
      ],
      &String.pad_leading(Integer.to_string(&1), 10)
    ) <> String.pad_leading(:erlang.float_to_binary(mass, decimals: 1), 10)
  )
end

Enum.reduce(0..15, world, fn block, world ->
  world = if block == 0, do: world, else: World.step(world, steps: 40, dt: 0.05, params: params)
  report.(world)
  world
end)
