# The BrokenRecord Zero benchmarks: `mix bench` (see Mix.Tasks.Bench).
#
# Every scenario is measured in this one run on: the native engine in f64 and f32, the
# pure-Elixir backend (where it finishes in reasonable time) and, where built, a hand-written
# C++ reference kernel of the same formula (`_build/cmake/bench/brz_bench_ref`), so ratios are
# comparable on a noisy machine. Native and Elixir timings exclude marshalling (the world is
# created first, then `World.step/2` is timed); marshalling has its own scenario.

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
end

defmodule Bench do
  alias BrokenRecord.Zero.{NIF, World}

  @quick "--quick" in System.argv()

  def run do
    native? = NIF.loaded?()
    IO.puts("BrokenRecord Zero benchmarks (#{if @quick, do: "quick", else: "full"} run)")
    IO.puts("native engine: #{if native?, do: "loaded, ISA #{NIF.isa()}", else: "NOT loaded"}")

    IO.puts(
      "schedulers: #{System.schedulers_online()}, OMP_NUM_THREADS=#{System.get_env("OMP_NUM_THREADS") || "(default)"}\n"
    )

    results =
      integrate_scenarios(native?) ++ gravity_scenarios(native?) ++ marshalling_scenarios(native?)

    print_table(results)
    write_json(results)
  end

  ## Scenarios

  defp integrate_scenarios(native?) do
    sizes = if @quick, do: [1_000, 100_000], else: [1_000, 100_000, 1_000_000]

    for n <- sizes, result <- integrate(n, native?), do: result
  end

  defp integrate(n, native?) do
    state = %{particles: particles(n)}
    steps = steps_for(n * 200)
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
        do: [
          measure(
            "integrate",
            n,
            "native f64",
            Bench.Systems.Integrate,
            state,
            {:native, :f64},
            steps,
            n,
            flops
          ),
          measure(
            "integrate",
            n,
            "native f32",
            Bench.Systems.Integrate,
            state,
            {:native, :f32},
            steps,
            n,
            flops
          )
        ],
        else: []

    ratio_rows(native ++ elixir)
  end

  defp gravity_scenarios(native?) do
    sizes = if @quick, do: [256, 1_024], else: [256, 1_000, 4_096]
    for n <- sizes, result <- gravity(n, native?), do: result
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
            flops
          )
        ],
        else: []

    native =
      if native?,
        do: [
          measure(
            "gravity",
            n,
            "native f64",
            Bench.Systems.Gravity,
            state,
            {:native, :f64},
            steps,
            pairs,
            flops
          ),
          measure(
            "gravity",
            n,
            "native f32",
            Bench.Systems.Gravity,
            state,
            {:native, :f32},
            steps,
            pairs,
            flops
          )
        ],
        else: []

    ratio_rows(native ++ elixir)
  end

  # simulate/2 with steps: 0 (list-of-maps -> world -> list-of-maps) against Enum.map/2
  # rebuilding the same list of maps in Elixir.
  defp marshalling_scenarios(native?) do
    n = if @quick, do: 10_000, else: 100_000
    state = %{particles: particles(n)}

    {t_map, _} = best_of(3, fn -> Enum.map(state.particles, &%{&1 | position: &1.velocity}) end)

    rows =
      for {backend, on?} <- [native: native?, interpreted: true], on? do
        {t, _} =
          best_of(3, fn ->
            Bench.Systems.Integrate.simulate(state, steps: 0, backend: backend)
          end)

        %{
          scenario: "marshalling",
          n: n,
          variant: "#{backend} simulate(steps: 0)",
          seconds_per_step: t,
          throughput: n / t,
          unit: "agents/s",
          ratio: t / t_map,
          ratio_label: "x Enum.map time"
        }
      end

    [
      %{
        scenario: "marshalling",
        n: n,
        variant: "Enum.map rebuild",
        seconds_per_step: t_map,
        throughput: n / t_map,
        unit: "agents/s",
        ratio: 1.0,
        ratio_label: "reference"
      }
      | rows
    ]
  end

  ## Measurement

  defp measure(scenario, n, variant, system, state, {backend, precision}, steps, work, flops) do
    world = World.new(system, state, backend: backend, precision: precision)
    world = World.step(world, steps: 1, dt: 1.0e-4)
    {t, _} = best_of(3, fn -> World.step(world, steps: steps, dt: 1.0e-4) end)
    per_step = t / steps

    %{
      scenario: scenario,
      n: n,
      variant: variant,
      steps: steps,
      seconds_per_step: per_step,
      throughput: work / per_step,
      unit: if(scenario == "gravity", do: "pairs/s", else: "agents/s"),
      gflops: work * flops / per_step / 1.0e9
    }
  end

  defp best_of(k, fun) do
    Enum.map(1..k, fn _ ->
      t0 = System.monotonic_time(:nanosecond)
      result = fun.()
      {(System.monotonic_time(:nanosecond) - t0) / 1.0e9, result}
    end)
    |> Enum.min_by(&elem(&1, 0))
  end

  # Adds each row's speed relative to the Elixir backend of the same scenario and size.
  defp ratio_rows(rows) do
    elixir = Enum.find(rows, &String.starts_with?(&1.variant, "elixir"))

    Enum.map(rows, fn row ->
      if elixir,
        do:
          Map.merge(row, %{
            ratio: elixir.seconds_per_step / row.seconds_per_step,
            ratio_label: "x elixir"
          }),
        else: row
    end)
  end

  defp steps_for(work) do
    target = if @quick, do: 2.0e7, else: 2.0e8
    max(1, min(1000, round(target / work)))
  end

  defp flops(system, rule), do: system.__system__().analysis[rule].flops

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

  defp bodies(n) do
    :rand.seed(:exsss, {4, 5, 6})

    for _ <- 1..n do
      %{
        position: {:rand.uniform() * 10, :rand.uniform() * 10, :rand.uniform() * 10},
        velocity: {0.0, 0.0, 0.0},
        mass: 1.0 / n
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
        String.pad_leading("throughput", 18) <>
        String.pad_leading("GFLOPS", 9) <> "  ratio"
    )

    Enum.each(rows, fn row ->
      IO.puts(
        String.pad_trailing(row.scenario, 12) <>
          String.pad_leading(Integer.to_string(row.n), 10) <>
          "  " <>
          String.pad_trailing(row.variant, 30) <>
          String.pad_leading(format_time(row.seconds_per_step), 12) <>
          String.pad_leading("#{format_si(row.throughput)} #{row.unit}", 18) <>
          String.pad_leading(
            if(row[:gflops], do: :erlang.float_to_binary(row.gflops, decimals: 2), else: ""),
            9
          ) <>
          "  " <>
          if(row[:ratio],
            do: "#{:erlang.float_to_binary(row.ratio * 1.0, decimals: 2)} #{row.ratio_label}",
            else: ""
          )
      )
    end)
  end

  defp format_time(s) when s >= 1.0, do: "#{:erlang.float_to_binary(s, decimals: 2)} s"

  defp format_time(s) when s >= 1.0e-3,
    do: "#{:erlang.float_to_binary(s * 1.0e3, decimals: 2)} ms"

  defp format_time(s), do: "#{:erlang.float_to_binary(s * 1.0e6, decimals: 1)} us"

  defp format_si(x) when x >= 1.0e9, do: "#{:erlang.float_to_binary(x / 1.0e9, decimals: 2)}G"
  defp format_si(x) when x >= 1.0e6, do: "#{:erlang.float_to_binary(x / 1.0e6, decimals: 2)}M"
  defp format_si(x) when x >= 1.0e3, do: "#{:erlang.float_to_binary(x / 1.0e3, decimals: 2)}k"
  defp format_si(x), do: :erlang.float_to_binary(x * 1.0, decimals: 1)

  defp write_json(rows) do
    File.mkdir_p!("bench/results")
    stamp = DateTime.utc_now() |> DateTime.to_iso8601(:basic) |> String.replace(~r/[^0-9TZ]/, "")
    path = "bench/results/bench-#{stamp}.json"

    doc = %{
      date: DateTime.to_iso8601(DateTime.utc_now()),
      isa: if(NIF.loaded?(), do: NIF.isa(), else: nil),
      schedulers: System.schedulers_online(),
      quick: @quick,
      results: rows
    }

    File.write!(path, json(doc) <> "\n")
    IO.puts("\nwrote #{path}")
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
