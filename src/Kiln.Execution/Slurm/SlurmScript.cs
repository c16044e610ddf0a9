using System.Globalization;
using System.Text;
using Kiln.Execution.Jobs;

namespace Kiln.Execution.Slurm;

/// <summary>
/// The files a task reads on the compute node: the manifest (line <c>i + 1</c> runs task <c>i</c>) and the batch
/// script every task of the arrays runs. Plain shell, so a node needs nothing of Kiln's to start a task.
/// </summary>
internal static class SlurmScript
{
    /// <summary>
    /// A task's line: into its working directory, skip it when its done marker exists, then its program with its
    /// environment, output appended to the log folder's <c>stdout.log</c>/<c>stderr.log</c> (a requeued run adds to them).
    /// </summary>
    public static string ManifestLine(JobSpec spec, int cpus)
    {
        if (spec.Argv.Count == 0) throw new ArgumentException($"{spec.Name}: a job needs a program to run", nameof(spec));
        var words = spec.Argv.Concat(spec.Env.SelectMany(kv => new[] { kv.Key, kv.Value })).Append(spec.WorkingDirectory ?? "").Append(spec.LogFolder ?? "");
        if (words.Any(w => w.Contains('\n', StringComparison.Ordinal) || w.Contains('\r', StringComparison.Ordinal)))
            throw new ArgumentException($"{spec.Name}: a cluster job's arguments, environment and folders must not hold line breaks", nameof(spec));
        var sb = new StringBuilder();
        sb.Append("cd ").Append(ShellWord.Quote(Path.GetFullPath(spec.WorkingDirectory ?? Directory.GetCurrentDirectory()))).Append(" && ");
        if (spec.DoneMarker is { } marker) sb.Append("{ [ ! -e ").Append(ShellWord.Quote(Path.GetFullPath(marker))).Append(" ] || exit 0; } && ");
        if (spec.LogFolder is { } logs) sb.Append("mkdir -p ").Append(ShellWord.Quote(Path.GetFullPath(logs))).Append(" && ");
        sb.Append("exec env --");
        foreach (var (k, v) in spec.Env) sb.Append(' ').Append(ShellWord.Quote($"{k}={v}"));
        if (spec.RunDirectory is { } run) sb.Append(' ').Append(ShellWord.Quote($"{Kiln.Protocol.ChildEnv.RunDir}={Path.GetFullPath(run)}"));
        sb.Append(" KILN_THREADS=").Append(cpus.ToString(CultureInfo.InvariantCulture));
        sb.Append(' ').Append(ShellWord.Join(spec.Argv));
        if (spec.LogFolder is { } folder)
        {
            var full = Path.GetFullPath(folder);
            sb.Append(" >>").Append(ShellWord.Quote(Path.Combine(full, "stdout.log"))).Append(" 2>>").Append(ShellWord.Quote(Path.Combine(full, "stderr.log")));
        }
        return sb.ToString();
    }

    /// <summary>
    /// The batch script. It runs the task as its child so it can act on Slurm's warning (SIGUSR1, sent
    /// <c>signal_seconds</c> before a time limit or a preemption): the task is asked to stop (SIGTERM, on which a
    /// built-in run saves a checkpoint), and a task stopped that way before it finished is put back in the queue. A
    /// SIGTERM is Slurm's own to deliver (it reaches the task directly); the script outlives it until the task ends.
    /// </summary>
    public static string Batch(string manifest, bool requeue) => $$"""
        #!/bin/bash
        # Written by Kiln: runs line SLURM_ARRAY_TASK_ID + KILN_ARRAY_OFFSET + 1 of the manifest.
        # The submitting process may be long gone: nothing here may stop because it is.
        unset KILN_PARENT_PID
        manifest={{ShellWord.Quote(manifest)}}
        index=$(( SLURM_ARRAY_TASK_ID + ${KILN_ARRAY_OFFSET:-0} ))
        line=$(sed -n "$(( index + 1 ))p" "$manifest")
        if [ -z "$line" ]; then echo "kiln: no task $index in $manifest" >&2; exit 1; fi
        warned=
        child=
        trap 'warned=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null' USR1
        # On SIGTERM (scancel, scontrol requeue, a preemption) Slurm signals every process of the task, the trial included:
        # the script only goes on waiting for it. Passing it on would be a second SIGTERM, which stops a run at once,
        # before it writes its checkpoint.
        trap ':' TERM
        eval "$line" &
        child=$!
        while :; do
          wait "$child"; rc=$?
          kill -0 "$child" 2>/dev/null || break
        done
        if [ -n "$warned" ] && [ "$rc" -ne 0 ] && {{(requeue ? "true" : "false")}}; then
          echo "kiln: task $index warned by Slurm and stopped (exit $rc): requeued" >&2
          scontrol requeue "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}" && exit 0
        fi
        exit "$rc"

        """;
}
