defmodule BrokenRecord.Zero.Env do
  @moduledoc """
  The environment variables the library reads, one function each, read when called (never
  cached, so a test or a long-lived node sees a change).

  The library's own variables share the prefix `BROKEN_RECORD_`; a flag is on when its value is
  `1` or `true`, and `BROKEN_RECORD_KERNELS` is off when it is `0` or `false`. `CXX` and
  `XDG_CACHE_HOME` keep their conventional names. `mix.exs` reads the same `BROKEN_RECORD_`
  flags with the same values itself, since it runs before this module is compiled.

  The native engine reads its own tuning variables (`BROKEN_RECORD_ISA`,
  `BROKEN_RECORD_GENERATED_KERNELS`, `BROKEN_RECORD_NEIGHBOURS`, `BROKEN_RECORD_WORKER_NICE`)
  in C++ (`include/brz/env.hpp`); `docs/configuration.md` lists them all.

      iex> BrokenRecord.Zero.Env.require_nif?() ==
      ...>   (System.get_env("BROKEN_RECORD_REQUIRE_NIF") in ["1", "true"])
      true
  """

  @on ["1", "true"]
  @off ["0", "false"]

  @doc """
  `BROKEN_RECORD_REQUIRE_NIF`: whether the native engine is required. Then a native build or
  load failure, a failed kernel build at compile time and `backend: :auto` without the NIF
  are errors instead of a fallback to the pure-Elixir backend.
  """
  @spec require_nif?() :: boolean
  def require_nif?, do: System.get_env("BROKEN_RECORD_REQUIRE_NIF") in @on

  @doc """
  `BROKEN_RECORD_SKIP_NIF`: whether to skip everything native, the engine's build (in
  `mix.exs`) and the generated kernels of each system (`BrokenRecord.Zero.KernelBuilder`).
  """
  @spec skip_nif?() :: boolean
  def skip_nif?, do: System.get_env("BROKEN_RECORD_SKIP_NIF") in @on

  @doc """
  `BROKEN_RECORD_KERNELS`: whether `defsystem` builds a system's fused C++ kernels (default
  true; `0` or `false` skips them, see `docs/kernels.md`).
  """
  @spec kernels?() :: boolean
  def kernels?, do: System.get_env("BROKEN_RECORD_KERNELS") not in @off

  @doc """
  `BROKEN_RECORD_KERNELS_BUILD`: whether a kernel library missing at run time may be compiled
  again (`BrokenRecord.Zero.KernelBuilder.ensure/2`).
  """
  @spec kernels_build?() :: boolean
  def kernels_build?, do: System.get_env("BROKEN_RECORD_KERNELS_BUILD") in @on

  @doc "`CXX`: the C++ compiler of the generated kernels, `nil` when unset or empty."
  @spec cxx() :: String.t() | nil
  def cxx do
    case System.get_env("CXX") do
      "" -> nil
      cxx -> cxx
    end
  end

  @doc "`XDG_CACHE_HOME`: the user's cache directory, `nil` when unset."
  @spec cache_home() :: String.t() | nil
  def cache_home, do: System.get_env("XDG_CACHE_HOME")
end
