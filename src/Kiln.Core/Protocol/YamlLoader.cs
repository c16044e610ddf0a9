using System.Buffers;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Kiln.Protocol;

/// <summary>
/// Turns the events of YamlDotNet's parser into JSON, node by node, within limits: nesting at most
/// <see cref="YamlJson.MaxDepth"/> deep (checked before going deeper, so no input reaches deep recursion), aliases
/// expanding to at most <see cref="YamlJson.MaxAliasNodes"/> nodes in all (a 359-byte "billion laughs" stops here, not
/// at 1.8 GB), and no alias to a node it is part of (<c>&amp;a [1, *a]</c> would never end). YamlDotNet's own
/// representation model has none of these limits: it recurses once per level and resolves aliases into shared,
/// possibly cyclic, nodes.
/// </summary>
internal sealed partial class YamlLoader
{
    private readonly Scanner _scanner;
    private readonly IParser _parser;
    private readonly ArrayBufferWriter<byte> _buffer = new(1024);
    private readonly Utf8JsonWriter _json;
    private readonly Dictionary<string, Anchored> _anchors = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _open = new(StringComparer.Ordinal);
    private long _aliasNodes;

    /// <summary>How many nodes a node holds (aliases expanded), and how many levels of collections it nests.</summary>
    private readonly record struct Size(long Nodes, int Height);

    /// <summary>An anchored node, as the JSON it became, and its size.</summary>
    private readonly record struct Anchored(byte[] Json, Size Size);

    private YamlLoader(string text)
    {
        _scanner = new Scanner(new StringReader(text));
        _parser = new Parser(_scanner);
        _json = new Utf8JsonWriter(_buffer);
    }

    /// <summary>Reads one YAML document (null when there is none, or when it is empty).</summary>
    public static JsonNode? Load(string text)
    {
        var loader = new YamlLoader(text);
        try
        {
            return loader.Document();
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or EndOfStreamException or JsonException)
        {
            // YamlDotNet's scanner gives up on some malformed input (an unclosed flow collection before a key, a tag that is
            // no URI) with exceptions about its own state: still the file's fault, so an error like the others. The message of
            // an InvalidOperationException ("Operation is not valid due to the current state of the object.") tells nothing.
            var at = loader._scanner.CurrentPosition;
            var detail = ex is InvalidOperationException ? "" : ": " + YamlJson.Clean(ex.Message);
            throw new ProtocolException($"line {at.Line}, column {at.Column}: malformed YAML (check brackets, quotes and indentation){detail}", ex);
        }
    }

    private JsonNode? Document()
    {
        Expect<StreamStart>();
        if (_parser.TryConsume<StreamEnd>(out _)) return null;
        Expect<DocumentStart>();
        Value("", 0);
        Expect<DocumentEnd>();
        if (_parser.Accept<DocumentStart>(out var second))
            throw new ProtocolException($"line {second.Start.Line}: expected one YAML document, found a second one here");
        Expect<StreamEnd>();
        _json.Flush();
        return JsonNode.Parse(_buffer.WrittenSpan, documentOptions: new JsonDocumentOptions { MaxDepth = YamlJson.MaxDepth });
    }

    private T Expect<T>() where T : ParsingEvent => _parser.Consume<T>();

    /// <summary>Writes the next node as JSON, at <paramref name="depth"/> collections deep; returns its size.</summary>
    private Size Value(string path, int depth)
    {
        var next = _parser.Consume<ParsingEvent>();
        switch (next)
        {
            case AnchorAlias alias:
                return Alias(alias, depth);
            case Scalar scalar:
            {
                var start = scalar.Anchor.IsEmpty ? 0 : Mark();
                WriteScalar(_json, scalar, path);
                var size = new Size(1, 0);
                Remember(scalar.Anchor, start, size);
                return size;
            }
            case SequenceStart seq:
            {
                var start = Open(seq, seq.Anchor, depth);
                _json.WriteStartArray();
                var size = new Size(1, 1);
                for (var i = 0; !_parser.TryConsume<SequenceEnd>(out _); i++)
                    size = Add(size, Value($"{path}[{i}]", depth + 1));
                _json.WriteEndArray();
                Close(seq.Anchor, start, size);
                return size;
            }
            case MappingStart map:
            {
                var start = Open(map, map.Anchor, depth);
                _json.WriteStartObject();
                var size = new Size(1, 1);
                var keys = new HashSet<string>(StringComparer.Ordinal);
                while (!_parser.TryConsume<MappingEnd>(out _))
                {
                    var key = Key(path);
                    if (!keys.Add(key.Text)) throw new ProtocolException($"line {key.Event.Start.Line}, column {key.Event.Start.Column}: Duplicate key {JsonCheck.Excerpt(key.Text)}");
                    _json.WritePropertyName(key.Text);
                    size = Add(size, Value(path.Length == 0 ? key.Text : path + "." + key.Text, depth + 1));
                }
                _json.WriteEndObject();
                Close(map.Anchor, start, size);
                return size;
            }
            default:
                throw new ProtocolException($"line {next.Start.Line}: {Where(path)}unsupported YAML node");
        }
    }

    private (string Text, ParsingEvent Event) Key(string path)
    {
        var next = _parser.Consume<ParsingEvent>();
        if (next is not Scalar scalar)
            throw new ProtocolException($"line {next.Start.Line}, column {next.Start.Column}: {Where(path)}mapping keys must be plain scalars{(next is AnchorAlias ? ", not aliases" : "")}");
        var text = Text(scalar.Value, scalar, path);
        if (!scalar.Anchor.IsEmpty)
        {
            // An anchored key can be aliased as a value: remember the value it stands for.
            var writer = new ArrayBufferWriter<byte>(64);
            using (var json = new Utf8JsonWriter(writer)) WriteScalar(json, scalar, path);
            SetAnchor(scalar.Anchor.Value, new Anchored(writer.WrittenSpan.ToArray(), new Size(1, 0)));
        }
        return (text, scalar);
    }

    private static Size Add(Size collection, Size child) => new(collection.Nodes + child.Nodes, Math.Max(collection.Height, child.Height + 1));

    private Size Alias(AnchorAlias alias, int depth)
    {
        var name = alias.Value.Value;
        if (!_anchors.TryGetValue(name, out var anchored))
        {
            throw new ProtocolException(_open.ContainsKey(name)
                ? $"line {alias.Start.Line}, column {alias.Start.Column}: alias *{name} refers to the node it is part of (a recursive alias has no end)"
                : $"line {alias.Start.Line}, column {alias.Start.Column}: alias *{name} refers to no anchor &{name} before it");
        }
        _aliasNodes += anchored.Size.Nodes;
        if (_aliasNodes > YamlJson.MaxAliasNodes)
            throw new ProtocolException($"line {alias.Start.Line}, column {alias.Start.Column}: aliases expand to more than {YamlJson.MaxAliasNodes} nodes (an alias bomb?)");
        if (depth + anchored.Size.Height > YamlJson.MaxDepth)
            throw new ProtocolException($"line {alias.Start.Line}, column {alias.Start.Column}: alias *{name} nests deeper than {YamlJson.MaxDepth} levels here");
        _json.WriteRawValue(anchored.Json, skipInputValidation: true);
        return anchored.Size;
    }

    private int Open(ParsingEvent start, AnchorName anchor, int depth)
    {
        if (depth + 1 > YamlJson.MaxDepth)
            throw new ProtocolException($"line {start.Start.Line}, column {start.Start.Column}: nesting deeper than {YamlJson.MaxDepth} levels");
        if (anchor.IsEmpty) return 0;
        // Until it is complete, the anchor names the node being read: an alias to it inside would be recursive.
        _anchors.Remove(anchor.Value);
        _open[anchor.Value] = _open.GetValueOrDefault(anchor.Value) + 1;
        return Mark();
    }

    private void Close(AnchorName anchor, int start, Size size)
    {
        if (anchor.IsEmpty) return;
        if (--_open[anchor.Value] == 0) _open.Remove(anchor.Value);
        Remember(anchor, start, size);
    }

    private void Remember(AnchorName anchor, int start, Size size)
    {
        if (anchor.IsEmpty) return;
        _json.Flush();
        var written = _buffer.WrittenSpan[start..];
        // The writer put the separator from the previous value in front of this one.
        if (written.Length > 0 && written[0] == (byte)',') written = written[1..];
        SetAnchor(anchor.Value, new Anchored(written.ToArray(), size));
    }

    private void SetAnchor(string name, Anchored anchored) => _anchors[name] = anchored;

    private int Mark()
    {
        _json.Flush();
        return _buffer.WrittenCount;
    }

    /// <summary>The YAML 1.2 core schema.</summary>
    private static void WriteScalar(Utf8JsonWriter json, Scalar s, string path)
    {
        var v = Text(s.Value, s, path);
        if (s.Style != ScalarStyle.Plain)
        {
            json.WriteStringValue(v);
            return;
        }
        switch (v)
        {
            case "" or "~" or "null" or "Null" or "NULL":
                json.WriteNullValue();
                return;
            case "true" or "True" or "TRUE":
                json.WriteBooleanValue(true);
                return;
            case "false" or "False" or "FALSE":
                json.WriteBooleanValue(false);
                return;
        }
        if (IntPattern().IsMatch(v) && long.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l))
        {
            json.WriteNumberValue(l);
            return;
        }
        if (v.StartsWith("0x", StringComparison.Ordinal) && long.TryParse(v.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var hex))
        {
            json.WriteNumberValue(hex);
            return;
        }
        if (FloatPattern().IsMatch(v) && double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d))
        {
            if (!double.IsFinite(d))
                throw new ProtocolException($"line {s.Start.Line}: {Where(path)}{JsonCheck.Excerpt(v)} is too large for a number (at most about 1.8e308)");
            json.WriteNumberValue(d);
            return;
        }
        if (NonFinitePattern().IsMatch(v))
            throw new ProtocolException($"line {s.Start.Line}: {Where(path)}non-finite number {v} is not allowed");
        json.WriteStringValue(v);
    }

    private static string Text(string value, Scalar s, string path) =>
        JsonCheck.IsText(value) ? value
            : throw new ProtocolException($"line {s.Start.Line}, column {s.Start.Column}: {Where(path)}not text (a lone surrogate)");

    private static string Where(string path) => path.Length == 0 ? "" : path + ": ";

    [GeneratedRegex(@"^[-+]?[0-9]+$")]
    private static partial Regex IntPattern();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")]
    private static partial Regex FloatPattern();

    [GeneratedRegex(@"^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$")]
    private static partial Regex NonFinitePattern();
}
