defmodule Mix.Tasks.Bench do
  @shortdoc "Runs the BrokenRecord Zero benchmarks"
  @moduledoc """
  Runs `bench/bench.exs`: every scenario on the native engine (f64 and f32), the pure-Elixir
  backend (at sizes where it finishes) and the hand-written C++ reference kernels, in one run,
  and prints a table plus `bench/results/bench-<timestamp>.json`; then `bench/reliability.exs`:
  how native runs share the machine with the BEAM (ticker lateness, busy and cancelled worlds,
  world churn).

      mix bench                 # all scenarios
      mix bench --quick         # the same sizes, shorter timed runs
      mix bench --smoke         # every scenario once at a small size: checks that it runs
  """
  use Mix.Task

  @impl true
  def run(args) do
    Mix.Task.run("compile")
    Mix.Task.run("app.start")
    System.argv(args)
    Code.eval_file("bench/bench.exs")
    Code.eval_file("bench/reliability.exs")
  end
end
