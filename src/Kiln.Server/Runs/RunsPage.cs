using System.Text.Json.Nodes;

namespace Kiln.Server.Runs;

/// <summary>
/// <c>/api/runs</c>: one page of the runs, filtered and sorted, and how many there are in all; <c>SlurmProblem</c> says
/// why the Slurm states shown are not current (the cluster could not be asked), when it could not.
/// </summary>
internal sealed record RunsPage(string Root, int Total, int Page, int Size, JsonArray Runs, string? SlurmProblem = null);
