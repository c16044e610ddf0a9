using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Kiln.Protocol;

namespace Kiln.Train.Sdk;

/// <summary>The hyper-parameters a queue run injects (<c>KILN_QUEUE</c>, a JSON object), and typed reads of them.</summary>
internal static class QueueValues
{
    /// <summary>Parses <c>KILN_QUEUE</c>; null or empty text is an empty object.</summary>
    /// <exception cref="KilnSdkException">The text is not a JSON object.</exception>
    public static JsonObject Parse(string? json)
    {
        if (string.IsNullOrWhiteSpace(json)) return [];
        JsonNode node;
        try
        {
            node = JsonValues.ParseDocument(Encoding.UTF8.GetBytes(json), ChildEnvironment.QueueVariable);
        }
        catch (ProtocolException ex)
        {
            throw new KilnSdkException(ex.Message, ex);
        }
        return node as JsonObject
            ?? throw new KilnSdkException($"{ChildEnvironment.QueueVariable}: expected a JSON object of hyper-parameters, got {JsonValues.Show(node)}");
    }

    /// <summary>The value under <paramref name="key"/> as a <typeparamref name="T"/>.</summary>
    /// <exception cref="KilnSdkException">The value cannot be one (a string for an int, 2.5 for an int).</exception>
    public static T Convert<T>(JsonNode? node, string key)
    {
        var at = $"{ChildEnvironment.QueueVariable} '{key}'";
        var target = Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T);
        if (node is null)
        {
            if (default(T) is null) return default!;
            throw new KilnSdkException($"{at} is null, which is not a {typeof(T).Name}");
        }
        if (node is T) return (T)(object)node.DeepClone();
        try
        {
            object? value = target switch
            {
                _ when target == typeof(string) => JsonValues.GetString(node, at),
                _ when target == typeof(bool) => JsonValues.GetBool(node, at),
                _ when target == typeof(double) => JsonValues.GetDouble(node, at),
                _ when target == typeof(float) => (float)JsonValues.GetDouble(node, at),
                _ when target == typeof(decimal) => (decimal)JsonValues.GetDouble(node, at),
                _ when target == typeof(int) => checked((int)JsonValues.GetLong(node, at)),
                _ when target == typeof(long) => JsonValues.GetLong(node, at),
                _ when target.IsEnum => Enum.Parse(target, JsonValues.GetString(node, at), ignoreCase: true),
                _ => node.Deserialize(target),
            };
            return value is null && default(T) is not null
                ? throw new KilnSdkException($"{at}: {JsonValues.Show(node)} is not a {typeof(T).Name}")
                : (T)value!;
        }
        catch (ProtocolException ex)
        {
            throw new KilnSdkException($"{ex.Message} (read as {typeof(T).Name})", ex);
        }
        catch (Exception ex) when (ex is OverflowException or ArgumentException or JsonException or NotSupportedException or FormatException)
        {
            throw new KilnSdkException($"{at}: {JsonValues.Show(node)} is not a {typeof(T).Name} ({ex.Message})", ex);
        }
    }
}
