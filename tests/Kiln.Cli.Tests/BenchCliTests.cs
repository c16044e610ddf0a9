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
    public void Bad_flags_exit_2_and_write_nothing(params string[] args)
    {
        var result = KilnProcess.Run(_dir.Path, ["--plain", "bench", .. args, "--out", Path.Combine(_dir.Path, "out")]);
        Assert.Equal(2, result.ExitCode);
        Assert.False(Directory.Exists(Path.Combine(_dir.Path, "out")));
    }
}
