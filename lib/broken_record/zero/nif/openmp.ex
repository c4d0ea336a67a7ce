defmodule BrokenRecord.Zero.NIF.OpenMP do
  @moduledoc """
  Sets how long the engine's idle OpenMP threads spin, before the engine is loaded.

  libgomp (GCC's OpenMP runtime) reads `OMP_WAIT_POLICY` and `GOMP_SPINCOUNT` from the process
  environment once, when it is loaded, and by default its idle worker threads spin for
  milliseconds after every parallel region: on a machine with few cores they take the cores the
  BEAM's schedulers need. `System.put_env/2` does not reach the C environment, so this module
  loads a small NIF library (`priv/libbrz_omp_env.so`, which links neither libgomp nor the
  engine) whose load callback sets `GOMP_SPINCOUNT=10000` (about 0.1-0.5 ms of spinning) when
  the user has set neither variable. `BrokenRecord.Zero.NIF` loads this module first. Set
  `OMP_WAIT_POLICY` (`passive` or `active`) or `GOMP_SPINCOUNT` in the environment of the BEAM
  to choose otherwise; see docs/engine.md, "OpenMP and the BEAM".
  """

  @on_load :__load__

  @doc false
  def __load__ do
    path = :filename.join(:code.priv_dir(:broken_record), ~c"libbrz_omp_env")

    # Without it the engine still works, with libgomp's default spinning.
    case :erlang.load_nif(path, 0) do
      :ok -> :ok
      {:error, _} -> :ok
    end
  end

  @doc """
  `{OMP_WAIT_POLICY, GOMP_SPINCOUNT}` as the C environment of the BEAM holds them (`nil` when
  unset), or `:not_loaded` when the library could not be loaded.
  """
  @spec settings() :: {String.t() | nil, String.t() | nil} | :not_loaded
  def settings, do: :not_loaded
end
