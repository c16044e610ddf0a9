using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Kiln.Protocol;

/// <summary>
/// Reads YAML into JSON nodes with the YAML 1.2 core schema: <c>1e-4</c> and <c>0</c> are numbers,
/// <c>true</c>/<c>false</c> are booleans, <c>yes</c>/<c>on</c> stay strings, and quoted scalars are always strings.
/// Errors carry the line and column.
/// </summary>
public static partial class YamlJson
{
    public static JsonNode? ParseFile(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (FileNotFoundException) { throw new ProtocolException($"{path}: file not found"); }
        catch (DirectoryNotFoundException) { throw new ProtocolException($"{path}: file not found"); }
        try { return Parse(text); }
        catch (ProtocolException ex) { throw ex.InFile(path); }
    }

    public static JsonNode? Parse(string text)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException ex)
        {
            var inner = ex.InnerException is YamlException ie ? ie.Message : ex.Message;
            throw new ProtocolException($"line {ex.Start.Line}, column {ex.Start.Column}: {Clean(inner)}", ex);
        }
        if (stream.Documents.Count == 0) return null;
        if (stream.Documents.Count > 1) throw new ProtocolException("expected one YAML document, found " + stream.Documents.Count);
        // Re-parsed so values are backed by JSON text like those read from any other file: then
        // GetValue<int>() on a whole number works however the number was written.
        return Convert(stream.Documents[0].RootNode, "") is { } node ? JsonNode.Parse(node.ToJsonString()) : null;
    }

    private static string Clean(string message) => message.Replace("\r", "", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);

    private static JsonNode? Convert(YamlNode node, string path)
    {
        switch (node)
        {
            case YamlMappingNode map:
                var obj = new JsonObject();
                foreach (var (k, v) in map.Children)
                {
                    if (k is not YamlScalarNode ks || ks.Value is null)
                        throw new ProtocolException($"line {k.Start.Line}: {Where(path)}mapping keys must be plain scalars");
                    var key = ks.Value;
                    obj[key] = Convert(v, path.Length == 0 ? key : path + "." + key);
                }
                return obj;
            case YamlSequenceNode seq:
                var arr = new JsonArray();
                var i = 0;
                foreach (var item in seq.Children) arr.Add(Convert(item, $"{path}[{i++}]"));
                return arr;
            case YamlScalarNode scalar:
                return Scalar(scalar, path);
            default:
                throw new ProtocolException($"line {node.Start.Line}: {Where(path)}unsupported YAML node");
        }
    }

    private static string Where(string path) => path.Length == 0 ? "" : path + ": ";

    private static JsonNode? Scalar(YamlScalarNode s, string path)
    {
        var v = s.Value ?? "";
        if (s.Style != ScalarStyle.Plain) return JsonValue.Create(v);
        switch (v)
        {
            case "" or "~" or "null" or "Null" or "NULL": return null;
            case "true" or "True" or "TRUE": return JsonValue.Create(true);
            case "false" or "False" or "FALSE": return JsonValue.Create(false);
        }
        if (IntPattern().IsMatch(v) && long.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l))
            return JsonValue.Create(l);
        if (v.StartsWith("0x", StringComparison.Ordinal) && long.TryParse(v.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var hex))
            return JsonValue.Create(hex);
        if (FloatPattern().IsMatch(v) && double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d))
            return JsonValue.Create(d);
        if (NonFinitePattern().IsMatch(v))
            throw new ProtocolException($"line {s.Start.Line}: {Where(path)}non-finite number {v} is not allowed");
        return JsonValue.Create(v);
    }

    [GeneratedRegex(@"^[-+]?[0-9]+$")]
    private static partial Regex IntPattern();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")]
    private static partial Regex FloatPattern();

    [GeneratedRegex(@"^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$")]
    private static partial Regex NonFinitePattern();

    /// <summary>Reads a JSON or YAML file by its extension.</summary>
    public static JsonNode? ParseJsonOrYaml(string path)
    {
        var ext = System.IO.Path.GetExtension(path).ToLowerInvariant();
        if (ext is ".yaml" or ".yml") return ParseFile(path);
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (FileNotFoundException) { throw new ProtocolException($"{path}: file not found"); }
        catch (DirectoryNotFoundException) { throw new ProtocolException($"{path}: file not found"); }
        try { return JsonValues.ParseDocument(bytes, "content"); }
        catch (ProtocolException ex) { throw ex.InFile(path); }
    }
}
