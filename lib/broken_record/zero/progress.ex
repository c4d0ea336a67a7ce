defmodule BrokenRecord.Zero.Progress do
  @moduledoc """
  Progress of a long run: the `progress:` option of `simulate/2`,
  `BrokenRecord.Zero.Runtime.simulate/3` and `BrokenRecord.Zero.World.step/2`.

    * `progress: true` - one line on stderr, refreshed at most ten times a second: steps done
      out of the total, steps per second and the time left; the last refresh ends it with a
      newline.
    * `progress: fun` - a function of arity 1 called with `%{done: d, total: t, rate: r}` (`r` in
      steps per second since the start) at most ten times a second, and always once at the end
      with `done == total`.
    * `progress: false` (the default) - nothing.

  Anything else is an `ArgumentError` (`option!/1`).

  One engine call runs many steps and shows nothing until it returns, so a run with progress is
  split into chunks (`run/4`): the first is one step, and each next one is sized from the rate
  measured so far to take about a tenth of a second (growing at most eightfold from one chunk to
  the next, so a slow step after a fast start cannot stall the reports). Random numbers are keyed
  by the step index and the engine keeps its neighbour lists in the world between calls, so the
  chunks give bit for bit the results of one call; a chunk that fails undoes the chunks before it
  too (`docs/nif.md`), so a failed run leaves the world as it was before the call, and its
  `BrokenRecord.Zero.NumericalError` counts its step from the start of the call.

  A caller that runs its own steps (a stream of samples) reports with `start/2`, `advance/2` and
  `finish/1`:

      iex> alias BrokenRecord.Zero.Progress
      iex> me = self()
      iex> p = Progress.start(100, &send(me, {:progress, &1}))
      iex> p = Progress.advance(p, 40)
      iex> Progress.finish(p)
      :ok
      iex> receive do {:progress, %{done: done, total: total}} -> {done, total} end
      {100, 100}
  """

  @typedoc "The `progress:` option: `true` (stderr), `false` (none) or a reporting function."
  @type option :: boolean | (report -> any)

  @typedoc "What a reporting function receives; `rate` is in steps per second."
  @type report :: %{done: non_neg_integer, total: non_neg_integer, rate: float}

  @typedoc "A run's progress (`start/2`); `nil` when the option is `false`."
  @type t :: %__MODULE__{
          option: true | (report -> any),
          total: non_neg_integer,
          done: non_neg_integer,
          started: integer,
          reported: integer,
          width: non_neg_integer,
          unit: String.t()
        }

  defstruct [:option, :total, :started, :reported, done: 0, width: 0, unit: "steps"]

  # Seconds between two reports, and the time a chunk aims to take.
  @interval 0.1
  @growth 8

  @doc """
  `option` if it is a `progress:` option, else an `ArgumentError` naming the option.

      iex> BrokenRecord.Zero.Progress.option!(true)
      true
      iex> BrokenRecord.Zero.Progress.option!(:yes)
      ** (ArgumentError) invalid option progress: :yes; expected true, false or a function of arity 1
  """
  @spec option!(term) :: option
  def option!(option) when is_boolean(option) or is_function(option, 1), do: option

  def option!(other) do
    raise ArgumentError,
          "invalid option progress: #{inspect(other)}; expected true, false or a function " <>
            "of arity 1"
  end

  @doc """
  Starts reporting a run of `total` steps with `option` (`nil` when it is `false`; an invalid
  option is an `ArgumentError`, `option!/1`). `unit` names what is counted on the stderr line
  (`"steps"`; an ensemble counts `"members"`, `BrokenRecord.Zero.Ensemble`).
  """
  @spec start(non_neg_integer, option, String.t()) :: t | nil
  def start(total, option, unit \\ "steps") when is_integer(total) and total >= 0 do
    case option!(option) do
      false ->
        nil

      option ->
        now = System.monotonic_time()
        %__MODULE__{option: option, total: total, started: now, reported: now, unit: unit}
    end
  end

  @doc """
  Records that `done` steps of the run are done, and reports when a tenth of a second has passed
  since the last report (the end is reported by `finish/1`).
  """
  @spec advance(t | nil, non_neg_integer) :: t | nil
  def advance(nil, _done), do: nil

  def advance(%__MODULE__{} = p, done) do
    p = %{p | done: done}
    now = System.monotonic_time()

    if done < p.total and seconds(now - p.reported) >= @interval,
      do: report(%{p | reported: now}, now, false),
      else: p
  end

  @doc "Reports the end of the run: `done == total`, and the stderr line ends with a newline."
  @spec finish(t | nil) :: :ok
  def finish(nil), do: :ok

  def finish(%__MODULE__{} = p) do
    report(%{p | done: p.total}, System.monotonic_time(), true)
    :ok
  end

  @doc """
  Runs `total` steps as `fun.(acc, steps, done)` calls, reporting progress with `option`,
  and returns the last `acc`: `done` is the number of steps the calls before have run. With
  `option` `false` it is one call `fun.(acc, total, 0)`; otherwise the steps are split into
  chunks (see the module doc), and a call with `done > 0` continues the run of the calls before.

      iex> alias BrokenRecord.Zero.Progress
      iex> Progress.run(0, 10, false, fn acc, steps, 0 -> acc + steps end)
      10
      iex> Progress.run([], 10, fn _ -> :ok end, fn acc, steps, _ -> [steps | acc] end) |> Enum.sum()
      10
  """
  @spec run(acc, non_neg_integer, option, (acc, non_neg_integer, non_neg_integer -> acc)) ::
          acc
        when acc: term
  def run(acc, total, false, fun), do: fun.(acc, total, 0)

  def run(acc, total, option, fun) do
    p = start(total, option)
    acc = chunks(acc, p, fun, 1)
    finish(p)
    acc
  end

  defp chunks(acc, %__MODULE__{done: done, total: total}, _fun, _size) when done >= total,
    do: acc

  defp chunks(acc, p, fun, size) do
    steps = min(size, p.total - p.done)
    t0 = System.monotonic_time()
    acc = fun.(acc, steps, p.done)
    took = seconds(System.monotonic_time() - t0)
    chunks(acc, advance(p, p.done + steps), fun, next_size(steps, took))
  end

  # Steps for about @interval seconds at the rate of the last chunk, at most @growth times it.
  defp next_size(steps, took) when took <= 0, do: steps * @growth

  defp next_size(steps, took),
    do: steps |> Kernel.*(@interval / took) |> round() |> max(1) |> min(steps * @growth)

  defp report(%__MODULE__{option: true} = p, now, last) do
    line = line(p, now)
    pad = String.duplicate(" ", max(p.width - String.length(line), 0))
    IO.write(:stderr, ["\r", line, pad, if(last, do: "\n", else: [])])
    %{p | width: String.length(line)}
  end

  defp report(%__MODULE__{option: fun} = p, now, _last) do
    fun.(%{done: p.done, total: p.total, rate: rate(p, now)})
    p
  end

  defp line(p, now) do
    rate = rate(p, now)
    left = if rate > 0, do: (p.total - p.done) / rate, else: 0.0
    digits = p.total |> Integer.to_string() |> byte_size()

    "#{String.pad_leading(Integer.to_string(p.done), digits)}/#{p.total} #{p.unit}  " <>
      "#{:erlang.float_to_binary(rate, decimals: 1)} #{p.unit}/s  #{clock(left)} left"
  end

  defp rate(p, now), do: p.done / max(seconds(now - p.started), 1.0e-9)

  # h:mm:ss, rounded up so that a run never shows 0:00:00 before it ends.
  defp clock(seconds) do
    s = ceil(seconds)
    m = div(s, 60)

    "#{div(m, 60)}:#{String.pad_leading(Integer.to_string(rem(m, 60)), 2, "0")}:" <>
      String.pad_leading(Integer.to_string(rem(s, 60)), 2, "0")
  end

  defp seconds(native), do: System.convert_time_unit(native, :native, :nanosecond) / 1.0e9
end
