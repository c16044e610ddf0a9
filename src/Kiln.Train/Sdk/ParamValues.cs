using System.Collections;
using System.Text.Json;
using System.Text.Json.Nodes;
using Kiln.Protocol;

namespace Kiln.Train.Sdk;

/// <summary>
/// Turns what a program hands <see cref="KilnSdk.Param(IReadOnlyDictionary{string, object?})"/> or
/// <see cref="KilnSdk.TrialResult(IReadOnlyDictionary{string, object?})"/> into JSON, refusing what JSON cannot
/// hold faithfully (NaN, infinities, objects of arbitrary types) with the key at fault in the message.
/// </summary>
internal static class ParamValues
{
    private const int MaxDepth = 64;

    /// <summary>A JSON object of the values; <paramref name="what"/> names them in errors (<c>param</c>, <c>result</c>).</summary>
    public static JsonObject ToObject(IEnumerable<KeyValuePair<string, object?>> values, string what)
    {
        ArgumentNullException.ThrowIfNull(values);
        var result = new JsonObject();
        foreach (var (key, value) in values)
        {
            CheckKey(key, what);
            result[key] = ToNode(value, $"{what} '{key}'", 0);
        }
        return result;
    }

    /// <summary>A checked deep copy of an object given as JSON.</summary>
    public static JsonObject ToObject(JsonObject values, string what)
    {
        ArgumentNullException.ThrowIfNull(values);
        return ToObject(values.Select(p => new KeyValuePair<string, object?>(p.Key, p.Value)), what);
    }

    /// <summary>Whether two values are the same for a person: numbers by value (<c>64</c> = <c>64.0</c>), the rest structurally.</summary>
    public static bool Same(JsonNode? a, JsonNode? b)
    {
        if (JsonValues.TryGetDouble(a, out var x) && JsonValues.TryGetDouble(b, out var y)) return x == y;
        return (a, b) switch
        {
            (JsonObject oa, JsonObject ob) => oa.Count == ob.Count && oa.All(p => ob.TryGetPropertyValue(p.Key, out var v) && Same(p.Value, v)),
            (JsonArray aa, JsonArray ab) => aa.Count == ab.Count && aa.Zip(ab).All(p => Same(p.First, p.Second)),
            _ => JsonNode.DeepEquals(a, b),
        };
    }

    private static void CheckKey(string key, string what)
    {
        if (string.IsNullOrEmpty(key)) throw new ArgumentException($"a {what} needs a name; got an empty key");
    }

    private static JsonNode? ToNode(object? value, string at, int depth)
    {
        if (depth > MaxDepth) throw new ArgumentException($"{at}: nested more than {MaxDepth} levels deep (does it contain itself?)");
        switch (value)
        {
            case null:
                return null;
            case JsonNode node:
                return FromJson(node, at, depth);
            case JsonElement element:
                return element.ValueKind == JsonValueKind.Undefined ? null : JsonNode.Parse(element.GetRawText());
            case string s:
                return JsonValue.Create(s);
            case char c:
                return JsonValue.Create(c.ToString());
            case bool b:
                return JsonValue.Create(b);
            case Enum e:
                return JsonValue.Create(e.ToString());
            case sbyte or byte or short or ushort or int or uint or long or ulong:
                return IntegerNode(value);
            case float f:
                return JsonValue.Create(Finite(f, at));
            case double d:
                return JsonValue.Create(Finite(d, at));
            case Half h:
                return JsonValue.Create(Finite((float)h, at));
            case decimal m:
                return JsonValue.Create(m);
            case IDictionary dictionary:
            {
                var obj = new JsonObject();
                foreach (DictionaryEntry entry in dictionary)
                {
                    if (entry.Key is not string key)
                        throw new ArgumentException($"{at}: a dictionary's keys must be strings to be JSON; found a {entry.Key.GetType().Name} key");
                    CheckKey(key, at);
                    obj[key] = ToNode(entry.Value, $"{at}.{key}", depth + 1);
                }
                return obj;
            }
            case IEnumerable items:
            {
                var array = new JsonArray();
                var i = 0;
                foreach (var item in items) array.Add(ToNode(item, $"{at}[{i++}]", depth + 1));
                return array;
            }
            default:
                throw new ArgumentException(
                    $"{at}: a {value.GetType().Name} is not a JSON value; give numbers, strings, booleans, null, arrays or dictionaries of them");
        }
    }

    private static JsonNode IntegerNode(object value) => value switch
    {
        sbyte v => JsonValue.Create(v),
        byte v => JsonValue.Create(v),
        short v => JsonValue.Create(v),
        ushort v => JsonValue.Create(v),
        int v => JsonValue.Create(v),
        uint v => JsonValue.Create(v),
        long v => JsonValue.Create(v),
        _ => JsonValue.Create((ulong)value),
    };

    private static JsonNode? FromJson(JsonNode node, string at, int depth)
    {
        switch (node)
        {
            case JsonObject obj:
            {
                var copy = new JsonObject();
                foreach (var (key, item) in obj)
                {
                    CheckKey(key, at);
                    copy[key] = item is null ? null : ToNode(item, $"{at}.{key}", depth + 1);
                }
                return copy;
            }
            case JsonArray array:
            {
                var copy = new JsonArray();
                for (var i = 0; i < array.Count; i++) copy.Add(array[i] is { } item ? ToNode(item, $"{at}[{i}]", depth + 1) : null);
                return copy;
            }
            default:
                // A JsonValue may wrap a CLR double that is NaN, which no JSON text can hold.
                if (node is JsonValue v)
                {
                    if (v.TryGetValue(out double d)) Finite(d, at);
                    else if (v.TryGetValue(out float f)) Finite(f, at);
                }
                return node.DeepClone();
        }
    }

    private static double Finite(double d, string at) =>
        double.IsFinite(d) ? d : throw new ArgumentException($"{at}: {Name(d)} is not a number JSON can hold; give a finite number");

    private static float Finite(float f, string at) =>
        float.IsFinite(f) ? f : throw new ArgumentException($"{at}: {Name(f)} is not a number JSON can hold; give a finite number");

    private static string Name(double d) => double.IsNaN(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity";
}
