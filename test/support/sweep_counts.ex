defmodule BrokenRecord.Zero.Test.SweepCounts do
  @moduledoc """
  Sums of `World.info/1`'s per-path sweep counts (docs/engine.md, "Rule paths") that tests
  assert on.
  """

  alias BrokenRecord.Zero.World

  @neighbour [
    :grid_block_kernel,
    :grid_interpreter,
    :list_block_kernel,
    :list_interpreter,
    :list_kernel
  ]

  @doc "The world's sweep counts: `cells`, `generated_cells`, `generated_lists`, `all_pairs`, `generated` and `neighbour_builds`."
  @spec of(World.t()) :: %{atom => non_neg_integer}
  def of(world) do
    info = World.info(world)
    on = fn paths -> paths |> Enum.map(&Map.get(info.sweeps, &1, 0)) |> Enum.sum() end

    %{
      cells: on.(@neighbour),
      generated_cells: on.([:grid_block_kernel, :list_block_kernel, :list_kernel]),
      generated_lists: on.([:list_kernel]),
      all_pairs: on.([:all_pairs_kernel, :all_pairs_interpreter]),
      generated: on.([:agent_kernel, :all_pairs_kernel]),
      neighbour_builds: info.neighbour_builds
    }
  end
end
