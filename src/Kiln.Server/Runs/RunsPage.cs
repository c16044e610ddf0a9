using System.Text.Json.Nodes;

namespace Kiln.Server.Runs;

/// <summary><c>/api/runs</c>: one page of the runs, filtered and sorted, and how many there are in all.</summary>
internal sealed record RunsPage(string Root, int Total, int Page, int Size, JsonArray Runs);
