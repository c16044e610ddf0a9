using System.Text.Json;
using System.Text.Json.Nodes;

namespace Kiln.Registry.Records;

/// <summary>
/// A JSON object held as the registry stores it — canonical text — and parsed only when asked for: listing 10,000
/// runs reads the hyper-parameters of each, but rarely their metrics or swept values.
/// </summary>
internal sealed class JsonColumn
{
    private readonly string? _text;
    private JsonObject? _value;
    private bool _parsed;

    private JsonColumn(string? text, JsonObject? value, bool parsed) => (_text, _value, _parsed) = (text, value, parsed);

    public static readonly JsonColumn Empty = new(null, null, true);

    public static JsonColumn Of(JsonObject? value) => value is null ? Empty : new(null, value, true);

    /// <summary>Canonical text as stored (null: no object).</summary>
    public static JsonColumn FromText(string? text) => text is null ? Empty : new(text, null, false);

    public JsonObject? Value
    {
        get
        {
            if (_parsed) return _value;
            try { _value = JsonNode.Parse(_text!) as JsonObject; }
            catch (JsonException) { _value = null; } // written by the registry as canonical JSON; anything else is not trusted
            _parsed = true;
            return _value;
        }
    }

    /// <summary>The canonical text: as stored, or made from the object given.</summary>
    public string? Text => _text ?? (Value is { } v ? CanonicalJson.Of(v) : null);
}
