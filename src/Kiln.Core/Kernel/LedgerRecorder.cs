using System.Text.Json.Nodes;
using Kiln.Modules;
using Kiln.Protocol;

namespace Kiln.Kernel;

/// <summary>
/// Writes the kernel's decisions to the ledger: a command with the result of applying it, an inbox line that could
/// not be read, the kernel's own bookkeeping. Opened when the kernel starts. When the ledger cannot be opened or
/// written, every later line is refused with <see cref="LedgerUnavailableException"/> (see <see cref="Failure"/>).
/// </summary>
internal sealed class LedgerRecorder(TimeProvider time)
{
    private Ledger? _ledger;

    public Ledger Ledger => _ledger ?? throw new InvalidOperationException("the kernel has not started");

    /// <summary>Why the ledger cannot be written, or null. Once set, the kernel applies nothing more.</summary>
    public string? Failure { get; private set; }

    /// <summary>
    /// Set while the kernel ends: a line that cannot be written then is left out rather than thrown, so every module
    /// still closes; the kernel reports <see cref="Failure"/> once it has.
    /// </summary>
    public bool Closing { get; set; }

    public void Open(string path)
    {
        try
        {
            _ledger = Ledger.Open(path, time);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw Unavailable(ex);
        }
    }

    /// <summary>The exception that reports <see cref="Failure"/>.</summary>
    public LedgerUnavailableException Refusal() => new(Failure ?? throw new InvalidOperationException("the ledger has not failed"));

    private LedgerUnavailableException Unavailable(Exception ex)
    {
        Failure ??= $"{RunFiles.Ledger}: {ex.Message}; without its ledger the kernel cannot apply a command exactly once, so it applies nothing more";
        return new LedgerUnavailableException(Failure, ex);
    }

    private void Append(LedgerEntry entry)
    {
        if (Failure is not null)
        {
            if (Closing) return;
            throw Refusal();
        }
        try
        {
            Ledger.Append(entry);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            var refusal = Unavailable(ex);
            if (!Closing) throw refusal;
        }
    }

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
        Append(new LedgerEntry
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
        Append(new LedgerEntry
        {
            Cid = cid, Step = at.Step, Epoch = at.Env?.Epoch, Event = at.Event, Phase = at.Env?.Phase,
            Module = module, Op = op, Id = id, Source = Sources.External, Decision = Decision.Rejected, Error = error,
        });

    /// <summary>A line of the kernel's own (module <c>core</c>): recovery, configuration, freeze files.</summary>
    public void Kernel(string op, Moment at, OpResult result, string source = Sources.Kernel) =>
        Record(new Command { Module = CoreModule.ModuleName, Op = op }, source, null, at, result);
}
