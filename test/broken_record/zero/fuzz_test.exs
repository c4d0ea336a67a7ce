defmodule BrokenRecord.Zero.FuzzTest do
  # The fuzz harness itself (test/fuzz/, docs/fuzzing.md): its program codec and generator, and
  # the runner's detection of a crashed batch process. Fuzzing proper is `mix
  # broken_record.fuzz`; nothing here runs a generated program in this VM. Not async: the
  # runner reports on stderr, which these tests capture (a global device).
  use ExUnit.Case, async: false

  alias BrokenRecord.Zero.Fuzz.{Adapter, Batch, Programs, Runner}
  alias BrokenRecord.Zero.NIF

  test "decode/encode round-trips the program binaries of the test systems" do
    systems = Batch.systems()
    assert length(systems) >= 10

    for mod <- systems do
      bin = mod.__system__().program_binary
      assert {:ok, raw} = Programs.decode(bin)
      assert Programs.encode(raw) == bin
      assert Programs.describe(bin) =~ "rule(s)"
    end

    assert Programs.decode("BRZP") == :error
    assert Programs.decode(<<>>) == :error
  end

  test "the generator and the mutator are deterministic for a seed" do
    draw = fn ->
      :rand.seed(:exsss, {1, 2, 3})
      bins = for _ <- 1..20, do: Programs.generate()
      {bins, Enum.map(bins, &Programs.mutate(&1, bins))}
    end

    assert draw.() == draw.()
  end

  @tag :native
  test "most generated programs are valid, and the harness decodes every valid one" do
    :rand.seed(:exsss, {7, 7, 7})

    accepted =
      Enum.count(1..300, fn _ ->
        bin = Programs.generate()

        try do
          NIF.program_new(bin)
          # Whatever the engine accepts, the harness's decoder reads.
          assert {:ok, _raw} = Programs.decode(bin)
          true
        rescue
          ArgumentError -> false
        end
      end)

    assert accepted > 150
  end

  @tag :native
  test "the adapter enumerates every NIF function and matches the loaded params API" do
    functions = Adapter.functions()
    assert {:native_run_steps, 4} in functions
    assert {:program_new, 1} in functions
    refute {:__load__, 0} in functions

    assert Adapter.params_in_run_steps?() == not function_exported?(NIF, :world_set_params, 2)

    [{:native_run_steps, [:w, second, 1, [0]]} | _] =
      Adapter.run_steps(:w, [0.5, 2.0], 1, [0]) |> Enum.reverse()

    assert second == if(Adapter.params_in_run_steps?(), do: [0.5, 2.0], else: 0.5)
  end

  describe "runner" do
    setup do
      out = Path.join(System.tmp_dir!(), "brz_fuzz_test_#{System.unique_integer([:positive])}")
      on_exit(fn -> File.rm_rf!(out) end)
      %{out: out}
    end

    @tag :native
    test "a batch process runs every NIF function and reports its stats", %{out: out} do
      opts = Runner.options(%{out: out, seed: 11, calls: 600, batch_size: 600, parts: "a"})
      result = Runner.run_batch(0, Runner.prepare_app(opts), opts)
      assert result.status == :ok, inspect(result)
      assert result.stats.calls >= 600
      called = result.stats.outcomes |> Map.keys() |> Enum.map(&elem(&1, 0)) |> MapSet.new()

      for {fun, _arity} <- Adapter.functions(),
          do: assert(fun in called, "#{fun} was never called")
    end

    @tag :native
    test "a crashed batch is a failure, with its last call and the command that reruns it",
         %{out: out} do
      opts = Runner.options(%{out: out, seed: 5, calls: 400, batch_size: 200, crash_at: 50})
      {result, text} = capture_with_output(fn -> Runner.run(opts) end)

      assert {:error, [failure]} = result
      assert failure.batch == 0
      assert failure.reason =~ "killed by signal 6"
      assert text =~ "FUZZ FAILURE in batch 0 (seed 5)"
      assert text =~ "at call 50 of the batch"
      assert text =~ "rerun this batch: MIX_ENV=test mix broken_record.fuzz --seed 5 --batch 0"
      assert File.read!(Path.join(failure.dir, "last-call")) =~ ~r/^50 /
      assert File.exists?(Path.join(failure.dir, "report.txt"))
    end

    @tag :native
    test "a batch that loaded another NIF than the expected one refuses to run", %{out: out} do
      opts = Runner.options(%{out: out, seed: 5, calls: 10, batch_size: 10})
      wrong = %{Runner.prepare_app(opts) | priv: out}
      File.mkdir_p!(out)
      File.write!(Path.join(out, "libbroken_record_zero.so"), "")

      {result, _} = capture_with_output(fn -> Runner.run_batch(0, wrong, opts) end)
      assert result.status == :crash
      assert result.reason =~ "setup failed"
      assert result.reason =~ "the loaded NIF is"
    end
  end

  defp capture_with_output(fun) do
    parent = self()

    output =
      ExUnit.CaptureIO.capture_io(:stderr, fn ->
        out = ExUnit.CaptureIO.capture_io(fn -> send(parent, {:result, fun.()}) end)
        IO.write(:stderr, out)
      end)

    receive do: ({:result, r} -> {r, output})
  end
end
