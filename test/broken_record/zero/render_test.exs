defmodule BrokenRecord.Zero.RenderTest do
  # Pictures (docs/io.md) decoded by real decoders: PNG by Pillow (size, mode, the colour of
  # chosen pixels: a disc's centre, the background, the box outline), SVG by :xmerl (the
  # circles and their attributes). Worlds of both backends draw the same picture.
  use ExUnit.Case, async: true

  alias BrokenRecord.Zero.{Render, World}
  alias BrokenRecord.Zero.FieldTypeSystems
  alias BrokenRecord.Zero.FieldTypeSystems.Epidemic

  @moduletag :tmp_dir

  @decode """
  import sys
  from PIL import Image
  im = Image.open(sys.argv[1])
  im.load()
  print(im.width, im.height, im.mode)
  for arg in sys.argv[2:]:
      if arg.startswith('count:'):
          want = tuple(map(int, arg[6:].split(',')))
          print(sum(1 for p in im.getdata() if p[:len(want)] == want))
      else:
          x, y = map(int, arg.split(','))
          print(*im.getpixel((x, y)))
  """

  # Decodes a PNG with Pillow: {{width, height, mode}, [answer per query]}; a query is
  # {x, y} (the pixel's channels) or {:count, rgb} (how many pixels have that colour).
  defp decode!(path, queries) do
    args =
      Enum.map(queries, fn
        {:count, {r, g, b}} -> "count:#{r},#{g},#{b}"
        {x, y} -> "#{x},#{y}"
      end)

    {out, status} =
      System.cmd("/usr/bin/python3", ["-c", @decode, path | args], stderr_to_stdout: true)

    assert status == 0, out
    [header | answers] = String.split(out, "\n", trim: true)
    [w, h, mode] = String.split(header)

    answers =
      Enum.map(answers, fn line ->
        line |> String.split() |> Enum.map(&String.to_integer/1) |> List.to_tuple()
      end)

    {{String.to_integer(w), String.to_integer(h), mode}, answers}
  end

  @white {255, 255, 255}
  @black {0, 0, 0}
  @blue {31, 119, 180}
  @orange {255, 127, 14}
  @green {44, 160, 44}

  # Three beads in a 10 x 10 box: on a 200 x 200 picture the margin is 6 pixels and the scale
  # 18.8 pixels a unit, so (u, v) is drawn at (100 + 18.8 (u - 5), 100 - 18.8 (v - 5)).
  defp beads do
    %{
      beads: [
        %{position: {5.0, 5.0, 0.0}, kind: :a, e: 5},
        %{position: {2.0, 8.0, 0.0}, kind: :b, e: 0},
        %{position: {8.0, 2.0, 0.0}, kind: :c, e: 10.0}
      ],
      box: {10.0, 10.0, 1.0}
    }
  end

  test "PNG: discs coloured by an enum field at their centres, the background, the box outline",
       %{tmp_dir: dir} do
    path = Path.join(dir, "beads.png")

    assert :ok =
             Render.frame(beads(), path,
               collection: :beads,
               size: {200, 200},
               radius: 0.5,
               color: :kind
             )

    queries =
      [{100, 100}, {108, 100}, {111, 100}, {43, 43}, {156, 156}] ++
        [{6, 100}, {194, 100}, {100, 6}, {100, 194}, {5, 100}, {7, 100}, {2, 2}]

    assert {{200, 200, "RGB"}, pixels} = decode!(path, queries)

    assert pixels ==
             [@blue, @blue, @white, @orange, @green] ++
               [@black, @black, @black, @black, @white, @white, @white]

    assert <<137, 80, 78, 71, 13, 10, 26, 10, _::binary>> = File.read!(path)
  end

  test "PNG: a numeric field through a colour map, radii from a field, the view without a box",
       %{tmp_dir: dir} do
    path = Path.join(dir, "viridis.png")
    state = Map.delete(beads(), :box)
    beads = Enum.map(state.beads, &Map.put(&1, :size, 1.0))
    # the discs alone span [1, 9]: the scale is 188 / 8 = 23.5 pixels a unit
    :ok =
      Render.frame(%{beads: beads}, path,
        collection: :beads,
        size: {200, 200},
        color: :e,
        radius: :size
      )

    assert {{200, 200, "RGB"}, pixels} =
             decode!(path, [{100, 100}, {29, 29}, {170, 170}, {100, 122}, {100, 125}])

    assert pixels == [{38, 130, 142}, {68, 1, 84}, {253, 231, 37}, {38, 130, 142}, @white]
  end

  test "PNG with a translucent background is RGBA; SVG parses and has the circles",
       %{tmp_dir: dir} do
    png = Path.join(dir, "clear.png")
    opts = [collection: :beads, size: {200, 200}, radius: 0.5, color: :kind]
    :ok = Render.frame(beads(), png, [background: {0, 0, 0, 0}] ++ opts)
    assert {{200, 200, "RGBA"}, pixels} = decode!(png, [{100, 100}, {50, 100}])
    assert pixels == [{31, 119, 180, 255}, {0, 0, 0, 0}]

    svg = Path.join(dir, "beads.svg")
    :ok = Render.frame(beads(), svg, opts)
    {doc, []} = svg |> File.read!() |> String.to_charlist() |> :xmerl_scan.string(quiet: true)

    circles =
      for element <- :xmerl_xpath.string('//circle', doc) do
        {:xmlElement, :circle, _, _, _, _, _, attributes, _, _, _, _} = element
        Map.new(attributes, fn attr -> {elem(attr, 1), to_string(elem(attr, 8))} end)
      end

    assert Enum.map(circles, &{&1.cx, &1.cy, &1.r, &1.fill}) == [
             {"100.0", "100.0", "9.4", "#1f77b4"},
             {"43.6", "43.6", "9.4", "#ff7f0e"},
             {"156.4", "156.4", "9.4", "#2ca02c"}
           ]

    [outline] = :xmerl_xpath.string('//rect[@fill="none"]', doc)

    assert outline |> elem(7) |> Enum.map(&to_string(elem(&1, 8))) |> Enum.take(4) ==
             ["6.0", "6.0", "188.0", "188.0"]
  end

  @tag :native
  test "worlds of both backends draw the same picture", %{tmp_dir: dir} do
    state = FieldTypeSystems.people(200, 2)
    opts = [collection: :people, size: {240, 240}, radius: 0.3, color: :status]

    [native, elixir] =
      for backend <- [:native, :interpreted] do
        world = World.new(Epidemic, state, backend: backend)
        world = World.step(world, steps: 4, dt: 0.1, params: FieldTypeSystems.epidemic_params())
        path = Path.join(dir, "#{backend}.png")
        :ok = Render.frame(%{world: world, step: 4}, path, opts)
        File.read!(path)
      end

    assert native == elixir
    path = Path.join(dir, "native.png")
    # infected people (the enum's second value) are orange
    assert {{240, 240, "RGB"}, [{n}]} = decode!(path, [{:count, @orange}])
    assert n > 0
  end

  test "100,000 discs render quickly", %{tmp_dir: dir} do
    :rand.seed(:exsss, {4, 5, 6})

    dots =
      for _ <- 1..100_000, do: %{position: {:rand.uniform() * 100, :rand.uniform() * 100, 0.0}}

    dots = [%{position: {50.0, 50.0, 0.0}, e: 1.0} | Enum.map(dots, &Map.put(&1, :e, 0.0))]
    path = Path.join(dir, "many.png")
    opts = [collection: :dots, radius: 0.2, size: {1000, 1000}, color: :e]
    {micros, :ok} = :timer.tc(fn -> Render.frame(%{dots: Enum.reverse(dots)}, path, opts) end)
    assert micros < 20_000_000
    # the last disc drawn (the only one with e = 1) is on top at the centre
    assert {{1000, 1000, "RGB"}, [{253, 231, 37}]} = decode!(path, [{500, 500}])
  end

  defp samples do
    for i <- 0..20 do
      %{step: i * 10, time: i * 0.5, values: %{"energy" => 100 + i, "pe" => -50 + i * i / 4}}
    end
  end

  test "plots: a line per value, axes, ticks and legend, in PNG and SVG", %{tmp_dir: dir} do
    png = Path.join(dir, "plot.png")
    :ok = Render.plot(samples(), png, size: {400, 300})
    # the plot area: x from 70 to 380, y from 260 (bottom) to 20
    queries = [
      {:count, @blue},
      {:count, @orange},
      {:count, @black},
      {70, 260},
      {70, 100},
      {200, 260},
      {2, 2}
    ]

    assert {{400, 300, "RGB"}, [{blue}, {orange}, {black} | pixels]} = decode!(png, queries)
    assert blue > 250 and orange > 250 and black > 600
    assert pixels == [@black, @black, @black, @white]

    svg = Path.join(dir, "plot.svg")
    :ok = Render.plot(samples(), svg, size: {400, 300}, x: :step)
    {doc, []} = svg |> File.read!() |> String.to_charlist() |> :xmerl_scan.string(quiet: true)
    assert length(:xmerl_xpath.string('//polyline', doc)) == 2

    texts =
      for {:xmlText, _, _, _, value, _} <- :xmerl_xpath.string('//text/text()', doc),
          do: to_string(value)

    assert "energy" in texts and "pe" in texts and "step" in texts
    assert "200" in texts and "0" in texts
  end

  test "a series of one sample is a dot; a plot of no samples has axes", %{tmp_dir: dir} do
    path = Path.join(dir, "one.png")
    :ok = Render.plot([%{step: 3, values: %{t: 1.5}}], path, size: {200, 150})
    assert {{200, 150, "RGB"}, [{n}]} = decode!(path, [{:count, @blue}])
    assert n > 4

    :ok = Render.plot([], Path.join(dir, "none.svg"))
    assert File.read!(Path.join(dir, "none.svg")) =~ "<line"
  end

  test "bad input is an ArgumentError naming it", %{tmp_dir: dir} do
    png = Path.join(dir, "x.png")
    opts = [collection: :beads]

    cases = [
      {fn -> Render.frame(beads(), Path.join(dir, "x.jpg"), opts) end,
       ~s(unknown picture format ".jpg"; known: .png, .svg)},
      {fn -> Render.frame(beads(), png, color: :e, colormap: :jet, collection: :beads) end,
       "unknown colormap :jet; known: :coolwarm, :greys, :plasma, :viridis"},
      {fn -> Render.frame(beads(), png, color: :position, collection: :beads) end,
       "color field :position of beads is a vec3"},
      {fn -> Render.frame(beads(), png, color: :mass, collection: :beads) end,
       "unknown field :mass: state.beads[0] has no key :mass"},
      {fn -> Render.frame(beads(), png, radius: :kind, collection: :beads) end,
       "radius field :kind of beads must be numeric"},
      {fn -> Render.frame(beads(), png, size: {0, 10}, collection: :beads) end,
       "option size must be {width, height}"},
      {fn -> Render.frame(beads(), png, axes: {:x, :x}, collection: :beads) end,
       "option axes must be two different axes"},
      {fn -> Render.frame(beads(), png, collection: :atoms) end,
       "unknown collection :atoms in frame 0; known: :beads"},
      {fn -> Render.plot([%{step: 1, values: %{e: :high}}], png) end,
       "sample 0: value :e is not a number: :high"},
      {fn -> Render.plot(:none, png) end, "samples must be an enumerable, got: :none"},
      {fn -> Render.plot([%{values: %{e: 1}}], png, x: :time) end,
       "sample 0 has no numeric :time: nil"}
    ]

    for {fun, message} <- cases do
      error = assert_raise ArgumentError, fun
      assert error.message =~ message
    end
  end
end
