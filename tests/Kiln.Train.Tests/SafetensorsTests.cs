using System.Buffers.Binary;
using System.Text;
using Kiln.Testing;
using Kiln.Train.Serialization;
using Kiln.Train.Tensors;

namespace Kiln.Train.Tests;

/// <summary>Writing and reading safetensors files, byte for byte, and every way a file can be malformed.</summary>
public sealed class SafetensorsTests
{
    private static Dictionary<string, Tensor> TwoTensors() => new()
    {
        ["b"] = Tensor.FromArray([1f, 2f], 2),
        ["a"] = Tensor.FromArray([3f, -0.5f], 1, 2),
    };

    private static string HeaderText(byte[] bytes) =>
        Encoding.UTF8.GetString(bytes, 8, (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes));

    [Fact]
    public void The_bytes_of_a_two_tensor_file_are_exactly_the_reference_layout()
    {
        var bytes = Safetensors.Serialize(TwoTensors());

        // 110 bytes of JSON padded with two spaces to 112, so the data starts at byte 120, a multiple of 8.
        Assert.Equal(new byte[] { 112, 0, 0, 0, 0, 0, 0, 0 }, bytes[..8]);
        Assert.Equal(
            """{"a":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}  """,
            HeaderText(bytes));
        Assert.Equal("00004040000000bf0000803f00000040", Convert.ToHexStringLower(bytes[120..]));
        Assert.Equal(136, bytes.Length);
    }

    [Fact]
    public void Metadata_comes_first_with_its_keys_sorted()
    {
        var bytes = Safetensors.Serialize(TwoTensors(), new Dictionary<string, string> { ["format"] = "pt", ["epoch"] = "3" });
        Assert.Equal(160UL, BinaryPrimitives.ReadUInt64LittleEndian(bytes));
        Assert.Equal(
            """{"__metadata__":{"epoch":"3","format":"pt"},"a":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}       """,
            HeaderText(bytes));
        Assert.DoesNotContain("__metadata__", HeaderText(Safetensors.Serialize(TwoTensors(), new Dictionary<string, string>())));
    }

    [Fact]
    public void Tensors_survive_a_round_trip_through_a_file_with_metadata()
    {
        using var dir = new TempDir("safetensors");
        var path = dir.File("model.safetensors");
        var rng = new Rng(5);
        var weight = new Tensor([3, 4]);
        rng.FillUniform(weight.Span, -2f, 2f);
        weight.Data[5] = float.NaN;
        weight.Data[6] = float.NegativeInfinity;
        weight.Data[7] = -0f;
        var tensors = new Dictionary<string, Tensor>
        {
            ["layer.0.weight"] = weight,
            ["layer.0.bias"] = Tensor.FromArray([0.25f, -1e-30f, 3e38f], 3),
            ["scale"] = new Tensor([], [7.5f]),
            ["empty"] = new Tensor([0, 5]),
            ["naïve ü"] = Tensor.FromArray([1f], 1, 1, 1),
        };
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "quotes \" and <tags> & ünïcödé" };
        Safetensors.Save(path, tensors, metadata);

        Assert.Equal(Safetensors.Serialize(tensors, metadata), File.ReadAllBytes(path));
        Assert.Equal(["model.safetensors"], Directory.GetFiles(dir.Path).Select(Path.GetFileName));
        var (loaded, meta) = Safetensors.Load(path);
        Assert.Equal(metadata, meta);
        Assert.Equal(tensors.Keys.Order(StringComparer.Ordinal), loaded.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, t) in tensors)
        {
            Assert.Equal(t.Shape, loaded[name].Shape);
            Assert.Equal(name, loaded[name].Name);
            Assert.Equal(t.ToArray().Select(BitConverter.SingleToInt32Bits), loaded[name].ToArray().Select(BitConverter.SingleToInt32Bits));
        }
        Assert.Contains("\"naïve ü\"", HeaderText(File.ReadAllBytes(path)));
    }

    [Fact]
    public void Saving_replaces_an_existing_file_whole()
    {
        using var dir = new TempDir("safetensors");
        var path = dir.File("m.safetensors");
        File.WriteAllText(path, "an older, longer file that must not leave a tail behind");
        Safetensors.Save(path, new Dictionary<string, Tensor> { ["w"] = Tensor.FromArray([4f], 1) });
        var (tensors, metadata) = Safetensors.Load(path);
        Assert.Equal([4f], tensors["w"].ToArray());
        Assert.Empty(metadata);
        Assert.Single(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void The_data_always_starts_on_an_8_byte_boundary()
    {
        for (var length = 1; length <= 24; length++)
        {
            var name = new string('n', length);
            var bytes = Safetensors.Serialize(new Dictionary<string, Tensor> { [name] = Tensor.FromArray([1f, 2f, 3f], 3) });
            var n = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
            Assert.Equal(0, (8 + n) % 8);
            var text = HeaderText(bytes);
            var json = text.TrimEnd(' ');
            Assert.InRange(text.Length - json.Length, 0, 7);
            Assert.EndsWith("}", json);
            Assert.Equal(8 + n + 12, bytes.Length);
            Assert.Equal([1f, 2f, 3f], Safetensors.Deserialize(bytes).Tensors[name].ToArray());
        }
    }

    [Fact]
    public void Reserved_or_empty_names_cannot_be_saved()
    {
        Assert.Contains("'__metadata__' is reserved", Assert.Throws<ArgumentException>(() => Safetensors.Serialize(new Dictionary<string, Tensor> { ["__metadata__"] = Tensor.Scalar(1) })).Message);
        Assert.Contains("a tensor name is empty", Assert.Throws<ArgumentException>(() => Safetensors.Serialize(new Dictionary<string, Tensor> { [""] = Tensor.Scalar(1) })).Message);
    }

    /// <summary>A file with this header text (unpadded) followed by <paramref name="dataBytes"/> bytes of data.</summary>
    private static byte[] Raw(string header, int dataBytes) => Raw(Encoding.UTF8.GetBytes(header), dataBytes);

    private static byte[] Raw(byte[] header, int dataBytes)
    {
        var bytes = new byte[8 + header.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        return bytes;
    }

    private static string T(string name, string dtype, string shape, long begin, long end) =>
        $$"""
        "{{name}}":{"dtype":"{{dtype}}","shape":{{shape}},"data_offsets":[{{begin}},{{end}}]}
        """;

    public static TheoryData<string, byte[], string> Malformed => new()
    {
        { "short", [1, 2, 3, 4, 5], "5 bytes is too short for a safetensors file" },
        { "long-header", [.. BitConverter.GetBytes(64UL), .. "{}"u8], "header length 64 is larger than the file, which holds 2 bytes after the length" },
        { "huge-header", [.. BitConverter.GetBytes(200_000_000UL), .. "{}"u8], "header length 200000000 is over the limit of 100000000 bytes (100 MB)" },
        { "not-json", Raw("{\"w\":{\"dtype\":", 0), "the header is not valid JSON" },
        { "not-utf8", Raw([(byte)'{', (byte)'"', 0xff, 0xfe, (byte)'"', (byte)':', (byte)'1', (byte)'}'], 0), "the header is not valid UTF-8" },
        { "array", Raw("[1,2]", 0), "the header must be a JSON object, found an array" },
        { "bf16", Raw("{" + T("w", "BF16", "[2]", 0, 4) + "}", 4), "tensor 'w': dtype BF16 is not supported; only F32" },
        { "no-dtype", Raw("""{"w":{"shape":[1],"data_offsets":[0,4]}}""", 4), "tensor 'w': dtype is missing" },
        { "bad-shape", Raw("""{"w":{"dtype":"F32","shape":"2x3","data_offsets":[0,24]}}""", 24), "tensor 'w': shape must be an array of non-negative integers, found a string" },
        { "negative-dim", Raw("{" + T("w", "F32", "[2,-3]", 0, 24) + "}", 24), "tensor 'w': shape must be an array of non-negative integers, found -3" },
        { "huge-shape", Raw("{" + T("w", "F32", "[100000,100000,100000]", 0, 4) + "}", 4), "tensor 'w': shape [100000, 100000, 100000] is too large for one tensor" },
        { "size-mismatch", Raw("{" + T("w", "F32", "[2,3]", 0, 20) + "}", 20), "tensor 'w': shape [2, 3] needs 24 bytes of F32, data_offsets [0, 20] cover 20" },
        { "three-offsets", Raw("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}""", 8), "tensor 'w': data_offsets must hold two numbers [begin, end], found 3" },
        { "reversed", Raw("{" + T("w", "F32", "[1]", 8, 4) + "}", 8), "tensor 'w': data_offsets [8, 4] end before they begin" },
        { "past-end", Raw("{" + T("w", "F32", "[100]", 0, 400) + "}", 16), "tensor 'w': data_offsets [0, 400] run past the end of the data, which holds 16 bytes" },
        { "overlap", Raw("{" + T("a", "F32", "[2]", 0, 8) + "," + T("b", "F32", "[2]", 4, 12) + "}", 12), "tensor 'b' (bytes 4..12) overlaps tensor 'a' (bytes 0..8)" },
        { "gap", Raw("{" + T("a", "F32", "[1]", 0, 4) + "," + T("b", "F32", "[1]", 8, 12) + "}", 12), "bytes 4..8 of the data belong to no tensor" },
        { "tail", Raw("{" + T("a", "F32", "[1]", 0, 4) + "}", 9), "bytes 4..9 of the data belong to no tensor" },
        { "duplicate", Raw("{" + T("w", "F32", "[1]", 0, 4) + "," + T("w", "F32", "[1]", 4, 8) + "}", 8), "tensor 'w' appears twice in the header" },
        { "metadata-number", Raw("""{"__metadata__":{"epoch":3}}""", 0), "__metadata__ must map names to strings; 'epoch' holds a number" },
        { "metadata-twice", Raw("""{"__metadata__":{},"__metadata__":{}}""", 0), "__metadata__ appears twice in the header" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Malformed_files_are_errors_naming_the_file_and_the_tensor(string name, byte[] content, string error)
    {
        using var dir = new TempDir("safetensors");
        var path = dir.File(name + ".safetensors");
        File.WriteAllBytes(path, content);
        var ex = Assert.Throws<InvalidDataException>(() => Safetensors.Load(path));
        Assert.StartsWith($"{path}: {error}", ex.Message);
    }

    [Fact]
    public void In_memory_bytes_are_named_by_their_source()
    {
        var ex = Assert.Throws<InvalidDataException>(() => Safetensors.Deserialize(Raw("{" + T("w", "F16", "[2]", 0, 4) + "}", 4), "checkpoint 7"));
        Assert.Equal("checkpoint 7: tensor 'w': dtype F16 is not supported; only F32", ex.Message);
    }

    [Fact]
    public void Files_from_other_writers_load_in_any_header_order()
    {
        // Metadata last, tensors out of name order, extra spaces: still a valid file.
        var header = "{ " + T("z", "F32", "[1]", 0, 4) + " , " + T("a", "F32", "[2]", 4, 12) + """, "__metadata__": {"format": "np"} }""";
        var bytes = Raw(header, 12);
        BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(bytes.Length - 12), 9f);
        BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(bytes.Length - 8), -1f);
        BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(bytes.Length - 4), 0.5f);
        var (tensors, metadata) = Safetensors.Deserialize(bytes);
        Assert.Equal([9f], tensors["z"].ToArray());
        Assert.Equal([-1f, 0.5f], tensors["a"].ToArray());
        Assert.Equal("np", metadata["format"]);
        Assert.Empty(Safetensors.Deserialize(Raw("{}", 0)).Tensors);
    }
}
