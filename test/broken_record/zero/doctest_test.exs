defmodule BrokenRecord.Zero.DoctestTest do
  use ExUnit.Case, async: true

  doctest BrokenRecord.Zero.Backend
  doctest BrokenRecord.Zero.Box
  doctest BrokenRecord.Zero.Conservation.Sums
  doctest BrokenRecord.Zero.Ensemble
  doctest BrokenRecord.Zero.Env
  doctest BrokenRecord.Zero.Frame
  doctest BrokenRecord.Zero.Lattice
  doctest BrokenRecord.Zero.Options
  doctest BrokenRecord.Zero.Philox
  doctest BrokenRecord.Zero.Progress
  doctest BrokenRecord.Zero.Random
  doctest BrokenRecord.Zero.Reductions
  doctest BrokenRecord.Zero.References
  doctest BrokenRecord.Zero.Render
  doctest BrokenRecord.Zero.Render.Font
  doctest BrokenRecord.Zero.Runtime
  doctest BrokenRecord.Zero.Space
  doctest BrokenRecord.Zero.State
  doctest BrokenRecord.Zero.Thermo
  doctest BrokenRecord.Zero.Trajectory
  doctest BrokenRecord.Zero.World
end
