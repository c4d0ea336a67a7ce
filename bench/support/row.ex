defmodule Bench.Row do
  @moduledoc """
  A result row names what it measured with structured keys, and the printed table derives its
  labels from them:

    * `scenario`: `:peak`, `:integrate`, `:gravity`, `:softened`, `:marshalling`,
      `:collisions`, `:all_pairs`, `:lj_liquid` (LAMMPS's bench/in.lj, periodic),
      `:lj_cluster` (a free cluster), `:langevin` (a thermostat step with random numbers),
      `:evaporation` (agents removed and spawned every step), `:wolf_sheep` (predators,
      prey and grass: exclusive pair rules, births and deaths), `:progress` (the LJ liquid
      with and without `progress:`), `:observe` (the energy monitor, and a run sampled by
      `World.stream/2`) or `:ensemble` (a sweep over peer nodes, `BrokenRecord.Zero.Ensemble`);
    * `n`: the number of agents;
    * `contender`: `:native`, `:native_no_noise` (the Langevin step without its noise),
      `:native_no_lifecycle` (the evaporation gas without its removals and spawns),
      `:native_lean` (the evaporation drift with the removals and spawns, no interaction),
      `:native_drift_only` (the evaporation drift alone), `:native_progress` (the run with
      `progress:` a function that does nothing), `:native_observed` (sampled by
      `World.stream/2`), `:monitor_native`, `:monitor_native_evaluator`,
      `:monitor_elixir_all_pairs` (the energy monitor with its potential in the engine's observe
      kernel or its block evaluator, or over all pairs in Elixir), `:one_node_2_threads`,
      `:two_nodes_1_thread` (an ensemble on one peer node with two OpenMP threads, or on two
      with one each),
      `:elixir` (the pure-Elixir backend), `:micro_kernel`,
      `:cpp_reference`, `:cpp_all_j`, `:cpp_i_lt_j`, `:cpp_canonical_all_j` (hand-written C++),
      `:lammps` (for `:lj_liquid` with `ranks`, 1 or 2, and `neigh`, `:every_20_check_no` or
      `:every_1_check_yes`), or for marshalling `:enum_map_rebuild`, `:enum_map_share`,
      `:native_simulate`, `:interpreted_simulate`;
    * `precision`: `:f64`, `:f32` or `nil`;
    * `heap` (marshalling only): `:roomy` or `:default`.

  The measurements (`seconds_per_step`, `throughput`, `unit`, ...) come next to them.
  """

  @doc "A new row with its keys."
  @spec new(atom, non_neg_integer, atom, atom | nil, keyword) :: map
  def new(scenario, n, contender, precision, extra \\ []) do
    Map.merge(
      %{scenario: scenario, n: n, contender: contender, precision: precision},
      Map.new(extra)
    )
  end

  @doc "Whether `row` has the given keys (a keyword list of key: value)."
  @spec matches?(map, keyword) :: boolean
  def matches?(row, keys), do: Enum.all?(keys, fn {k, v} -> Map.get(row, k) == v end)

  @doc "Whether the contender of `row` is hand-written C++."
  @spec cpp?(map) :: boolean
  def cpp?(row),
    do:
      row.contender in [
        :micro_kernel,
        :cpp_reference,
        :cpp_all_j,
        :cpp_i_lt_j,
        :cpp_canonical_all_j
      ]

  @doc "The printed name of the row's scenario."
  @spec scenario_label(map) :: String.t()
  def scenario_label(%{scenario: :peak}), do: "peak FMA"
  def scenario_label(%{scenario: :all_pairs}), do: "all-pairs"
  def scenario_label(%{scenario: :lj_liquid}), do: "LJ liquid"
  def scenario_label(%{scenario: :lj_cluster}), do: "LJ cluster"
  def scenario_label(%{scenario: :wolf_sheep}), do: "wolf-sheep"
  def scenario_label(%{scenario: :fene_chain}), do: "FENE melt"
  def scenario_label(%{scenario: scenario}), do: Atom.to_string(scenario)

  @doc "The printed name of what the row measured (the table's variant column)."
  @spec variant(map) :: String.t()
  def variant(%{scenario: :all_pairs, contender: :native, precision: p}),
    do: "native #{p} gravity"

  def variant(%{scenario: scenario, contender: :native, precision: p})
      when scenario in [:lj_liquid, :lj_cluster],
      do: "native #{p} (DSL)"

  def variant(%{contender: :lammps, ranks: ranks, neigh: neigh}),
    do: "LAMMPS np #{ranks} #{neigh_label(neigh)}"

  def variant(%{scenario: :fene_chain, contender: :lammps, ranks: ranks, thermostat: t}),
    do: "LAMMPS np #{ranks} #{t}"

  def variant(%{scenario: :fene_chain, contender: :native, precision: p, thermostat: t}),
    do: "native #{p} #{t} (DSL)"

  def variant(%{contender: :lammps}), do: "LAMMPS mpirun -np 2"
  def variant(%{contender: :enum_map_share}), do: "Enum.map sharing a tuple"
  def variant(%{contender: :enum_map_rebuild} = row), do: "Enum.map rebuild" <> heap(row)

  def variant(%{contender: :native_simulate} = row),
    do: "native simulate(steps: 1)" <> heap(row)

  def variant(%{contender: :interpreted_simulate} = row),
    do: "interpreted simulate(steps: 1)" <> heap(row)

  def variant(%{contender: contender, precision: p}), do: "#{contender_label(contender)} #{p}"

  @doc "The printed name of a contender, without its precision."
  @spec contender_label(atom) :: String.t()
  def contender_label(:native), do: "native"
  def contender_label(:native_no_noise), do: "native, no noise"
  def contender_label(:native_no_lifecycle), do: "native, no lifecycle"
  def contender_label(:native_lean), do: "native, drift + lifecycle"
  def contender_label(:native_drift_only), do: "native, drift only"
  def contender_label(:native_progress), do: "native, progress: fun"
  def contender_label(:native_observed), do: "native, observed"
  def contender_label(:monitor_native), do: "monitor, native"
  def contender_label(:monitor_native_evaluator), do: "monitor, native evaluator"
  def contender_label(:monitor_elixir_all_pairs), do: "monitor, Elixir pairs"
  def contender_label(:one_node_2_threads), do: "1 node x 2 threads"
  def contender_label(:two_nodes_1_thread), do: "2 nodes x 1 thread"
  def contender_label(:elixir), do: "elixir"
  def contender_label(:world_new_maps), do: "native World.new from maps"
  def contender_label(:world_new_columns), do: "native World.new from columns"
  def contender_label(:micro_kernel), do: "C++ micro-kernel"
  def contender_label(:cpp_reference), do: "C++ reference"
  def contender_label(:cpp_all_j), do: "C++ all-j"
  def contender_label(:cpp_i_lt_j), do: "C++ i<j"
  def contender_label(:cpp_canonical_all_j), do: "C++ canonical all-j"

  @doc "The printed neighbour-list policy of a LAMMPS run (its neigh_modify)."
  @spec neigh_label(atom) :: String.t()
  def neigh_label(:every_20_check_no), do: "every 20 check no"
  def neigh_label(:every_1_check_yes), do: "every 1 check yes"

  defp heap(%{heap: :default}), do: ", default heap"
  defp heap(_), do: ""
end
