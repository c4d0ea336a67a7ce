defmodule BrokenRecord.Zero.Render do
  @moduledoc """
  Pictures of a run in pure Elixir (`docs/io.md`): a frame's agents as discs
  (`frame/3`) and line plots of sampled values (`plot/3`), as PNG or SVG chosen by the path's
  extension (`.png`, `.svg`).

  PNG is encoded here (8-bit RGB, or RGBA with a translucent background; one IDAT compressed
  by `:zlib`, CRCs by `:erlang.crc32/1`). Shapes are drawn into an `:atomics` array of
  packed pixels, so 100,000 discs cost a few hundred thousand array writes, then read out row
  by row. PNG labels use the 5x7 font of `BrokenRecord.Zero.Render.Font` (digits, A-Z drawn in
  upper case, `. - + : _ = ( ) / ,`; other characters are drawn as `?`); SVG labels are text.

  Both formats draw the same scene: a list of shapes in pixel coordinates (y down, pixel
  `(i, j)` covering `[i, i + 1) x [j, j + 1)`), so a picture's geometry does not depend on
  its format.

      iex> path = Path.join(System.tmp_dir!(), "brz_doctest.svg")
      iex> state = %{atoms: [%{position: {0.0, 0.0, 0.0}}, %{position: {1.0, 1.0, 0.0}}]}
      iex> BrokenRecord.Zero.Render.frame(state, path, collection: :atoms, size: {40, 40})
      :ok
      iex> path |> File.read!() |> String.split("<circle") |> length()
      3
  """

  import Bitwise

  alias BrokenRecord.Zero.Frame
  alias BrokenRecord.Zero.Render.Font

  @typedoc "An 8-bit colour."
  @type rgb :: {0..255, 0..255, 0..255}

  @colormaps %{
    viridis: [
      {68, 1, 84},
      {72, 40, 120},
      {62, 73, 137},
      {49, 104, 142},
      {38, 130, 142},
      {31, 158, 137},
      {53, 183, 121},
      {110, 206, 88},
      {253, 231, 37}
    ],
    plasma: [{13, 8, 135}, {126, 3, 168}, {204, 71, 120}, {248, 149, 64}, {240, 249, 33}],
    coolwarm: [{59, 76, 192}, {221, 221, 221}, {180, 4, 38}],
    greys: [{0, 0, 0}, {200, 200, 200}]
  }

  # Categories (enum values, plot lines): the ten colours of matplotlib's "tab10", cycled.
  @categories List.to_tuple([
                {31, 119, 180},
                {255, 127, 14},
                {44, 160, 44},
                {214, 39, 40},
                {148, 103, 189},
                {140, 86, 75},
                {227, 119, 194},
                {127, 127, 127},
                {188, 189, 34},
                {23, 190, 207}
              ])

  @frame_options [
    :collection,
    :size,
    :axes,
    :radius,
    :color,
    :colormap,
    :background,
    :box_color,
    :position
  ]
  @plot_options [:size, :x, :background]
  @axes [:x, :y, :z]
  @black {0, 0, 0}
  @white {255, 255, 255}

  @doc """
  Draws the agents of one frame (a state, a `BrokenRecord.Zero.World` or a sample, as
  `BrokenRecord.Zero.Trajectory.write/3` takes them) to `path` as filled discs projected on two
  axes, with the box outline when the frame has a box, and returns `:ok`.

  Options:
    * `collection:` (required) the state key of the agents;
    * `size:` `{width, height}` in pixels, at most 2^24 of them (default `{800, 800}`);
    * `axes:` the two axes drawn, horizontal then vertical (default `{:x, :y}`; y points up);
    * `radius:` a number (world units) or a numeric field (default: the `:radius` field when
      the agents have one, else `0.5`); a disc is at least its centre pixel;
    * `color:` an `{r, g, b}` or a field: a numeric field is scaled from its minimum to its
      maximum through `colormap:`, an enum or boolean field takes one colour per value
      (declared order for a world; see `BrokenRecord.Zero.Frame`) (default `{31, 119, 180}`);
    * `colormap:` `:viridis` (default), `:plasma`, `:coolwarm` or `:greys`;
    * `background:` `{r, g, b}` or `{r, g, b, a}` (default white; an alpha makes an RGBA PNG);
    * `box_color:` the box outline (default black); `position:` the coordinate field.

  The view is the bounding rectangle of the discs and the box, scaled uniformly to fill the
  picture less a margin of 3% (at least 4 pixels) and centred. Later agents are drawn over
  earlier ones; the box outline is drawn last.
  """
  @spec frame(term, Path.t(), keyword) :: :ok
  def frame(input, path, opts) do
    format = format!(path)
    opts = options!(opts, @frame_options)
    collection = Keyword.get(opts, :collection)

    unless is_atom(collection) and collection != nil,
      do: raise(ArgumentError, "option collection: (an atom) is required")

    position = Keyword.get(opts, :position, :position)
    frame = Frame.new!(input, collection, 0, %{}, position)
    size = size!(Keyword.get(opts, :size, {800, 800}))
    background = color!(Keyword.get(opts, :background, @white), :background, true)
    scene = frame_scene(frame, size, position, opts)
    write(format, path, size, background, scene)
  end

  @doc """
  Draws line plots of `samples` to `path` and returns `:ok`: a list of
  `%{step: step, time: time, values: %{name => number}}`, one line per value name (in the
  names' order, coloured as categories), with axes, tick labels and a legend.

  Options: `size:` (default `{800, 500}`), `x:` `:time` or `:step` (default `:time` when every
  sample has a numeric `:time`, else `:step`), `background:` as `frame/3`.
  """
  @spec plot(Enumerable.t(), Path.t(), keyword) :: :ok
  def plot(samples, path, opts \\ []) do
    format = format!(path)
    opts = options!(opts, @plot_options)
    size = size!(Keyword.get(opts, :size, {800, 500}))
    background = color!(Keyword.get(opts, :background, @white), :background, true)

    unless Enumerable.impl_for(samples),
      do:
        raise(ArgumentError, "samples must be an enumerable, got: #{inspect(samples, limit: 5)}")

    samples = Enum.to_list(samples)
    scene = plot_scene(samples, size, Keyword.get(opts, :x))
    write(format, path, size, background, scene)
  end

  ## options

  defp format!(path) do
    case Path.extname(path) do
      ".png" -> :png
      ".svg" -> :svg
      ext -> raise ArgumentError, "unknown picture format #{inspect(ext)}; known: .png, .svg"
    end
  end

  defp options!(opts, known) do
    unless Keyword.keyword?(opts),
      do: raise(ArgumentError, "options must be a keyword list, got: #{inspect(opts)}")

    for {key, _} <- opts, key not in known do
      raise ArgumentError,
            "unknown option #{inspect(key)}; known options: " <>
              Enum.map_join(known, ", ", &inspect/1)
    end

    opts
  end

  defp size!({w, h})
       when is_integer(w) and is_integer(h) and w > 0 and h > 0 and w * h <= 1 <<< 24,
       do: {w, h}

  defp size!(other),
    do:
      raise(
        ArgumentError,
        "option size must be {width, height} of positive integers (at most 2^24 pixels), " <>
          "got: #{inspect(other)}"
      )

  defp color!({r, g, b} = c, _name, _alpha?) when r in 0..255 and g in 0..255 and b in 0..255,
    do: c

  defp color!({r, g, b, a} = c, _name, true)
       when r in 0..255 and g in 0..255 and b in 0..255 and a in 0..255,
       do: c

  defp color!(other, name, _alpha?),
    do: raise(ArgumentError, "option #{name} must be {r, g, b} of 0..255, got: #{inspect(other)}")

  ## the frame scene

  defp frame_scene(frame, {w, h}, position, opts) do
    {a, b} = axes!(Keyword.get(opts, :axes, {:x, :y}))
    radii = radii!(frame, Keyword.get(opts, :radius))
    colors = colors!(frame, Keyword.get(opts, :color, hd(Tuple.to_list(@categories))), opts)
    box_color = color!(Keyword.get(opts, :box_color, @black), :box_color, false)

    centres =
      Enum.map(frame.agents, fn agent ->
        p = Map.fetch!(agent, position)
        {elem(p, a) * 1.0, elem(p, b) * 1.0}
      end)

    box =
      frame.box &&
        {{elem(frame.box.lo, a), elem(frame.box.lo, b)},
         {elem(frame.box.hi, a), elem(frame.box.hi, b)}}

    {project, scale} = projection(centres, radii, box, {w, h})

    discs =
      Enum.zip_with([centres, radii, colors], fn [centre, r, color] ->
        {x, y} = project.(centre)
        {:disc, x, y, r * scale, color}
      end)

    outline =
      case box do
        nil ->
          []

        {lo, hi} ->
          {x0, y0} = project.(lo)
          {x1, y1} = project.(hi)
          [{:rect, x0, y1, x1, y0, box_color}]
      end

    discs ++ outline
  end

  defp axes!({a, b}) when a in @axes and b in @axes and a != b,
    do: {Enum.find_index(@axes, &(&1 == a)), Enum.find_index(@axes, &(&1 == b))}

  defp axes!(other),
    do:
      raise(
        ArgumentError,
        "option axes must be two different axes of :x, :y, :z, got: #{inspect(other)}"
      )

  defp radii!(frame, nil) do
    if Map.get(frame.kinds, :radius) in [:float, :int],
      do: radii!(frame, :radius),
      else: List.duplicate(0.5, frame.count)
  end

  defp radii!(frame, r) when is_number(r) and r >= 0, do: List.duplicate(r * 1.0, frame.count)

  defp radii!(frame, field) when is_atom(field) do
    [field] = Frame.fields!(frame, [field], :position)

    unless Frame.kind(frame, field) in [:float, :int],
      do:
        raise(
          ArgumentError,
          "radius field #{inspect(field)} of #{frame.collection} must be numeric"
        )

    Enum.with_index(frame.agents, fn agent, i ->
      case Map.fetch!(agent, field) do
        r when r >= 0 ->
          r * 1.0

        r ->
          raise ArgumentError,
                "state.#{frame.collection}[#{i}].#{field} is #{r}: a radius must not be negative"
      end
    end)
  end

  defp radii!(_frame, other),
    do:
      raise(
        ArgumentError,
        "option radius must be a non-negative number or a field, got: #{inspect(other)}"
      )

  defp colors!(frame, {_, _, _} = rgb, _opts),
    do: List.duplicate(color!(rgb, :color, false), frame.count)

  defp colors!(frame, field, opts) when is_atom(field) do
    [field] = Frame.fields!(frame, [field], :position)
    map = colormap!(Keyword.get(opts, :colormap, :viridis))
    values = Enum.map(frame.agents, &Map.fetch!(&1, field))

    case Frame.kind(frame, field) do
      numeric when numeric in [:float, :int] ->
        {lo, hi} = Enum.min_max(values, fn -> {0, 0} end)
        Enum.map(values, &colormap(map, if(hi > lo, do: (&1 - lo) / (hi - lo), else: 0.5)))

      :bool ->
        Enum.map(values, &category(if &1, do: 1, else: 0))

      {:enum, indices} ->
        Enum.map(values, &category(Map.fetch!(indices, &1)))

      :vec3 ->
        raise ArgumentError,
              "color field #{inspect(field)} of #{frame.collection} is a vec3; use a scalar " <>
                "or enum field"
    end
  end

  defp colors!(_frame, other, _opts),
    do: raise(ArgumentError, "option color must be {r, g, b} or a field, got: #{inspect(other)}")

  defp colormap!(name) do
    Map.get(@colormaps, name) ||
      raise ArgumentError,
            "unknown colormap #{inspect(name)}; known: " <>
              (@colormaps |> Map.keys() |> Enum.sort() |> Enum.map_join(", ", &inspect/1))
  end

  # Linear interpolation between the map's evenly spaced stops; t in [0, 1].
  defp colormap(stops, t) do
    n = length(stops) - 1
    x = t * n
    i = min(trunc(x), n - 1)
    f = x - i
    {r0, g0, b0} = Enum.at(stops, i)
    {r1, g1, b1} = Enum.at(stops, i + 1)
    {round(r0 + (r1 - r0) * f), round(g0 + (g1 - g0) * f), round(b0 + (b1 - b0) * f)}
  end

  defp category(i), do: elem(@categories, rem(i, tuple_size(@categories)))

  # A function from world coordinates {u, v} to pixel coordinates, and its scale (pixels per
  # world unit).
  defp projection(centres, radii, box, {w, h}) do
    extents =
      Enum.zip_with(centres, radii, fn {u, v}, r -> [{u - r, v - r}, {u + r, v + r}] end)
      |> List.flatten()

    extents = if box, do: [elem(box, 0), elem(box, 1) | extents], else: extents

    {{ulo, uhi}, {vlo, vhi}} =
      extents |> Enum.unzip() |> then(fn {us, vs} -> {min_max(us), min_max(vs)} end)

    margin = max(4, round(0.03 * min(w, h)))
    du = if uhi > ulo, do: uhi - ulo, else: 1.0
    dv = if vhi > vlo, do: vhi - vlo, else: 1.0
    s = min(max(w - 2 * margin, 1) / du, max(h - 2 * margin, 1) / dv)
    {um, vm} = {(ulo + uhi) / 2, (vlo + vhi) / 2}
    {fn {u, v} -> {w / 2 + (u - um) * s, h / 2 - (v - vm) * s} end, s}
  end

  defp min_max([]), do: {0.0, 0.0}
  defp min_max(xs), do: Enum.min_max(xs)

  ## the plot scene

  @margins %{left: 70, right: 20, top: 20, bottom: 40}

  defp plot_scene(samples, {w, h}, x_option) do
    x_key = x_key!(samples, x_option)
    points = points!(samples, x_key)
    names = points |> Enum.map(&elem(&1, 0)) |> Enum.uniq() |> Enum.sort()
    {xlo, xhi} = range(Enum.map(points, &elem(&1, 1)), 0.0)
    {ylo, yhi} = range(Enum.map(points, &elem(&1, 2)), 0.05)
    %{left: l, right: r, top: t, bottom: b} = @margins
    {x0, x1, y0, y1} = {l, max(w - r, l + 1), max(h - b, t + 1), t}
    px = fn x -> x0 + (x - xlo) / (xhi - xlo) * (x1 - x0) end
    py = fn y -> y0 - (y - ylo) / (yhi - ylo) * (y0 - y1) end

    axes = [{:line, x0, y0, x1, y0, @black}, {:line, x0, y0, x0, y1, @black}]

    x_ticks =
      for {x, label} <- ticks(xlo, xhi) do
        [
          {:line, px.(x), y0, px.(x), y0 + 4, @black},
          {:text, px.(x), y0 + 7, label, @black, :middle}
        ]
      end

    y_ticks =
      for {y, label} <- ticks(ylo, yhi) do
        [
          {:line, x0 - 4, py.(y), x0, py.(y), @black},
          {:text, x0 - 7, py.(y) - 3, label, @black, :end}
        ]
      end

    title = {:text, (x0 + x1) / 2, y0 + 22, Atom.to_string(x_key), @black, :middle}

    series =
      for {name, i} <- Enum.with_index(names) do
        line = for {^name, x, y} <- points, do: {px.(x), py.(y)}

        case line do
          [{x, y}] -> {:disc, x, y, 2.0, category(i)}
          line -> {:polyline, line, category(i)}
        end
      end

    legend =
      for {name, i} <- Enum.with_index(names) do
        y = y1 + 6 + 12 * i
        label = to_string(name)
        x = x1 - 8 - Font.width(label)
        [{:line, x - 22, y + 3, x - 6, y + 3, category(i)}, {:text, x, y, label, @black, :start}]
      end

    List.flatten([axes, x_ticks, y_ticks, title, series, legend])
  end

  defp x_key!(samples, nil) do
    if samples != [] and Enum.all?(samples, &(is_map(&1) and is_number(Map.get(&1, :time)))),
      do: :time,
      else: :step
  end

  defp x_key!(_samples, key) when key in [:time, :step], do: key

  defp x_key!(_samples, other),
    do: raise(ArgumentError, "option x must be :time or :step, got: #{inspect(other)}")

  # {name, x, y} for every value of every sample.
  defp points!(samples, x_key) do
    samples
    |> Enum.with_index()
    |> Enum.flat_map(fn
      {%{values: values} = sample, i} when is_map(values) ->
        x = Map.get(sample, x_key)

        unless is_number(x),
          do: raise(ArgumentError, "sample #{i} has no numeric #{inspect(x_key)}: #{inspect(x)}")

        for {name, y} <- Enum.sort(values) do
          unless is_number(y),
            do:
              raise(
                ArgumentError,
                "sample #{i}: value #{inspect(name)} is not a number: #{inspect(y)}"
              )

          {name, x * 1.0, y * 1.0}
        end

      {other, i} ->
        raise ArgumentError,
              "sample #{i} must be a map with :values (%{name => number}), got: " <>
                inspect(other, limit: 5)
    end)
  end

  # The range of xs widened by `pad` of its span (a unit around a single value).
  defp range([], _pad), do: {0.0, 1.0}

  defp range(xs, pad) do
    {lo, hi} = Enum.min_max(xs)
    if hi > lo, do: {lo - pad * (hi - lo), hi + pad * (hi - lo)}, else: {lo - 0.5, hi + 0.5}
  end

  # About five ticks at 1, 2 or 5 times a power of ten, with labels of as many decimals as the
  # spacing needs.
  defp ticks(lo, hi) do
    raw = (hi - lo) / 5
    power = :math.pow(10, Float.floor(:math.log10(raw)))
    step = Enum.find([1, 2, 5, 10], &(&1 * power >= raw)) * power
    decimals = max(0, -floor(:math.log10(step) + 1.0e-9))
    first = Float.ceil(lo / step - 1.0e-9)
    last = Float.floor(hi / step + 1.0e-9)

    for k <- trunc(first)..trunc(last)//1 do
      x = k * step
      {x, label(x, step, decimals)}
    end
  end

  defp label(x, step, decimals) do
    cond do
      abs(x) < step * 1.0e-6 ->
        "0"

      abs(x) >= 1.0e6 or abs(step) < 1.0e-4 ->
        :io_lib.format("~.3e", [x]) |> IO.iodata_to_binary()

      true ->
        :erlang.float_to_binary(x * 1.0, decimals: decimals)
    end
  end

  ## output

  defp write(:png, path, size, background, scene),
    do: File.write!(path, png(size, background, scene))

  defp write(:svg, path, size, background, scene),
    do: File.write!(path, svg(size, background, scene))

  # Pixels are packed as 0x1RRGGBB in an :atomics array; 0 is the background.
  defp png({w, h}, background, scene) do
    fb = :atomics.new(w * h, signed: false)
    Enum.each(scene, &draw(fb, w, h, &1))
    {pixel, color_type} = pixel_encoder(background)

    rows =
      for j <- 0..(h - 1) do
        base = j * w
        for i <- 1..w, into: <<0>>, do: pixel.(:atomics.get(fb, base + i))
      end

    ihdr = <<w::32, h::32, 8, color_type, 0, 0, 0>>

    [
      <<137, 80, 78, 71, 13, 10, 26, 10>>,
      chunk("IHDR", ihdr),
      chunk("IDAT", :zlib.compress(rows)),
      chunk("IEND", <<>>)
    ]
  end

  defp pixel_encoder({r, g, b}) do
    bg = <<r, g, b>>

    {fn
       0 -> bg
       v -> <<v::24>>
     end, 2}
  end

  defp pixel_encoder({r, g, b, a}) do
    bg = <<r, g, b, a>>

    {fn
       0 -> bg
       v -> <<v::24, 255>>
     end, 6}
  end

  defp chunk(type, data),
    do: [<<byte_size(data)::32>>, type, data, <<:erlang.crc32([type, data])::32>>]

  defp packed({r, g, b}), do: 0x1000000 ||| r <<< 16 ||| g <<< 8 ||| b

  defp draw(fb, w, h, {:disc, cx, cy, r, color}) do
    v = packed(color)
    put(fb, w, h, floor(cx), floor(cy), v)
    j0 = max(ceil(cy - r - 0.5), 0)
    j1 = min(floor(cy + r - 0.5), h - 1)
    r2 = r * r

    for j <- j0..j1//1 do
      dy = j + 0.5 - cy
      d2 = r2 - dy * dy

      if d2 >= 0 do
        half = :math.sqrt(d2)
        i0 = max(ceil(cx - half - 0.5), 0)
        i1 = min(floor(cx + half - 0.5), w - 1)
        span(fb, j * w + 1, i0, i1, v)
      end
    end
  end

  defp draw(fb, w, h, {:line, x0, y0, x1, y1, color}),
    do: line(fb, w, h, floor(x0), floor(y0), floor(x1), floor(y1), packed(color))

  defp draw(fb, w, h, {:rect, x0, y0, x1, y1, color}) do
    for {a, b, c, d} <- [{x0, y0, x1, y0}, {x1, y0, x1, y1}, {x1, y1, x0, y1}, {x0, y1, x0, y0}],
        do: draw(fb, w, h, {:line, a, b, c, d, color})
  end

  defp draw(fb, w, h, {:polyline, points, color}) do
    points
    |> Enum.chunk_every(2, 1, :discard)
    |> Enum.each(fn [{a, b}, {c, d}] -> draw(fb, w, h, {:line, a, b, c, d, color}) end)
  end

  defp draw(fb, w, h, {:text, x, y, text, color, anchor}) do
    x0 = floor(x - anchor_offset(anchor, Font.width(text)))
    y0 = floor(y)
    v = packed(color)
    for {i, j} <- Font.pixels(text), do: put(fb, w, h, x0 + i, y0 + j, v)
  end

  defp anchor_offset(:start, _width), do: 0
  defp anchor_offset(:middle, width), do: width / 2
  defp anchor_offset(:end, width), do: width

  defp span(_fb, _row, i, i1, _v) when i > i1, do: :ok

  defp span(fb, row, i, i1, v) do
    :atomics.put(fb, row + i, v)
    span(fb, row, i + 1, i1, v)
  end

  defp put(fb, w, h, i, j, v) when i >= 0 and i < w and j >= 0 and j < h,
    do: :atomics.put(fb, j * w + i + 1, v)

  defp put(_fb, _w, _h, _i, _j, _v), do: :ok

  # Bresenham: every pixel of the line from (x0, y0) to (x1, y1), both ends included.
  defp line(fb, w, h, x0, y0, x1, y1, v) do
    dx = abs(x1 - x0)
    dy = -abs(y1 - y0)
    sx = if x0 < x1, do: 1, else: -1
    sy = if y0 < y1, do: 1, else: -1
    bresenham(fb, w, h, {x0, y0}, {x1, y1}, {dx, dy, sx, sy}, dx + dy, v)
  end

  defp bresenham(fb, w, h, {x, y}, {x1, y1} = stop, {dx, dy, sx, sy} = d, err, v) do
    put(fb, w, h, x, y, v)

    if x == x1 and y == y1 do
      :ok
    else
      e2 = 2 * err
      {x, err} = if e2 >= dy, do: {x + sx, err + dy}, else: {x, err}
      {y, err} = if e2 <= dx, do: {y + sy, err + dx}, else: {y, err}
      bresenham(fb, w, h, {x, y}, stop, d, err, v)
    end
  end

  defp svg({w, h}, background, scene) do
    [
      ~s(<?xml version="1.0" encoding="UTF-8"?>\n),
      ~s(<svg xmlns="http://www.w3.org/2000/svg" width="#{w}" height="#{h}" ),
      ~s(viewBox="0 0 #{w} #{h}">\n),
      ~s(<rect x="0" y="0" width="#{w}" height="#{h}" ),
      svg_fill(background),
      "/>\n",
      Enum.map(scene, &svg_shape/1),
      "</svg>\n"
    ]
  end

  defp svg_fill({r, g, b}), do: [~s(fill="), hex({r, g, b}), ?"]
  defp svg_fill({r, g, b, a}), do: [svg_fill({r, g, b}), ~s( fill-opacity="), num(a / 255), ?"]

  defp svg_shape({:disc, x, y, r, color}),
    do: [
      ~s(<circle cx="),
      num(x),
      ~s(" cy="),
      num(y),
      ~s(" r="),
      num(max(r, 0.5)),
      ~s(" fill="),
      hex(color),
      ~s("/>\n)
    ]

  defp svg_shape({:line, x0, y0, x1, y1, color}),
    do: [
      ~s(<line x1="),
      num(x0),
      ~s(" y1="),
      num(y0),
      ~s(" x2="),
      num(x1),
      ~s(" y2="),
      num(y1),
      ~s(" stroke="),
      hex(color),
      ~s("/>\n)
    ]

  defp svg_shape({:rect, x0, y0, x1, y1, color}),
    do: [
      ~s(<rect x="),
      num(min(x0, x1)),
      ~s(" y="),
      num(min(y0, y1)),
      ~s(" width="),
      num(abs(x1 - x0)),
      ~s(" height="),
      num(abs(y1 - y0)),
      ~s(" fill="none" stroke="),
      hex(color),
      ~s("/>\n)
    ]

  defp svg_shape({:polyline, points, color}),
    do: [
      ~s(<polyline fill="none" stroke="),
      hex(color),
      ~s(" points="),
      Enum.map_join(points, " ", fn {x, y} -> [num(x), ?,, num(y)] |> IO.iodata_to_binary() end),
      ~s("/>\n)
    ]

  defp svg_shape({:text, x, y, text, color, anchor}),
    do: [
      ~s(<text x="),
      num(x),
      ~s(" y="),
      num(y + Font.height()),
      ~s(" font-family="monospace" ),
      ~s(font-size="10" fill="),
      hex(color),
      ~s(" text-anchor="),
      Atom.to_string(anchor),
      ~s(">),
      escape(text),
      "</text>\n"
    ]

  defp hex({r, g, b}),
    do: [
      ?#
      | Enum.map(
          [r, g, b],
          &(&1 |> Integer.to_string(16) |> String.downcase() |> String.pad_leading(2, "0"))
        )
    ]

  # Hundredths of a pixel are plenty, and keep the file small.
  defp num(x), do: :erlang.float_to_binary(Float.round(x * 1.0, 2), [:short])

  defp escape(text) do
    text
    |> String.replace("&", "&amp;")
    |> String.replace("<", "&lt;")
    |> String.replace(">", "&gt;")
    |> String.replace("\"", "&quot;")
  end
end
