# The cost of a random draw (docs/engine.md, "Random numbers in rules"): a per-agent rule
# `a.x = a.x + uniform()` (or `normal()`) against `a.x = a.x + 0.5` on one type of N agents, on
# the generated kernels and on the interpreter, in both precisions. Prints nanoseconds per agent
# and step, and the difference per draw.
#
#     OMP_NUM_THREADS=1 mix run bench/random_draws.exs [N] [steps]
#
# The programs are built by hand (BrokenRecord.Zero.Program), so that the script needs nothing
# of the DSL; their kernel libraries go to a private temporary directory.
alias BrokenRecord.Zero.{KernelBuilder, NIF, Program}
alias BrokenRecord.Zero.Program.Rule

{n, steps} =
  case System.argv() do
    [n, steps] -> {String.to_integer(n), String.to_integer(steps)}
    [n] -> {String.to_integer(n), 50}
    [] -> {1_000_000, 50}
  end

program = fn value ->
  {consts, draw} =
    case value do
      :half -> {[0.5], [{:const, 1, 0, 0, 0}]}
      op -> {[], [{op, 1, 0, 0, 0}]}
    end

  %Program{
    types: [1],
    rules: [
      %Rule{
        name: :step,
        kind: :per_agent,
        type_a: 0,
        consts: consts,
        instrs: [{:load, 0, 0, 0, 0}] ++ draw ++ [{:add, 2, 0, 1, 0}, {:store, 0, 0, 0, 2}],
        n_regs: 3
      }
    ]
  }
end

dir = Path.join(System.tmp_dir!(), "brz_random_bench_#{System.unique_integer([:positive])}")
File.mkdir_p!(dir)
File.chmod!(dir, 0o700)
layout = [{:as, "A", [{:x, :float, nil}], []}]
state = %{as: List.duplicate(%{x: 0.0}, n)}

time = fn prog, precision ->
  world = NIF.world_new(prog, layout, state, precision, nil, 1, 0)
  :ok = NIF.native_run_steps(world, [0.01], 2, [0])
  t0 = System.monotonic_time(:nanosecond)
  :ok = NIF.native_run_steps(world, [0.01], steps, [0])
  (System.monotonic_time(:nanosecond) - t0) / (n * steps)
end

IO.puts("#{n} agents, #{steps} steps, #{System.get_env("OMP_NUM_THREADS", "all")} thread(s)")
IO.puts("engine       precision  x + 0.5   x + uniform()  x + normal()   (ns per agent-step)")

for engine <- [:kernels, :interpreter], precision <- [:f64, :f32] do
  [half, uniform, normal] =
    for value <- [:half, :uniform, :normal] do
      p = program.(value)
      bin = Program.encode(p)

      prog =
        case engine do
          :kernels ->
            {:ok, k} = KernelBuilder.build(p, bin, dir: dir)
            NIF.program_new(bin, {k.path, k.hash, k.sha256})

          :interpreter ->
            NIF.program_new(bin)
        end

      # the best of three
      Enum.min(for _ <- 1..3, do: time.(prog, precision))
    end

  IO.puts(
    :io_lib.format("~-12s ~-10s ~7.2f   ~7.2f (+~.2f)  ~7.2f (+~.2f)", [
      Atom.to_string(engine),
      Atom.to_string(precision),
      half,
      uniform,
      uniform - half,
      normal,
      normal - half
    ])
  )
end

File.rm_rf(dir)
