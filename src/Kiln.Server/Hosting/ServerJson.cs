using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Kiln.Server.Control;
using Kiln.Server.Metrics;
using Kiln.Server.Runs;
using Microsoft.AspNetCore.Http.Json;

namespace Kiln.Server.Hosting;

/// <summary>The API's answers, serialized by generated code; property names in snake_case (<c>has_epochs</c>).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(ApiError))]
[JsonSerializable(typeof(JsonObject))]
[JsonSerializable(typeof(RunsPage))]
[JsonSerializable(typeof(LedgerPage))]
[JsonSerializable(typeof(MetricsAnswer))]
[JsonSerializable(typeof(MetricNamesAnswer))]
[JsonSerializable(typeof(CompareAnswer))]
[JsonSerializable(typeof(CommandAccepted))]
internal sealed partial class ServerJson : JsonSerializerContext
{
    /// <summary>Makes the HTTP answers use these contracts and names.</summary>
    public static void Configure(JsonOptions options)
    {
        options.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        options.SerializerOptions.TypeInfoResolverChain.Insert(0, Default);
    }
}
