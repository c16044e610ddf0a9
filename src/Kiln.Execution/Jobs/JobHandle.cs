namespace Kiln.Execution.Jobs;

/// <summary>A submitted job: the executor's id for it (a local sequence number, a Slurm <c>jobid_task</c>) and its spec.</summary>
public sealed record JobHandle(string Id, JobSpec Spec);
