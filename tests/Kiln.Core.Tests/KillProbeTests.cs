using Kiln.Testing;

namespace Kiln.Core.Tests;

/// <summary>
/// The SIGKILL probe (<see cref="KillProbe"/>), small here: a few kills of a training process while commands arrive.
/// <c>scripts/soak.sh</c> runs it with 20 kills (KILN_SOAK=full).
/// </summary>
public sealed class KillProbeTests
{
    [Fact]
    public async Task A_trainer_killed_at_random_while_commands_arrive_loses_doubles_and_corrupts_nothing()
    {
        var size = ProbeSize.FromEnvironment();
        using var dir = new TempDir("killprobe");
        var result = await KillProbe.RunAsync(dir.Path, size.Kills, size.KillWriters, ProbeSize.Seed());
        Assert.True(result.Audit.Ok && result.Problems.Count == 0, result + "\n" + InboxAudit.LedgerText(dir.Path));
        Assert.NotEmpty(result.Cids);
        Assert.Equal(result.Cids.Count, result.Audit.Lines);
    }
}
