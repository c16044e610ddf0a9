using System.Text.Json;
using System.Text.Json.Serialization;

namespace Kiln.Experiments.Caching;

/// <summary>Any value System.Text.Json can write and read back (records, lists, dictionaries, numbers), indented.</summary>
public sealed class JsonCacher : ByteCacher
{
    internal static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        IncludeFields = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public override string Extension => ".json";

    protected override byte[] Encode(object? value, Type type) => JsonSerializer.SerializeToUtf8Bytes(value, type, Options);

    protected override object? Decode(byte[] bytes, Type type) => JsonSerializer.Deserialize(bytes, type, Options);
}
