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
/// A run file that cannot be written (a full disk, a read-only directory) is said at once (on stderr through
/// <see cref="KernelOptions.Warn"/>, and in <see cref="RunOptions.Log"/>); the run is asked to stop and ends <c>failed</c>
/// naming the file (or, with <see cref="RunOptions.WaitForDiskSpace"/>, training waits for space). A process that exits
/// or crashes while the run trains still records <c>failed</c>.
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
    private readonly RunRecord _record;
    private readonly Action<string> _log;
    private readonly Action<string> _warn;
    private readonly bool _ownLog;
    private RunInfo _info;
    private string? _stopReason;
    private string? _fault;
    private bool _beatFailing;
    private volatile bool _finished;

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
        _log = options.Log ?? Console.WriteLine;
        _ownLog = options.Log is not null;
        var kernelOptions = options.Kernel ?? new KernelOptions();
        _warn = kernelOptions.Warn;
        Env = new KernelEnv { Log = _log };
        _record = new RunRecord(files.RunPath);
        var signals = options.StopOnSignals ? StopSignals.Install() : null;
        _stop = signals is null
            ? CancellationTokenSource.CreateLinkedTokenSource(options.Stop)
            : CancellationTokenSource.CreateLinkedTokenSource(options.Stop, signals.Token);
        _stop.Token.Register(() => _stopReason ??= signals?.Reason ?? "stop requested");
        try
        {
            _record.Reserve();
            if (options.ResumeMetricsAt is { } length) CutMetrics(files.MetricsPath, length);
            if (options.OwnsProtocol)
            {
                // The stop request also ends the wait for a callback that never returns.
                var kernel = Kernel = new KilnKernel(files, kernelOptions with { Stop = _stop.Token });
                Metrics = new MetricsWriter(files.MetricsPath, new MetricsWriterOptions
                {
                    Time = options.Time, RetryInterval = options.DiskRetryInterval, GiveUp = _stop.Token, StateChanged = MetricsStateChanged,
                    // kiln.yaml's kernel.wait_for_disk_space, read when the disk fills up, has the last word.
                    WaitForSpace = () => kernel.Settings.WaitForDiskSpace ?? options.WaitForDiskSpace,
                });
                Env.MetricsSink = (step, values) => Metrics.Write(step, null, "callback", values.ToArray());
            }
            WriteInfo();
        }
        catch
        {
            Metrics?.Dispose();
            _record.Release();
            _stop.Dispose();
            throw;
        }
        _heartbeat = options.Time.CreateTimer(_ => Beat(), null, options.HeartbeatInterval, options.HeartbeatInterval);
        // A second signal exits at once: the status still says how the run ended, and the metrics so far are kept.
        _lastWords = signals?.OnForcedExit(() => Finish(RunInfo.Stopped, "stopped at once by a second signal", forced: true));
        // Environment.Exit in a callback, or a crash: the run still says it did not finish.
        AppDomain.CurrentDomain.ProcessExit += ProcessExiting;
        AppDomain.CurrentDomain.UnhandledException += ProcessCrashing;
    }

    /// <summary>Starts a run in <paramref name="dir"/> (created when missing).</summary>
    /// <exception cref="ProtocolException">Another process is training in this directory.</exception>
    /// <exception cref="IOException">The directory or a run file cannot be written (read-only, full); the message names it.</exception>
    public static KilnRun Start(string dir, RunOptions? options = null)
    {
        options ??= new RunOptions();
        var files = new RunFiles(dir);
        FileLock? held = null;
        try
        {
            Directory.CreateDirectory(files.Dir);
            // A reader probing the lock holds it for an instant: a start waits that out, a second run does not get in.
            if (options.OwnsProtocol && !FileLock.TryAcquirePatiently(Path.Combine(files.Dir, LockFile), out held))
            {
                var other = RunState.Read(files.Dir);
                throw new ProtocolException($"{files.Dir}: another run is training in this directory{(other?.Pid is { } pid ? $" (pid {pid})" : "")}; give it a directory of its own");
            }
            return new KilnRun(files, options, held);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            held?.Dispose();
            throw new IOException($"cannot start a run in {files.Dir}: {ex.Message}", ex);
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

    /// <summary>Why a run file could not be written (the run then ends <c>failed</c> with it), or null.</summary>
    public string? Fault => Volatile.Read(ref _fault);

    /// <summary>Exposes an optimizer's dials (lr, weight decay, …) to the kernel.</summary>
    public void AddOptimizer(IOptimizerActuator optimizer, string id = OptModule.DefaultId) => RequireKernel().AddOptimizer(optimizer, id);

    /// <summary>Exposes a composite loss's weights, terms and ramps to the kernel.</summary>
    public void AddLoss(ILossActuator loss, string id = LossModule.DefaultId) => RequireKernel().AddLoss(loss, id);

    /// <summary>Registers a callback created in code: an <see cref="IKilnCallback"/>, or any object of its shape (see <see cref="CallbackShape"/>).</summary>
    public void AddCallback(object callback, bool enabled = true)
    {
        var kernel = RequireKernel();
        var adapted = CallbackShape.Adapt(callback);
        try
        {
            kernel.AddCallback(adapted, enabled);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Failing(ex.Message);
            throw;
        }
    }

    /// <summary>Writes one metrics line at <paramref name="step"/> (never waiting for the disk) and keeps <see cref="Env"/>'s metrics current.</summary>
    public void Log(long step, ReadOnlySpan<(string Name, double Value)> metrics, string phase = "train", int? epoch = null)
    {
        // By the first metrics the trainer has filled in its parameters: kiln.run.json shows them while it trains.
        if (!_paramsRecorded)
        {
            _paramsRecorded = true;
            try { WriteInfo(); }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Training goes on: the record says what it can when the run ends.
                Say($"cannot record the run's parameters in {RunFiles.Run}: {ex.Message}");
            }
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
    /// <exception cref="LedgerUnavailableException">
    /// The ledger cannot be written: the kernel applies nothing more, and the loop must not go on (the run ends <c>failed</c>).
    /// </exception>
    public void Apply(long step, string evt = "train_step_end")
    {
        var kernel = RequireKernel();
        try
        {
            kernel.Apply(step, evt, Env);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Failing(ex.Message);
            throw;
        }
    }

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
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Failing(ex.Message);
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
        AppDomain.CurrentDomain.ProcessExit -= ProcessExiting;
        AppDomain.CurrentDomain.UnhandledException -= ProcessCrashing;
        _heartbeat.Dispose();
        if (!forced)
        {
            _lastWords?.Dispose();
            try { Kernel?.Dispose(); }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { Say($"ending the kernel: {ex.Message}"); }
            if (Kernel?.LedgerFailure is { } ledger) Failing(ledger);
        }
        if (Metrics is { } metrics)
        {
            // Only a run that completes waits for disk space: closing the writer first gives a wait up.
            if (!forced && status != RunInfo.Completed) metrics.Dispose();
            try
            {
                // Exiting at once, a writer waiting for space is not waited for: the record below says what happened.
                if (!forced || metrics.State == MetricsWriterState.Writing) metrics.Flush();
            }
            catch (IOException ex)
            {
                Failing(ex.Message);
            }
            if (!forced) metrics.Dispose();
            if (metrics.Dropped > 0) Say($"{metrics.Dropped} metric values were dropped because the disk fell behind");
            if (metrics.Lost > 0) Say($"{metrics.Lost} metric lines were not written to {RunFiles.Metrics}");
        }
        // A run that lost some of its files failed, however its loop ended.
        if (Fault is { } fault) (status, error) = (RunInfo.Failed, fault);
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
            try
            {
                _record.WriteLast(_info);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // The record still says running; readers take a run whose process let go of its lock for interrupted.
                Say($"cannot record how the run ended in {RunFiles.Run}: {ex.Message}; readers will show it as interrupted");
                if (status != RunInfo.Failed) _info = _info with { Status = RunInfo.Failed, Error = $"{RunFiles.Run}: {ex.Message}" };
            }
        }
        if (!forced)
        {
            _stop.Dispose();
            _lock?.Dispose();
        }
        return _info.Status;
    }

    /// <summary>
    /// A run file cannot be written: said at once, the loop is asked to stop, and the run will end <c>failed</c> with the
    /// first such cause. Called from the metrics writer's thread too.
    /// </summary>
    private void Failing(string cause)
    {
        if (Interlocked.CompareExchange(ref _fault, cause, null) is not null) return;
        Say($"{cause}; the run stops and ends failed");
        if (_finished) return;
        try { RequestStop(cause); }
        catch (ObjectDisposedException) { /* the run ended meanwhile */ }
    }

    private void MetricsStateChanged(MetricsWriterState state, string message)
    {
        if (state == MetricsWriterState.Failed) Failing(message);
        else Say(message);
    }

    /// <summary>
    /// Tells the user of a problem with the run's files: on stderr (<see cref="KernelOptions.Warn"/>), and in the run's
    /// log when it has one of its own (the default log is the console, which stderr reaches already).
    /// </summary>
    private void Say(string message)
    {
        _warn(message);
        if (_ownLog) _log("kiln: " + message);
    }

    private void ProcessExiting(object? sender, EventArgs e)
    {
        if (_finished) return;
        var code = Environment.ExitCode;
        try
        {
            if (StopRequested && Fault is null) Finish(RunInfo.Stopped, null, forced: true);
            else Finish(RunInfo.Failed, $"the process exited (code {code}) while the run was running", forced: true);
        }
        catch (Exception)
        {
            // The process is going; nothing here may stop it.
        }
    }

    private void ProcessCrashing(object? sender, UnhandledExceptionEventArgs e)
    {
        if (_finished) return;
        var what = e.ExceptionObject is Exception ex ? OpResult.Describe(ex) : Convert.ToString(e.ExceptionObject, System.Globalization.CultureInfo.InvariantCulture);
        try
        {
            Finish(RunInfo.Failed, $"the process crashed while the run was running: {what}", forced: true);
        }
        catch (Exception)
        {
            // The process is going; nothing here may stop it.
        }
    }

    private void Beat()
    {
        lock (_write)
        {
            if (_finished) return;
            _info = _info with { Heartbeat = Seconds(_options.Time) };
            try
            {
                WriteInfoLocked(durable: false);
                if (_beatFailing) Say($"{RunFiles.Run}: the heartbeat is written again");
                _beatFailing = false;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // The next beat tries again. Said once: if it lasts, readers take the run for interrupted.
                if (!_beatFailing) Say($"cannot refresh the heartbeat in {RunFiles.Run}: {ex.Message}; if this lasts {RunState.StaleAfter.TotalSeconds:0} s, readers show the run as interrupted");
                _beatFailing = true;
            }
        }
    }

    /// <summary>Cuts the metrics file back to a checkpoint's length: the lines after it are the steps the resumed run trains again.</summary>
    private static void CutMetrics(string path, long length)
    {
        using var fs = new FileStream(path, FileMode.OpenOrCreate, FileAccess.Write);
        if (fs.Length < length)
            throw new ProtocolException($"{path}: {fs.Length} bytes, shorter than the {length} the checkpoint recorded; the metrics are not the checkpoint's");
        fs.SetLength(length);
        fs.Flush(flushToDisk: true);
    }

    private void WriteInfo()
    {
        lock (_write)
        {
            _info = _info with { Params = (JsonObject)Params.DeepClone() };
            WriteInfoLocked();
        }
    }

    private void WriteInfoLocked(bool durable = true) => _record.Write(_info, durable);

    private KilnKernel RequireKernel() => Kernel ?? throw new InvalidOperationException("this run's trainer follows the protocol itself (RunOptions.OwnsProtocol is false): it has no kernel here");

    private MetricsWriter RequireMetrics() => Metrics ?? throw new InvalidOperationException("this run's trainer follows the protocol itself (RunOptions.OwnsProtocol is false): it has no metrics writer here");

    private static double Seconds(TimeProvider time) => time.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0;
}
