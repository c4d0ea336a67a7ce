# NetLogo's Wolf Sheep Predation (with grass) on a periodic square of unit patches (z = 0).
# Patches are agents at the cell centres, grown or regrowing. Each step:
#   graze - a sheep on a grown patch eats it (gains `sheep_gain`); exclusive: a patch feeds one
#           sheep, a sheep eats one patch;
#   hunt  - a wolf on the same patch as a sheep eats it (gains `wolf_gain`, the sheep is
#           removed); exclusive: a wolf eats one sheep, a sheep is eaten once;
#   regrow - an eaten patch counts down `regrowth` steps and grows back;
#   sheep_live / wolf_live - turn at random, step forward, pay one unit of energy, die below
#           zero, reproduce with a probability per step (the parent's energy is shared with the
#           lamb or cub).
use BrokenRecord.Zero

defsystem BrokenRecord.Zero.Fixtures.WolfSheep do
  space periodic: [:x, :y]

  agents do
    defagent Sheep, collection: :sheep do
      field :position, :vec3
      field :heading, :float, default: 0.0
      field :energy, :float
    end

    defagent Wolf, collection: :wolves do
      field :position, :vec3
      field :heading, :float, default: 0.0
      field :energy, :float
    end

    defagent Patch, collection: :patches do
      field :position, :vec3
      field :grown, :bool, default: true
      field :countdown, :float, default: 0.0
    end
  end

  rules do
    interaction graze(s: Sheep, p: Patch, sheep_gain: float, regrowth: float), exclusive: true do
      d = s.position - p.position

      if length(d) < 0.75 and abs(d.x) < 0.5 and abs(d.y) < 0.5 and p.grown do
        s.energy = s.energy + sheep_gain
        p.grown = false
        p.countdown = regrowth
      end
    end

    interaction hunt(w: Wolf, s: Sheep, wolf_gain: float), exclusive: true do
      d = w.position - s.position

      if length(d) < 0.75 and abs(d.x) < 0.5 and abs(d.y) < 0.5 do
        w.energy = w.energy + wolf_gain
        remove(s)
      end
    end

    interaction regrow(p: Patch) do
      if not p.grown do
        p.countdown = p.countdown - 1.0

        if p.countdown <= 0.0 do
          p.grown = true
        end
      end
    end

    interaction sheep_live(s: Sheep, sheep_birth: float) do
      turn = (uniform() - 0.5) * 1.0
      heading = s.heading + turn
      s.heading = heading
      s.position = s.position + {cos(heading), sin(heading), 0.0}
      energy = s.energy - 1.0

      if energy < 0.0 do
        remove(s)
      else
        if uniform() < sheep_birth do
          s.energy = energy / 2.0
          spawn(Sheep, position: s.position, heading: heading + 3.14159, energy: energy / 2.0)
        else
          s.energy = energy
        end
      end
    end

    interaction wolf_live(w: Wolf, wolf_birth: float) do
      turn = (uniform() - 0.5) * 1.0
      heading = w.heading + turn
      w.heading = heading
      w.position = w.position + {cos(heading), sin(heading), 0.0}
      energy = w.energy - 1.0

      if energy < 0.0 do
        remove(w)
      else
        if uniform() < wolf_birth do
          w.energy = energy / 2.0
          spawn(Wolf, position: w.position, heading: heading + 3.14159, energy: energy / 2.0)
        else
          w.energy = energy
        end
      end
    end
  end
end

defmodule BrokenRecord.Zero.Fixtures.WolfSheep.Setup do
  @moduledoc """
  NetLogo's initial conditions for `BrokenRecord.Zero.Fixtures.WolfSheep` on `side` x `side`
  patches: every patch grown or not at random with a random countdown below `regrowth`; sheep
  and wolves at random places with random headings and energies below twice their gain.
  """

  @doc "NetLogo's default parameters of the model, as the rules take them."
  @spec params() :: map
  def params,
    do: %{sheep_gain: 4.0, wolf_gain: 20.0, sheep_birth: 0.04, wolf_birth: 0.05, regrowth: 30.0}

  @doc """
  The state of `side` x `side` patches with `sheep` sheep and `wolves` wolves, drawn from
  `:rand` seeded with `seed`; `params` as the rules take them.
  """
  @spec state(pos_integer, non_neg_integer, non_neg_integer, map, integer) :: map
  def state(side, sheep, wolves, params, seed) do
    :rand.seed(:exsss, {seed, seed, seed})

    animal = fn gain ->
      %{
        position: {side * :rand.uniform(), side * :rand.uniform(), 0.0},
        heading: 2 * :math.pi() * :rand.uniform(),
        energy: 2 * gain * :rand.uniform()
      }
    end

    patches =
      for i <- 0..(side - 1), j <- 0..(side - 1) do
        grown = :rand.uniform() < 0.5

        %{
          position: {i + 0.5, j + 0.5, 0.0},
          grown: grown,
          countdown: if(grown, do: 0.0, else: Float.floor(params.regrowth * :rand.uniform()))
        }
      end

    %{
      sheep: for(_ <- 1..sheep//1, do: animal.(params.sheep_gain)),
      wolves: for(_ <- 1..wolves//1, do: animal.(params.wolf_gain)),
      patches: patches,
      box: {side, side, side}
    }
  end
end
