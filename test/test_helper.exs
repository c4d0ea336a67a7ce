# :native tests exercise the C++ engine (and compare it with the pure-Elixir backend); they need
# the NIF. With BROKEN_RECORD_REQUIRE_NIF=1 (CI) a missing engine fails the run instead.
native? = BrokenRecord.Zero.NIF.loaded?()

if BrokenRecord.Zero.Env.require_nif?() and not native? do
  raise "BROKEN_RECORD_REQUIRE_NIF is set but the native engine is not loaded: " <>
          to_string(BrokenRecord.Zero.NIF.load_error())
end

# :root tests change file owners (chown), which only root may do.
root? = File.stat!("/proc/self").uid == 0

ExUnit.start(exclude: if(native?, do: [], else: [:native]) ++ if(root?, do: [], else: [:root]))
