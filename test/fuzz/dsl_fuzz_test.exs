defmodule BrokenRecord.Zero.DSLFuzz do
  @moduledoc """
  Random `defsystem` sources for the DSL fuzzer: mutations of the systems of the test suite,
  random rule bodies over a fixed set of agents, and junk tokens spliced into either.

  Every source is a whole module (`defmodule ... do use BrokenRecord.Zero; defsystem Sim do
  ... end end`) printed by `Macro.to_string/1`, so that errors have real lines. The generators
  use the process's `:rand` state only.
  """

  @seed_files ["test/support/systems.ex", "test/support/conservation_systems.ex"]
  # DSL functions, and a few that are not.
  @functions ~w(dot cross length normalize sqrt abs min max clamp exp log sin cos pow floor)a ++
               ~w(atan2 length2 uniform normal)a
  @statement_heads [:if, :interaction, :defagent, :field, :conserves, :potential, :=]

  @doc "The bodies of the `defsystem`s of the test suite, as quoted expressions."
  def seed_bodies do
    laws = BrokenRecord.Zero.ConservationSystems.verdicts_source("BrzFuzzLaws")

    (Enum.map(@seed_files, &File.read!/1) ++ [laws])
    |> Enum.flat_map(fn source ->
      source
      |> Code.string_to_quoted!()
      |> Macro.prewalk([], fn
        {:defsystem, _, [_alias, [do: body]]} = node, acc -> {node, [body | acc]}
        node, acc -> {node, acc}
      end)
      |> elem(1)
      |> Enum.reverse()
    end)
  end

  @doc """
  The source of a module named `module` with one system whose body is `body`, or `nil` when
  the formatter cannot print the body (it only prints ASTs that some source could produce).
  """
  def source(module, body) do
    Macro.to_string(module_ast(module, body))
  rescue
    _ -> nil
  end

  @doc "The quoted module of `source/2`."
  def module_ast(module, body) do
    name = {:__aliases__, [], module |> String.split(".") |> Enum.map(&String.to_atom/1)}

    quote do
      defmodule unquote(name) do
        use BrokenRecord.Zero

        defsystem Sim do
          unquote(body)
        end
      end
    end
  end

  @doc """
  Whether two quoted expressions are the same program: metadata, variable contexts, the
  one-expression blocks of parentheses and the sign of number literals (`-1` or `-(1)`) aside.
  """
  def same_program?(a, b), do: normal(a) == normal(b)

  defp normal(ast) do
    Macro.prewalk(ast, fn
      {:__block__, _, [single]} -> normal(single)
      {name, _, context} when is_atom(name) and is_atom(context) -> {name, [], nil}
      {form, _, args} -> {form, [], args}
      n when is_number(n) and n < 0 -> {:-, [], [-n]}
      other -> other
    end)
  end

  ## Mutations

  @doc "`body` with one to three random mutations."
  def mutate(body) do
    Enum.reduce(1..Enum.random(1..3), body, fn _, body -> mutate_once(body) end)
  end

  defp mutate_once(body) do
    case :rand.uniform(8) do
      1 -> replace_node(body, fn _ -> expression(3) end)
      2 -> replace_node(body, fn _ -> junk() end)
      3 -> replace_node(body, fn _ -> number() end)
      4 -> replace_node(body, &swap_name/1)
      5 -> edit_list(body)
      6 -> replace_node(body, &wrap/1)
      7 -> replace_node(body, fn _ -> statement(2) end)
      8 -> replace_node(body, &rearity/1)
    end
  end

  # Replaces one node (a uniformly chosen one of the prewalk order) by `fun.(node)`.
  defp replace_node(ast, fun) do
    {_, count} = Macro.prewalk(ast, 0, fn node, n -> {node, n + 1} end)
    target = :rand.uniform(count) - 1

    {ast, _} =
      Macro.prewalk(ast, 0, fn
        node, ^target -> {fun.(node), target + 1}
        node, n -> {node, n + 1}
      end)

    ast
  end

  # Deletes, duplicates or swaps elements of a list (statements, arguments, keyword pairs).
  defp edit_list(ast) do
    replace_node(ast, fn
      [_ | _] = list ->
        i = :rand.uniform(length(list)) - 1
        j = :rand.uniform(length(list)) - 1

        case :rand.uniform(3) do
          1 ->
            List.delete_at(list, i)

          2 ->
            List.insert_at(list, i, Enum.at(list, j))

          3 ->
            list |> List.replace_at(i, Enum.at(list, j)) |> List.replace_at(j, Enum.at(list, i))
        end

      {:__block__, meta, [_ | _] = stmts} ->
        {:__block__, meta, Enum.drop(stmts, -1)}

      node ->
        node
    end)
  end

  @names ~w(position velocity mass radius normal count x y z w dt p q a b float int vec3 vec2)a ++
           ~w(energy momentum angular_momentum charge f64 f32 strict warn cpu simd nil true)a ++
           ~w(false collection default)a
  @aliases [[:Particle], [:Wall], [:Body], [:Blob], [:G], [:K], [:Z], [:Nope], [:Foo, :Bar]]

  defp swap_name(name) when is_atom(name), do: Enum.random(@names)
  defp swap_name({:__aliases__, meta, _}), do: {:__aliases__, meta, Enum.random(@aliases)}

  defp swap_name({name, meta, context}) when is_atom(name) and is_atom(context),
    do: {Enum.random(@names), meta, context}

  defp swap_name({name, meta, args}) when is_atom(name) and is_list(args),
    do: {Enum.random(@functions ++ @statement_heads), meta, args}

  defp swap_name(node), do: node

  defp wrap(node) do
    case :rand.uniform(4) do
      1 -> quote(do: if(unquote(expression(2)), do: unquote(node)))
      2 -> quote(do: if(unquote(expression(2)), do: unquote(node), else: unquote(node)))
      3 -> {:__block__, [], [node, node]}
      4 -> quote(do: unquote(node).unquote(Enum.random([:x, :y, :z, :w, :mass]))())
    end
  end

  defp rearity({name, meta, [_ | rest] = args}) when is_atom(name) do
    if :rand.uniform(2) == 1, do: {name, meta, rest}, else: {name, meta, args ++ [expression(1)]}
  end

  defp rearity(node), do: node

  ## Random programs

  @agent_fields %{
    Particle: [position: :vec3, velocity: :vec3, mass: :float, count: :int],
    Wall: [position: :vec3, normal: :vec3]
  }

  @headers [
    [p: :Particle],
    [p: :Particle, q: :Particle],
    [p: :Particle, w: :Wall],
    [p: :Particle, k: :float],
    [w: :Wall, p: :Particle, k: :float],
    [q: :Particle, p: :Particle, k: :float, dt: :float]
  ]

  @doc """
  A whole random system over a fixed pair of agent types (`Particle`, which declares random
  conservation laws, and `Wall`): random options and constants, and rules whose bodies are
  well typed except for a node in about every `1 / bad` (a wrong type, a name that is not
  bound, or junk).
  """
  def random_system(bad \\ 40) do
    Process.put(:brz_fuzz_bad, bad)
    Process.put(:brz_fuzz_clean, true)
    consts = Enum.take_random([:G, :K, :Z], Enum.random(0..3))
    env = %{slots: %{}, locals: %{}, scalars: [], consts: [], constant: true}

    constants =
      consts
      |> Enum.with_index()
      |> Enum.map(fn {name, i} ->
        value = typed(:float, 2, %{env | consts: Enum.take(consts, i)})
        quote(do: unquote({:__aliases__, [], [name]}) = unquote(value))
      end)

    options =
      Enum.take_random(
        [
          quote(do: precision(unquote(Enum.random([:f64, :f32, :f32, :f64])))),
          quote(do: conservation(unquote(Enum.random([:warn, :warn, :strict])))),
          quote(do: optimize(unquote(Enum.take_random([:simd, :loop_fusion, :spatial_hash], 2))))
        ],
        Enum.random(0..3)
      )

    laws = Enum.take_random([:mass, :momentum, :angular_momentum, :energy], Enum.random(0..4))

    agents =
      quote do
        agents do
          defagent Particle do
            field :position, :vec3
            field(:velocity, :vec3, unquote_splicing(default(:vec3)))
            field(:mass, :float, unquote_splicing(default(:float)))
            field(:count, :int, unquote_splicing(default(:int)))
            conserves unquote(laws)
          end

          defagent Wall do
            field :position, :vec3
            field :normal, :vec3
          end
        end
      end

    env = %{env | consts: consts, constant: false}
    rules = for i <- 1..Enum.random(1..3), do: rule(i, env)
    potentials = if :rand.uniform(4) == 1, do: [potential(env)], else: []

    {:__block__, [],
     constants ++
       options ++ [agents, quote(do: rules(do: unquote({:__block__, [], rules})))] ++ potentials}
  end

  defp default(type) do
    case {:rand.uniform(3), type} do
      {1, :vec3} -> [[default: {:{}, [], [literal(:float), literal(:float), literal(:float)]}]]
      {1, type} -> [[default: literal(type)]]
      _ -> []
    end
  end

  defp rule(i, env) do
    header = Enum.random(@headers)
    name = {String.to_atom("r#{i}"), [], [params(header)]}
    env = with_header(env, header)
    {body, _env} = statements(Enum.random(1..5), 2, env)
    quote(do: interaction(unquote(name), do: unquote({:__block__, [], body})))
  end

  defp potential(env) do
    header = [a: :Particle, b: :Particle]
    # a potential cannot draw random numbers, read params (dt included) or write fields
    env = env |> with_header(header) |> Map.merge(%{random: false, scalars: [], measure: true})
    {body, env} = statements(Enum.random(0..2), 1, env)
    value = typed(:float, 3, env)
    name = {:pe, [], [params(header)]}
    quote(do: potential(unquote(name), do: unquote({:__block__, [], body ++ [value]})))
  end

  defp params(header) do
    for {name, type} <- header do
      if type == :float,
        do: {name, {:float, [], nil}},
        else: {name, {:__aliases__, [], [type]}}
    end
  end

  defp with_header(env, header) do
    slots = for {name, type} <- header, type != :float, into: %{}, do: {name, type}
    scalars = for {name, :float} <- header, do: name
    %{env | slots: slots, scalars: Enum.uniq([:dt | scalars])}
  end

  # `n` statements; locals bound by one are in scope for the next.
  defp statements(n, depth, env) do
    Enum.map_reduce(1..n//1, env, fn _, env -> typed_statement(depth, env) end)
  end

  defp typed_statement(depth, env) do
    if bad?() do
      {statement(1), env}
    else
      case :rand.uniform(if depth > 0, do: 10, else: 8) do
        n when n in 4..6 and is_map_key(env, :measure) ->
          {quote(do: x = 1.0), bind(env, :x, :float)}

        n when n <= 3 ->
          type = Enum.random([:float, :float, :vec3, :int])
          name = Enum.random([:x, :y, :d, :u, :speed, :r2])

          {quote(do: unquote({name, [], nil}) = unquote(typed(type, 3, env))),
           bind(env, name, type)}

        n when n <= 6 ->
          {slot, agent} = Enum.random(env.slots)
          {field, type} = Enum.random(@agent_fields[agent])
          target = quote(do: unquote({slot, [], nil}).unquote(field)())
          value = typed(type, 3, env)

          # Sometimes a reduction (docs/dsl.md, "Reductions"), in either argument order.
          value =
            if type in [:float, :int] and :rand.uniform(4) == 1 do
              {op, args} = {Enum.random([:max, :min]), Enum.shuffle([target, value])}
              quote(do: unquote(op)(unquote_splicing(args)))
            else
              value
            end

          {quote(do: unquote(target) = unquote(value)), env}

        7 ->
          names = Enum.take_random([:a1, :a2, :a3, :a4], 3)
          vars = Enum.map(names, &{&1, [], nil})
          value = typed(:vec3, 2, env)

          {quote(do: {unquote_splicing(vars)} = unquote(value)),
           Enum.reduce(names, env, &bind(&2, &1, :float))}

        8 ->
          case [:H, :J] -- env.consts do
            [] ->
              {quote(do: x = 1.0), bind(env, :x, :float)}

            free ->
              name = Enum.random(free)
              constant_env = %{env | slots: %{}, locals: %{}, scalars: [], constant: true}
              value = typed(:float, 2, constant_env)

              {quote(do: unquote({:__aliases__, [], [name]}) = unquote(value)),
               %{env | consts: [name | env.consts]}}
          end

        _ ->
          condition = typed(:bool, 2, env)
          {then_body, _} = statements(Enum.random(1..2), depth - 1, env)

          if :rand.uniform(2) == 1 do
            {quote(do: if(unquote(condition), do: unquote({:__block__, [], then_body}))), env}
          else
            {else_body, _} = statements(Enum.random(1..2), depth - 1, env)

            {quote do
               if unquote(condition) do
                 unquote({:__block__, [], then_body})
               else
                 unquote({:__block__, [], else_body})
               end
             end, env}
          end
      end
    end
  end

  defp bind(env, name, type), do: %{env | locals: Map.put(env.locals, name, type)}

  defp bad? do
    bad = :rand.uniform(Process.get(:brz_fuzz_bad, 40)) == 1
    if bad, do: Process.put(:brz_fuzz_clean, false)
    bad
  end

  @doc """
  Whether the last `random_system/1` is well typed and uses no number at an edge of the float
  range: such a system compiles unless its arithmetic is not finite or it breaks a strict
  conservation law.
  """
  def clean?, do: Process.get(:brz_fuzz_clean, false)

  @doc "A random expression of type `:float`, `:int`, `:vec3` or `:bool` in `env`."
  def typed(type, depth, env) do
    if bad?() do
      Enum.random([expression(1), junk(), typed(Enum.random([:float, :vec3, :bool]), 1, env)])
    else
      choices = leaves(type, env) ++ if(depth > 0, do: nodes(type, depth - 1, env), else: [])
      Enum.random(choices).()
    end
  end

  defp leaves(type, env) do
    fields =
      for {slot, agent} <- env.slots,
          {field, ^type} <- @agent_fields[agent],
          do: fn -> quote(do: unquote({slot, [], nil}).unquote(field)()) end

    locals = for {name, ^type} <- env.locals, do: fn -> {name, [], nil} end

    case type do
      :float ->
        [fn -> literal(:float) end, fn -> quote(do: :math.pi()) end] ++
          Enum.map(env.scalars, fn s -> fn -> {s, [], nil} end end) ++
          Enum.map(env.consts, fn c -> fn -> {:__aliases__, [], [c]} end end) ++ fields ++ locals

      :int ->
        [fn -> literal(:int) end] ++ fields ++ locals

      :vec3 ->
        [fn -> {:{}, [], [literal(:float), literal(:float), literal(:int)]} end] ++
          fields ++ locals

      :bool ->
        [fn -> quote(do: unquote(literal(:float)) < unquote(literal(:float))) end]
    end
  end

  defp nodes(:float, d, env) do
    f = fn -> typed(Enum.random([:float, :float, :int]), d, env) end
    v = fn -> typed(:vec3, d, env) end

    scalar = [
      fn -> {Enum.random([:+, :-, :*, :/]), [], [f.(), f.()]} end,
      fn -> {Enum.random([:+, :-, :*, :/]), [], [f.(), f.()]} end,
      fn -> {:-, [], [f.()]} end,
      fn -> {:**, [], [f.(), literal(:int)]} end,
      fn -> {Enum.random([:sqrt, :abs, :exp, :log, :sin, :cos]), [], [f.()]} end,
      fn -> {Enum.random([:min, :max, :pow]), [], [f.(), f.()]} end,
      fn -> {{:., [], [:math, Enum.random([:sqrt, :exp, :log, :sin, :cos])]}, [], [f.()]} end
    ]

    # Constants are folded from scalar literals: no vector or clamp there.
    if env.constant do
      scalar
    else
      random =
        if Map.get(env, :random, true),
          do: [fn -> {Enum.random([:uniform, :normal]), [], []} end],
          else: []

      scalar ++
        [
          fn -> {:clamp, [], [f.(), f.(), f.()]} end,
          fn -> {:dot, [], [v.(), v.()]} end,
          fn -> {:length, [], [v.()]} end,
          fn -> quote(do: unquote(v.()).unquote(Enum.random([:x, :y, :z]))()) end
        ] ++ random
    end
  end

  defp nodes(:int, d, env) do
    i = fn -> typed(:int, d, env) end

    [
      fn -> {Enum.random([:+, :-, :*]), [], [i.(), i.()]} end,
      fn -> {Enum.random([:min, :max]), [], [i.(), i.()]} end,
      fn -> {:abs, [], [i.()]} end,
      fn -> {:floor, [], [typed(:float, d, env)]} end
    ]
  end

  defp nodes(:vec3, d, env) do
    f = fn -> typed(:float, d, env) end
    v = fn -> typed(:vec3, d, env) end

    [
      fn -> {:{}, [], [f.(), f.(), f.()]} end,
      fn -> {Enum.random([:+, :-]), [], [v.(), v.()]} end,
      fn -> {Enum.random([:+, :-]), [], [v.(), v.()]} end,
      fn -> {:*, [], [v.(), f.()]} end,
      fn -> {:*, [], [f.(), v.()]} end,
      fn -> {:/, [], [v.(), f.()]} end,
      fn -> {:-, [], [v.()]} end,
      fn -> {:cross, [], [v.(), v.()]} end,
      fn -> {:normalize, [], [v.()]} end
    ]
  end

  defp nodes(:bool, d, env) do
    f = fn -> typed(Enum.random([:float, :int]), d, env) end
    b = fn -> typed(:bool, d, env) end

    [
      fn -> {Enum.random([:<, :<=, :>, :>=, :==, :!=]), [], [f.(), f.()]} end,
      fn -> {Enum.random([:<, :<=, :>, :>=, :==, :!=]), [], [f.(), f.()]} end,
      fn -> {Enum.random([:and, :or, :&&, :||]), [], [b.(), b.()]} end,
      fn -> {Enum.random([:not, :!]), [], [b.()]} end
    ]
  end

  # A literal, at an edge of the float range now and then.
  defp literal(:int), do: literal([0, 1, 2, 3, -1, 7])
  defp literal(:float), do: literal([0.0, 0.5, 1.0, 2.5, -1.5, 9.81, 0.01, 1.0e-3, 100.0])

  defp literal(choices) do
    if :rand.uniform(30) == 1 do
      Process.put(:brz_fuzz_clean, false)
      number()
    else
      Enum.random(choices)
    end
  end

  @doc "A random rule statement of nesting depth at most `depth`."
  def statement(depth) do
    case :rand.uniform(if depth > 0, do: 7, else: 5) do
      1 ->
        quote(do: unquote(var()) = unquote(expression(3)))

      2 ->
        quote(do: unquote(field_access()) = unquote(expression(3)))

      3 ->
        quote(do: {unquote(var()), unquote(var()), unquote(var())} = unquote(expression(2)))

      4 ->
        quote(do: unquote(alias()) = unquote(expression(2)))

      5 ->
        junk()

      6 ->
        quote(do: if(unquote(expression(2)), do: unquote(statement(depth - 1))))

      7 ->
        quote(
          do:
            if(unquote(expression(2)),
              do: unquote(statement(depth - 1)),
              else: unquote(statement(depth - 1))
            )
        )
    end
  end

  @math [:sqrt, :exp, :log, :sin, :cos, :pow, :floor, :pi, :tan]
  @binary [:+, :-, :*, :/, :**, :<, :<=, :>, :>=, :==, :!=, :and, :or, :&&, :||]

  @doc "A random expression of depth at most `depth`."
  def expression(0), do: leaf()

  def expression(depth) do
    case :rand.uniform(9) do
      n when n <= 2 -> leaf()
      3 -> {Enum.random(@binary), [], [expression(depth - 1), expression(depth - 1)]}
      4 -> {Enum.random([:-, :not, :!, :+]), [], [expression(depth - 1)]}
      5 -> {Enum.random(@functions), [], args(depth - 1)}
      6 -> {{:., [], [:math, Enum.random(@math)]}, [], args(depth - 1)}
      7 -> {:{}, [], for(_ <- 1..3, do: expression(depth - 1))}
      8 -> quote(do: unquote(expression(depth - 1)).unquote(Enum.random([:x, :y, :z, :w]))())
      9 -> {Enum.random(@binary), [], [leaf(), expression(depth - 1)]}
    end
  end

  defp args(depth), do: for(_ <- 1..Enum.random([1, 1, 2, 2, 3]), do: expression(depth))

  defp leaf do
    case :rand.uniform(7) do
      1 -> number()
      2 -> var()
      3 -> field_access()
      4 -> field_access()
      5 -> alias()
      6 -> quote(do: :math.pi())
      7 -> Enum.random([number(), var(), junk()])
    end
  end

  defp var, do: {Enum.random([:x, :y, :z, :d, :dt, :k, :p, :q, :w, :speed]), [], nil}
  defp alias, do: {:__aliases__, [], Enum.random([[:G], [:K], [:Z], [:H]])}

  defp field_access do
    slot = {Enum.random([:p, :q, :w, :k, :x]), [], nil}
    field = Enum.random([:position, :velocity, :mass, :count, :normal, :radius, :x])
    quote(do: unquote(slot).unquote(field)())
  end

  @doc "A number, often one at an edge of the float range."
  def number do
    case :rand.uniform(12) do
      1 -> 0
      2 -> 0.0
      3 -> 1.0e308
      4 -> 5.0e-324
      5 -> 10 ** 400
      6 -> 2 ** 53 + 1
      7 -> 2 ** 1024
      8 -> 1.0e-300
      9 -> {:-, [], [Enum.random([1, 1.0e308, 10 ** 400])]}
      _ -> Enum.random([1, 2, 3, 0.5, 9.81, -1, 1.0e200, 100])
    end
  end

  @doc "A quoted expression outside the DSL."
  def junk do
    Enum.random([
      quote(do: Enum.sum([1, 2])),
      quote(do: "string"),
      quote(do: :atom),
      quote(do: [1, 2, 3]),
      quote(do: {1, 2}),
      quote(do: {1, 2, 3, 4}),
      quote(do: %{a: 1}),
      quote(do: <<1, 2>>),
      quote(do: ~c"chars"),
      quote(do: @attr),
      quote(do: &(&1 + 1)),
      quote(do: fn x -> x end),
      quote(do: ^pinned),
      quote(do: __MODULE__),
      quote(do: x |> length()),
      quote(do: unquote(:x)),
      quote(do: case(x, do: (_ -> 1))),
      quote(do: p.velocity.x.y),
      quote(do: x.(1)),
      quote(do: Foo.bar(1)),
      quote(do: :math.atan2(1, 2)),
      quote(do: nil),
      quote(do: true),
      quote(do: x[0]),
      quote(do: 1..3),
      quote(do: x = y = 1),
      quote(do: defagent(Particle)),
      quote(do: field(:mass)),
      quote(do: field(:mass, :float, default: {foo(), 0.0, 0.0})),
      quote(do: field(:mass, :float, default: 1, min: 0)),
      quote(do: defagent(Extra, collection: "extras", do: field(:a, :float))),
      quote(do: interaction(bad([{"p", Particle}]), do: p.mass = 1.0)),
      quote(do: interaction(bad(p: Particle, k: int), do: p.mass = k)),
      quote(do: potential(pe(a: Body, b: Body), do: nil)),
      quote(do: potential(pe(a: Particle, b: Particle), do: a.position)),
      quote(do: rules(do: nil)),
      quote(do: agents(do: nil)),
      quote(do: conserves([:charge])),
      quote(do: conserves(:mass)),
      quote(do: compile_target(:gpu)),
      quote(do: optimize(:simd)),
      {:{}, [], [quote(do: foo()), 0.0, 0.0]}
    ])
  end

  ## Junk tokens

  @tokens [
    "(",
    ")",
    "do",
    "end",
    ",",
    "->",
    "|>",
    "@",
    "&",
    "%",
    "{",
    "}",
    "[",
    "]",
    "..",
    "::",
    "\\\\",
    "?a",
    "'x'",
    "\"s\"",
    "~w(a)",
    "1.0e308",
    String.duplicate("9", 400),
    ":math",
    ".",
    "when",
    "fn",
    "<<",
    ">>",
    "^",
    "\n",
    " dt ",
    " p.mass ",
    " Particle ",
    "\ndefagent X do\nend\n",
    "\nfield :z, :float\n",
    "\nconserves [:energy]\n",
    " = ",
    " / 0",
    " * 1.0e300",
    " + ",
    " if ",
    "_",
    "__MODULE__",
    " unquote(x) "
  ]

  @doc """
  `source` with one to three random tokens inserted at random places of the system's body (the
  lines between `defsystem` and its `end`), at the start of a line half of the time.
  """
  def splice(source) do
    lines = String.split(source, "\n")
    first = Enum.find_index(lines, &String.contains?(&1, "defsystem")) + 1
    last = length(lines) - 3

    lines =
      Enum.reduce(1..Enum.random(1..3), lines, fn _, lines ->
        i = Enum.random(first..last)
        line = Enum.at(lines, i)
        at = if :rand.uniform(2) == 1, do: 0, else: :rand.uniform(String.length(line) + 1) - 1
        {left, right} = String.split_at(line, at)
        List.replace_at(lines, i, left <> Enum.random(@tokens) <> right)
      end)

    Enum.join(lines, "\n")
  end
end

defmodule BrokenRecord.Zero.DSLFuzzTest do
  @moduledoc """
  Compiles random `defsystem` sources and checks that each one either compiles or raises a
  `CompileError` whose message names the file and a line of the source: never any other
  exception, and never a hang.

  Bounded by default (a fixed seed and iteration count); `BROKEN_RECORD_FUZZ_SEED` and
  `BROKEN_RECORD_FUZZ_ITERATIONS` (per generator) change them, e.g.

      BROKEN_RECORD_FUZZ_SEED=7 BROKEN_RECORD_FUZZ_ITERATIONS=5000 mix test test/fuzz --only fuzz

  Each case is generated from its own seed `{seed, generator, iteration}`, which the failure
  report prints with the source. The generated kernels are turned off while fuzzing
  (`BROKEN_RECORD_KERNELS=0`: a C++ build per system would dominate); compiled modules are
  purged after each case.
  """
  # Not async: the kernels are turned off through the environment, and warnings are captured
  # from the global standard error.
  use ExUnit.Case, async: false

  import ExUnit.CaptureIO

  alias BrokenRecord.Zero.DSLFuzz

  @moduletag :fuzz

  @seed String.to_integer(System.get_env("BROKEN_RECORD_FUZZ_SEED", "1"))
  @iterations String.to_integer(System.get_env("BROKEN_RECORD_FUZZ_ITERATIONS", "500"))
  # One case may not take longer than this.
  @case_timeout 20_000
  @moduletag timeout: @iterations * @case_timeout + 60_000

  setup_all do
    previous = System.get_env("BROKEN_RECORD_KERNELS")
    System.put_env("BROKEN_RECORD_KERNELS", "0")

    on_exit(fn ->
      if previous,
        do: System.put_env("BROKEN_RECORD_KERNELS", previous),
        else: System.delete_env("BROKEN_RECORD_KERNELS")
    end)

    %{bodies: DSLFuzz.seed_bodies()}
  end

  test "mutations of the suite's systems", %{bodies: bodies} do
    fuzz(:mutation, fn -> {DSLFuzz.mutate(Enum.random(bodies)), false} end)
  end

  test "random systems, well typed but for a few nodes", _ do
    fuzz(:random, fn -> {DSLFuzz.random_system(), DSLFuzz.clean?()} end)
  end

  test "mutations of random systems", _ do
    fuzz(:random_mutation, fn -> {DSLFuzz.mutate(DSLFuzz.random_system()), false} end)
  end

  test "junk tokens in mutated and random systems", %{bodies: bodies} do
    fuzz(:tokens, fn ->
      body =
        if :rand.uniform(2) == 1,
          do: DSLFuzz.mutate(Enum.random(bodies)),
          else: DSLFuzz.random_system()

      {body, false}
    end)
  end

  # The only reasons to reject a well-typed system without numbers at the edges of the float
  # range (DSLFuzz.clean?/0): those and a field reduced in a pair rule and also written
  # otherwise, or with both max and min (docs/dsl.md, "Reductions").
  @clean_rejections ~r/is not finite|division by zero|violates \w+ conservation|cannot check|as a m(ax|in) reduction|with both max and min/

  # Runs @iterations cases of one generator (a function returning a system body and whether it
  # is clean); fails with the cases that broke the rule.
  defp fuzz(generator, body_fun) do
    results =
      for i <- 1..@iterations do
        :rand.seed(:exsss, {@seed, :erlang.phash2(generator), i})
        module = "BrzFuzz.#{Macro.camelize(Atom.to_string(generator))}#{i}"
        {body, clean} = body_fun.()
        source = DSLFuzz.source(module, body)

        clean = clean and parses_back?(source, DSLFuzz.module_ast(module, body))
        source = if generator == :tokens and source, do: DSLFuzz.splice(source), else: source

        result =
          case run_case(source, "fuzz_#{generator}_#{i}.exs") do
            {:compile_error, message} when clean ->
              if message =~ @clean_rejections,
                do: {:compile_error, message},
                else: {:bad, "a well-typed system was rejected: #{message}"}

            result ->
              result
          end

        {i, source, result}
      end

    counts = Enum.frequencies_by(results, fn {_, _, result} -> elem(result, 0) end)
    failures = for {i, source, {:bad, reason}} <- results, do: {i, source, reason}

    assert failures == [],
           "#{length(failures)} of #{@iterations} #{generator} cases broke the rule (seed " <>
             "#{@seed}, #{inspect(counts)}); the first ones:\n\n" <>
             (failures
              |> Enum.uniq_by(fn {_, _, reason} -> String.slice(reason, 0, 60) end)
              |> Enum.take(5)
              |> Enum.map_join("\n", fn {i, source, reason} ->
                "case #{i}: #{reason}\n#{source}\n"
              end))

    # The generator must produce both rejected and, unless it only splices junk, valid systems.
    assert Map.get(counts, :compile_error, 0) > 0, inspect(counts)
    if generator != :tokens, do: assert(Map.get(counts, :compiled, 0) > 0, inspect(counts))
  end

  # Whether `source` parses to `ast`: the formatter prints a few ASTs as source that parses to
  # another program (`-(-1)` as `--1`), which may then be rejected.
  defp parses_back?(nil, _ast), do: false

  defp parses_back?(source, ast) do
    case Code.string_to_quoted(source) do
      {:ok, parsed} -> DSLFuzz.same_program?(ast, parsed)
      {:error, _} -> false
    end
  end

  # {:compiled | :compile_error | :unprintable | :unparsable | :bad, detail}. Compiles in a
  # separate process, so that a case that hangs can be stopped; warnings are captured here, in
  # the test process.
  defp run_case(nil, _file), do: {:unprintable, nil}

  defp run_case(source, file) do
    parent = self()

    capture_io(:stderr, fn ->
      result =
        case Code.string_to_quoted(source) do
          {:error, _} ->
            {:unparsable, nil}

          {:ok, _} ->
            task = Task.async(fn -> compile(source, file) end)

            case Task.yield(task, @case_timeout) || Task.shutdown(task, :brutal_kill) do
              {:ok, result} -> result
              _ -> {:bad, "no result within #{@case_timeout} ms"}
            end
        end

      send(parent, {:fuzz_result, result})
    end)

    receive do
      {:fuzz_result, result} -> result
    end
  end

  defp compile(source, file) do
    lines = source |> String.split("\n") |> length()

    try do
      for {module, _} <- Code.compile_string(source, file) do
        :code.purge(module)
        :code.delete(module)
      end

      {:compiled, nil}
    rescue
      error in CompileError ->
        message = Exception.message(error)

        cond do
          not (is_integer(error.line) and error.line in 1..lines) ->
            {:bad, "CompileError without a line of the source: #{message}"}

          not String.contains?(message, "#{file}:#{error.line}") ->
            {:bad, "CompileError whose message does not name #{file}:line: #{message}"}

          true ->
            {:compile_error, message}
        end

      error ->
        {:bad,
         "#{inspect(error.__struct__)}: #{String.slice(Exception.message(error), 0, 300)}\n" <>
           Exception.format_stacktrace(Enum.take(__STACKTRACE__, 6))}
    catch
      kind, reason -> {:bad, "#{kind}: #{inspect(reason, limit: 20)}"}
    end
  end
end
