namespace Kiln.Scripting.Tests;

/// <summary>C# sources the tests write into run directories and load while "training".</summary>
internal static class Sources
{
    /// <summary>Seed 001's Heartbeat, in C#; counts its calls in a static so tests can see it ran.</summary>
    public const string Heartbeat = """
        namespace User;

        public sealed class Heartbeat(string id, int every = 10) : IKilnCallback
        {
            public static int Calls;
            public string Id { get; } = id;
            public int Every { get; private set; } = every;

            public void SetParams(JsonObject p)
            {
                if (p["every"] is { } e) Every = (int)e;
            }

            public void Handle(string evt, KernelEnv env)
            {
                Calls++;
                if (env.Step % Every == 0) env.Log($"[{Id}] {evt} step={env.Step}");
            }

            public void Close() => Calls = -1000;
        }
        """;

    public const string Throwing = """
        public sealed class Flaky(string id) : IKilnCallback
        {
            public static bool Fail = true;
            public string Id { get; } = id;
            public void SetParams(JsonObject p) { }
            public void Handle(string evt, KernelEnv env)
            {
                if (Fail) throw new InvalidOperationException("flaky at step " + env.Step);
            }
        }
        """;

    public const string Broken = """
        public sealed class Broken(string id) : IKilnCallback
        {
            public string Id { get; } = id
            public void SetParams(JsonObject p) { }
            public void Handle(string evt, KernelEnv env) => undefinedThing();
        }
        """;

    public const string ThrowingConstructor = """
        public sealed class Picky : IKilnCallback
        {
            public Picky(string id, int every) => throw new ArgumentException("every must be prime, got " + every);
            public string Id => "picky";
            public void SetParams(JsonObject p) { }
            public void Handle(string evt, KernelEnv env) { }
        }
        """;

    /// <summary>Writes a marker file whose content says which version of the source ran.</summary>
    public static string Marker(string version) => $$"""
        public sealed class Marker(string id) : IKilnCallback
        {
            public string Id { get; } = id;
            public void SetParams(JsonObject p) { }
            public void Handle(string evt, KernelEnv env) =>
                File.AppendAllText(Path.Combine(env.RunDir!, "marker.txt"), "{{version}}@" + env.Step + "\n");
        }
        """;
}
