using System.ClientModel;
using Microsoft.Extensions.AI;
using OpenAI;

namespace Kiln.Autopilot.Ai;

/// <summary>An <see cref="IChatClient"/> for the settings: OpenAI's adapter, pointed at any OpenAI-compatible base URL.</summary>
public static class AiClients
{
    public static IChatClient Create(AiSettings settings)
    {
        var endpoint = Check(settings);
        var options = new OpenAIClientOptions { Endpoint = endpoint, NetworkTimeout = settings.Timeout };
        // A local server takes any key; the client library wants one.
        return new OpenAI.Chat.ChatClient(settings.Model, new ApiKeyCredential(settings.ApiKey ?? "none"), options).AsIChatClient();
    }

    /// <summary>The endpoint, once the settings can reach one: an http(s) URL, and a key for OpenAI's own.</summary>
    public static Uri Check(AiSettings settings)
    {
        if (!Uri.TryCreate(settings.BaseUrl, UriKind.Absolute, out var endpoint) || endpoint.Scheme is not ("http" or "https"))
            throw new Kiln.Protocol.ProtocolException($"--ai-base-url: \"{settings.BaseUrl}\" is not an http(s) URL");
        if (settings.ApiKey is null && settings.BaseUrl == AiSettings.DefaultBaseUrl)
            throw new Kiln.Protocol.ProtocolException($"the AI autopilot needs a key for {settings.BaseUrl}: set {AiSettings.KeyVariable} (or OPENAI_API_KEY), or give --ai-base-url for a local server");
        return endpoint;
    }
}
