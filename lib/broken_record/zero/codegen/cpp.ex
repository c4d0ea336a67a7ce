defmodule BrokenRecord.Zero.Codegen.Cpp do
  @moduledoc """
  Generates fused C++ kernels from a system's optimised program, at compile time.

  The sibling of `BrokenRecord.Zero.Codegen.Elixir`: the same scalar SSA program
  (`docs/program.md`) becomes one C++17 translation unit with, per rule `k` and per precision,
  an `extern "C"` kernel `brz_rule_<k>_f64` / `brz_rule_<k>_f32` with the plain-data ABI of
  `include/brz/generated_abi.hpp`. The engine's executor calls these instead of its
  block-at-a-time interpreter when the library is loaded (`docs/kernels.md`); it keeps
  threading, accumulators, delta application and the non-finite check. Pair rules also get a
  pair-block kernel `brz_rule_<k>_block_f64` / `_f32` for the cell-list sweep: per listed pair
  of a gathered block (both slots' lanes packed contiguously), the delta of every STORE / ACC
  (the value of every ACCMAX / ACCMIN).
  Pair-same rules with a cutoff whose every store is an ACC also get a neighbour-list kernel
  `brz_rule_<k>_list_f64` / `_f32`, which evaluates the listed pairs in place and adds into the
  engine's accumulator window (`docs/engine.md`, "Neighbour lists").

  Each kernel is straight-line scalar code over `const T* __restrict` columns:

    * uniform registers (constants, params and what depends only on them) are computed once per
      call; for pair rules, registers that depend only on slot 0 once per `i`;
    * the inner loop (over `j` for pair rules, over `i` for per-agent rules) carries
      `#pragma omp simd`, slot-0 deltas are `reduction(+:...)` variables, slot-1 deltas are added
      to `acc[s][j]`; the delta of a `STORE` is `r - start`, of an `ACC` the register itself;
      an `ACCMAX` / `ACCMIN` combines its register into `acc[s][j]` or a `reduction(brz_max:...)`
      / `reduction(brz_min:...)` variable (declared reductions with the engine's combination,
      `reduce_combine` in `include/brz/program.hpp`: a NaN is kept);
    * `if` is already a select in the program: it becomes a ternary; every op is exactly the one
      of `docs/program.md` (IEEE; `-ffp-contract=fast` may fuse `a * b + c`);
    * `UNIFORM` and `NORMAL` call `brz/philox.hpp` per lane, with the key of the rule and call
      site, the step and seed from the arguments and the counter words from the identities of
      the lane's agents (`ids_a` / `ids_b`, ABI version 7);
    * each kernel is emitted once per instruction set the engine dispatches on: the baseline
      `brz_rule_<k>_f64` and, on x86-64, `..._avx2` (`target("avx2,fma")`) and `..._avx512`
      (the engine's AVX-512 features), so one library serves every x86-64 CPU and the engine
      calls the variant of the ISA it chose at load (`BROKEN_RECORD_ISA` caps both, docs/kernels.md).

  A system's observables program gets a library of its own (`observables_source/4`): per pair
  observable without exclusions, an observe kernel `brz_observe_<k>_f64` / `_f32` that
  evaluates the value over the pairs of a range of slot-0 rows and reduces it in double
  (`docs/kernels.md`, "Observe kernels").

  The library also exports the program binary it was generated from, the cache key
  (`brz_program_hash`) and the ABI version, which the loader checks before using any kernel.
  """

  alias BrokenRecord.Zero.Program
  alias BrokenRecord.Zero.Program.{Op, Rule}

  @version 9
  # Lane writes (docs/program.md); ACCMAX and ACCMIN combine with these declared reductions and
  # functions (the prelude).
  @lane_writes [:store, :acc, :accmax, :accmin]
  # Instructions that write no register: lane writes and lifecycle ops.
  @effects @lane_writes ++ [:remove, :spawn, :spawnlane]
  @combine %{accmax: "brz_max", accmin: "brz_min"}
  @combine_fn %{accmax: "brz_max_of", accmin: "brz_min_of"}
  # Pairs per chunk of a neighbour-list kernel's row: a full AVX-512 vector of f64 (narrower
  # ISAs split it), so that no scalar remainder loop runs the last pairs of a row.
  @chunk 8

  @doc "The generator's version; part of the kernel cache key."
  @spec version() :: pos_integer
  def version, do: @version

  @doc """
  The C++ source of the kernel library for `program` (a `BrokenRecord.Zero.Program`), its
  encoded `binary` and the cache key `hash` (a string written to `brz_program_hash`).
  """
  @spec source(Program.t(), binary, String.t()) :: String.t()
  def source(%Program{} = program, binary, hash) when is_binary(binary) and is_binary(hash) do
    n = length(program.params)

    kernels =
      program.rules
      |> Enum.with_index()
      |> Enum.flat_map(fn {rule, k} ->
        # A bonded rule's kernel is a per-agent kernel over the columns the engine gathers.
        {rule, lanes} =
          if rule.kind == :bonded,
            do: Program.flatten_bonded(rule, program.types),
            else: {rule, Enum.at(program.types, rule.type_a)}

        Enum.flat_map(
          kernels_for(rule),
          &[emit(&1, rule, k, :f64, {n, lanes}), emit(&1, rule, k, :f32, {n, lanes})]
        )
      end)

    IO.iodata_to_binary([
      prelude(),
      metadata(program, binary, hash),
      Enum.intersperse(kernels, "\n")
    ])
  end

  @doc """
  The C++ source of the observe-kernel library of a system's observables program (`program`,
  its encoded `binary`, the cache key `hash`): per observable of `observables`
  (`BrokenRecord.Zero.Observables.compiled/0`) over pairs without exclusions, an `extern "C"`
  kernel `brz_observe_<k>_f64` / `_f32` (and ISA variants) that evaluates its value registers
  over the pairs of a range of slot-0 rows and reduces them in double, and
  `brz_observe_<k>_spec` (its width, value registers and reduce code), with the ABI of
  `include/brz/generated_abi.hpp`.
  """
  @spec observables_source(Program.t(), binary, String.t(), [map]) :: String.t()
  def observables_source(%Program{} = program, binary, hash, observables)
      when is_binary(binary) and is_binary(hash) do
    n = length(program.params)

    kernels =
      for %{index: k, values: values, reduce: reduce} <- observables,
          rule = Enum.at(program.rules, k),
          observe_kernel?(rule),
          precision <- [:f64, :f32],
          do: observe_kernel(rule, k, precision, n, values, reduce)

    specs =
      for %{index: k, values: values, reduce: reduce} <- observables,
          observe_kernel?(Enum.at(program.rules, k)) do
        regs = Enum.take(values ++ [0, 0], 3)
        fields = [length(values)] ++ regs ++ [BrokenRecord.Zero.Observables.reduce_code(reduce)]

        "BRZ_EXPORT extern const uint32_t brz_observe_#{k}_spec[5];
" <>
          "const uint32_t brz_observe_#{k}_spec[5] = {#{Enum.map_join(fields, ", ", &"#{&1}u")}};\n"
      end

    IO.iodata_to_binary([
      prelude(),
      metadata(program, binary, hash),
      "extern \"C\" {\n",
      specs,
      "}\n\n",
      Enum.intersperse(kernels, "\n")
    ])
  end

  @doc """
  Whether an observable's rule gets an observe kernel: a pair observable (`:pair_same` or
  `:pair_cross`) without exclusions. The engine runs it when it sweeps all pairs (no usable
  cutoff); the others stay on its block evaluator.
  """
  @spec observe_kernel?(Rule.t()) :: boolean
  def observe_kernel?(%Rule{kind: kind, exclude: exclude}),
    do: kind in [:pair_same, :pair_cross] and exclude == nil

  # An observe kernel (BrzObserveArgs, ABI version 8): the pair kernel's loops, with the value
  # registers reduced in double (`reduction` over the inner loop, then into out[]) instead of
  # accumulator writes.
  defp observe_kernel(%Rule{} = rule, k, precision, n_params, values, reduce) do
    t = if precision == :f64, do: "double", else: "float"
    live = live(rule, values)
    levels = levels(rule)
    ops = for {_, d, _, _, _} = i <- rule.instrs, MapSet.member?(live, d), do: i
    at = fn level -> Enum.filter(ops, fn i -> levels[elem(i, 1)] == level end) end
    ctx = context(rule, k, precision, n_params, "i", "j")
    comps = Enum.with_index(values)
    j_begin = if rule.kind == :pair_same, do: "i + 1", else: "0"

    {combine, init} =
      case reduce do
        r when r in [:sum, :mean] -> {"+", "0.0"}
        :min -> {"brz_min", "__builtin_inf()"}
        :max -> {"brz_max", "-__builtin_inf()"}
      end

    sums = Enum.map_join(comps, ", ", fn {_, c} -> "s#{c}" end)

    # `into` combined with the double of register `reg`.
    fold = fn into, value ->
      if combine == "+",
        do: "#{into} += #{value};",
        else: "#{into} = #{@combine_fn[:"acc#{reduce}"]}(#{into}, #{value});"
    end

    norm =
      case values do
        [v] ->
          "__builtin_fabs(double(r#{v}))"

        [x, y, z] ->
          "__builtin_sqrt(double(r#{x}) * double(r#{x}) + double(r#{y}) * double(r#{y}) + " <>
            "double(r#{z}) * double(r#{z}))"
      end

    body = [
      pair_columns(ops, []),
      "  const T* __restrict params = args->params;\n",
      "  (void)params;\n",
      Enum.map(at.(0), &["  ", stmt(&1, ctx), "\n"]),
      "  double* out = args->out;\n",
      Enum.map(comps, fn {_, c} -> "  double v#{c} = out[#{c}];\n" end),
      "  double mag = out[3];\n",
      "  const size_t n_b = args->n_b;\n",
      "  const size_t i_end = args->i_end;\n",
      "  for (size_t i = args->i_begin; i < i_end; ++i) {\n",
      "    const size_t j_begin = #{j_begin};\n",
      "    if (j_begin >= n_b) continue;\n",
      Enum.map(at.(1), &["    ", stmt(&1, ctx), "\n"]),
      Enum.map(comps, fn {_, c} -> "    double s#{c} = #{init};\n" end),
      "    double m = 0.0;\n",
      "#pragma omp simd reduction(#{combine} : #{sums}) reduction(+ : m)\n",
      "    for (size_t j = j_begin; j < n_b; ++j) {\n",
      Enum.map(at.(2), &["      ", stmt(&1, ctx), "\n"]),
      Enum.map(comps, fn {reg, c} -> ["      ", fold.("s#{c}", "double(r#{reg})"), "\n"] end),
      "      m += #{norm};\n",
      "    }\n",
      Enum.map(comps, fn {_, c} -> ["    ", fold.("v#{c}", "s#{c}"), "\n"] end),
      "    mag += m;\n",
      "  }\n",
      Enum.map(comps, fn {_, c} -> "  out[#{c}] = v#{c};\n" end),
      "  out[3] = mag;\n"
    ]

    variants(
      "observable #{k}: #{comment_name(rule.name)} (#{rule.kind}), #{precision}",
      "brz_observe_#{k}_#{precision}",
      t,
      body,
      "BrzObserveArgs"
    )
  end

  @typedoc """
  A kind of kernel the generator emits for a rule (`include/brz/generated.hpp`, `RuleKernels`):
  `:sweep` the per-agent or all-pairs kernel `brz_rule_<k>_f64` / `_f32`, `:block` the pair-block
  kernel `brz_rule_<k>_block_*`, `:list` the neighbour-list kernel `brz_rule_<k>_list_*`.
  """
  @type kernel_kind :: :sweep | :block | :list

  @doc """
  The kernels the library has for `rule`, in the order they are emitted: the generator's side of
  the engine's `rule_path` (docs/engine.md, "Rule paths"), which picks among them per sweep.

    * `:sweep` for a per-agent rule, one that removes or spawns agents included (its
      `REMOVE`, `SPAWN` and `SPAWNLANE` registers stored into columns after the type's lanes,
      docs/engine.md "Agent lifecycle");
    * none for a pair rule that removes or spawns agents (the engine runs it on its
      interpreter);
    * `:sweep` for a bonded rule: a per-agent kernel over the columns the engine gathers
      through the references (`BrokenRecord.Zero.Program.flatten_bonded/2`), its stores into
      columns after them;
    * `:sweep` for every other rule;
    * `:block` for pair rules (the neighbour sweeps, over a grid or a neighbour list, run the
      pairs they find through it);
    * `:list` for pair-same rules with a cutoff whose every store is an ACC (each listed pair's
      additions go straight to the accumulators); the engine uses it only on lists with long
      runs per slot-0 row.
  """
  @spec kernels_for(Rule.t()) :: [kernel_kind]
  def kernels_for(%Rule{} = rule) do
    cond do
      rule.kind in [:per_agent, :bonded] -> [:sweep]
      Program.lifecycle_rule?(rule) -> []
      true -> [:sweep, :block] ++ if(all_acc_cutoff?(rule), do: [:list], else: [])
    end
  end

  # A pair-same rule with a cutoff whose every store is an ACC.
  defp all_acc_cutoff?(%Rule{kind: :pair_same, cutoff: %{}, instrs: instrs}) do
    stores = for {op, _, _, _, _} = i <- instrs, Program.lane_write?(i), do: op
    stores != [] and Enum.all?(stores, &(&1 == :acc))
  end

  defp all_acc_cutoff?(_rule), do: false

  # `sizes`: the program's param count and the lanes of the rule's slot-0 type.
  defp emit(:sweep, rule, k, precision, sizes), do: kernel(rule, k, precision, sizes)
  defp emit(:block, rule, k, p, {n_params, _}), do: block_kernel(rule, k, p, n_params)
  defp emit(:list, rule, k, p, {n_params, _}), do: list_kernel(rule, k, p, n_params)

  defp prelude do
    """
    // Generated by BrokenRecord.Zero.Codegen.Cpp (version #{@version}). Do not edit.
    #include <math.h>
    #include <stddef.h>
    #include <stdint.h>

    #include "brz/generated_abi.hpp"
    #include "brz/philox.hpp"

    #define BRZ_EXPORT __attribute__((visibility("default")))
    // The ISA variants of every kernel, with the engine's per-ISA compiler flags (CMakeLists.txt).
    #if defined(__x86_64__) && defined(__GNUC__) && !defined(BRZ_BASELINE_ONLY)
    #define BRZ_ISA_VARIANTS 1
    #define BRZ_TARGET_avx2 __attribute__((target("avx2,fma")))
    #define BRZ_TARGET_avx512 \
      __attribute__((target("avx512f,avx512cd,avx512dq,avx512vl,avx512bw,avx2,fma")))
    #endif

    namespace {
    inline double brz_sqrt(double x) { return __builtin_sqrt(x); }
    inline float brz_sqrt(float x) { return __builtin_sqrtf(x); }
    inline double brz_abs(double x) { return __builtin_fabs(x); }
    inline float brz_abs(float x) { return __builtin_fabsf(x); }
    inline double brz_rint(double x) { return __builtin_nearbyint(x); }
    inline float brz_rint(float x) { return __builtin_nearbyintf(x); }
    inline double brz_floor(double x) { return __builtin_floor(x); }
    inline float brz_floor(float x) { return __builtin_floorf(x); }
    inline double brz_exp(double x) { return ::exp(x); }
    inline float brz_exp(float x) { return ::expf(x); }
    inline double brz_log(double x) { return ::log(x); }
    inline float brz_log(float x) { return ::logf(x); }
    inline double brz_sin(double x) { return ::sin(x); }
    inline float brz_sin(float x) { return ::sinf(x); }
    inline double brz_cos(double x) { return ::cos(x); }
    inline float brz_cos(float x) { return ::cosf(x); }
    inline double brz_pow(double x, double y) { return ::pow(x, y); }
    inline float brz_pow(float x, float y) { return ::powf(x, y); }
    // UNIFORM and NORMAL (docs/program.md, "Random numbers"): one Philox4x32-10 block of counter
    // {c0, c1, step} under key {seed, k1}, converted by precision (the T argument picks it).
    inline brz::Philox4x32 brz_block(uint32_t c0, uint32_t c1, uint32_t s0, uint32_t s1,
                                     uint32_t seed, uint32_t k1) {
      return brz::philox4x32_10(brz::Philox4x32{c0, c1, s0, s1}, brz::PhiloxKey{seed, k1});
    }
    inline double brz_uniform(double, brz::Philox4x32 w) { return brz::uniform_f64(w.x0, w.x1); }
    inline float brz_uniform(float, brz::Philox4x32 w) { return brz::uniform_f32(w.x0); }
    inline double brz_normal(double, brz::Philox4x32 w) {
      return brz::normal_f64(brz::uniform_f64(w.x0, w.x1), brz::uniform_f64(w.x2, w.x3));
    }
    inline float brz_normal(float, brz::Philox4x32 w) {
      return brz::normal_f32(brz::uniform_f32(w.x0), brz::uniform_f32(w.x1));
    }
    // ACCMAX and ACCMIN: the engine's reduce_combine (a NaN, once there, stays).
    template <class T>
    inline T brz_max_of(T acc, T v) { return (acc < v || v != v) ? v : acc; }
    template <class T>
    inline T brz_min_of(T acc, T v) { return (v < acc || v != v) ? v : acc; }
    #pragma omp declare reduction(brz_max : double, float : omp_out = brz_max_of(omp_out, omp_in)) \
      initializer(omp_priv = -__builtin_inf())
    #pragma omp declare reduction(brz_min : double, float : omp_out = brz_min_of(omp_out, omp_in)) \
      initializer(omp_priv = __builtin_inf())
    }  // namespace

    """
  end

  defp metadata(program, binary, hash) do
    bytes =
      binary
      |> :binary.bin_to_list()
      |> Enum.chunk_every(24)
      |> Enum.map_join(",\n", fn chunk ->
        "    " <> Enum.map_join(chunk, ", ", &Integer.to_string/1)
      end)

    """
    extern "C" {
    BRZ_EXPORT extern const uint32_t brz_abi_version;
    BRZ_EXPORT extern const char brz_program_hash[];
    BRZ_EXPORT extern const uint32_t brz_program_size;
    BRZ_EXPORT extern const unsigned char brz_program_binary[];
    BRZ_EXPORT extern const uint32_t brz_rule_count;
    const uint32_t brz_abi_version = BRZ_GEN_ABI_VERSION;
    const char brz_program_hash[] = "#{hash}";
    const uint32_t brz_program_size = #{byte_size(binary)}u;
    const unsigned char brz_program_binary[] = {
    #{bytes}};
    const uint32_t brz_rule_count = #{length(program.rules)}u;
    }

    """
  end

  # Level of each register: 0 uniform, 1 outer (slot 0 of a pair rule), 2 varying.
  defp levels(%Rule{kind: kind, instrs: instrs}) do
    Enum.reduce(instrs, %{}, fn
      {op, _, _, _, _}, acc when op in @effects ->
        acc

      {op, d, _, _, _}, acc when op in [:const, :param, :box] ->
        Map.put(acc, d, 0)

      # A draw depends on every agent of the rule (its counter holds their identities).
      {op, d, _, _, _}, acc when op in [:uniform, :normal] ->
        Map.put(acc, d, 2)

      {:load, d, slot, _, _}, acc ->
        Map.put(acc, d, if(kind == :per_agent or slot == 1, do: 2, else: 1))

      instr, acc ->
        level =
          instr |> Program.reads() |> Enum.map(&Map.fetch!(acc, &1)) |> Enum.max(fn -> 0 end)

        Map.put(acc, elem(instr, 1), level)
    end)
  end

  # Registers that some STORE, ACC or lifecycle op needs, or that `roots` (an observable's
  # value registers) need: the cutoff bound and dead code are not emitted.
  defp live(%Rule{instrs: instrs}, roots \\ []) do
    instrs
    |> Enum.reverse()
    |> Enum.reduce(MapSet.new(roots), fn
      {op, _, _, _, c}, live when op in @effects ->
        MapSet.put(live, c)

      {_, d, _, _, _} = instr, live ->
        if MapSet.member?(live, d), do: Enum.into(Program.reads(instr), live), else: live
    end)
  end

  # What both kernels of a rule are built from: the C++ type, the level of every register, the
  # live instructions other than STORE/ACC, and the STOREs and ACCs in program order (the ABI
  # numbers accumulators in that order).
  defp kernel_parts(%Rule{} = rule, precision) do
    live = live(rule)

    ops =
      for {op, d, _, _, _} = i <- rule.instrs,
          op not in @effects,
          MapSet.member?(live, d),
          do: i

    stores = for {op, _, _, _, _} = s <- rule.instrs, op in @lane_writes, do: s
    {if(precision == :f64, do: "double", else: "float"), levels(rule), ops, stores}
  end

  # The lanes a kernel reads through `slot`: loaded lanes and the start values of STOREs (an
  # ACC needs none), each once, in order.
  defp slot_lanes(ops, stores, slot) do
    (for({:load, _, ^slot, l, _} <- ops, do: l) ++
       for({:store, _, ^slot, l, _} <- stores, do: l))
    |> Enum.uniq()
    |> Enum.sort()
  end

  # A pair kernel's read-only column pointers: a_<lane> of slot 0 from args->`from_a`,
  # b_<lane> of slot 1 from args->`from_b`.
  defp pair_columns(ops, stores, from_a \\ "cols_a", from_b \\ "cols_b") do
    [
      Enum.map(
        slot_lanes(ops, stores, 0),
        &"  const T* __restrict a_#{&1} = args->#{from_a}[#{&1}];\n"
      ),
      Enum.map(
        slot_lanes(ops, stores, 1),
        &"  const T* __restrict b_#{&1} = args->#{from_b}[#{&1}];\n"
      )
    ]
  end

  defp kernel(%Rule{} = rule, k, precision, {n_params, lanes}) do
    {t, levels, ops, stores} = kernel_parts(rule, precision)
    at = fn level -> Enum.filter(ops, fn i -> levels[elem(i, 1)] == level end) end
    ctx = context(rule, k, precision, n_params, "i", "j")

    body =
      case rule.kind do
        :per_agent -> per_agent_body(ctx, at.(0), at.(2), stores, ops, life_columns(rule, lanes))
        _ -> pair_body(ctx, at.(0), at.(1), at.(2), stores, ops)
      end

    variants(
      "rule #{k}: #{comment_name(rule.name)} (#{rule.kind}), #{precision}",
      "brz_rule_#{k}_#{precision}",
      t,
      body
    )
  end

  # One definition of a kernel per ISA (docs/kernels.md, "Per-ISA variants"): the baseline
  # under `name`, and `name_avx2` / `name_avx512` compiled for those targets where the compiler
  # can (BRZ_ISA_VARIANTS). The loader picks the widest one the engine's ISA allows.
  defp variants(comment, name, t, body, args \\ "BrzKernelArgs") do
    define = fn suffix, target ->
      [
        "extern \"C\" BRZ_EXPORT #{target}void #{name}#{suffix}(const #{args}<#{t}>* args) {\n",
        "  typedef #{t} T;\n",
        body,
        "}\n"
      ]
    end

    [
      "// #{comment}\n",
      define.("", ""),
      "#ifdef BRZ_ISA_VARIANTS\n",
      define.("_avx2", "BRZ_TARGET_avx2 "),
      define.("_avx512", "BRZ_TARGET_avx512 "),
      "#endif\n"
    ]
  end

  # The pair-block kernel of a pair rule (ABI version 3): pair k of a gathered block reads
  # slot 0 at cols_a[lane][k] and slot 1 at cols_b[lane][k] and writes its delta per STORE/ACC
  # to acc[s][k]; everything that is not uniform is computed per pair.
  defp block_kernel(%Rule{} = rule, k, precision, n_params) do
    {t, levels, ops, stores} = kernel_parts(rule, precision)
    {uniform, varying} = Enum.split_with(ops, fn i -> levels[elem(i, 1)] == 0 end)
    ctx = context(rule, k, precision, n_params, "k", "k")

    indexed = Enum.with_index(stores)

    body = [
      pair_columns(ops, stores),
      Enum.map(indexed, fn {_, s} -> "  T* __restrict out_#{s} = args->acc[#{s}];\n" end),
      "  const T* __restrict params = args->params;\n",
      "  (void)params;\n",
      draw_setup(ops, "args->ids_a", "args->ids_b"),
      Enum.map(uniform, &["  ", stmt(&1, ctx), "\n"]),
      "  const size_t k_end = args->i_end;\n",
      "#pragma omp simd\n",
      "  for (size_t k = args->i_begin; k < k_end; ++k) {\n",
      draw_words(ops, rule, "    ", "ids_a[k]", "ids_b[k]"),
      Enum.map(varying, &["    ", stmt(&1, ctx), "\n"]),
      Enum.map(indexed, fn
        {{:store, _, 0, l, c}, s} -> "    out_#{s}[k] = r#{c} - a_#{l}[k];\n"
        {{:store, _, 1, l, c}, s} -> "    out_#{s}[k] = r#{c} - b_#{l}[k];\n"
        {{_accumulating, _, _, _, c}, s} -> "    out_#{s}[k] = r#{c};\n"
      end),
      "  }\n"
    ]

    variants(
      "rule #{k}: #{comment_name(rule.name)} (#{rule.kind}), pair-block, #{precision}",
      "brz_rule_#{k}_block_#{precision}",
      t,
      body
    )
  end

  # The neighbour-list kernel (BrzListArgs, ABI version 9). Long runs (args->across zero): the
  # listed pairs in runs of one slot-0 row i, outer code once per run, the run's j in chunks of
  # a `#pragma omp simd` loop (its j are distinct, so the slot-1 additions never collide;
  # padding lanes all add -0.0 to the spare row), slot-0 ACCs summed over the run and added
  # once. Short runs (across non-zero): chunks of listed pairs across rows, one vector of them
  # at a time (both slots gathered through li and lj), then their ACCs added pair by pair.
  defp list_kernel(%Rule{} = rule, k, precision, n_params) do
    {t, levels, ops, stores} = kernel_parts(rule, precision)
    at = fn level -> Enum.filter(ops, fn i -> levels[elem(i, 1)] == level end) end
    ctx = context(rule, k, precision, n_params, "i", "j")
    indexed = Enum.with_index(stores)
    slot0 = for {{:acc, _, 0, _, c}, s} <- indexed, do: {s, c}
    slot1 = for {{:acc, _, 1, _, c}, s} <- indexed, do: {s, c}
    sums = Enum.map(slot0, fn {s, _} -> "sum_#{s}" end)
    reduction = if sums == [], do: "", else: " reduction(+ : #{Enum.join(sums, ", ")})"

    across = [
      "  if (args->across) {\n",
      "    for (size_t p0 = args->begin; p0 < end; p0 += #{@chunk}) {\n",
      "      const size_t n = end - p0 < #{@chunk} ? end - p0 : #{@chunk};\n",
      Enum.map(indexed, fn {_, s} -> "      alignas(64) T out_#{s}[#{@chunk}];\n" end),
      # Lanes past `end` evaluate the readable entries after it; only n pairs are added.
      "#pragma omp simd\n",
      "      for (long k = 0; k < #{@chunk}; ++k) {\n",
      "        const size_t i = li[p0 + size_t(k)];\n",
      "        const size_t j = lj[p0 + size_t(k)];\n",
      draw_words(ops, rule, "        ", "ids_a[i]", "ids_b[j]"),
      Enum.map(at.(1) ++ at.(2), &["        ", stmt(&1, ctx), "\n"]),
      Enum.map(indexed, fn {{_, _, _, _, c}, s} -> "        out_#{s}[k] = r#{c};\n" end),
      "      }\n",
      "      for (size_t k = 0; k < n; ++k) {\n",
      "        T* __restrict wi = acc + (li[p0 + k] - lo) * row;\n",
      "        T* __restrict wj = acc + (lj[p0 + k] - lo) * row;\n",
      Enum.map(slot0, fn {s, _} -> "        wi[col_#{s}] += out_#{s}[k];\n" end),
      Enum.map(slot1, fn {s, _} -> "        wj[col_#{s}] += out_#{s}[k];\n" end),
      "      }\n",
      "    }\n",
      "    return;\n",
      "  }\n"
    ]

    body = [
      # both slots read the type's own columns
      pair_columns(ops, stores, "cols", "cols"),
      "  const T* __restrict params = args->params;\n",
      "  (void)params;\n",
      draw_setup(ops, "args->ids", "args->ids"),
      Enum.map(at.(0), &["  ", stmt(&1, ctx), "\n"]),
      "  const uint32_t* __restrict li = args->li;\n",
      "  const uint32_t* __restrict lj = args->lj;\n",
      "  T* __restrict acc = args->acc;\n",
      "  const size_t row = args->row_stride;\n",
      "  const size_t lo = args->lo;\n",
      Enum.map(indexed, fn {_, s} -> "  const size_t col_#{s} = args->acc_col[#{s}];\n" end),
      "  const size_t end = args->end;\n",
      across,
      "  const size_t pad = args->pad_row;\n",
      "  for (size_t p = args->begin; p < end;) {\n",
      "    const size_t i = li[p];\n",
      "    size_t q = p + 1;\n",
      "    while (q < end && li[q] == i) ++q;\n",
      Enum.map(at.(1), &["    ", stmt(&1, ctx), "\n"]),
      Enum.map(slot0, fn {s, _} -> "    T sum_#{s} = T(0);\n" end),
      # A row's pairs rounded up to a multiple of #{@chunk}: full vectors, so no scalar
      # remainder runs. The lanes past the row's last pair evaluate the next listed pairs (lj
      # is readable #{@chunk} entries past `end`) and add -0.0, which changes nothing, to the
      # spare window row `pad`.
      # (A signed index and a T-typed flag: with size_t or a bool, GCC 12 does not vectorise.)
      "    const long qv = long(p + (q - p + #{@chunk - 1}) / #{@chunk} * #{@chunk});\n",
      "#pragma omp simd#{reduction}\n",
      "    for (long k = long(p); k < qv; ++k) {\n",
      "      const T in = k < long(q) ? T(1) : T(0);\n",
      "      const size_t j = lj[k];\n",
      "      const size_t w = k < long(q) ? j - lo : pad;\n",
      draw_words(ops, rule, "      ", "ids_a[i]", "ids_b[j]"),
      Enum.map(at.(2), &["      ", stmt(&1, ctx), "\n"]),
      Enum.map(slot0, fn {s, c} -> "      sum_#{s} += in != T(0) ? r#{c} : T(-0.0);\n" end),
      Enum.map(slot1, fn {s, c} ->
        "      acc[w * row + col_#{s}] += in != T(0) ? r#{c} : T(-0.0);\n"
      end),
      "    }\n",
      Enum.map(slot0, fn {s, _} -> "    acc[(i - lo) * row + col_#{s}] += sum_#{s};\n" end),
      "    p = q;\n",
      "  }\n"
    ]

    variants(
      "rule #{k}: #{comment_name(rule.name)} (#{rule.kind}), neighbour-list, #{precision}",
      "brz_rule_#{k}_list_#{precision}",
      t,
      body,
      "BrzListArgs"
    )
  end

  defp comment_name(name), do: String.replace(to_string(name), ~r/[^A-Za-z0-9_?!]/, "_")

  # The columns a per-agent rule's kernel stores its REMOVE, SPAWN and SPAWNLANE registers
  # into, as {column, register}: after the type's `lanes`, in the engine's order
  # (Runner::run_lifecycle): the REMOVEs, then per SPAWN site its condition and its SPAWNLANEs,
  # each in program order. The engine reads them after the sweep; they are not checked for
  # non-finite values (a child's lanes are, when it is born).
  defp life_columns(%Rule{instrs: instrs}, lanes) do
    removes = for {:remove, _, _, _, c} <- instrs, do: c

    spawns =
      for {:spawn, _, _, site, c} <- instrs,
          reg <- [c | for({:spawnlane, _, ^site, _, r} <- instrs, do: r)],
          do: reg

    Enum.with_index(removes ++ spawns, fn reg, q -> {lanes + q, reg} end)
  end

  defp per_agent_body(ctx, uniform, varying, stores, ops, life) do
    [
      Enum.map(slot_lanes(ops, stores, 0), &"  T* __restrict a_#{&1} = args->cols_a[#{&1}];\n"),
      Enum.map(life, fn {col, _} -> "  T* __restrict life_#{col} = args->cols_a[#{col}];\n" end),
      "  const T* __restrict params = args->params;\n",
      "  (void)params;\n",
      draw_setup(ops, "args->ids_a", nil),
      Enum.map(uniform, &["  ", stmt(&1, ctx), "\n"]),
      "  const size_t i_end = args->i_end;\n",
      "  int bad = 0;\n",
      "#pragma omp simd reduction(| : bad)\n",
      "  for (size_t i = args->i_begin; i < i_end; ++i) {\n",
      draw_words(ops, ctx.rule, "    ", "ids_a[i]", nil),
      Enum.map(varying, &["    ", stmt(&1, ctx), "\n"]),
      Enum.map(stores, fn {:store, _, 0, l, c} -> "    a_#{l}[i] = r#{c};\n" end),
      Enum.map(life, fn {col, c} -> "    life_#{col}[i] = r#{c};\n" end),
      # x - x is 0 for every finite x and NaN for NaN and +-inf.
      Enum.map(stores, fn {:store, _, 0, _, c} -> "    bad |= (r#{c} - r#{c}) != T(0);\n" end),
      "  }\n",
      "  if (bad && args->nonfinite) *args->nonfinite = 1;\n"
    ]
  end

  defp pair_body(ctx, uniform, outer, varying, stores, ops) do
    rule = ctx.rule
    # One accumulator pointer per distinct (type, lane); stores of both slots of a same-type
    # rule to the same lane share it (the ABI passes the same array for both).
    indexed = Enum.with_index(stores)

    acc_of =
      Map.new(indexed, fn {{_, _, slot, lane, _}, s} ->
        type = if slot == 0, do: rule.type_a, else: rule.type_b

        first =
          Enum.find_value(indexed, fn {{_, _, s2, l2, _}, idx} ->
            t2 = if s2 == 0, do: rule.type_a, else: rule.type_b
            if t2 == type and l2 == lane, do: idx
          end)

        {s, first}
      end)

    acc_ptrs = acc_of |> Map.values() |> Enum.uniq() |> Enum.sort()
    slot0 = for {{op, _, 0, l, c}, s} <- indexed, do: {s, l, c, op}
    slot1 = for {{op, _, 1, l, c}, s} <- indexed, do: {s, l, c, op}
    j_begin = if rule.kind == :pair_same, do: "i + 1", else: "0"

    # `reduction(+ : ...)` for the slot-0 sums, `reduction(brz_max : ...)` / `brz_min` for the
    # slot-0 maxima / minima.
    reduction =
      slot0
      |> Enum.group_by(fn {_, _, _, op} -> Map.get(@combine, op, "+") end, fn {s, _, _, _} ->
        "sum_#{s}"
      end)
      |> Enum.sort()
      |> Enum.map_join(fn {op, vars} -> " reduction(#{op} : #{Enum.join(vars, ", ")})" end)

    [
      pair_columns(ops, stores),
      Enum.map(acc_ptrs, &"  T* __restrict acc_#{&1} = args->acc[#{&1}];\n"),
      "  const T* __restrict params = args->params;\n",
      "  (void)params;\n",
      draw_setup(ops, "args->ids_a", "args->ids_b"),
      Enum.map(uniform, &["  ", stmt(&1, ctx), "\n"]),
      "  const size_t n_b = args->n_b;\n",
      "  const size_t i_end = args->i_end;\n",
      "  for (size_t i = args->i_begin; i < i_end; ++i) {\n",
      "    const size_t j_begin = #{j_begin};\n",
      "    if (j_begin >= n_b) continue;\n",
      Enum.map(outer, &["    ", stmt(&1, ctx), "\n"]),
      Enum.map(slot0, fn
        {s, l, _, :store} -> "    const T start_#{s} = a_#{l}[i];\n    T sum_#{s} = T(0);\n"
        {s, _, _, :acc} -> "    T sum_#{s} = T(0);\n"
        {s, _, _, :accmax} -> "    T sum_#{s} = -T(__builtin_inf());\n"
        {s, _, _, :accmin} -> "    T sum_#{s} = T(__builtin_inf());\n"
      end),
      "#pragma omp simd#{reduction}\n",
      "    for (size_t j = j_begin; j < n_b; ++j) {\n",
      draw_words(ops, rule, "      ", "ids_a[i]", "ids_b[j]"),
      Enum.map(varying, &["      ", stmt(&1, ctx), "\n"]),
      Enum.map(slot0, fn
        {s, _, c, :store} -> "      sum_#{s} += r#{c} - start_#{s};\n"
        {s, _, c, :acc} -> "      sum_#{s} += r#{c};\n"
        {s, _, c, op} -> "      sum_#{s} = #{@combine_fn[op]}(sum_#{s}, r#{c});\n"
      end),
      Enum.map(slot1, fn
        {s, l, c, :store} ->
          "      acc_#{acc_of[s]}[j] += r#{c} - b_#{l}[j];\n"

        {s, _, c, :acc} ->
          "      acc_#{acc_of[s]}[j] += r#{c};\n"

        {s, _, c, op} ->
          "      acc_#{acc_of[s]}[j] = #{@combine_fn[op]}(acc_#{acc_of[s]}[j], r#{c});\n"
      end),
      "    }\n",
      Enum.map(slot0, fn
        {s, _, _, op} when op in [:store, :acc] ->
          "    acc_#{acc_of[s]}[i] += sum_#{s};\n"

        {s, _, _, op} ->
          "    acc_#{acc_of[s]}[i] = #{@combine_fn[op]}(acc_#{acc_of[s]}[i], sum_#{s});\n"
      end),
      "  }\n"
    ]
  end

  defp stmt({op, d, a, b, c}, ctx), do: ["const T r#{d} = ", expr(op, a, b, c, ctx), ";"]

  # What `expr/5` needs besides the instruction: the rule, its index (the draws' key), the
  # precision, the number of params (the box edges follow them) and the index expressions of
  # slot 0 and slot 1.
  defp context(rule, k, precision, n_params, i, j),
    do: %{rule: rule, index: k, precision: precision, n_params: n_params, i: i, j: j}

  defp draws?(ops), do: Enum.any?(ops, fn {op, _, _, _, _} -> op in [:uniform, :normal] end)

  # A kernel that draws: the seed, the step's counter words and the identity arrays (ABI 7).
  defp draw_setup(ops, ids_a, ids_b) do
    if draws?(ops) do
      [
        "  const uint32_t seed = args->seed;\n",
        "  const uint32_t step_lo = uint32_t(args->step), step_hi = uint32_t(args->step >> 32);\n",
        "  const uint32_t* __restrict ids_a = #{ids_a};\n",
        if(ids_b, do: "  const uint32_t* __restrict ids_b = #{ids_b};\n", else: [])
      ]
    else
      []
    end
  end

  # The counter words c0, c1 of a lane (docs/program.md, "Random numbers"): (id, 0) in a
  # per-agent rule, (min, max) of both identities in a pair-same rule, (id_a, id_b) otherwise.
  defp draw_words(ops, rule, indent, id_a, id_b) do
    cond do
      not draws?(ops) ->
        []

      id_b == nil ->
        [indent, "const uint32_t rc0 = #{id_a}, rc1 = 0;\n"]

      rule.kind == :pair_same ->
        [
          indent,
          "const uint32_t id_a = #{id_a}, id_b = #{id_b};\n",
          indent,
          "const uint32_t rc0 = id_a < id_b ? id_a : id_b, rc1 = id_a < id_b ? id_b : id_a;\n"
        ]

      true ->
        [indent, "const uint32_t rc0 = #{id_a}, rc1 = #{id_b};\n"]
    end
  end

  defp expr(:const, a, _, _, ctx), do: literal(Enum.at(ctx.rule.consts, a), ctx.precision)
  defp expr(:param, a, _, _, _), do: "params[#{a}]"
  # Box edges follow the params (generated_abi.hpp).
  defp expr(:box, a, _, _, ctx), do: "params[#{ctx.n_params + a}]"

  defp expr(op, a, _, _, ctx) when op in [:uniform, :normal] do
    key = Bitwise.band(Bitwise.bor(Bitwise.bsl(ctx.index, 16), a), 0xFFFFFFFF)

    "brz_#{op}(T(0), brz_block(rc0, rc1, step_lo, step_hi, seed, " <>
      "0x#{Integer.to_string(key, 16)}u))"
  end

  defp expr(:load, 0, l, _, ctx), do: "a_#{l}[#{ctx.i}]"
  defp expr(:load, 1, l, _, ctx), do: "b_#{l}[#{ctx.j}]"

  defp expr(op, a, b, c, _) do
    row = Op.fetch!(op)
    Op.cpp(row, Enum.take([a, b, c], row.arity))
  end

  # Exact literals: the bits of the f64 constant, or of its f32 rounding (out-of-range finite
  # values become +-inf, as the engine's to_precision does).
  defp literal(value, :f64) do
    <<bits::unsigned-64>> = <<value::float-64>>
    "__builtin_bit_cast(double, uint64_t(0x#{Integer.to_string(bits, 16)}ull))"
  end

  defp literal(value, :f32) do
    <<bits::unsigned-32>> = f32_bits(value)
    "__builtin_bit_cast(float, uint32_t(0x#{Integer.to_string(bits, 16)}u))"
  end

  defp f32_bits(value) do
    <<value::float-32>>
  rescue
    ArgumentError -> if value > 0, do: <<0x7F800000::32>>, else: <<0xFF800000::32>>
  end
end
