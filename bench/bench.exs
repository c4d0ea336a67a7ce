# The BrokenRecord Zero benchmarks: `mix bench` (see Mix.Tasks.Bench).
#
# Every scenario is measured in this one run on: the native engine in f64 and f32, the
# pure-Elixir backend (where it finishes in reasonable time) and, where built, a hand-written
# C++ reference kernel of the same formula (`_build/cmake/bench/brz_bench_ref`, sources
# bench/reference*.cpp), so ratios are comparable on a noisy machine. Native and Elixir timings
# exclude marshalling (the world is created first, then `World.step/2` is timed); marshalling
# has its own scenario. The collisions scenario runs a hand-written C++ version of the whole
# step (neighbour list, collision rule, integration) at every size next to the DSL, so that the
# spread of its own times shows what the machine imposes. The speed targets are printed at
# the end, each with the ratio measured in this run and PASS / MISS (or SKIP when a scenario
# could not run, with the reason).
#
# The LJ scenario compares with LAMMPS when `lmp` and `mpirun` are on PATH (Debian packages
# `lammps`, `openmpi-bin`); see the comment above `lj/1` for the exact configuration.

defmodule Bench.Systems do
  use BrokenRecord.Zero

  defsystem Integrate do
    agents do
      defagent Particle do
        field :position, :vec3
        field :velocity, :vec3
      end
    end

    rules do
      interaction integrate(p: Particle) do
        p.position = p.position + p.velocity * dt
      end
    end
  end

  defsystem Gravity do
    agents do
      defagent Body do
        field :position, :vec3
        field :velocity, :vec3
        field :mass, :float
      end
    end

    rules do
      interaction gravity(a: Body, b: Body) do
        d = b.position - a.position
        r2 = dot(d, d) + 0.01
        inv = 1 / (sqrt(r2) * r2)
        a.velocity = a.velocity + d * (b.mass * inv * dt)
        b.velocity = b.velocity - d * (a.mass * inv * dt)
      end
    end
  end

  # The canonical softened gravity (r2 = dot(d,d) + eps2, inv = 1/sqrt(r2), a += d*m*inv^3).
  defsystem Softened do
    agents do
      defagent Body do
        field :position, :vec3
        field :acceleration, :vec3
        field :mass, :float
      end
    end

    rules do
      interaction softened(a: Body, b: Body) do
        d = b.position - a.position
        r2 = dot(d, d) + 0.01
        inv = 1 / sqrt(r2)
        inv3 = inv * inv * inv
        a.acceleration = a.acceleration + d * (b.mass * inv3)
        b.acceleration = b.acceleration - d * (a.mass * inv3)
      end
    end
  end

  # Elastic spheres (the elastic collision rule): its guard is a cutoff, so the
  # engine may visit only nearby pairs (cell lists).
  defsystem Collisions do
    agents do
      defagent Particle do
        field :position, :vec3
        field :velocity, :vec3
        field :mass, :float
        field :radius, :float
      end
    end

    rules do
      interaction collision(p1: Particle, p2: Particle) do
        delta = p1.position - p2.position
        dist = length(delta)

        if dist < p1.radius + p2.radius do
          normal = normalize(delta)
          speed = dot(p1.velocity - p2.velocity, normal)

          if speed < 0 do
            impulse = 2 * speed / (1 / p1.mass + 1 / p2.mass)
            p1.velocity = p1.velocity - normal * (impulse / p1.mass)
            p2.velocity = p2.velocity + normal * (impulse / p2.mass)
          end
        end
      end

      interaction integrate(p: Particle) do
        p.position = p.position + p.velocity * dt
      end
    end
  end

  # Lennard-Jones (epsilon = sigma = mass = 1, rc = 2.5, not shifted, no tail correction),
  # velocity Verlet as four rules per step: half_kick, drift (which also clears the force
  # accumulator), lj_force, half_kick_2. lj_energy gives each atom half of each pair energy.
  defsystem LJ do
    agents do
      defagent Atom do
        field :position, :vec3
        field :velocity, :vec3
        field :force, :vec3
        field :pe, :float
      end
    end

    rules do
      interaction half_kick(p: Atom) do
        p.velocity = p.velocity + p.force * (0.5 * dt)
      end

      interaction drift(p: Atom) do
        p.position = p.position + p.velocity * dt
        p.force = {0.0, 0.0, 0.0}
      end

      interaction lj_force(a: Atom, b: Atom) do
        d = a.position - b.position
        r2 = dot(d, d)

        if r2 < 6.25 do
          ir2 = 1 / r2
          ir6 = ir2 * ir2 * ir2
          f = ir6 * (48 * ir6 - 24) * ir2
          a.force = a.force + d * f
          b.force = b.force - d * f
        end
      end

      interaction half_kick_2(p: Atom) do
        p.velocity = p.velocity + p.force * (0.5 * dt)
      end

      interaction clear_pe(p: Atom) do
        p.pe = 0.0
      end

      interaction lj_energy(a: Atom, b: Atom) do
        d = a.position - b.position
        r2 = dot(d, d)

        if r2 < 6.25 do
          ir2 = 1 / r2
          ir6 = ir2 * ir2 * ir2
          e = ir6 * (4 * ir6 - 4) * 0.5
          a.pe = a.pe + e
          b.pe = b.pe + e
        end
      end
    end
  end
end

defmodule Bench do
  alias BrokenRecord.Zero.{NIF, World}

  @quick "--quick" in System.argv()
  @ref_path "_build/cmake/bench/brz_bench_ref"

  def run do
    t0 = System.monotonic_time(:millisecond)
    native? = NIF.loaded?()
    IO.puts("BrokenRecord Zero benchmarks (#{if @quick, do: "quick", else: "full"} run)")
    IO.puts("native engine: #{if native?, do: "loaded, ISA #{NIF.isa()}", else: "NOT loaded"}")

    IO.puts(
      "C++ reference: #{if ref?(), do: "#{@ref_path} (ISA #{ref_isa()})", else: "NOT built (#{@ref_path})"}"
    )

    IO.puts(
      "schedulers: #{System.schedulers_online()}, OMP_NUM_THREADS=#{System.get_env("OMP_NUM_THREADS") || "(default)"}, load average at start: #{loadavg()}\n"
    )

    scenarios = [
      &peak_scenarios/1,
      &integrate_scenarios/1,
      &gravity_scenarios/1,
      &softened_scenarios/1,
      &marshalling_scenarios/1,
      &collision_scenarios/1,
      &all_pairs_scenarios/1,
      &lj_scenarios/1
    ]

    results =
      Enum.flat_map(scenarios, fn scenario ->
        rows = scenario.(native?)
        # progress on stderr, so that a long run shows where it is
        IO.write(:stderr, ".")
        rows
      end)

    IO.write(:stderr, "\n")

    # the peak again at the end, the faster of the two kept (load on the machine only slows it)
    again = peak_scenarios(native?)
    results = Enum.map(results, &faster_peak(&1, again))

    print_table(results)

    IO.puts(
      "\nflops per application, counted from the programs (system.__system__().analysis): " <>
        Enum.map_join(
          [
            {Bench.Systems.Integrate, :integrate},
            {Bench.Systems.Gravity, :gravity},
            {Bench.Systems.Softened, :softened},
            {Bench.Systems.Collisions, :collision},
            {Bench.Systems.LJ, :lj_force}
          ],
          ", ",
          fn {system, rule} -> "#{rule} #{flops(system, rule)}" end
        ) <>
        "; C++ softened (canonical): 20 per interaction, N^2 interactions"
    )

    targets = targets(results)
    print_targets(targets)
    seconds = (System.monotonic_time(:millisecond) - t0) / 1000

    IO.puts(
      "\ntotal bench time: #{:erlang.float_to_binary(seconds, decimals: 1)} s, " <>
        "load average at the end: #{loadavg()} (other processes on the machine skew timings)"
    )

    write_json(results, targets, seconds)
  end

  ## Scenarios

  # Peak FMA rate of both cores on the dispatched ISA (the C++ micro-kernel).
  defp peak_scenarios(_native?) do
    if ref?() do
      for precision <- ["f64", "f32"] do
        r = ref("peak", 0, precision, 1, if(@quick, do: 3, else: 5))

        %{
          scenario: "peak FMA",
          n: 0,
          variant: "C++ micro-kernel #{precision}",
          seconds_per_step: r["seconds_per_step"],
          throughput: r["flops_per_step"] / r["seconds_per_step"],
          unit: "flop/s",
          gflops: r["gflops"],
          isa: r["isa"]
        }
      end
    else
      []
    end
  end

  defp faster_peak(%{scenario: "peak FMA"} = row, again) do
    case Enum.find(again, &(&1.variant == row.variant)) do
      %{seconds_per_step: t} = other when t < row.seconds_per_step -> other
      _ -> row
    end
  end

  defp faster_peak(row, _again), do: row

  defp integrate_scenarios(native?) do
    for n <- [1_000, 100_000, 1_000_000],
        result <- in_rounds(fn -> integrate(n, native?) end),
        do: result
  end

  defp integrate(n, native?) do
    state = %{particles: particles(n)}
    # At least 20 steps per timed call: a 1 ms step would otherwise also time the call's fixed
    # cost (option checks, the dirty-scheduler hop, waking the OpenMP threads).
    steps = max(steps_for(n * 200), 20)
    flops = flops(Bench.Systems.Integrate, :integrate)

    elixir =
      if n <= 100_000,
        do: [
          measure(
            "integrate",
            n,
            "elixir f64",
            Bench.Systems.Integrate,
            state,
            {:interpreted, :f64},
            max(div(steps, 50), 1),
            n,
            flops
          )
        ],
        else: []

    native =
      if native?,
        do:
          (for precision <- [:f64, :f32] do
             measure(
               "integrate",
               n,
               "native #{precision}",
               Bench.Systems.Integrate,
               state,
               {:native, precision},
               steps,
               n,
               flops
             )
           end),
        else: []

    reference =
      if n == 1_000_000,
        do: ref_rows("integrate", n, steps, n, "agents/s", &(&1 * 6)),
        else: []

    native ++ elixir ++ reference
  end

  defp gravity_scenarios(native?) do
    # N = 1,000: native against the pure-Elixir backend; N = 16,384: against the C++ reference.
    in_rounds(fn -> gravity(1_000, native?) end) ++
      in_rounds(fn -> gravity(16_384, native?) end)
  end

  defp gravity(n, native?) do
    state = %{bodies: bodies(n)}
    pairs = div(n * (n - 1), 2)
    steps = steps_for(pairs * 30)
    flops = flops(Bench.Systems.Gravity, :gravity)

    elixir =
      if n <= 1_000,
        do: [
          measure(
            "gravity",
            n,
            "elixir f64",
            Bench.Systems.Gravity,
            state,
            {:interpreted, :f64},
            1,
            pairs,
            flops,
            reps: if(@quick, do: 1, else: 2),
            checksum: {:bodies, :velocity}
          )
        ],
        else: []

    native =
      if native?,
        do:
          (for precision <- [:f64, :f32] do
             measure(
               "gravity",
               n,
               "native #{precision}",
               Bench.Systems.Gravity,
               state,
               {:native, precision},
               steps,
               pairs,
               flops,
               checksum: {:bodies, :velocity}
             )
           end),
        else: []

    # The formula as usually hand-written (every i over all j, target 1's reference), and over i < j with Newton's third law, as the DSL runs it.
    reference =
      if n > 1_000,
        do:
          ref_rows("gravity_all", n, steps, pairs, "pairs/s", nil, "C++ all-j") ++
            ref_rows("gravity", n, steps, pairs, "pairs/s", &(&1 * flops), "C++ i<j"),
        else: []

    Enum.map(native ++ elixir ++ reference, &Map.put(&1, :scenario, "gravity"))
  end

  # The canonical softened gravity: the DSL runs unordered pairs (its pair semantics); the C++
  # reference is the canonical loop (every i over all j, as usually hand-written), and the same
  # formula over i < j is shown too.
  defp softened_scenarios(native?), do: in_rounds(fn -> softened(native?) end)

  defp softened(native?) do
    n = 16_384
    state = %{bodies: bodies(n)}
    pairs = div(n * (n - 1), 2)
    steps = steps_for(pairs * 30)
    flops = flops(Bench.Systems.Softened, :softened)

    native =
      if native?,
        do:
          (for precision <- [:f64, :f32] do
             measure(
               "softened",
               n,
               "native #{precision}",
               Bench.Systems.Softened,
               state,
               {:native, precision},
               steps,
               pairs,
               flops,
               checksum: {:bodies, :acceleration}
             )
           end),
        else: []

    reference =
      ref_rows("softened", n, steps, pairs, "pairs/s", nil, "C++ canonical all-j") ++
        ref_rows("softened_pairs", n, steps, pairs, "pairs/s", nil, "C++ i<j", ["f64"])

    Enum.map(native ++ reference, &Map.put(&1, :scenario, "softened"))
  end

  # simulate/2 with one integrate step (list-of-maps -> world, one step, world -> a new list of
  # maps) against Enum.map/2 rebuilding the same list of maps in Elixir: the maps simulate
  # returns, each with a new position tuple of three new floats (x + v*dt). The step itself
  # (~50 us native) is included, so the ratio is an upper bound of the marshalling cost.
  # steps: 0 would not measure the way back: a field no rule has written is returned as the
  # caller's own term, without conversion.
  #
  # Every contender runs in a new process holding only the state. Building 100k maps of new
  # terms costs, on a default heap, mostly garbage collections (each one copies the live state
  # and what has been built so far), and how many there are depends on the heap's history: the
  # same Enum.map took 10 to 55 ms. The target rows therefore give each process a heap that holds
  # the result without collecting (min_heap_size), so that both sides measure building terms;
  # the same contenders on a default heap are printed too. "Enum.map sharing a tuple" (a map
  # update that puts an existing tuple in: no new tuple, no new float) shows the share of the
  # reference that is making floats and tuples.
  defp marshalling_scenarios(native?) do
    n = 100_000
    dt = 0.01
    state = %{particles: particles(n)}
    reps = if @quick, do: 3, else: 5
    roomy = 4 * :erts_debug.flat_size(state)

    rebuild = fn state ->
      Enum.map(state.particles, fn %{position: {x, y, z}, velocity: {vx, vy, vz}} = p ->
        %{p | position: {x + vx * dt, y + vy * dt, z + vz * dt}}
      end)
    end

    simulate = fn backend ->
      fn state -> Bench.Systems.Integrate.simulate(state, steps: 1, dt: dt, backend: backend) end
    end

    share = fn state -> Enum.map(state.particles, &%{&1 | position: &1.velocity}) end
    {t_map, rebuilt} = best_in_fresh_process(reps, state, roomy, rebuild)
    {t_map_default, _} = best_in_fresh_process(reps, state, nil, rebuild)

    row = fn variant, t, ref ->
      %{
        scenario: "marshalling",
        n: n,
        variant: variant,
        seconds_per_step: t,
        throughput: n / t,
        unit: "agents/s",
        ratio: t / ref,
        ratio_label: if(t == ref, do: "reference", else: "x Enum.map rebuild")
      }
    end

    contenders =
      [{"Enum.map sharing a tuple", share, roomy}] ++
        for {backend, on?} <- [native: native?, interpreted: true], on?, heap <- [roomy, nil] do
          suffix = if heap, do: "", else: ", default heap"
          {"#{backend} simulate(steps: 1)#{suffix}", simulate.(backend), heap}
        end

    rows =
      for {variant, fun, heap} <- contenders do
        {t, out} = best_in_fresh_process(reps, state, heap, fun)

        # The reference must build what simulate returns.
        is_list(out) or same_positions?(out.particles, rebuilt) or
          raise "marshalling: #{variant} and the Enum.map reference differ"

        row.(variant, t, if(heap, do: t_map, else: t_map_default))
      end

    [
      row.("Enum.map rebuild", t_map, t_map),
      row.("Enum.map rebuild, default heap", t_map_default, t_map_default) | rows
    ]
  end

  defp same_positions?(a, b) do
    Enum.zip(a, b)
    |> Enum.all?(fn {%{position: {x1, y1, z1}}, %{position: {x2, y2, z2}}} ->
      abs(x1 - x2) <= 1.0e-12 and abs(y1 - y2) <= 1.0e-12 and abs(z1 - z2) <= 1.0e-12
    end)
  end

  # Elastic spheres at constant density (box side grows with N^(1/3)), collision + integrate
  # per step. Sizes run in increasing order; a size whose projected time for one step (from the
  # previous size, assuming all-pairs scaling when the engine does not scale linearly) exceeds
  # the budget is skipped and reported as such.
  defp collision_scenarios(native?) do
    if native? do
      budget = if @quick, do: 10.0, else: 60.0

      {rows, _} =
        Enum.map_reduce([10_000, 100_000, 1_000_000], nil, fn n, prev ->
          projected = project_collision(prev, n)

          if projected > budget do
            row = %{
              scenario: "collisions",
              n: n,
              variant: "native f64",
              skipped:
                "projected #{:erlang.float_to_binary(projected, decimals: 0)} s/step > budget",
              seconds_per_step: nil,
              throughput: nil,
              unit: "agent-steps/s"
            }

            {row, prev}
          else
            row = collision(n)
            {row, {n, row.seconds_per_step, prev}}
          end
        end)

      Enum.flat_map(rows, fn row ->
        [Map.delete(row, :reference_row) | List.wrap(row[:reference_row])]
      end)
    else
      []
    end
  end

  defp project_collision(nil, _n), do: 0.0

  defp project_collision({n0, t0, earlier}, n) do
    linear = t0 * n / n0

    case earlier do
      {n1, t1, _} ->
        # measured exponent between the two previous sizes
        k = :math.log(t0 / t1) / :math.log(n0 / n1)
        t0 * :math.pow(n / n0, max(k, 1.0))

      nil ->
        # one size known: pessimistic all-pairs unless it was fast
        if t0 < 0.05, do: linear * 10, else: t0 * :math.pow(n / n0, 2)
    end
  end

  defp collision(n) do
    state = %{particles: spheres(n)}
    world = World.new(Bench.Systems.Collisions, state, backend: :native, precision: :f64)
    world = World.step(world, steps: 1, dt: 1.0e-3)
    {t1, _} = best_of(1, fn -> World.step(world, steps: 1, dt: 1.0e-3) end)
    target = if @quick, do: 0.5, else: 2.0
    steps = max(1, min(200, round(target / max(t1, 1.0e-6))))
    reps = if t1 * steps > 5, do: 1, else: if(@quick, do: 3, else: 5)
    {t, _} = best_of(reps, fn -> World.step(world, steps: steps, dt: 1.0e-3) end)
    per_step = t / steps
    reference = collision_reference(n, steps)

    %{
      scenario: "collisions",
      n: n,
      variant: "native f64",
      steps: steps,
      seconds_per_step: per_step,
      throughput: n / per_step,
      unit: "agent-steps/s",
      ns_per_agent_step: per_step / n * 1.0e9,
      cutoff: cutoff_of(Bench.Systems.Collisions, :collision),
      reference_row: reference
    }
    |> Map.merge(
      if reference,
        do: %{
          ratio: reference.seconds_per_step / per_step,
          ratio_label: "x C++ reference speed"
        },
        else: %{}
    )
  end

  # The hand-written C++ version of the same system and step (bench/reference_kernels.cpp,
  # `collisions`: its own spheres of the same distribution, a neighbour list with the engine's
  # skin), the same number of steps; nil when the reference is not built.
  defp collision_reference(n, steps) do
    if ref?() do
      r = ref("collisions", n, "f64", steps, if(@quick, do: 2, else: 3))

      %{
        scenario: "collisions",
        n: n,
        variant: "C++ reference f64",
        steps: steps,
        seconds_per_step: r["seconds_per_step"],
        throughput: n / r["seconds_per_step"],
        unit: "agent-steps/s",
        ns_per_agent_step: r["seconds_per_step"] / n * 1.0e9,
        isa: r["isa"],
        builds: r["builds"],
        momentum_drift: r["momentum_drift"]
      }
    end
  end

  # All-pairs gravity at 50,000 bodies (1.25e9 pairs per step): one step, f32 and f64.
  defp all_pairs_scenarios(native?) do
    n = 50_000
    pairs = div(n * (n - 1), 2)
    flops = flops(Bench.Systems.Gravity, :gravity)

    if native? do
      state = %{bodies: bodies(n)}

      for precision <- if(@quick, do: [:f32], else: [:f64, :f32]) do
        world = World.new(Bench.Systems.Gravity, state, backend: :native, precision: precision)
        {t, world} = best_of(1, fn -> World.step(world, steps: 1, dt: 1.0e-4) end)
        finite? = world |> World.column(:bodies, :velocity) |> finite_column?(precision)

        %{
          scenario: "all-pairs",
          n: n,
          variant: "native #{precision} gravity",
          steps: 1,
          seconds_per_step: t,
          throughput: pairs / t,
          unit: "pairs/s",
          gflops: pairs * flops / t / 1.0e9,
          finite: finite?
        }
      end
    else
      []
    end
  end

  defp finite_column?(bin, precision) do
    size = if precision == :f32, do: 32, else: 64
    for(<<x::float-native-size(size) <- bin>>, reduce: true, do: (ok -> ok and is_float(x)))
  rescue
    # a NaN or infinity does not match the float pattern
    _ -> false
  end

  ## The LJ benchmark
  #
  # 32,000 atoms on an fcc lattice at reduced density 0.8442 (a = (4/0.8442)^(1/3), 20x20x20
  # unit cells), LJ epsilon = sigma = mass = 1, rc = 2.5 (plain cutoff: no shift, no tail
  # correction), velocity Verlet, dt = 0.005, 100 steps, f64; initial velocities from :rand
  # (seeded), Maxwell-Boltzmann at T = 1.44 (3N - 3 degrees of freedom), zero total momentum.
  #
  # Boundaries: NON-periodic in both codes. The engine's cell lists are non-periodic and the
  # DSL has no periodic-image construct that keeps the cutoff guard a plain position difference
  # (minimum image through floor/1 would work but turns the rule into an all-pairs rule). So
  # the lattice is a free cluster in vacuum, and LAMMPS runs the very same system with
  # `boundary s s s` (shrink-wrapped, non-periodic). This differs from LAMMPS's own bench/in.lj
  # (periodic): surface atoms have fewer neighbours, ~13% fewer pairs within rc.
  #
  # Both codes start from the same data file (written here, read by LAMMPS with read_data);
  # LAMMPS rebuilds neighbour lists whenever needed (neigh_modify every 1 delay 0 check yes,
  # skin 0.3), so both compute the same forces; the total energy after the run is compared.
  defp lj_scenarios(native?) do
    if native?, do: lj(), else: []
  end

  defp lj do
    {atoms, box} = fcc_lattice(20, 0.8442, 1.44)
    n = length(atoms)
    state = %{atoms: atoms}
    world = World.new(Bench.Systems.LJ, state, backend: :native, precision: :f64)
    {t_force, world} = best_of(1, fn -> World.step(world, steps: 1, rules: [:lj_force]) end)
    e0 = lj_energy(world)

    budget = if @quick, do: 15.0, else: 150.0
    wanted = if @quick, do: 20, else: 100
    steps = max(1, min(wanted, floor(budget / max(t_force, 1.0e-6))))

    {t, world} =
      best_of(1, fn ->
        World.step(world,
          steps: steps,
          dt: 0.005,
          rules: [:half_kick, :drift, :lj_force, :half_kick_2]
        )
      end)

    e1 = lj_energy(world)

    dsl = %{
      scenario: "LJ",
      n: n,
      variant: "native f64 (DSL)",
      steps: steps,
      steps_wanted: wanted,
      seconds_per_step: t / steps,
      seconds_total: t,
      throughput: n * steps / t,
      unit: "atom-steps/s",
      energy_initial: e0,
      energy_final: e1,
      cutoff: cutoff_of(Bench.Systems.LJ, :lj_force)
    }

    [dsl | lammps(atoms, box, steps, dsl)]
  end

  defp lj_energy(world) do
    world = World.step(world, steps: 1, rules: [:clear_pe, :lj_energy])
    pe = world |> World.column(:atoms, :pe) |> sum_floats()
    ke = world |> World.column(:atoms, :velocity) |> sum_squares() |> Kernel.*(0.5)
    ke + pe
  end

  defp sum_floats(bin), do: for(<<x::float-native-64 <- bin>>, reduce: 0.0, do: (s -> s + x))
  defp sum_squares(bin), do: for(<<x::float-native-64 <- bin>>, reduce: 0.0, do: (s -> s + x * x))

  defp lammps(atoms, box, steps, dsl) do
    lmp = System.find_executable("lmp")
    mpirun = System.find_executable("mpirun")

    if lmp == nil or mpirun == nil do
      [
        %{
          scenario: "LJ",
          n: length(atoms),
          variant: "LAMMPS mpirun -np 2",
          skipped: "lmp#{if mpirun == nil, do: "/mpirun", else: ""} not on PATH",
          seconds_per_step: nil,
          throughput: nil,
          unit: "atom-steps/s"
        }
      ]
    else
      dir = Path.join(System.tmp_dir!(), "brz_bench_lj_#{System.unique_integer([:positive])}")
      File.mkdir_p!(dir)
      File.write!(Path.join(dir, "data.lj"), lammps_data(atoms, box))
      File.write!(Path.join(dir, "in.lj"), lammps_input(steps))

      {out, status} =
        System.cmd(
          mpirun,
          ["--allow-run-as-root", "-np", "2", lmp, "-in", "in.lj", "-log", "log.lammps"],
          cd: dir,
          stderr_to_stdout: true,
          env: [{"OMP_NUM_THREADS", "1"}, {"OMPI_MCA_btl_vader_single_copy_mechanism", "none"}]
        )

      row =
        with 0 <- status,
             [_, loop] <- Regex.run(~r/Loop time of ([0-9.eE+-]+) on/, out),
             {:ok, e_first, e_last} <- thermo_energies(out) do
          loop = String.to_float(loop)

          %{
            scenario: "LJ",
            n: length(atoms),
            variant: "LAMMPS mpirun -np 2",
            steps: steps,
            seconds_per_step: loop / steps,
            seconds_total: loop,
            throughput: length(atoms) * steps / loop,
            unit: "atom-steps/s",
            energy_initial: e_first,
            energy_final: e_last,
            ratio: dsl.seconds_total / loop,
            ratio_label: "x LAMMPS time (DSL)",
            energy_rel_diff: abs(dsl.energy_final - e_last) / abs(e_last),
            energy_rel_diff_initial: abs(dsl.energy_initial - e_first) / abs(e_first)
          }
        else
          _ ->
            %{
              scenario: "LJ",
              n: length(atoms),
              variant: "LAMMPS mpirun -np 2",
              skipped: "LAMMPS failed (exit #{status}): " <> String.slice(out, -300, 300),
              seconds_per_step: nil,
              throughput: nil,
              unit: "atom-steps/s"
            }
        end

      File.rm_rf(dir)
      [row]
    end
  end

  # "Step Temp PotEng KinEng TotEng" lines of the thermo output: the first and last TotEng.
  defp thermo_energies(out) do
    rows =
      out
      |> String.split("\n")
      |> Enum.drop_while(&(not String.starts_with?(String.trim(&1), "Step")))
      |> Enum.drop(1)
      |> Enum.take_while(&(not String.starts_with?(&1, "Loop time")))
      |> Enum.map(&String.split/1)
      |> Enum.filter(&(length(&1) == 5))

    case rows do
      [] ->
        :error

      rows ->
        total = fn row -> row |> List.last() |> Float.parse() |> elem(0) end
        {:ok, total.(List.first(rows)), total.(List.last(rows))}
    end
  end

  defp lammps_input(steps) do
    """
    # BrokenRecord Zero bench: the DSL's LJ system (bench/bench.exs), same data file
    units           lj
    atom_style      atomic
    boundary        s s s
    read_data       data.lj
    mass            1 1.0
    pair_style      lj/cut 2.5
    pair_coeff      1 1 1.0 1.0 2.5
    pair_modify     shift no tail no
    neighbor        0.3 bin
    neigh_modify    every 1 delay 0 check yes
    fix             1 all nve
    thermo_style    custom step temp pe ke etotal
    thermo_modify   norm no format float %.15g
    thermo          #{steps}
    timestep        0.005
    run             #{steps}
    """
  end

  defp lammps_data(atoms, box) do
    f = &:erlang.float_to_binary(&1, [:short])
    lo = -1.0
    hi = box + 1.0

    atoms_text =
      atoms
      |> Enum.with_index(1)
      |> Enum.map(fn {%{position: {x, y, z}}, i} -> "#{i} 1 #{f.(x)} #{f.(y)} #{f.(z)}\n" end)

    velocities =
      atoms
      |> Enum.with_index(1)
      |> Enum.map(fn {%{velocity: {x, y, z}}, i} -> "#{i} #{f.(x)} #{f.(y)} #{f.(z)}\n" end)

    IO.iodata_to_binary([
      "LAMMPS data file: BrokenRecord Zero bench LJ (fcc 0.8442, T 1.44)\n\n",
      "#{length(atoms)} atoms\n1 atom types\n\n",
      "#{f.(lo)} #{f.(hi)} xlo xhi\n#{f.(lo)} #{f.(hi)} ylo yhi\n#{f.(lo)} #{f.(hi)} zlo zhi\n\n",
      "Masses\n\n1 1.0\n\nAtoms # atomic\n\n",
      atoms_text,
      "\nVelocities\n\n",
      velocities
    ])
  end

  # cells^3 fcc unit cells at reduced density rho; velocities Maxwell-Boltzmann at temp with
  # zero total momentum, scaled to exactly temp with 3N - 3 degrees of freedom.
  defp fcc_lattice(cells, rho, temp) do
    a = :math.pow(4 / rho, 1 / 3)
    basis = [{0.0, 0.0, 0.0}, {0.5, 0.5, 0.0}, {0.5, 0.0, 0.5}, {0.0, 0.5, 0.5}]

    positions =
      for i <- 0..(cells - 1),
          j <- 0..(cells - 1),
          k <- 0..(cells - 1),
          {bx, by, bz} <- basis,
          do: {(i + bx) * a, (j + by) * a, (k + bz) * a}

    n = length(positions)
    :rand.seed(:exsss, {87_287, 1, 2})
    raw = for _ <- 1..n, do: {:rand.normal(), :rand.normal(), :rand.normal()}

    {sx, sy, sz} =
      Enum.reduce(raw, {0.0, 0.0, 0.0}, fn {x, y, z}, {a1, a2, a3} -> {a1 + x, a2 + y, a3 + z} end)

    {mx, my, mz} = {sx / n, sy / n, sz / n}
    centred = Enum.map(raw, fn {x, y, z} -> {x - mx, y - my, z - mz} end)
    sum_v2 = Enum.reduce(centred, 0.0, fn {x, y, z}, s -> s + x * x + y * y + z * z end)
    scale = :math.sqrt(temp * (3 * n - 3) / sum_v2)

    atoms =
      Enum.zip_with(positions, centred, fn p, {x, y, z} ->
        %{
          position: p,
          velocity: {x * scale, y * scale, z * scale},
          force: {0.0, 0.0, 0.0},
          pe: 0.0
        }
      end)

    {atoms, cells * a}
  end

  ## Speed targets

  defp targets(rows) do
    find = fn scenario, n, variant ->
      Enum.find(rows, &(&1.scenario == scenario and &1.n == n and &1.variant == variant))
    end

    speed = fn dsl, reference ->
      if dsl && reference && dsl.seconds_per_step && reference.seconds_per_step,
        do: reference.seconds_per_step / dsl.seconds_per_step
    end

    ref_missing = if ref?(), do: "no measurement", else: "C++ reference not built"

    g =
      for p <- ["f64", "f32"],
          do:
            {p, find.("gravity", 16_384, "native #{p}"),
             find.("gravity", 16_384, "C++ all-j #{p}"), find.("gravity", 16_384, "C++ i<j #{p}")}

    s =
      for p <- ["f64", "f32"],
          do:
            {p, find.("softened", 16_384, "native #{p}"),
             find.("softened", 16_384, "C++ canonical all-j #{p}")}

    i =
      for p <- ["f64", "f32"],
          do:
            {p, find.("integrate", 1_000_000, "native #{p}"),
             find.("integrate", 1_000_000, "C++ reference #{p}")}

    peak = find.("peak FMA", 0, "C++ micro-kernel f64")
    peak32 = find.("peak FMA", 0, "C++ micro-kernel f32")

    gravity_targets =
      for {p, dsl, reference, newton} <- g do
        newton_note =
          case speed.(dsl, newton) do
            nil -> nil
            x -> "against C++ i<j (Newton's third law too): #{fmt2(x)}x"
          end

        target(
          "1",
          "gravity #{p} N=16384: C++ all-pairs time / DSL time",
          :ge,
          1.0,
          speed.(dsl, reference),
          note:
            case Enum.reject([gflops_note(dsl, nil), newton_note], &is_nil/1) do
              [] -> nil
              notes -> Enum.join(notes, "; ")
            end,
          skip: ref_missing
        )
      end

    softened_targets =
      for {p, dsl, reference} <- s do
        target(
          "2",
          "softened gravity #{p} N=16384: C++ canonical time / DSL time",
          :ge,
          1.0,
          speed.(dsl, reference),
          note: gflops_note(dsl, if(p == "f64", do: peak, else: peak32)),
          skip: ref_missing
        )
      end

    integrate_targets =
      for {p, dsl, reference} <- i do
        target(
          "3",
          "integrate #{p} N=1,000,000: C++ loop time / DSL time",
          :ge,
          0.8,
          speed.(dsl, reference),
          skip: ref_missing
        )
      end

    lj = find.("LJ", 32_000, "native f64 (DSL)")
    lmp = find.("LJ", 32_000, "LAMMPS mpirun -np 2")

    lj_note =
      if lj && lj.steps != lj.steps_wanted,
        do: "#{lj.steps} steps, not #{lj.steps_wanted}: over the time budget",
        else: nil

    lj_skip =
      cond do
        lj == nil -> "native engine not loaded"
        lmp && lmp[:skipped] -> lmp.skipped
        true -> "no measurement"
      end

    lj_targets = [
      target("4", "LJ 32k atoms: DSL time / LAMMPS (np 2) time", :le, 1.5, lmp && lmp[:ratio],
        skip: lj_skip,
        note: lj_note
      ),
      target(
        "4",
        "LJ total energy after the run: |E_DSL - E_LAMMPS| / |E_LAMMPS|",
        :le,
        1.0e-4,
        lmp && lmp[:energy_rel_diff],
        skip: lj_skip,
        format: :sci,
        note:
          if(lmp && lmp[:energy_rel_diff_initial],
            do: "initial energies differ by #{sci(lmp.energy_rel_diff_initial)}"
          )
      )
    ]

    {collisions, collision_refs} =
      rows
      |> Enum.filter(&(&1.scenario == "collisions"))
      |> Enum.split_with(&(&1.variant == "native f64"))

    measured = Enum.filter(collisions, & &1.seconds_per_step)
    skipped = Enum.filter(collisions, & &1[:skipped])
    spread_of = fn rows -> rows |> Enum.map(& &1.ns_per_agent_step) |> Enum.min_max() end

    spread =
      if length(measured) >= 2 and skipped == [] do
        {lo, hi} = spread_of.(measured)
        hi / lo
      end

    # The hand-written C++ version's spread over the same sizes, in this run: how much of the
    # spread the machine's memory hierarchy imposes on any implementation.
    collision_context =
      if length(collision_refs) >= 2 and length(collision_refs) == length(measured) do
        {lo, hi} = spread_of.(collision_refs)

        "hand-written C++ in this run: #{fmt2(hi / lo)}x; DSL speed / C++ speed per size: " <>
          Enum.map_join(measured, " / ", &"#{fmt2(&1.ratio)}x")
      end

    # A size that could not run within the budget misses the target (it does not scale).
    collision_miss =
      case skipped do
        [] -> nil
        [row | _] -> "N=#{row.n} not run: #{row.skipped}"
      end

    all_pairs = Enum.filter(rows, &(&1.scenario == "all-pairs"))

    collision_targets = [
      target("5", "collisions: max/min time per particle-step, N=10k..1M", :le, 1.5, spread,
        skip: "native engine not loaded",
        miss: collision_miss,
        note: collision_context
      ),
      %{
        id: "5",
        what: "all-pairs rule (gravity) at N=50,000 runs (time per step)",
        target: "runs",
        measured:
          case all_pairs do
            [] -> nil
            rows -> Enum.map_join(rows, ", ", &format_time(&1.seconds_per_step))
          end,
        verdict:
          cond do
            all_pairs == [] -> "SKIP (native engine not loaded)"
            Enum.all?(all_pairs, & &1.finite) -> "PASS"
            true -> "MISS (non-finite result)"
          end
      }
    ]

    marshalling = find.("marshalling", 100_000, "native simulate(steps: 1)")

    elixir_speed =
      case {find.("gravity", 1_000, "native f64"), find.("gravity", 1_000, "elixir f64")} do
        {%{} = native, %{} = elixir} -> elixir.seconds_per_step / native.seconds_per_step
        _ -> nil
      end

    gravity_targets ++
      softened_targets ++
      integrate_targets ++
      lj_targets ++
      collision_targets ++
      [
        target(
          "6",
          "marshalling N=100,000: simulate(steps: 1) time / Enum.map rebuild time",
          :le,
          2.0,
          marshalling && marshalling.ratio,
          skip: "native engine not loaded"
        ),
        target(
          "7",
          "gravity N=1,000: native f64 speed / pure-Elixir speed",
          :ge,
          500.0,
          elixir_speed,
          skip: "native engine not loaded"
        )
      ]
  end

  defp target(id, what, cmp, goal, measured, opts) do
    format = Keyword.get(opts, :format, :ratio)

    # three decimals where two would round onto the goal and hide the verdict
    show = fn x ->
      decimals = if abs(x - goal) < 0.01 and x != goal, do: 3, else: 2

      if format == :sci,
        do: sci(x),
        else: "#{:erlang.float_to_binary(x * 1.0, decimals: decimals)}x"
    end

    verdict =
      cond do
        measured == nil and opts[:miss] -> "MISS (#{opts[:miss]})"
        measured == nil -> "SKIP (#{opts[:skip]})"
        cmp == :ge and measured >= goal -> "PASS"
        cmp == :le and measured <= goal -> "PASS"
        true -> "MISS"
      end

    %{
      id: id,
      what: what,
      target: "#{if cmp == :ge, do: ">=", else: "<="} #{show.(goal)}",
      goal: goal,
      measured: measured && show.(measured),
      value: measured,
      verdict: verdict,
      note: opts[:note]
    }
  end

  defp gflops_note(nil, _), do: nil
  defp gflops_note(dsl, nil), do: "DSL #{fmt2(dsl.gflops)} GFLOPS"

  defp gflops_note(dsl, peak),
    do:
      "DSL #{fmt2(dsl.gflops)} GFLOPS, peak FMA #{fmt2(peak.gflops)} GFLOPS (#{fmt2(100 * dsl.gflops / peak.gflops)}%)"

  defp fmt2(x), do: :erlang.float_to_binary(x * 1.0, decimals: 2)
  defp sci(x), do: :io_lib.format("~.2e", [x * 1.0]) |> IO.iodata_to_binary()

  # 1, 5 and 15 minute load averages (Linux), to judge how quiet the machine was.
  defp loadavg do
    case File.read("/proc/loadavg") do
      {:ok, text} -> text |> String.split() |> Enum.take(3) |> Enum.join(" ")
      _ -> "unknown"
    end
  end

  ## The C++ reference

  defp ref?, do: File.exists?(@ref_path)

  defp ref_isa do
    ref("peak", 1000, "f64", 1, 1)["isa"]
  end

  defp ref(scenario, n, precision, steps, reps) do
    {out, 0} =
      System.cmd(Path.expand(@ref_path), [
        scenario,
        Integer.to_string(n),
        "--precision",
        precision,
        "--steps",
        Integer.to_string(steps),
        "--reps",
        Integer.to_string(reps)
      ])

    Regex.scan(~r/"(\w+)":("[^"]*"|[-+0-9.eE]+|nan|inf)/, out)
    |> Map.new(fn [_, k, v] ->
      value =
        cond do
          String.starts_with?(v, "\"") -> String.trim(v, "\"")
          String.contains?(v, [".", "e", "E"]) -> v |> Float.parse() |> elem(0)
          true -> String.to_integer(v)
        end

      {k, value}
    end)
  end

  # One row per precision; GFLOPS from `flops_of` (work -> flops; nil: the reference's own count).
  defp ref_rows(
         scenario,
         n,
         steps,
         work,
         unit,
         flops_of,
         label \\ "C++ reference",
         precisions \\ ["f64", "f32"]
       ) do
    if ref?() do
      for precision <- precisions do
        reps = if @quick, do: 2, else: 3
        r = ref(scenario, n, precision, steps, reps)
        t = r["seconds_per_step"]

        %{
          scenario: scenario,
          n: n,
          variant: "#{label} #{precision}",
          steps: steps,
          seconds_per_step: t,
          throughput: work / t,
          unit: unit,
          gflops: if(flops_of, do: flops_of.(work), else: r["flops_per_step"]) / t / 1.0e9,
          isa: r["isa"],
          checksum: r["checksum"],
          # one warm-up step, then reps x steps (see bench/reference.cpp)
          checksum_per_step: r["checksum"] / (1 + reps * steps)
        }
      end
    else
      []
    end
  end

  ## Measurement

  defp measure(
         scenario,
         n,
         variant,
         system,
         state,
         {backend, precision},
         steps,
         work,
         flops,
         opts \\ []
       ) do
    world = World.new(system, state, backend: backend, precision: precision)
    world = World.step(world, steps: 1, dt: 1.0e-4)
    reps = Keyword.get(opts, :reps, 3)
    {t, _} = best_of(reps, fn -> World.step(world, steps: steps, dt: 1.0e-4) end)
    per_step = t / steps

    # positions do not move in the gravity systems, so the accumulated velocity (acceleration)
    # is linear in the number of steps: sum |x| per step compares with the C++ reference
    checksum =
      case opts[:checksum] do
        {collection, field} ->
          size = if backend == :native and precision == :f32, do: 32, else: 64
          bin = World.column(world, collection, field)
          sum = for <<x::float-native-size(size) <- bin>>, reduce: 0.0, do: (acc -> acc + abs(x))
          sum / (1 + reps * steps)

        nil ->
          nil
      end

    %{
      scenario: scenario,
      n: n,
      variant: variant,
      steps: steps,
      seconds_per_step: per_step,
      throughput: work / per_step,
      unit: if(scenario in ["gravity", "softened"], do: "pairs/s", else: "agents/s"),
      gflops: work * flops / per_step / 1.0e9,
      checksum_per_step: checksum
    }
  end

  # Runs a scenario's measurements (DSL and reference rows) in several interleaved rounds and
  # keeps each variant's fastest round, so that a burst of load on the machine does not land on
  # one side of a ratio only; then adds the ratios.
  defp in_rounds(fun) do
    rounds = for _ <- 1..if(@quick, do: 2, else: 3), do: fun.()

    rounds
    |> hd()
    |> Enum.map(fn row ->
      rounds
      |> Enum.map(fn rows -> Enum.find(rows, &(&1.variant == row.variant)) end)
      |> Enum.min_by(& &1.seconds_per_step)
    end)
    |> ratio_rows()
  end

  defp best_of(k, fun) do
    Enum.map(1..k, fn _ ->
      # start every timed run with a collected heap, so a GC of earlier garbage is not timed
      :erlang.garbage_collect()
      t0 = System.monotonic_time(:nanosecond)
      result = fun.()
      {(System.monotonic_time(:nanosecond) - t0) / 1.0e9, result}
    end)
    |> Enum.min_by(&elem(&1, 0))
  end

  # best_of/2 with every run in a new process that holds only `arg` (copied in before the
  # clock starts), with a heap of at least `heap_words` words (nil: the default), so that every
  # contender starts from the same heap.
  defp best_in_fresh_process(k, arg, heap_words, fun) do
    parent = self()
    opts = if heap_words, do: [:monitor, {:min_heap_size, heap_words}], else: [:monitor]

    Enum.map(1..k, fn _ ->
      {pid, ref} =
        :erlang.spawn_opt(
          fn ->
            arg = receive(do: ({:arg, a} -> a))
            :erlang.garbage_collect()
            t0 = System.monotonic_time(:nanosecond)
            result = fun.(arg)
            t = (System.monotonic_time(:nanosecond) - t0) / 1.0e9
            send(parent, {:timed, self(), t, result})
          end,
          opts
        )

      send(pid, {:arg, arg})

      receive do
        {:timed, ^pid, t, result} ->
          receive(do: ({:DOWN, ^ref, _, _, _} -> :ok))
          {t, result}

        {:DOWN, ^ref, _, _, reason} ->
          raise "benchmark process failed: #{inspect(reason)}"
      end
    end)
    |> Enum.min_by(&elem(&1, 0))
  end

  # Adds each row's speed relative to the C++ reference (same precision) when there is one,
  # else relative to the Elixir backend of the same scenario and size.
  defp ratio_rows(rows) do
    elixir = Enum.find(rows, &String.starts_with?(&1.variant, "elixir"))

    Enum.map(rows, fn row ->
      precision = row.variant |> String.split() |> List.last()

      reference =
        Enum.find(
          rows,
          &(String.starts_with?(&1.variant, "C++") and String.ends_with?(&1.variant, precision))
        )

      cond do
        reference && not String.starts_with?(row.variant, "elixir") ->
          row
          |> result_check(reference)
          |> Map.merge(%{
            ratio: reference.seconds_per_step / row.seconds_per_step,
            ratio_label:
              "x #{reference.variant |> String.split() |> Enum.drop(-1) |> Enum.join(" ")} speed"
          })

        elixir ->
          Map.merge(row, %{
            ratio: elixir.seconds_per_step / row.seconds_per_step,
            ratio_label: "x elixir"
          })

        true ->
          row
      end
    end)
  end

  # Relative difference of the per-step checksums of a row and its reference (same inputs).
  defp result_check(%{checksum_per_step: a} = row, %{checksum_per_step: b} = reference)
       when is_float(a) and is_float(b) and b != 0.0 and row.variant != reference.variant,
       do: Map.put(row, :rel_diff_vs_reference, abs(a - b) / abs(b))

  defp result_check(row, _reference), do: row

  defp steps_for(work) do
    target = if @quick, do: 2.0e8, else: 2.0e9
    max(1, min(1000, round(target / work)))
  end

  defp flops(system, rule), do: system.__system__().analysis[rule].flops

  defp cutoff_of(system, rule) do
    case BrokenRecord.Zero.System.rule(system.__system__(), rule) do
      %{cutoff: nil} -> "none detected"
      %{cutoff: _} -> "detected"
      _ -> "?"
    end
  end

  ## Inputs

  defp particles(n) do
    :rand.seed(:exsss, {1, 2, 3})

    for i <- 1..n do
      %{
        id: i,
        position: {:rand.uniform(), :rand.uniform(), :rand.uniform()},
        velocity: {:rand.uniform() - 0.5, :rand.uniform() - 0.5, :rand.uniform() - 0.5}
      }
    end
  end

  # Bodies from the same generator as the C++ reference (bench/reference.cpp, Lcg): positions
  # uniform in [0, 10)^3, mass 1/n, at rest, so that DSL and reference results can be compared.
  defp bodies(n) do
    {list, _} =
      Enum.map_reduce(1..n, 0x9E3779B97F4A7C15, fn _, s0 ->
        s1 = lcg(s0)
        s2 = lcg(s1)
        s3 = lcg(s2)

        body = %{
          position: {lcg_value(s1) * 10, lcg_value(s2) * 10, lcg_value(s3) * 10},
          velocity: {0.0, 0.0, 0.0},
          acceleration: {0.0, 0.0, 0.0},
          mass: 1.0 / n
        }

        {body, s3}
      end)

    list
  end

  defp lcg(s),
    do:
      Bitwise.band(s * 6_364_136_223_846_793_005 + 1_442_695_040_888_963_407, 0xFFFFFFFFFFFFFFFF)

  defp lcg_value(s), do: Bitwise.bsr(s, 11) * (1.0 / 9_007_199_254_740_992.0)

  # Spheres of radius 0.5 at 0.2 per unit volume (volume fraction 10.5%), velocities in
  # [-0.5, 0.5)^3: the box side grows as N^(1/3), so the density is the same at every size.
  defp spheres(n) do
    :rand.seed(:exsss, {7, 8, 9})
    side = :math.pow(n / 0.2, 1 / 3)

    for _ <- 1..n do
      %{
        position: {:rand.uniform() * side, :rand.uniform() * side, :rand.uniform() * side},
        velocity: {:rand.uniform() - 0.5, :rand.uniform() - 0.5, :rand.uniform() - 0.5},
        mass: 1.0,
        radius: 0.5
      }
    end
  end

  ## Output

  defp print_table(rows) do
    IO.puts(
      String.pad_trailing("scenario", 12) <>
        String.pad_leading("N", 10) <>
        "  " <>
        String.pad_trailing("variant", 30) <>
        String.pad_leading("time/step", 12) <>
        String.pad_leading("throughput", 22) <>
        String.pad_leading("GFLOPS", 9) <> "  ratio"
    )

    Enum.each(rows, fn row ->
      IO.puts(
        String.pad_trailing(row.scenario, 12) <>
          String.pad_leading(Integer.to_string(row.n), 10) <>
          "  " <>
          String.pad_trailing(row.variant, 30) <>
          if row[:skipped] do
            "  skipped: #{row.skipped}"
          else
            String.pad_leading(format_time(row.seconds_per_step), 12) <>
              String.pad_leading("#{format_si(row.throughput)} #{row.unit}", 22) <>
              String.pad_leading(
                if(row[:gflops],
                  do: :erlang.float_to_binary(row.gflops * 1.0, decimals: 2),
                  else: ""
                ),
                9
              ) <>
              "  " <>
              if(row[:ratio],
                do: "#{:erlang.float_to_binary(row.ratio * 1.0, decimals: 2)} #{row.ratio_label}",
                else: ""
              ) <> extra(row)
          end
      )
    end)
  end

  defp extra(%{scenario: "LJ"} = row),
    do:
      "  [#{row.steps} steps, E0 #{fmt_e(row.energy_initial)}, E #{fmt_e(row.energy_final)}#{if row[:cutoff], do: ", cutoff #{row.cutoff}", else: ""}]"

  defp extra(%{scenario: "collisions", builds: builds} = row),
    do:
      "  [#{:erlang.float_to_binary(row.ns_per_agent_step, decimals: 1)} ns/agent-step, #{round(builds)} lists built, momentum drift #{sci(row.momentum_drift)}, ISA #{row.isa}]"

  defp extra(%{scenario: "collisions"} = row),
    do:
      "  [#{:erlang.float_to_binary(row.ns_per_agent_step, decimals: 1)} ns/agent-step, cutoff #{row.cutoff}]"

  defp extra(%{isa: isa} = row) when is_binary(isa), do: "  [ISA #{isa}]" <> check_note(row)
  defp extra(%{rel_diff_vs_reference: _} = row), do: " " <> check_note(row)
  defp extra(_), do: ""

  defp check_note(%{rel_diff_vs_reference: d}) when d > 0,
    do: " [result vs C++: rel diff #{sci(d)}]"

  defp check_note(%{rel_diff_vs_reference: _}), do: " [result vs C++: identical]"
  defp check_note(_), do: ""

  defp fmt_e(x), do: :erlang.float_to_binary(x * 1.0, decimals: 6)

  defp print_targets(targets) do
    IO.puts("\nTargets, every ratio from this run:")

    IO.puts(
      String.pad_trailing("#", 3) <>
        String.pad_trailing("what", 70) <>
        String.pad_leading("target", 11) <>
        String.pad_leading("measured", 12) <> "  verdict"
    )

    Enum.each(targets, fn t ->
      IO.puts(
        String.pad_trailing(t.id, 3) <>
          String.pad_trailing(t.what, 70) <>
          String.pad_leading(t.target, 11) <>
          " " <>
          String.pad_leading(t.measured || "-", 11) <>
          "  " <> t.verdict <> if(t[:note], do: "  (#{t.note})", else: "")
      )
    end)
  end

  defp format_time(nil), do: "-"
  defp format_time(s) when s >= 1.0, do: "#{:erlang.float_to_binary(s, decimals: 2)} s"

  defp format_time(s) when s >= 1.0e-3,
    do: "#{:erlang.float_to_binary(s * 1.0e3, decimals: 2)} ms"

  defp format_time(s), do: "#{:erlang.float_to_binary(s * 1.0e6, decimals: 1)} us"

  defp format_si(x) when x >= 1.0e9, do: "#{:erlang.float_to_binary(x / 1.0e9, decimals: 2)}G"
  defp format_si(x) when x >= 1.0e6, do: "#{:erlang.float_to_binary(x / 1.0e6, decimals: 2)}M"
  defp format_si(x) when x >= 1.0e3, do: "#{:erlang.float_to_binary(x / 1.0e3, decimals: 2)}k"
  defp format_si(x), do: :erlang.float_to_binary(x * 1.0, decimals: 1)

  defp write_json(rows, targets, seconds) do
    File.mkdir_p!("bench/results")
    stamp = DateTime.utc_now() |> DateTime.to_iso8601(:basic) |> String.replace(~r/[^0-9TZ]/, "")
    path = "bench/results/bench-#{stamp}.json"

    doc = %{
      date: DateTime.to_iso8601(DateTime.utc_now()),
      isa: if(NIF.loaded?(), do: NIF.isa(), else: nil),
      reference_isa: if(ref?(), do: ref_isa(), else: nil),
      schedulers: System.schedulers_online(),
      quick: @quick,
      seconds: seconds,
      loadavg_end: loadavg(),
      results: rows,
      targets: targets
    }

    File.write!(path, json(doc) <> "\n")
    IO.puts("wrote #{path}")
  end

  defp json(nil), do: "null"
  defp json(true), do: "true"
  defp json(false), do: "false"
  defp json(x) when is_integer(x), do: Integer.to_string(x)
  defp json(x) when is_float(x), do: :erlang.float_to_binary(x, [:short])
  defp json(x) when is_atom(x), do: json(Atom.to_string(x))
  defp json(x) when is_binary(x), do: inspect(x, printable_limit: :infinity)
  defp json(list) when is_list(list), do: "[" <> Enum.map_join(list, ",", &json/1) <> "]"

  defp json(map) when is_map(map),
    do: "{" <> Enum.map_join(map, ",", fn {k, v} -> json(k) <> ":" <> json(v) end) <> "}"
end

Bench.run()
