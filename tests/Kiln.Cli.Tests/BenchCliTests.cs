using Kiln.Testing;

namespace Kiln.Cli.Tests;

/// <summary><c>kiln bench run|eval</c> refuses bad flags before anything runs.</summary>
public sealed class BenchCliTests : IDisposable
{
    private readonly TempDir _dir = new("bench-cli");

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("run", "--seeds", "0")]
    [InlineData("run", "--fast")]
    [InlineData("eval", "--seeds", "many")]
    [InlineData("walk")]
    [InlineData("run", "--only", "fixed,sideways")]
    public void Bad_flags_exit_2_and_write_nothing(params string[] args)
    {
        var result = KilnProcess.Run(_dir.Path, ["--plain", "bench", .. args, "--out", Path.Combine(_dir.Path, "out")]);
        Assert.Equal(2, result.ExitCode);
        Assert.False(Directory.Exists(Path.Combine(_dir.Path, "out")));
    }

    [Fact]
    public void Only_runs_the_conditions_named()
    {
        var result = KilnProcess.Run(_dir.Path, ["--plain", "bench", "run", "--quick", "--seeds", "1", "--only", "tune,fixed", "--out", Path.Combine(_dir.Path, "only")]);
        Assert.True(result.ExitCode == 0, result.ToString());
        var table = File.ReadAllText(Path.Combine(_dir.Path, "only", "bench.md"));
        Assert.Contains("| tune | lr×10 |", table);
        Assert.Contains("| fixed | lr÷10 |", table);
        Assert.DoesNotContain("| autopilot |", table);
        Assert.DoesNotContain("| ai_autopilot |", table);
    }
}
