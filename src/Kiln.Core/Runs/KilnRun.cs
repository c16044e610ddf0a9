using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Kernel;
using Kiln.Metrics;
using Kiln.Modules;
using Kiln.Modules.Callbacks;
using Kiln.Modules.Loss;
using Kiln.Modules.Opt;
using Kiln.Protocol;

namespace Kiln.Runs;

/// <summary>
/// The one object a training loop holds. <see cref="Start"/> takes the run directory's lock and writes
/// <c>kiln.run.json</c> (<c>running</c>, with a heartbeat); the run owns the kernel (<see cref="Apply"/> at safe points),
/// the metrics writer (<see cref="Log(long, ReadOnlySpan{ValueTuple{string, double}}, string, int?)"/>) and the stop
/// request (<see cref="Stop"/>: SIGTERM, SIGINT, SIGHUP, or <see cref="RequestStop"/>). <see cref="End"/> records how it
/// ended — <c>completed</c>, or <c>stopped</c> when a stop was asked for — and <see cref="Fail(Exception)"/> records
/// <c>failed</c> with the exception. Whatever loop holds it, the run shows in the dashboard with its charts and status.
/// <code>
/// using var run = KilnRun.Start("runs/exp-001");
/// run.AddOptimizer(optimizer);
/// for (long step = 0; step &lt; steps &amp;&amp; !run.StopRequested; step++)
/// {
///     /* one training step */
///     run.Log(step, [("train_loss", loss)]);
///     run.Apply(step, "train_step_end");
/// }
/// run.End();
/// </code>
/// </summary>
/// <remarks>Not thread-safe, like the kernel: call it from the training loop's thread.</remarks>
public sealed class KilnRun : IDisposable
{
    /// <summary>A run's process holds this lock file while it trains; a second run in the same directory is refused.</summary>
    public const string LockFile = "kiln.run.lock";

    private readonly RunOptions _options;
    private readonly Lock _write = new();
    private readonly CancellationTokenSource _stop;
    private readonly Dictionary<string, double> _last = new(StringComparer.Ordinal);
    private readonly FileLock? _lock;
    private readonly ITimer _heartbeat;
    private readonly IDisposable? _lastWords;
    private RunInfo _info;
    private string? _stopReason;
    private bool _finished;

    private KilnRun(RunFiles files, RunOptions options, FileLock? held)
    {
        _options = options;
        Files = files;
        _lock = held;
        var now = Seconds(options.Time);
        _info = new RunInfo
        {
            Id = options.Id ?? Path.GetFileName(files.Dir),
            Kind = options.Kind,
            Config = options.Config,
            Seed = options.Seed,
            Status = RunInfo.Running,
            Pid = Environment.ProcessId,
            Host = Environment.MachineName,
            Start = now,
            Heartbeat = now,
            GitCommit = options.GitDirectory is { } git ? GitHead.Of(git) : null,
        };
        Params = options.Params is null ? [] : (JsonObject)options.Params.DeepClone();
        var log = options.Log ?? Console.WriteLine;
        Env = new KernelEnv { Log = log };
        var signals = options.StopOnSignals ? StopSignals.Install() : null;
        _stop = signals is null
            ? CancellationTokenSource.CreateLinkedTokenSource(options.Stop)
            : CancellationTokenSource.CreateLinkedTokenSource(options.Stop, signals.Token);
        if (options.OwnsProtocol)
        {
            // The stop request also ends the wait for a callback that never returns.
            Kernel = new KilnKernel(files, (options.Kernel ?? new KernelOptions()) with { Stop = _stop.Token });
            Metrics = new MetricsWriter(files.MetricsPath, options.Time);
            Env.MetricsSink = (step, values) => Metrics.Write(step, null, "callback", values.ToArray());
        }
        _stop.Token.Register(() => _stopReason ??= signals?.Reason ?? "stop requested");
        // A second signal exits at once: the status still says how the run ended, and the metrics so far are kept.
        _lastWords = signals?.OnForcedExit(() => Finish(RunInfo.Stopped, "stopped at once by a second signal", forced: true));
        WriteInfo();
        _heartbeat = options.Time.CreateTimer(_ => Beat(), null, options.HeartbeatInterval, options.HeartbeatInterval);
    }

    /// <summary>Starts a run in <paramref name="dir"/> (created when missing).</summary>
    /// <exception cref="ProtocolException">Another process is training in this directory.</exception>
    public static KilnRun Start(string dir, RunOptions? options = null)
    {
        options ??= new RunOptions();
        var files = new RunFiles(dir);
        Directory.CreateDirectory(files.Dir);
        FileLock? held = null;
        // A reader probing the lock holds it for an instant: a start waits that out, a second run does not get in.
        if (options.OwnsProtocol && !FileLock.TryAcquirePatiently(Path.Combine(files.Dir, LockFile), out held))
        {
            var other = RunState.Read(files.Dir);
            throw new ProtocolException($"{files.Dir}: another run is training in this directory{(other?.Pid is { } pid ? $" (pid {pid})" : "")}; give it a directory of its own");
        }
        try
        {
            return new KilnRun(files, options, held);
        }
        catch
        {
            held?.Dispose();
            throw;
        }
    }

    public RunFiles Files { get; }
    public string Dir => Files.Dir;
    public string Id => _info.Id;

    /// <summary>The live-control kernel (null when the trainer follows the protocol itself; see <see cref="RunOptions.OwnsProtocol"/>).</summary>
    public KilnKernel? Kernel { get; }

    /// <summary>What the loop tells the kernel and its callbacks at a safe point; <see cref="Log(long, ReadOnlySpan{ValueTuple{string, double}}, string, int?)"/> keeps its metrics current.</summary>
    public KernelEnv Env { get; }

    /// <summary>The writer of <c>kiln.metrics.jsonl</c> (null when the trainer follows the protocol itself).</summary>
    public MetricsWriter? Metrics { get; }

    /// <summary>The run's hyper-parameters, recorded in <c>kiln.run.json</c> when the run ends.</summary>
    public JsonObject Params { get; }

    private bool _paramsRecorded;

    /// <summary>Cancelled when the run is asked to stop; pass it to anything that waits.</summary>
    public CancellationToken Stop => _stop.Token;

    public bool StopRequested => _stop.IsCancellationRequested;

    /// <summary>Why the run was asked to stop, or null.</summary>
    public string? StopReason => _stopReason;

    /// <summary><c>running</c>, then how the run ended.</summary>
    public string Status => _info.Status;

    /// <summary>Why the run failed, when it did.</summary>
    public string? Error => _info.Error;

    /// <summary>The last value of each metric logged.</summary>
    public IReadOnlyDictionary<string, double> LastMetrics => _last;

    /// <summary>Asks the loop to stop: <see cref="Stop"/> is cancelled and <see cref="End"/> records <c>stopped</c>.</summary>
    public void RequestStop(string reason)
    {
        _stopReason ??= reason;
        _stop.Cancel();
    }

    /// <summary>Exposes an optimizer's dials (lr, weight decay, …) to the kernel.</summary>
    public void AddOptimizer(IOptimizerActuator optimizer, string id = OptModule.DefaultId) => RequireKernel().AddOptimizer(optimizer, id);

    /// <summary>Exposes a composite loss's weights, terms and ramps to the kernel.</summary>
    public void AddLoss(ILossActuator loss, string id = LossModule.DefaultId) => RequireKernel().AddLoss(loss, id);

    /// <summary>Registers a callback created in code: an <see cref="IKilnCallback"/>, or any object of its shape (see <see cref="CallbackShape"/>).</summary>
    public void AddCallback(object callback, bool enabled = true) => RequireKernel().AddCallback(CallbackShape.Adapt(callback), enabled);

    /// <summary>Writes one metrics line at <paramref name="step"/> (never waiting for the disk) and keeps <see cref="Env"/>'s metrics current.</summary>
    public void Log(long step, ReadOnlySpan<(string Name, double Value)> metrics, string phase = "train", int? epoch = null)
    {
        // By the first metrics the trainer has filled in its parameters: kiln.run.json shows them while it trains.
        if (!_paramsRecorded)
        {
            _paramsRecorded = true;
            WriteInfo();
        }
        RequireMetrics().Write(step, epoch ?? Env.Epoch, phase, metrics);
        foreach (var (name, value) in metrics)
        {
            Env.Metrics[name] = value;
            _last[name] = value;
        }
    }

    /// <summary>Writes one metrics line from a dictionary.</summary>
    public void Log(long step, IReadOnlyDictionary<string, double> metrics, string phase = "train", int? epoch = null)
    {
        var values = new (string, double)[metrics.Count];
        var i = 0;
        foreach (var (name, value) in metrics) values[i++] = (name, value);
        Log(step, values, phase, epoch);
    }

    /// <summary>Final values of metrics the trainer reported in files of its own (its batch log), for the run's record.</summary>
    public void Report(IReadOnlyDictionary<string, double> metrics)
    {
        foreach (var (name, value) in metrics) _last[name] = value;
    }

    /// <summary>A safe point: the kernel applies what is due at (<paramref name="step"/>, <paramref name="evt"/>).</summary>
    public void Apply(long step, string evt = "train_step_end") => RequireKernel().Apply(step, evt, Env);

    /// <summary>
    /// Ends the run: <c>stopped</c> when a stop was asked for (recipe entries not yet due stay unfired, so a resumed run
    /// replays them), else <c>completed</c> — or <c>failed</c> when a strict replay missed entries. Returns the status.
    /// </summary>
    public string End(long? step = null)
    {
        if (_finished) return _info.Status;
        if (StopRequested) return Finish(RunInfo.Stopped, null);
        try
        {
            Kernel?.End(step, Env);
        }
        catch (ReplayMissedException ex)
        {
            return Finish(RunInfo.Failed, ex.Message);
        }
        return Finish(RunInfo.Completed, null);
    }

    /// <summary>Ends the run as <c>failed</c>, naming the exception (the user's, not a reflection wrapper).</summary>
    public string Fail(Exception exception) => Fail(OpResult.Describe(exception));

    public string Fail(string error) => _finished ? _info.Status : Finish(RunInfo.Failed, error);

    /// <summary>
    /// Ends a run that was not ended: <c>stopped</c> when a stop was asked for, else <c>failed</c> — a loop that left
    /// without <see cref="End"/> threw, as far as anyone can tell.
    /// </summary>
    public void Dispose()
    {
        if (_finished) return;
        if (StopRequested) Finish(RunInfo.Stopped, null);
        else Finish(RunInfo.Failed, "the training loop ended without calling End() (did it throw?)");
    }

    private string Finish(string status, string? error, bool forced = false)
    {
        lock (_write)
        {
            if (_finished) return _info.Status;
            _finished = true;
        }
        _heartbeat.Dispose();
        if (!forced)
        {
            _lastWords?.Dispose();
            try { Kernel?.Dispose(); }
            catch (IOException ex) { Env.Log($"kiln: ending the kernel: {ex.Message}"); }
        }
        if (Metrics is { } metrics)
        {
            try
            {
                metrics.Flush();
                if (!forced) metrics.Dispose();
                if (metrics.Dropped > 0) Env.Log($"{metrics.Dropped} metric values were dropped because the disk fell behind");
            }
            catch (IOException ex)
            {
                error ??= ex.Message;
            }
        }
        var final = new JsonObject();
        if (!forced)
        {
            foreach (var (k, v) in _last.OrderBy(kv => kv.Key, StringComparer.Ordinal)) if (double.IsFinite(v)) final[k] = v;
        }
        lock (_write)
        {
            _info = _info with
            {
                Status = status, Error = error, End = Seconds(_options.Time), Heartbeat = null,
                Params = (JsonObject)Params.DeepClone(), Metrics = final.Count > 0 ? final : _info.Metrics,
            };
            WriteInfoLocked();
        }
        if (!forced)
        {
            _stop.Dispose();
            _lock?.Dispose();
        }
        return status;
    }

    private void Beat()
    {
        lock (_write)
        {
            if (_finished) return;
            _info = _info with { Heartbeat = Seconds(_options.Time) };
            try { WriteInfoLocked(durable: false); }
            catch (IOException) { /* the next beat tries again; a full disk is reported when the run ends */ }
        }
    }

    private void WriteInfo()
    {
        lock (_write)
        {
            _info = _info with { Params = (JsonObject)Params.DeepClone() };
            WriteInfoLocked();
        }
    }

    private void WriteInfoLocked(bool durable = true) => AtomicFile.WriteJson(Files.RunPath, _info.ToJson(), durable);

    private KilnKernel RequireKernel() => Kernel ?? throw new InvalidOperationException("this run's trainer follows the protocol itself (RunOptions.OwnsProtocol is false): it has no kernel here");

    private MetricsWriter RequireMetrics() => Metrics ?? throw new InvalidOperationException("this run's trainer follows the protocol itself (RunOptions.OwnsProtocol is false): it has no metrics writer here");

    private static double Seconds(TimeProvider time) => time.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0;
}
