using System.Diagnostics;
using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Protocol;
using Microsoft.Extensions.AI;

namespace Kiln.Autopilot.Ai;

/// <summary>
/// The AI autopilot's schedule and calls. It asks the model when an alert fired, when the step it asked to be
/// called back at came, or every <see cref="AiSettings.Cadence"/> steps — never sooner than <see cref="AiSettings.MinGap"/>
/// after the last call, never before <see cref="AiSettings.FirstStep"/>, and never past the budget. A call runs on its
/// own task: <see cref="Collect"/> only looks whether it finished, so neither the autopilot's polling nor the training
/// ever waits for the model. Every call — its prompt, reply, reasoning, tokens and cost, or why it failed — is a line
/// of <c>kiln.autopilot.ai.jsonl</c>.
/// </summary>
public sealed class AiPilot(string runDir, AiSettings settings, IChatClient client, TimeProvider? time = null)
{
    private const int MaxRecordedReply = 4000;
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly string _log = Path.Combine(Path.GetFullPath(runDir), RunFiles.AutopilotAi);
    private Task<Outcome>? _call;
    private (long Step, string Prompt, IReadOnlyList<JsonObject> Dials) _asked;
    private long _lastCall = long.MinValue;
    private long _nextCheck = settings.FirstStep;

    public AiSettings Settings { get; } = settings;

    /// <summary>US dollars spent so far.</summary>
    public double Spent { get; private set; }

    /// <summary>Why the AI autopilot stopped calling (the budget), or null while it may call.</summary>
    public string? Disabled { get; private set; }

    public bool Calling => _call is not null;

    public bool ShouldCall(long step, bool alert)
    {
        if (Disabled is not null || _call is not null || step < Settings.FirstStep) return false;
        if (_lastCall != long.MinValue && step - _lastCall < Settings.MinGap) return false;
        if (Spent >= Settings.BudgetUsd)
        {
            Disable(step, $"the budget of {Settings.BudgetUsd} USD is spent ({Spent:0.####} USD)");
            return false;
        }
        return alert || step >= _nextCheck;
    }

    /// <summary>Starts a call in the background; <see cref="Collect"/> picks up its answer.</summary>
    public void Start(long step, string system, string user, IReadOnlyList<JsonObject> dials)
    {
        _lastCall = step;
        _nextCheck = step + Settings.Cadence;
        _asked = (step, user, dials);
        var options = new ChatOptions { Temperature = Settings.Temperature, MaxOutputTokens = Settings.MaxOutputTokens, ResponseFormat = ChatResponseFormat.Json };
        List<ChatMessage> messages = [new(ChatRole.System, system), new(ChatRole.User, user)];
        var started = Stopwatch.GetTimestamp();
        _call = Task.Run(async () =>
        {
            using var timeout = new CancellationTokenSource(Settings.Timeout);
            try
            {
                var response = await client.GetResponseAsync(messages, options, timeout.Token).ConfigureAwait(false);
                return new Outcome(response.Text, response.Usage?.InputTokenCount, response.Usage?.OutputTokenCount, null, Stopwatch.GetElapsedTime(started));
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested)
            {
                return new Outcome(null, null, null, $"no answer within {Settings.Timeout.TotalSeconds:0.#} s", Stopwatch.GetElapsedTime(started), TimedOut: true);
            }
            catch (Exception ex)
            {
                return new Outcome(null, null, null, ex.Message, Stopwatch.GetElapsedTime(started));
            }
        });
    }

    /// <summary>
    /// Waits for the call in flight, if any (at most its timeout): for a caller that wants each answer at a fixed point of
    /// the run, such as the benchmark, rather than whenever it arrives. The run's own autopilot never waits.
    /// </summary>
    public void WaitForCall()
    {
        if (_call is { } call) call.Wait(Settings.Timeout + TimeSpan.FromSeconds(5));
    }

    /// <summary>The finished call's reply (recorded either way), or null while none finished or when it failed.</summary>
    public AiReply? Collect()
    {
        if (_call is not { IsCompleted: true } call) return null;
        _call = null;
        var outcome = call.Result;
        var (step, prompt, dials) = _asked;
        var record = new JsonObject
        {
            ["ts"] = _time.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0, ["step"] = step, ["model"] = Settings.Model,
            ["latency_s"] = Math.Round(outcome.Latency.TotalSeconds, 3), ["prompt"] = prompt,
        };
        AiReply? reply = null;
        if (outcome.Error is not null)
        {
            record["status"] = outcome.TimedOut ? "timeout" : "error";
            record["error"] = outcome.Error;
        }
        else
        {
            // Tokens as the endpoint reported them; a server that reports none is charged by length (about 4 characters a token).
            var input = outcome.InputTokens ?? (prompt.Length + 1500) / 4;
            var output = outcome.OutputTokens ?? (outcome.Text?.Length ?? 0) / 4;
            var cost = Settings.Cost(input, output);
            Spent += cost;
            record["input_tokens"] = input;
            record["output_tokens"] = output;
            record["tokens_estimated"] = outcome.InputTokens is null || outcome.OutputTokens is null;
            record["cost_usd"] = cost;
            record["spent_usd"] = Spent;
            record["reply"] = outcome.Text is { Length: > MaxRecordedReply } t ? t[..MaxRecordedReply] : outcome.Text;
            try
            {
                reply = AiReply.Parse(outcome.Text ?? "", dials, Settings.Cadence);
                record["status"] = "ok";
                record["reasoning"] = reply.Reasoning;
                record["actions"] = new JsonArray([.. reply.Actions.Select(a => (JsonNode)a.ToJson())]);
                record["notes"] = new JsonArray([.. reply.Notes.Select(n => (JsonNode)JsonValue.Create(n)!)]);
                if (reply.NextCheckInSteps is { } n) _nextCheck = step + n;
                record["next_check"] = _nextCheck;
            }
            catch (FormatException ex)
            {
                record["status"] = "malformed";
                record["error"] = ex.Message;
            }
        }
        JsonlFile.Append(_log, record);
        if (Spent >= Settings.BudgetUsd) Disable(step, $"the budget of {Settings.BudgetUsd} USD is spent ({Spent:0.####} USD)");
        return reply;
    }

    private void Disable(long step, string why)
    {
        Disabled = why;
        JsonlFile.Append(_log, new JsonObject
        {
            ["ts"] = _time.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0, ["step"] = step, ["model"] = Settings.Model,
            ["status"] = "over_budget", ["error"] = why + "; no more calls", ["spent_usd"] = Spent,
        });
    }

    private sealed record Outcome(string? Text, long? InputTokens, long? OutputTokens, string? Error, TimeSpan Latency, bool TimedOut = false);
}
