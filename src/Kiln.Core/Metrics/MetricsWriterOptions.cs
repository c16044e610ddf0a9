namespace Kiln.Metrics;

/// <summary>How a <see cref="MetricsWriter"/> writes, and what it does when the disk fails it.</summary>
public sealed record MetricsWriterOptions
{
    /// <summary>The clock of the lines' <c>wall_time</c>; tests pass a manual one.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>How often queued lines go to the file.</summary>
    public TimeSpan FlushInterval { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// Asked when a write fails for want of space (no space left, or over quota): true waits for space instead of
    /// failing. The writer then tries again every <see cref="RetryInterval"/> (asking again each time), and
    /// <see cref="MetricsWriter.Write"/> blocks meanwhile, so the training loop pauses and no line is lost. Any other
    /// write error (a read-only file, an I/O error) fails the writer either way. By default the writer fails.
    /// </summary>
    public Func<bool> WaitForSpace { get; init; } = static () => false;

    /// <summary>How often a writer waiting for space tries again.</summary>
    public TimeSpan RetryInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Ends a wait for space: <see cref="MetricsWriter.Write"/> stops blocking and the writer gives up (it fails).</summary>
    public CancellationToken GiveUp { get; init; }

    /// <summary>Told at once, on the writer's thread, when writing fails, when it starts waiting for space, and when it writes again.</summary>
    public Action<MetricsWriterState, string>? StateChanged { get; init; }
}

/// <summary>Where a <see cref="MetricsWriter"/> stands with its file.</summary>
public enum MetricsWriterState
{
    /// <summary>Lines reach the file.</summary>
    Writing,

    /// <summary>The disk is full; the writer tries again (<see cref="MetricsWriterOptions.WaitForSpace"/>) and writers wait.</summary>
    WaitingForSpace,

    /// <summary>A write failed: the file ends with whole lines and nothing more is written (see <see cref="MetricsWriter.Failure"/>).</summary>
    Failed,
}
