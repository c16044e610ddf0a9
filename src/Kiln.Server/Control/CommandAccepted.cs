using System.Text.Json.Nodes;

namespace Kiln.Server.Control;

/// <summary><c>POST /api/run/commands</c>: the command as queued in the inbox, with its new cid.</summary>
internal sealed record CommandAccepted(string Cid, JsonObject Command);
