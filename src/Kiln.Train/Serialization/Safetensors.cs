using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;
using Kiln.IO;
using Kiln.Train.Tensors;

namespace Kiln.Train.Serialization;

/// <summary>
/// The safetensors format that PyTorch, NumPy and the Hugging Face tools read: an 8-byte little-endian header
/// length N, N bytes of UTF-8 JSON describing each tensor (<c>dtype</c>, <c>shape</c>, <c>data_offsets</c>
/// relative to the end of the header) plus an optional <c>__metadata__</c> string map, then the tensors' raw
/// little-endian bytes. Only float32 (<c>F32</c>) tensors are read and written.
/// </summary>
/// <remarks>
/// Writing follows the reference implementation so equal inputs give equal bytes: <c>__metadata__</c> first
/// (keys sorted), tensors sorted by name, data packed back to back in that order, and the header padded with
/// spaces so the data starts at a multiple of 8 bytes and a reader can map the floats in place.
/// </remarks>
public static class Safetensors
{
    /// <summary>The largest header accepted, the same limit as the reference reader's, so a corrupt length cannot exhaust memory.</summary>
    public const int MaxHeaderBytes = 100_000_000;

    private const string MetadataKey = "__metadata__";

    private static readonly JsonWriterOptions WriterOptions = new()
    {
        // Names and metadata are written as they are (no \uXXXX for non-ASCII or HTML characters), as the reference writer does.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>Writes the tensors to <paramref name="path"/> atomically: readers see the old file or the whole new one.</summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null) =>
        AtomicFile.WriteAllBytes(path, Serialize(tensors, metadata));

    /// <summary>The bytes <see cref="Save"/> writes.</summary>
    /// <param name="metadata">Free-form strings stored under <c>__metadata__</c>; left out of the file when null or empty.</param>
    public static byte[] Serialize(IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var names = tensors.Keys.ToArray();
        Array.Sort(names, StringComparer.Ordinal);

        var header = new ArrayBufferWriter<byte>();
        long dataBytes = 0;
        using (var w = new Utf8JsonWriter(header, WriterOptions))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                var keys = metadata.Keys.ToArray();
                Array.Sort(keys, StringComparer.Ordinal);
                w.WriteStartObject(MetadataKey);
                foreach (var key in keys) w.WriteString(key, metadata[key] ?? throw new ArgumentException($"metadata '{key}' is null", nameof(metadata)));
                w.WriteEndObject();
            }
            foreach (var name in names)
            {
                if (name.Length == 0) throw new ArgumentException("a tensor name is empty", nameof(tensors));
                if (name == MetadataKey) throw new ArgumentException($"'{MetadataKey}' is reserved for metadata and cannot name a tensor", nameof(tensors));
                var t = tensors[name] ?? throw new ArgumentException($"tensor '{name}' is null", nameof(tensors));
                var size = 4L * t.Size;
                w.WriteStartObject(name);
                w.WriteString("dtype", "F32");
                w.WriteStartArray("shape");
                foreach (var d in t.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(dataBytes);
                w.WriteNumberValue(dataBytes + size);
                w.WriteEndArray();
                w.WriteEndObject();
                dataBytes += size;
            }
            w.WriteEndObject();
        }

        var padded = (header.WrittenCount + 7) / 8 * 8;
        var total = 8L + padded + dataBytes;
        if (total > Array.MaxLength) throw new ArgumentException($"the tensors take {total} bytes, more than one array can hold", nameof(tensors));
        var bytes = new byte[total];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)padded);
        header.WrittenSpan.CopyTo(bytes.AsSpan(8));
        bytes.AsSpan(8 + header.WrittenCount, padded - header.WrittenCount).Fill((byte)' ');

        var offset = 8 + padded;
        foreach (var name in names)
        {
            var values = tensors[name].Span;
            WriteFloats(values, bytes.AsSpan(offset, 4 * values.Length));
            offset += 4 * values.Length;
        }
        return bytes;
    }

    /// <summary>Reads a file written by <see cref="Save"/> or by any safetensors writer, as long as every tensor is F32.</summary>
    /// <exception cref="InvalidDataException">The file is malformed; the message names it and the tensor at fault.</exception>
    public static (Dictionary<string, Tensor> Tensors, Dictionary<string, string> Metadata) Load(string path)
    {
        var length = new FileInfo(path).Length;
        if (length > Array.MaxLength) throw new InvalidDataException($"{path}: {length} bytes is more than one load can hold");
        return Deserialize(File.ReadAllBytes(path), path);
    }

    /// <summary>Reads safetensors bytes.</summary>
    /// <param name="source">Names the bytes in error messages, e.g. the file they came from.</param>
    /// <exception cref="InvalidDataException">The bytes are malformed; the message names the source and the tensor at fault.</exception>
    public static (Dictionary<string, Tensor> Tensors, Dictionary<string, string> Metadata) Deserialize(ReadOnlySpan<byte> bytes, string source = "safetensors data")
    {
        if (bytes.Length < 8)
            throw new InvalidDataException($"{source}: {bytes.Length} bytes is too short for a safetensors file, which starts with an 8-byte header length");
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerLength > MaxHeaderBytes)
            throw new InvalidDataException($"{source}: header length {headerLength} is over the limit of {MaxHeaderBytes} bytes (100 MB)");
        if (headerLength > (ulong)(bytes.Length - 8))
            throw new InvalidDataException($"{source}: header length {headerLength} is larger than the file, which holds {bytes.Length - 8} bytes after the length");

        var headerBytes = bytes.Slice(8, (int)headerLength);
        var data = bytes[(8 + (int)headerLength)..];
        if (!Utf8.IsValid(headerBytes)) throw new InvalidDataException($"{source}: the header is not valid UTF-8");

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(headerBytes.ToArray());
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: the header is not valid JSON: {e.Message}", e);
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{source}: the header must be a JSON object, found {Kind(doc.RootElement)}");

            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var entries = new List<Entry>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in doc.RootElement.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                    throw new InvalidDataException(property.Name == MetadataKey
                        ? $"{source}: {MetadataKey} appears twice in the header"
                        : $"{source}: tensor '{property.Name}' appears twice in the header");
                if (property.Name == MetadataKey) ReadMetadata(property.Value, metadata, source);
                else entries.Add(ReadEntry(property.Name, property.Value, data.Length, source));
            }

            CheckCoverage(entries, data.Length, source);

            var tensors = new Dictionary<string, Tensor>(entries.Count, StringComparer.Ordinal);
            foreach (var e in entries)
            {
                var values = new float[e.Elements];
                ReadFloats(data[(int)e.Begin..(int)e.End], values);
                tensors[e.Name] = new Tensor(e.Shape, values) { Name = e.Name };
            }
            return (tensors, metadata);
        }
    }

    private readonly record struct Entry(string Name, int[] Shape, int Elements, long Begin, long End);

    private static void ReadMetadata(JsonElement value, Dictionary<string, string> metadata, string source)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"{source}: {MetadataKey} must be an object of strings, found {Kind(value)}");
        foreach (var item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw new InvalidDataException($"{source}: {MetadataKey} must map names to strings; '{item.Name}' holds {Kind(item.Value)}");
            if (!metadata.TryAdd(item.Name, item.Value.GetString()!))
                throw new InvalidDataException($"{source}: {MetadataKey} key '{item.Name}' appears twice");
        }
    }

    private static Entry ReadEntry(string name, JsonElement value, int dataLength, string source)
    {
        var at = $"{source}: tensor '{name}'";
        if (value.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"{at}: expected an object with dtype, shape and data_offsets, found {Kind(value)}");

        if (!value.TryGetProperty("dtype", out var dtypeElement)) throw new InvalidDataException($"{at}: dtype is missing");
        if (dtypeElement.ValueKind != JsonValueKind.String) throw new InvalidDataException($"{at}: dtype must be a string, found {Kind(dtypeElement)}");
        var dtype = dtypeElement.GetString();
        if (dtype != "F32") throw new InvalidDataException($"{at}: dtype {dtype} is not supported; only F32");

        if (!value.TryGetProperty("shape", out var shapeElement)) throw new InvalidDataException($"{at}: shape is missing");
        var dims = Integers(shapeElement, "shape", at);
        var shape = new int[dims.Length];
        // A zero anywhere makes the tensor empty however large the other dimensions are.
        long elements = dims.Contains(0) ? 0 : 1;
        for (var i = 0; i < dims.Length; i++)
        {
            if (dims[i] > int.MaxValue || (elements *= dims[i]) > Array.MaxLength)
                throw new InvalidDataException($"{at}: shape [{string.Join(", ", dims)}] is too large for one tensor");
            shape[i] = (int)dims[i];
        }

        if (!value.TryGetProperty("data_offsets", out var offsetsElement)) throw new InvalidDataException($"{at}: data_offsets is missing");
        var offsets = Integers(offsetsElement, "data_offsets", at);
        if (offsets.Length != 2) throw new InvalidDataException($"{at}: data_offsets must hold two numbers [begin, end], found {offsets.Length}");
        var (begin, end) = (offsets[0], offsets[1]);
        var span = $"data_offsets [{begin}, {end}]";
        if (begin > end) throw new InvalidDataException($"{at}: {span} end before they begin");
        if (end > dataLength) throw new InvalidDataException($"{at}: {span} run past the end of the data, which holds {dataLength} bytes");
        if (elements * 4 != end - begin)
            throw new InvalidDataException($"{at}: shape {Tensor.ShapeText(shape)} needs {elements * 4} bytes of F32, {span} cover {end - begin}");
        return new Entry(name, shape, (int)elements, begin, end);
    }

    /// <summary>Every data byte must belong to exactly one tensor, as the reference reader demands.</summary>
    private static void CheckCoverage(List<Entry> entries, int dataLength, string source)
    {
        var ordered = entries.OrderBy(e => e.Begin).ThenBy(e => e.End).ToList();
        long cursor = 0;
        Entry? previous = null;
        foreach (var e in ordered)
        {
            if (e.Begin < cursor)
                throw new InvalidDataException($"{source}: tensor '{e.Name}' (bytes {e.Begin}..{e.End}) overlaps tensor '{previous!.Value.Name}' (bytes {previous.Value.Begin}..{previous.Value.End})");
            if (e.Begin > cursor)
                throw new InvalidDataException($"{source}: bytes {cursor}..{e.Begin} of the data belong to no tensor");
            cursor = e.End;
            previous = e;
        }
        if (cursor != dataLength)
            throw new InvalidDataException($"{source}: bytes {cursor}..{dataLength} of the data belong to no tensor");
    }

    private static long[] Integers(JsonElement value, string field, string at)
    {
        if (value.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"{at}: {field} must be an array of non-negative integers, found {Kind(value)}");
        var result = new long[value.GetArrayLength()];
        var i = 0;
        foreach (var item in value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out var n) || n < 0)
                throw new InvalidDataException($"{at}: {field} must be an array of non-negative integers, found {item.GetRawText()}");
            result[i++] = n;
        }
        return result;
    }

    private static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };

    private static void WriteFloats(ReadOnlySpan<float> values, Span<byte> destination)
    {
        if (BitConverter.IsLittleEndian)
        {
            MemoryMarshal.AsBytes(values).CopyTo(destination);
            return;
        }
        for (var i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(destination[(4 * i)..], values[i]);
    }

    private static void ReadFloats(ReadOnlySpan<byte> source, Span<float> values)
    {
        if (BitConverter.IsLittleEndian)
        {
            source.CopyTo(MemoryMarshal.AsBytes(values));
            return;
        }
        for (var i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(source[(4 * i)..]);
    }
}
