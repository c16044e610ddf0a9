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

    /// <summary>
    /// Seed 001's Heartbeat by shape alone (no <c>IKilnCallback</c>), with the env as <paramref name="env"/>
    /// (<c>KernelEnv</c> or a dictionary) and the params as <paramref name="parameters"/> (<c>JsonObject</c> or a dictionary).
    /// It logs when attached and writes <c>closed-&lt;id&gt;.txt</c> into the run when closed.
    /// </summary>
    public static string Shaped(string name, string env, string parameters, bool idField = false)
    {
        var typed = env == "KernelEnv";
        string Step(string e) => typed ? $"{e}.Step" : $"(long){e}[\"step\"]!";
        string Log(string e) => typed ? $"{e}.Log" : $"((Action<string>){e}[\"log\"]!)";
        var every = parameters == "JsonObject" ? "(int)p[\"every\"]!" : "Convert.ToInt32(p[\"every\"])";
        return $$"""
            namespace User;

            public sealed class {{name}}(string id, int every = 10)
            {
                private string? _runDir;
                {{(idField ? "public readonly string Id = id;" : "public string Id { get; } = id;")}}
                public int Every { get; private set; } = every;

                public void SetParams({{parameters}} p) => Every = {{every}};

                public void Handle(string evt, {{env}} env)
                {
                    if ({{Step("env")}} % Every == 0) {{Log("env")}}($"[{Id}] {evt} step={{{Step("env")}}}");
                }

                public void OnAttach({{env}} env)
                {
                    _runDir = {{(typed ? "env.RunDir" : "(string?)env[\"run_dir\"]")}};
                    {{Log("env")}}($"[{Id}] attached");
                }

                public void Close() => File.WriteAllText(Path.Combine(_runDir!, $"closed-{Id}.txt"), "closed");
            }
            """;
    }

    /// <summary>A class that is almost a callback: it lacks <c>SetParams</c>.</summary>
    public const string NotQuite = """
        public sealed class NotQuite(string id)
        {
            public string Id { get; } = id;
            public void Handle(string evt, IDictionary<string, object?> env) { }
        }

        public static class Helpers
        {
            public static int Twice(int x) => 2 * x;
        }
        """;

    /// <summary><see cref="Throwing"/> by shape, throwing on the same line (8).</summary>
    public const string ShapedThrowing = """
        public sealed class ShapedFlaky(string id)
        {
            public static bool Fail = true;
            public string Id { get; } = id;
            public void SetParams(IDictionary<string, object?> p) { }
            public void Handle(string evt, IReadOnlyDictionary<string, object?> env)
            {
                if (Fail) throw new InvalidOperationException("flaky at step " + env["step"]);
            }
        }
        """;
}
