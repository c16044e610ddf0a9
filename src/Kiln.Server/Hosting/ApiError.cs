namespace Kiln.Server.Hosting;

/// <summary>Every error the API answers: <c>{"error": "…"}</c>, one sentence naming what is at fault.</summary>
internal sealed record ApiError(string Error);
