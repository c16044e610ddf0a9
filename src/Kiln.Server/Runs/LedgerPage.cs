using System.Text.Json.Nodes;

namespace Kiln.Server.Runs;

/// <summary><c>/api/run/ledger</c>: the decisions after a sequence number, and where the event stream continues.</summary>
internal sealed record LedgerPage(long Offset, JsonArray Entries);
