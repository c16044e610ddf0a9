namespace Kiln.Server.Hosting;

/// <summary>How to serve: the workspace (or run directory), where to listen, and the token.</summary>
public sealed record ServerOptions
{
    public required string Root { get; init; }
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>0 picks a free port.</summary>
    public int Port { get; init; } = 8421;

    /// <summary>The token changes need (and every request, off loopback); generated when null.</summary>
    public string? Token { get; init; }

    /// <summary>How many of the most recently written runs have their metrics read at start.</summary>
    public int WarmRuns { get; init; } = 8;

    /// <summary>
    /// A metrics file at least this large that the server has not read yet is first answered from a sample of its
    /// lines (<c>partial</c>) while it is read whole in the background, so its page draws at once.
    /// </summary>
    public long PreviewBytes { get; init; } = 32 << 20;

    /// <summary>The largest request body accepted.</summary>
    public long MaxRequestBytes { get; init; } = 64 * 1024;

    /// <summary>Where the runs page's Slurm column comes from (<see cref="Kiln.Server.Runs.SlurmStates"/>); null: the cluster's tools (<see cref="Kiln.Execution.Slurm.SlurmStatusReader"/>).</summary>
    public Kiln.Execution.Slurm.ISlurmStatusSource? SlurmStatus { get; init; }

    /// <summary>The clock the server looks at run files by (and lists runs by).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
}
