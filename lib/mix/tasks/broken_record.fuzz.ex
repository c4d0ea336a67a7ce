defmodule Mix.Tasks.BrokenRecord.Fuzz do
  @shortdoc "Fuzzes the NIF (random terms, programs and API calls), one OS process per batch"
  @moduledoc """
  Runs the NIF fuzz harness of `test/fuzz/` (see `docs/fuzzing.md`) and fails on the first
  crash of a batch process, printing the sanitizer report and the command that reruns that
  batch.

      MIX_ENV=test mix broken_record.fuzz --sanitized --calls 50000

  The harness and the systems it draws programs from are compiled in the test environment
  only, so the task runs in `MIX_ENV=test` (its preferred environment).

  ## Options

    * `--calls N` - calls in all (default 20000), split into batches
    * `--batch-size M` - calls per batch, i.e. per OS process (default 2000)
    * `--seed S` - the run's seed (default: random, printed); batch `b` of seed `S` always
      draws the same inputs
    * `--batch B` - run only batch `B` of the seed (to reproduce a failure)
    * `--sanitized` - fuzz the NIF built with ASan+UBSan (`_build/asan`, built if needed)
      instead of the project's `priv/` one
    * `--jobs J` - batch processes at a time (default 1)
    * `--max-time T` - start no batch after `T` seconds (a time budget; running batches finish)
    * `--parts LIST` - which parts to run, of `a` (random arguments to every NIF function),
      `b` (random programs and their worlds), `c` (public API); default `a,b,c`
    * `--call-timeout MS` - a call still running after `MS` ms is killed (default 2000)
    * `--batch-timeout SEC` - a batch still running after `SEC` s is a failure (default 600)
    * `--out DIR` - working directory, crash reports under `DIR/crashes` (default `_build/fuzz`)
    * `--keep-going` - run every batch even after a failure
  """
  use Mix.Task

  @switches [
    calls: :integer,
    batch_size: :integer,
    seed: :integer,
    batch: :integer,
    sanitized: :boolean,
    jobs: :integer,
    max_time: :integer,
    parts: :string,
    call_timeout: :integer,
    batch_timeout: :integer,
    out: :string,
    keep_going: :boolean
  ]

  @runner BrokenRecord.Zero.Fuzz.Runner

  @impl true
  def run(args) do
    {o, rest, invalid} = OptionParser.parse(args, strict: @switches)

    if rest != [] or invalid != [] do
      Mix.raise("unexpected arguments: #{inspect(rest ++ Enum.map(invalid, &elem(&1, 0)))}")
    end

    Mix.Task.run("compile")

    unless Code.ensure_loaded?(@runner) do
      Mix.raise("the fuzz harness (test/fuzz/) is compiled in MIX_ENV=test only")
    end

    root = File.cwd!()

    overrides =
      %{
        ebin: Path.join(Mix.Project.app_path(), "ebin"),
        calls: positive!(o, :calls),
        batch_size: positive!(o, :batch_size),
        seed: o[:seed],
        batch: o[:batch],
        sanitized: o[:sanitized],
        jobs: positive!(o, :jobs),
        max_time: positive!(o, :max_time),
        parts: o[:parts],
        call_timeout: positive!(o, :call_timeout),
        batch_timeout: positive!(o, :batch_timeout),
        out: o[:out] && Path.expand(o[:out], root),
        keep_going: o[:keep_going]
      }
      |> Enum.reject(fn {_, v} -> is_nil(v) end)
      |> Map.new()

    opts = apply(@runner, :options, [overrides])

    case apply(@runner, :run, [opts]) do
      :ok ->
        :ok

      {:error, failures} ->
        Mix.raise(
          "fuzzing found #{length(failures)} crashing batch(es): " <>
            Enum.map_join(failures, ", ", &"batch #{&1.batch} (#{&1.reason})") <>
            "; reports in #{Path.join(opts.out, "crashes")}"
        )
    end
  end

  defp positive!(o, key) do
    case o[key] do
      n when is_nil(n) or n > 0 -> n
      n -> Mix.raise("--#{String.replace(to_string(key), "_", "-")} must be positive, got #{n}")
    end
  end
end
