namespace Kiln.Autopilot.Ai;

/// <summary>
/// How the AI autopilot talks to its model: any OpenAI-compatible endpoint (OpenAI, Azure's compatible API, Ollama,
/// vLLM, llama.cpp's server), the key from the environment, and what it may spend. Seed 000's defaults.
/// </summary>
public sealed record AiSettings
{
    /// <summary>The variable the key is read from (else <c>OPENAI_API_KEY</c>).</summary>
    public const string KeyVariable = "KILN_AI_KEY";

    public const string DefaultBaseUrl = "https://api.openai.com/v1";

    public string Model { get; init; } = "gpt-4o-mini";
    public string BaseUrl { get; init; } = DefaultBaseUrl;
    public string? ApiKey { get; init; }

    /// <summary>US dollars the run's calls may cost in all; past it the AI autopilot stops calling.</summary>
    public double BudgetUsd { get; init; } = 5.0;

    /// <summary>Steps between regular check-ins.</summary>
    public long Cadence { get; init; } = 50;

    /// <summary>Steps at least between two calls, alerts included.</summary>
    public long MinGap { get; init; } = 10;

    /// <summary>The first call waits for this step: the trend needs points.</summary>
    public long FirstStep { get; init; } = 20;

    /// <summary>Price per million prompt tokens, USD (gpt-4o-mini's).</summary>
    public double InputPricePerMillion { get; init; } = 0.15;

    /// <summary>Price per million completion tokens, USD.</summary>
    public double OutputPricePerMillion { get; init; } = 0.60;

    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);
    public float Temperature { get; init; } = 0.3f;
    public int MaxOutputTokens { get; init; } = 1024;

    /// <summary>The metric the model is asked to improve.</summary>
    public string KeyMetric { get; init; } = "val_loss";

    /// <summary>What a call costs, from the tokens the endpoint reported.</summary>
    public double Cost(long inputTokens, long outputTokens) =>
        (inputTokens * InputPricePerMillion + outputTokens * OutputPricePerMillion) / 1e6;

    /// <summary>
    /// The key: <c>KILN_AI_KEY</c>, else <c>OPENAI_API_KEY</c>. A local server needs none, so another base URL than
    /// OpenAI's goes without; OpenAI's does not.
    /// </summary>
    public static string? KeyFromEnvironment() =>
        Environment.GetEnvironmentVariable(KeyVariable) is { Length: > 0 } k ? k
        : Environment.GetEnvironmentVariable("OPENAI_API_KEY") is { Length: > 0 } o ? o : null;
}
