using System.Text.Json.Nodes;
using Kiln.Modules;
using Kiln.Protocol;

namespace Kiln.Kernel;

/// <summary>
/// Writes the kernel's decisions to the ledger: a command with the result of applying it, an inbox line that could
/// not be read, the kernel's own bookkeeping. Opened when the kernel starts.
/// </summary>
internal sealed class LedgerRecorder(TimeProvider time)
{
    private Ledger? _ledger;

    public Ledger Ledger => _ledger ?? throw new InvalidOperationException("the kernel has not started");

    public void Open(string path) => _ledger = Ledger.Open(path, time);

    /// <summary>Whether a decision about <paramref name="cid"/> is already in the ledger (also by an earlier kernel).</summary>
    public bool Contains(string cid) => Ledger.Contains(cid);

    public void Record(Command command, string source, string? cid, Moment at, OpResult result)
    {
        var parameters = command.Params;
        if (command.Op == "load" && command.Target is not null)
        {
            parameters = new JsonObject { ["target"] = command.Target.ToJson(), ["init"] = command.Init?.DeepClone(), ["enabled"] = command.Enabled };
            if (command.TimeBudgetS is { } budget) parameters["time_budget_s"] = budget;
        }
        Ledger.Append(new LedgerEntry
        {
            Cid = cid,
            Step = at.Step,
            Epoch = at.Env?.Epoch,
            Event = at.Event,
            Phase = at.Env?.Phase,
            Module = command.Module,
            Op = command.Op,
            Id = command.Id,
            Source = source,
            Decision = result.Decision,
            Params = parameters?.DeepClone() as JsonObject,
            Payload = result.Payload,
            Error = result.Error,
            Notes = result.Notes,
            Traceback = result.Traceback,
        });
    }

    /// <summary>An inbox line that is not a command: what could be read of it, and why.</summary>
    public void Rejected(string cid, string? module, string? op, string? id, string error, Moment at) =>
        Ledger.Append(new LedgerEntry
        {
            Cid = cid, Step = at.Step, Epoch = at.Env?.Epoch, Event = at.Event, Phase = at.Env?.Phase,
            Module = module, Op = op, Id = id, Source = Sources.External, Decision = Decision.Rejected, Error = error,
        });

    /// <summary>A line of the kernel's own (module <c>core</c>): recovery, configuration, freeze files.</summary>
    public void Kernel(string op, Moment at, OpResult result, string source = Sources.Kernel) =>
        Record(new Command { Module = CoreModule.ModuleName, Op = op }, source, null, at, result);
}
