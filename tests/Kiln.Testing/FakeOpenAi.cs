using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace Kiln.Testing;

/// <summary>
/// An OpenAI-compatible chat endpoint on loopback for the tests: each request to <c>/v1/chat/completions</c> takes the
/// next scripted answer (text and token usage, or a status code, or a hold until released), and keeps what was asked.
/// </summary>
public sealed class FakeOpenAi : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly ConcurrentQueue<Answer> _script = new();
    private readonly Task _serving;

    public FakeOpenAi()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        BaseUrl = $"http://127.0.0.1:{port}/v1";
        _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        _listener.Start();
        _serving = Task.Run(Serve);
    }

    public string BaseUrl { get; }

    /// <summary>The requests' bodies, in order.</summary>
    public ConcurrentQueue<JsonObject> Requests { get; } = new();

    /// <summary>Released to let held answers go.</summary>
    public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Reply(string content, long promptTokens = 1000, long completionTokens = 200) =>
        _script.Enqueue(new Answer(content, promptTokens, completionTokens, 200, false));

    public void Fail(int status) => _script.Enqueue(new Answer(null, 0, 0, status, false));

    /// <summary>An answer that waits for <see cref="Release"/> (or the client giving up).</summary>
    public void Hold(string content) => _script.Enqueue(new Answer(content, 10, 10, 200, true));

    private async Task Serve()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try { context = await _listener.GetContextAsync(); }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException) { return; }
            _ = Task.Run(() => Respond(context));
        }
    }

    private async Task Respond(HttpListenerContext context)
    {
        try
        {
            using (var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8))
                Requests.Enqueue((JsonObject)JsonNode.Parse(await reader.ReadToEndAsync())!);
            if (!_script.TryDequeue(out var answer)) answer = new Answer("{\"reasoning\":\"nothing scripted\",\"actions\":[]}", 1, 1, 200, false);
            if (answer.Hold) await Release.Task;
            context.Response.StatusCode = answer.Status;
            var body = answer.Status != 200
                ? "{\"error\":{\"message\":\"scripted failure\",\"type\":\"server_error\"}}"
                : new JsonObject
                {
                    ["id"] = "chatcmpl-test", ["object"] = "chat.completion", ["created"] = 1_700_000_000, ["model"] = "test-model",
                    ["choices"] = new JsonArray(new JsonObject
                    {
                        ["index"] = 0, ["finish_reason"] = "stop",
                        ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = answer.Content },
                    }),
                    ["usage"] = new JsonObject { ["prompt_tokens"] = answer.PromptTokens, ["completion_tokens"] = answer.CompletionTokens, ["total_tokens"] = answer.PromptTokens + answer.CompletionTokens },
                }.ToJsonString();
            var bytes = Encoding.UTF8.GetBytes(body);
            context.Response.ContentType = "application/json";
            await context.Response.OutputStream.WriteAsync(bytes);
            context.Response.Close();
        }
        catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or IOException)
        {
            // The client gave up (a timeout test): nothing to answer.
        }
    }

    public void Dispose()
    {
        Release.TrySetResult();
        _listener.Close();
        try { _serving.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
    }

    private sealed record Answer(string? Content, long PromptTokens, long CompletionTokens, int Status, bool Hold);
}
