# An epidemic on contact (examples/systems/sir.ex): 20,000 people walk at random on a periodic
# square at a density of 2 per unit area; 1 in 1,000 start infected. Each step a pair rule sums each person's infected contacts within
# `radius`, and a per-agent rule infects with probability 1 - exp(-beta * exposure * dt) and
# recovers with probability 1 - exp(-gamma * dt). Prints the counts of susceptible, infected
# and recovered people every 20 steps.
#
#     mix run examples/sir.exs           # 20,000 people
#     mix run examples/sir.exs 5000      # another count
# MIX_ENV=test compiles the fixtures with the project; elsewhere they are loaded here.
unless Code.ensure_loaded?(BrokenRecord.Zero.Fixtures),
  do: Code.require_file("fixtures.ex", __DIR__)

alias BrokenRecord.Zero.Fixtures
alias BrokenRecord.Zero.Fixtures.SIR
alias BrokenRecord.Zero.World

Fixtures.ensure([SIR])

n =
  case System.argv() do
    [] -> 20_000
    [arg] -> String.to_integer(arg)
  end

side = :math.sqrt(n / 2)
:rand.seed(:exsss, {7, 7, 7})

people =
  for i <- 1..n do
    %{
      position: {side * :rand.uniform(), side * :rand.uniform(), 0.0},
      status: if(rem(i, 1000) == 1, do: :infected, else: :susceptible)
    }
  end

world = World.new(SIR, %{people: people, box: {side, side, side}}, seed: 11)
params = %{radius: 1.0, beta: 2.0, gamma: 0.1, step: 0.5}

counts = fn world ->
  freq = Enum.frequencies(Enum.map(World.to_state(world).people, & &1.status))
  {Map.get(freq, :susceptible, 0), Map.get(freq, :infected, 0), Map.get(freq, :recovered, 0)}
end

IO.puts(
  "SIR: #{n} people on a #{Float.round(side, 2)} x #{Float.round(side, 2)} torus, backend #{World.info(world).backend}"
)

IO.puts(Enum.map_join(~w(step S I R), &String.pad_leading(&1, 8)))

Enum.reduce(0..15, world, fn block, world ->
  world = if block == 0, do: world, else: World.step(world, steps: 20, dt: 0.1, params: params)
  {s, i, r} = counts.(world)

  IO.puts(
    Enum.map_join(
      [World.info(world).step, s, i, r],
      &String.pad_leading(Integer.to_string(&1), 8)
    )
  )

  world
end)
