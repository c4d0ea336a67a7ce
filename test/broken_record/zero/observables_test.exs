defmodule BrokenRecord.Zero.ObservablesTest do
  # Observables (docs/dsl.md, "Observables"): World.observe/2 on both backends against each
  # other and against values computed by hand, built-ins, World.stream/2, simulate's observe:
  # and every:, the energy monitor on potentials, and the errors.
  use ExUnit.Case, async: true

  import BrokenRecord.Zero.TestHelpers

  alias BrokenRecord.Zero.{Trajectory, World}
  alias BrokenRecord.Zero.ObservableSystems.{Gas, PeriodicGas, Plasma, Sorted}
  alias BrokenRecord.Zero.ConservationSystems.Monitored.TwoBody
  alias BrokenRecord.Zero.Fixtures.LJLiquid

  @moduletag :native

  defp particles(n, edge, seed) do
    seed(seed)

    for _ <- 1..n do
      %{
        position: {uniform(0.0, edge), uniform(0.0, edge), uniform(0.0, edge)},
        velocity: {uniform(-1.0, 1.0), uniform(-1.0, 1.0), uniform(-1.0, 1.0)},
        mass: uniform(1.0, 2.0)
      }
    end
  end

  defp pairs(list) do
    tuple = List.to_tuple(list)
    n = tuple_size(tuple)
    for i <- 0..(n - 2), j <- (i + 1)..(n - 1), do: {elem(tuple, i), elem(tuple, j)}
  end

  defp observe_both(system, state, names \\ :all) do
    native = system |> World.new(state, backend: :native) |> World.observe(names)
    elixir = system |> World.new(state, backend: :interpreted) |> World.observe(names)
    {native, elixir}
  end

  # Sums agree within rounding (their order differs); min and max bit for bit.
  defp assert_same_values(native, elixir) do
    assert Map.keys(native) == Map.keys(elixir)
    assert_agree(native, elixir, 1.0e-11)
  end

  describe "native == pure Elixir" do
    test "every observable and built-in of an open system (a cutoff pair sum over cells)" do
      # 600 particles in a box of 12: the cutoff of lj (2.5) is below a third of the box, so
      # the engine visits neighbouring cells only; the Elixir backend visits every pair.
      state = %{particles: particles(600, 12.0, 1)}
      {native, elixir} = observe_both(Gas, state)
      assert_same_values(native, elixir)

      for name <- [:fastest, :slowest, :closest],
          do: assert(identical?(native[name], elixir[name]))

      assert Gas.__system__().observables
             |> Enum.find(&(&1.name == :lj))
             |> then(& &1.program.cutoff) !=
               nil
    end

    test "a periodic system: minimum images in a cutoff pair sum and a pair minimum" do
      state = %{particles: particles(500, 9.0, 2), box: {9.0, 9.0, 9.0}}
      {native, elixir} = observe_both(PeriodicGas, state)
      assert_same_values(native, elixir)

      # By hand, with minimum images.
      image = fn d -> d - 9.0 * Float.round(d / 9.0) end

      distances =
        for {a, b} <- pairs(state.particles) do
          {dx, dy, dz} = sub(a.position, b.position)
          norm({image.(dx), image.(dy), image.(dz)})
        end

      assert_close(native.nearest, Enum.min(distances))

      lj =
        distances
        |> Enum.filter(&(&1 * &1 < 6.25))
        |> Enum.map(fn r -> 4 * :math.pow(r, -12) - 4 * :math.pow(r, -6) end)
        |> Enum.sum()

      assert_close(native.lj, lj, 1.0e-10)
    end

    test "the LJ liquid after steps (rows sorted by cell natively): pe and temperature" do
      {atoms, edge} = lj_liquid(6, 0.8442, 1.44, 3)
      state = %{atoms: atoms, box: {edge, edge, edge}}
      rules = [:half_kick, :drift, :lj_force, :half_kick_2]

      world =
        LJLiquid
        |> World.new(state, backend: :native)
        |> World.step(steps: 20, dt: 0.005, rules: rules)

      assert World.info(world).neighbour_builds > 0
      native = World.observe(world, [:pe, :temperature, :kinetic_energy])
      moved = World.to_state(world)

      elixir =
        LJLiquid
        |> World.new(moved, backend: :interpreted)
        |> World.observe([:pe, :temperature, :kinetic_energy])

      assert_agree(native, elixir, 1.0e-11)

      # The pe observable is the lj_energy rule's per-atom halves summed.
      halves =
        LJLiquid
        |> World.new(moved, backend: :native)
        |> World.step(steps: 1, rules: [:clear_pe, :lj_energy])
        |> World.column(:atoms, :pe)
        |> floats()
        |> Enum.sum()

      assert_close(native.pe, halves, 1.0e-11)
      # mass defaults to 1.
      ke = moved.atoms |> Enum.map(&(0.5 * dot(&1.velocity, &1.velocity))) |> Enum.sum()
      assert_close(native.temperature, 2 * ke / (3 * 864 - 3), 1.0e-11)
    end

    test "f32 worlds reduce in f64 from f32 values" do
      state = %{particles: particles(200, 10.0, 3)}
      f32 = Gas |> World.new(state, backend: :native, precision: :f32) |> World.observe()
      {native, _} = observe_both(Gas, state)
      assert_agree(f32.kinetic, native.kinetic, 1.0e-6)
      assert_agree(f32.centre, native.centre, 1.0e-6)
    end
  end

  describe "values by hand" do
    setup do
      ps = particles(120, 6.0, 4)
      {native, elixir} = observe_both(Gas, %{particles: ps})
      assert_same_values(native, elixir)
      %{ps: ps, values: native}
    end

    test "per-agent reduces: sum, max, min, mean, a vec3 mean and an if-else value", c do
      %{ps: ps, values: v} = c
      speeds = Enum.map(ps, &norm(&1.velocity))

      assert_close(
        v.kinetic,
        ps |> Enum.map(&(0.5 * &1.mass * dot(&1.velocity, &1.velocity))) |> Enum.sum()
      )

      assert v.fastest == Enum.max(speeds)
      assert v.slowest == Enum.min(speeds)
      assert_close(v.mean_mass, Enum.sum(Enum.map(ps, & &1.mass)) / 120)
      centre = ps |> Enum.map(& &1.position) |> Enum.reduce(&add/2) |> scale(1 / 120)
      assert_close(v.centre, centre)
      assert v.heavy == Enum.count(ps, &(&1.mass > 1.5)) * 1.0
    end

    test "pair reduces: a cutoff sum, a min over pairs, a mean over pairs", c do
      %{ps: ps, values: v} = c
      ps_pairs = pairs(ps)
      distances = Enum.map(ps_pairs, fn {a, b} -> norm(sub(a.position, b.position)) end)
      assert v.closest == Enum.min(distances)

      lj =
        for r <- distances, r < 2.5, reduce: 0.0 do
          acc -> acc + 4 * (:math.pow(r, -12) - :math.pow(r, -6))
        end

      assert_close(v.lj, lj, 1.0e-10)
      products = Enum.map(ps_pairs, fn {a, b} -> a.mass * b.mass end)
      assert_close(v.pair_mean, Enum.sum(products) / length(products))
    end

    test "built-ins: mass, momentum, angular momentum, kinetic energy, temperature", c do
      %{ps: ps, values: v} = c
      assert_close(v.mass, ps |> Enum.map(& &1.mass) |> Enum.sum())
      assert_close(v.momentum, momentum(ps))
      l = ps |> Enum.map(&cross(&1.position, scale(&1.velocity, &1.mass))) |> Enum.reduce(&add/2)
      assert_close(v.angular_momentum, l)
      ke = kinetic_energy(ps)
      assert_close(v.kinetic_energy, ke)
      assert_close(v.temperature, 2 * ke / (3 * 120 - 3))
    end
  end

  describe "observe kernels" do
    test "pair observables over all pairs run their generated kernel; == the block evaluator" do
      ps = particles(300, 6.0, 11)
      world = World.new(Gas, %{particles: ps}, backend: :native)
      paths = World.observe_paths(world)
      assert paths.kinetic == :agents
      assert paths.lj == :cells

      for name <- [:closest, :pair_mean, :spring_pe, :separation],
          do: assert(paths[name] == :kernel, "#{name}: #{paths[name]}")

      evaluator = World.new(Gas, %{particles: ps}, backend: :native, kernels: false)
      assert World.observe_paths(evaluator).separation == :all_pairs
      kernel_values = World.observe(world)
      assert_agree(kernel_values, World.observe(evaluator), 1.0e-12)
      elixir = World.new(Gas, %{particles: ps}, backend: :interpreted)
      assert World.observe_paths(elixir, [:separation]) == %{separation: :elixir}
      assert_same_values(kernel_values, World.observe(elixir))

      # By hand: the sum of b - a over i < j, and the minimum bit for bit.
      separation =
        for {a, b} <- pairs(ps),
            reduce: {0.0, 0.0, 0.0},
            do: (acc -> add(acc, sub(b.position, a.position)))

      assert_close(kernel_values.separation, separation, 1.0e-11)

      assert kernel_values.closest ==
               ps
               |> pairs()
               |> Enum.map(fn {a, b} -> norm(sub(a.position, b.position)) end)
               |> Enum.min()
    end

    test "cross-type pair observables: a sum and a maximum" do
      seed(12)
      state = %{ions: particles(50, 5.0, 13), electrons: particles(37, 5.0, 14), walls: []}
      world = World.new(Plasma, state, backend: :native)
      assert World.observe_paths(world, [:coulomb, :far]) == %{coulomb: :kernel, far: :kernel}
      evaluator = World.new(Plasma, state, backend: :native, kernels: false)
      assert_agree(World.observe(world), World.observe(evaluator), 1.0e-12)

      for precision <- [:f64, :f32] do
        native = World.new(Plasma, state, backend: :native, precision: precision)
        elixir = World.new(Plasma, state, backend: :interpreted, precision: precision)
        assert_agree(World.observe(native), World.observe(elixir), 1.0e-6)
      end
    end

    test "rows sorted by cell: a same-type observable goes back to the block evaluator" do
      ps = particles(400, 8.0, 15)
      native = World.new(Sorted, %{particles: ps}, backend: :native)
      names = [:separation, :weighted]
      assert World.observe_paths(native, names) == %{separation: :kernel, weighted: :kernel}
      elixir = World.new(Sorted, %{particles: ps}, backend: :interpreted)
      opts = [steps: 3, dt: 0.01]
      native = World.step(native, opts)
      elixir = World.step(elixir, opts)
      assert World.info(native).neighbour_builds > 0
      assert World.observe_paths(native, names) == %{separation: :all_pairs, weighted: :all_pairs}
      assert_same_values(World.observe(native), World.observe(elixir))
    end

    test "a non-finite value through a kernel is an ArgumentError naming the observable" do
      # Two masses whose product overflows.
      heavy = %{position: {0.0, 0.0, 0.0}, velocity: {1.0, 0.0, 0.0}, mass: 1.0e200}
      ps = [heavy | particles(20, 3.0, 16)] ++ [%{heavy | position: {1.0, 1.0, 1.0}}]
      world = World.new(Gas, %{particles: ps}, backend: :native)
      assert World.observe_paths(world, [:pair_mean]) == %{pair_mean: :kernel}

      assert_raise ArgumentError, ~r/observable pair_mean is not finite/, fn ->
        World.observe(world, [:pair_mean])
      end
    end
  end

  describe "several collections" do
    setup do
      seed(5)
      ions = particles(40, 5.0, 6)
      electrons = particles(30, 5.0, 7)
      walls = [%{position: {0.0, 0.0, 0.0}}]
      %{state: %{ions: ions, electrons: electrons, walls: walls}}
    end

    test "a pair observable over every combination; built-ins per collection and in all", c do
      {native, elixir} =
        observe_both(Plasma, c.state, [
          :coulomb,
          :far,
          :mass,
          :temperature,
          {:ions, :momentum},
          {:electrons, :kinetic_energy}
        ])

      assert_same_values(native, elixir)
      %{ions: ions, electrons: electrons} = c.state
      cross_pairs = for i <- ions, e <- electrons, do: norm(sub(i.position, e.position))
      assert_close(native.coulomb, cross_pairs |> Enum.map(&(-1.0 / &1)) |> Enum.sum())
      assert native.far == Enum.max(cross_pairs)
      assert_close(native.mass, Enum.sum(Enum.map(ions ++ electrons, & &1.mass)))
      assert_close(native[{:ions, :momentum}], momentum(ions))
      assert_close(native[{:electrons, :kinetic_energy}], kinetic_energy(electrons))
      ke = kinetic_energy(ions ++ electrons)
      assert_close(native.temperature, 2 * ke / (3 * 70 - 3))
    end

    test "observe/1 gives the declared observables and the built-ins some type can have", c do
      values = Plasma |> World.new(c.state, backend: :native) |> World.observe()

      assert Map.keys(values) |> Enum.sort() ==
               Enum.sort([
                 :coulomb,
                 :far,
                 :mass,
                 :momentum,
                 :angular_momentum,
                 :kinetic_energy,
                 :temperature
               ])
    end

    test "an empty reduction: a sum is zero, a max nil; a temperature of one agent nil", c do
      state = %{c.state | electrons: [], ions: Enum.take(c.state.ions, 1)}

      for backend <- [:native, :interpreted] do
        w = World.new(Plasma, state, backend: backend)

        assert World.observe(w, [:coulomb, :far, :temperature]) ==
                 %{coulomb: 0.0, far: nil, temperature: nil}
      end
    end

    test "unknown names, a collection without the fields, bad lists", c do
      w = World.new(Plasma, c.state, backend: :native)

      assert_raise ArgumentError,
                   ~r/unknown observable :colomb \(did you mean :coulomb\?\)/,
                   fn ->
                     World.observe(w, [:colomb])
                   end

      assert_raise ArgumentError, ~r/collection :walls has the fields it needs/, fn ->
        World.observe(w, [{:walls, :mass}])
      end

      assert_raise ArgumentError, ~r/unknown collection :wals/, fn ->
        World.observe(w, [{:wals, :mass}])
      end

      assert_raise ArgumentError, ~r/observables must be a list/, fn ->
        World.observe(w, :coulomb)
      end
    end
  end

  test "a value that is not finite is an ArgumentError naming the observable" do
    p = %{position: {1.0, 1.0, 1.0}, velocity: {0.0, 0.0, 0.0}, mass: 1.0}

    for backend <- [:native, :interpreted] do
      w = World.new(Gas, %{particles: [p, p]}, backend: backend)

      assert_raise ArgumentError, ~r/observable lj is not finite/, fn ->
        World.observe(w, [:lj])
      end
    end
  end

  describe "World.stream/2" do
    setup do
      %{state: %{particles: particles(50, 6.0, 8)}}
    end

    test "is lazy: a halted stream runs no further steps; the first sample is the start", c do
      for backend <- [:native, :interpreted] do
        world = World.new(Gas, c.state, backend: backend)
        stream = World.stream(world, steps: 1000, every: 10, observe: [:kinetic], frames: true)
        assert World.info(world).step == 0
        samples = Enum.take(stream, 3)
        assert Enum.map(samples, & &1.step) == [0, 10, 20]
        assert Enum.map(samples, & &1.time) == [0.0, 0.1, 0.2]
        last = List.last(samples).world
        assert World.info(last).step == 20
        # The stream owns the world: the handle it was given is superseded.
        assert_raise ArgumentError, ~r/this world was stepped/, fn -> World.info(world) end

        halted =
          World.new(Gas, c.state, backend: backend)
          |> World.stream(steps: 100, every: 5, frames: true, dt: 0.5)
          |> Stream.take_while(&(&1.step < 15))
          |> Enum.to_list()

        # take_while asks for the sample at step 15, which stops it: no step beyond.
        assert List.last(halted).step == 10
        assert hd(halted).values |> Map.has_key?(:temperature)
      end
    end

    test "samples agree between backends and run steps: steps / every + 1 samples", c do
      run = fn backend ->
        Gas
        |> World.new(c.state, backend: backend)
        |> World.stream(steps: 40, every: 20, observe: [:kinetic, :centre, :closest])
        |> Enum.to_list()
      end

      native = run.(:native)
      assert length(native) == 3
      assert_agree(native, run.(:interpreted), 1.0e-11)
      # drift moves particles, so the centre moves with the mean velocity.
      assert hd(native).values.centre != List.last(native).values.centre
    end

    test "frames: true streams into Trajectory.write/3", c do
      path = Path.join(System.tmp_dir!(), "brz_obs_#{System.unique_integer([:positive])}.xyz")

      try do
        Gas
        |> World.new(c.state, backend: :native)
        |> World.stream(steps: 20, every: 10, frames: true, observe: [])
        |> Trajectory.write(path, collection: :particles)

        text = File.read!(path)
        assert length(Regex.scan(~r/^50$/m, text)) == 3
        assert text =~ "step=20"
      after
        File.rm(path)
      end
    end

    test "bad options are ArgumentErrors before any step", c do
      w = World.new(Gas, c.state, backend: :native)

      for {opts, message} <- [
            {[steps: 10, every: 0], ~r/invalid option every: 0/},
            {[steps: 10, every: 3], ~r/every: 3 does not divide steps: 10/},
            {[steps: 10], ~r/every: is required/},
            {[steps: 10, every: 5, observe: [:kinetc]], ~r/did you mean :kinetic/},
            {[steps: 10, every: 5, frames: :yes], ~r/invalid option frames/},
            {[steps: 10, every: 5, bogus: 1], ~r/unknown option :bogus/}
          ] do
        assert_raise ArgumentError, message, fn -> World.stream(w, opts) end
      end

      assert World.info(w).step == 0
    end
  end

  describe "simulate observe: and every:" do
    test "returns {state, samples}; both backends agree" do
      state = %{particles: particles(30, 5.0, 9)}

      run = fn backend ->
        Gas.simulate(state, steps: 30, every: 10, observe: [:kinetic, :mass], backend: backend)
      end

      {out, samples} = run.(:native)
      assert Enum.map(samples, & &1.step) == [0, 10, 20, 30]
      assert length(out.particles) == 30
      {out_e, samples_e} = run.(:interpreted)
      assert_agree(samples, samples_e, 1.0e-11)
      assert_agree(out, out_e, 1.0e-11)
      # Without every: the start and the end.
      {_, two} = Gas.simulate(state, steps: 30, observe: [:kinetic])
      assert Enum.map(two, & &1.step) == [0, 30]
    end

    test "bad options" do
      state = %{particles: particles(5, 5.0, 10)}

      assert_raise ArgumentError, ~r/every: 7 does not divide steps: 30/, fn ->
        Gas.simulate(state, steps: 30, every: 7, observe: [:kinetic])
      end

      assert_raise ArgumentError, ~r/needs observe: or conservation: :report/, fn ->
        Gas.simulate(state, steps: 30, every: 10)
      end

      assert_raise ArgumentError, ~r/unknown observable :nope/, fn ->
        Gas.simulate(state, steps: 30, observe: [:nope])
      end
    end
  end

  describe "the energy monitor" do
    defp two_body do
      %{
        bodies: [
          %{position: {1.0, 0.0, 0.0}, velocity: {0.0, 0.5, 0.0}, mass: 1.0},
          %{position: {-1.0, 0.0, 0.0}, velocity: {0.0, -0.5, 0.0}, mass: 1.0}
        ]
      }
    end

    test "uses the potential as an observable: kinetic + potential energy, by hand" do
      for backend <- [:native, :interpreted] do
        {_, report} =
          TwoBody.simulate(two_body(),
            steps: 10,
            dt: 0.001,
            conservation: :report,
            backend: backend
          )

        # KE = 2 * 1/2 * 0.25, PE = -G m m / r = -1 / 2.
        assert_close(report.energy.initial, 0.25 - 0.5)
        # The scale is |kinetic| + |potential terms|: the drift is relative to 0.75.
        assert_close(
          report.energy.drift,
          abs(report.energy.final - report.energy.initial) / 0.75
        )

        assert World.observe(World.new(TwoBody, two_body(), backend: backend), [:newton]) ==
                 %{newton: -0.5}
      end
    end

    test "with every: each law carries its drift as a time series" do
      {_, report} =
        TwoBody.simulate(two_body(), steps: 100, every: 25, dt: 0.001, conservation: :report)

      series = report.energy.series
      assert Enum.map(series, & &1.step) == [0, 25, 50, 75, 100]
      assert hd(series).drift == 0.0
      assert List.last(series).value == report.energy.final
      assert Enum.map(report.momentum.series, & &1.step) == [0, 25, 50, 75, 100]

      {_, samples, report2} =
        TwoBody.simulate(two_body(),
          steps: 100,
          every: 50,
          dt: 0.001,
          conservation: :report,
          observe: [:newton]
        )

      assert length(samples) == 3
      assert length(report2.energy.series) == 3
    end
  end

  describe "compile errors name the line" do
    defp body(observable) do
      """
      agents do
        defagent P do
          field :position, :vec3
          field :x, :float
        end
      end

      #{observable}
      """
    end

    test "unknown type, bad reduce, a write, a duplicate, a built-in's name, a param" do
      for {source, message} <- [
            {"observable o(p: Q) do\n p.x\nend", ~r/nofile:12: unknown agent type Q/},
            {"observable o(p: P), reduce: :median do\n p.x\nend",
             ~r/nofile:12: observable reduce: must be one of :sum, :min, :max, :mean/},
            {"observable o(p: P) do\n p.x = 1.0\n p.x\nend",
             ~r/nofile:13: observable o writes p.x: observables only measure/},
            {"observable o(p: P) do\n p.x\nend\nobservable o(p: P) do\n p.x\nend",
             ~r/nofile:15: observable :o is defined twice/},
            {"observable temperature(p: P) do\n p.x\nend",
             ~r/nofile:12: observable temperature has the name of a built-in/},
            {"observable o(p: P, k: float) do\n p.x * k\nend",
             ~r/observable o reads the param k/},
            {"observable o(p: P) do\n p.x > 1.0\nend",
             ~r/nofile:13: observable o must be a float or a vec3, got a bool/},
            {"observable o(p: P) do\n if p.x > 1.0 do\n 1.0\n else\n p.position\n end\nend",
             ~r/if ... else ... end of a float and a vec3/},
            {"observable o(p: P), weight: 2 do\n p.x\nend", ~r/unknown observable option weight:/}
          ] do
        assert_raise CompileError, message, fn -> compile_system(body(source)) end
      end
    end
  end
end
