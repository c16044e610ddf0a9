using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using Kiln.Protocol;
using Kiln.Runs;

namespace Kiln.Testing;

/// <summary>
/// The SIGKILL probe: a training process (tests/Kiln.ProbeTrainer, a loop of one's own on <c>KilnRun</c>) is killed with
/// SIGKILL at random moments — while it starts, reads the ledger back or applies commands — and started again on the same
/// run directory, while writer threads keep sending commands. Then one last process decides what is left and stops on
/// SIGTERM. What the files must show afterwards (<see cref="InboxAudit"/>): every command decided exactly once, applied;
/// the ledger numbered without a gap, whole lines of UTF-8 JSON.
/// </summary>
public static class KillProbe
{
    public sealed record Result(int Seed, IReadOnlyList<string> Cids, InboxAudit Audit, IReadOnlyList<string> Problems)
    {
        public override string ToString() =>
            $"seed {Seed} (KILN_SOAK_SEED={Seed} repeats it): {Cids.Count} commands; {Audit}" + (Problems.Count == 0 ? "" : "\n  " + string.Join("\n  ", Problems));
    }

    public static string Binary { get; } = Path.GetFullPath(typeof(KillProbe).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "ProbeTrainer").Value!);

    public static async Task<Result> RunAsync(string dir, int kills, int writers, int seed)
    {
        var r = new Random(seed);
        var run = new RunDir(dir);
        var problems = new ConcurrentQueue<string>();
        var cids = new ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource();
        var writing = Enumerable.Range(0, writers).Select(w => Task.Run(() =>
        {
            var pace = new Random(seed + 1 + w);
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                cids.Enqueue(run.Set("loss", "{\"cls_w\": " + (i % 100).ToString(CultureInfo.InvariantCulture) + "}"));
                Thread.Sleep(pace.Next(1, 20));
            }
        })).ToArray();

        for (var k = 0; k < kills; k++)
        {
            using var trainer = Trainer.Start(dir);
            // Now and then a kill during start-up, while the new kernel reads the ledger back; else one during training.
            if (r.Next(4) == 0) await Task.Delay(r.Next(0, 300));
            else
            {
                await trainer.Started();
                await Task.Delay(r.Next(10, 500));
            }
            if (trainer.Process.HasExited) problems.Enqueue($"kill {k + 1}: the trainer ended by itself before it was killed: {await trainer.Output()}");
            trainer.Process.Kill();
            await trainer.Process.WaitForExitAsync();
        }
        await stop.CancelAsync();
        await Task.WhenAll(writing);

        // The last trainer decides what is left, then stops as asked.
        using (var last = Trainer.Start(dir))
        {
            await last.Started();
            await Wait.UntilAsync(() => last.Process.HasExited || InboxAudit.Of(dir, tornLedgerAllowed: true) is var a && a.Decisions.Count >= a.Lines,
                "the last trainer to decide every command", seconds: 120);
            if (!last.Process.HasExited) Processes.Signal(last.Process.Id, 15);
            await last.Process.WaitForExitAsync();
            if (last.Process.ExitCode != 0) problems.Enqueue($"the last trainer exited with {last.Process.ExitCode}: {await last.Output()}");
        }

        var audit = InboxAudit.Of(dir);
        var written = cids.ToList();
        var decided = audit.Decisions.ToLookup(d => d.Cid!, StringComparer.Ordinal);
        foreach (var cid in written)
        {
            var ds = decided[cid].ToList();
            if (ds.Count != 1) problems.Enqueue($"cid {cid}: {ds.Count} decisions");
            else if (ds[0].Decision != Decision.Applied) problems.Enqueue($"cid {cid}: {ds[0].Decision} ({ds[0].Error})");
        }
        return new Result(seed, written, audit, [.. problems]);
    }

    /// <summary>One trainer process, its output gathered as it comes.</summary>
    private sealed class Trainer : IDisposable
    {
        private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly ConcurrentQueue<string> _lines = new();

        private Trainer(Process process) => Process = process;

        public Process Process { get; }

        public static Trainer Start(string dir)
        {
            var info = new ProcessStartInfo(Binary) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            info.ArgumentList.Add(dir);
            info.ArgumentList.Add("1");
            var trainer = new Trainer(Process.Start(info) ?? throw new InvalidOperationException("could not start " + Binary));
            trainer.Process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is null) trainer._started.TrySetResult();
                else if (e.Data == "started") trainer._started.TrySetResult();
                else trainer._lines.Enqueue(e.Data);
            };
            trainer.Process.ErrorDataReceived += (_, e) => { if (e.Data is not null) trainer._lines.Enqueue(e.Data); };
            trainer.Process.BeginOutputReadLine();
            trainer.Process.BeginErrorReadLine();
            return trainer;
        }

        /// <summary>Returns once the trainer holds the run (or has ended without).</summary>
        public Task Started() => _started.Task.WaitAsync(TimeSpan.FromSeconds(60));

        public async Task<string> Output()
        {
            await Process.WaitForExitAsync();
            return $"exit {Process.ExitCode}: " + string.Join("\n", _lines);
        }

        public void Dispose()
        {
            if (!Process.HasExited) Process.Kill();
            Process.Dispose();
        }
    }
}
