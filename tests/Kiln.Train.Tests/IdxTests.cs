using Kiln.Testing;
using Kiln.Train.Data;

namespace Kiln.Train.Tests;

/// <summary>IDX files: the format, gzip, and the errors that name the file.</summary>
public sealed class IdxTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Idx_images_and_labels_survive_a_round_trip(bool gzip)
    {
        using var dir = new TempDir("idx");
        var pixels = TestData.Pattern(3 * 4 * 5);
        IdxReader.WriteImages(dir.File("images"), 3, 4, 5, pixels, gzip);
        IdxReader.WriteLabels(dir.File("labels"), [9, 0, 4], gzip);

        var head = File.ReadAllBytes(dir.File("images"));
        Assert.Equal(gzip ? "1f8b" : "00000803", Convert.ToHexStringLower(head, 0, gzip ? 2 : 4));
        var (count, rows, cols, read) = IdxReader.ReadImages(dir.File("images"));
        Assert.Equal((3, 4, 5), (count, rows, cols));
        Assert.Equal(pixels, read);
        Assert.Equal([9, 0, 4], IdxReader.ReadLabels(dir.File("labels")));
    }

    [Fact]
    public void Raw_idx_files_have_the_documented_layout()
    {
        using var dir = new TempDir("idx");
        IdxReader.WriteImages(dir.File("i"), 2, 1, 3, [1, 2, 3, 4, 5, 6]);
        IdxReader.WriteLabels(dir.File("l"), [7, 8]);
        Assert.Equal([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6], File.ReadAllBytes(dir.File("i")));
        Assert.Equal([0, 0, 8, 1, 0, 0, 0, 2, 7, 8], File.ReadAllBytes(dir.File("l")));
    }

    [Fact]
    public void Gzip_is_told_by_its_magic_bytes_not_the_file_name()
    {
        using var dir = new TempDir("idx");
        var pixels = TestData.Pattern(2 * 3 * 3);
        File.WriteAllBytes(dir.File("compressed.idx"), TestData.Gzip([.. TestData.Header(0x803, 2, 3, 3), .. pixels]));
        File.WriteAllBytes(dir.File("plain.gz"), [.. TestData.Header(0x801, 2), 5, 6]);
        Assert.Equal(pixels, IdxReader.ReadImages(dir.File("compressed.idx")).Pixels);
        Assert.Equal([5, 6], IdxReader.ReadLabels(dir.File("plain.gz")));
    }

    [Fact]
    public void An_empty_idx_file_of_zero_images_is_valid()
    {
        using var dir = new TempDir("idx");
        IdxReader.WriteImages(dir.File("i"), 0, 28, 28, []);
        var (count, rows, cols, pixels) = IdxReader.ReadImages(dir.File("i"));
        Assert.Equal((0, 28, 28, 0), (count, rows, cols, pixels.Length));
    }

    public static TheoryData<string, byte[], string> BadImageFiles => new()
    {
        { "a label file", [.. TestData.Header(0x801, 3), 1, 2, 3], "not an IDX image file (magic 0x00000801; expected 0x00000803, unsigned bytes, 3 dimensions)" },
        { "float pixels", [.. TestData.Header(0xD03, 1, 1, 1), 0, 0, 0, 0], "not an IDX image file (magic 0x00000D03" },
        { "text", "hello, world, this is not IDX"u8.ToArray(), "not an IDX image file (magic 0x68656C6C" },
        { "an empty file", [], "not an IDX image file (only 0 bytes)" },
        { "two bytes", [0, 0], "not an IDX image file (only 2 bytes)" },
        { "a cut header", [.. TestData.Header(0x803, 60000), 0], "truncated header: an IDX image file needs 16 header bytes, the file holds 9" },
        { "cut pixels", [.. TestData.Header(0x803, 3, 4, 4), .. TestData.Pattern(38)], "truncated: header says 3 images of 4x4, file holds 38 bytes of pixels" },
        { "cut gzip pixels", TestData.Gzip([.. TestData.Header(0x803, 60000, 28, 28), .. TestData.Pattern(1234)]), "truncated: header says 60000 images of 28x28, file holds 1234 bytes of pixels" },
        { "extra bytes", [.. TestData.Header(0x803, 3, 4, 4), .. TestData.Pattern(53)], "trailing data: header says 3 images of 4x4 (48 bytes of pixels), file holds 5 bytes more" },
        { "zero rows", TestData.Header(0x803, 1, 0, 4), "image size 0x4 is empty" },
        { "a count past int", TestData.Header(0x803, 0xFFFFFFFF, 28, 28), "image count 4294967295 in the header is too large" },
        { "an impossible size", TestData.Header(0x803, 65535, 65535, 65535), "header says 65535 images of 65535x65535, 281462092005375 bytes, more than one array can hold" },
        { "corrupt gzip", [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], "corrupt gzip data" },
    };

    [Theory]
    [MemberData(nameof(BadImageFiles))]
    public void Bad_idx_image_files_are_errors_naming_the_file(string what, byte[] content, string error)
    {
        using var dir = new TempDir("idx");
        var path = dir.File(what.Replace(' ', '-'));
        File.WriteAllBytes(path, content);
        var ex = Assert.Throws<InvalidDataException>(() => IdxReader.ReadImages(path));
        Assert.StartsWith(path + ": ", ex.Message);
        Assert.Contains(error, ex.Message);
    }

    public static TheoryData<string, byte[], string> BadLabelFiles => new()
    {
        { "an image file", [.. TestData.Header(0x803, 1, 1, 1), 0], "not an IDX label file (magic 0x00000803; expected 0x00000801, unsigned bytes, 1 dimension)" },
        { "a cut header", [0, 0, 8, 1, 0, 0], "truncated header: an IDX label file needs 8 header bytes, the file holds 6" },
        { "cut labels", [.. TestData.Header(0x801, 10), 1, 2, 3], "truncated: header says 10 labels, file holds 3" },
        { "cut gzip labels", TestData.Gzip([.. TestData.Header(0x801, 60000), 1, 2]), "truncated: header says 60000 labels, file holds 2" },
        { "extra bytes", [.. TestData.Header(0x801, 2), 1, 2, 3], "trailing data: header says 2 labels, file holds 1 bytes more" },
    };

    [Theory]
    [MemberData(nameof(BadLabelFiles))]
    public void Bad_idx_label_files_are_errors_naming_the_file(string what, byte[] content, string error)
    {
        using var dir = new TempDir("idx");
        var path = dir.File(what.Replace(' ', '-'));
        File.WriteAllBytes(path, content);
        var ex = Assert.Throws<InvalidDataException>(() => IdxReader.ReadLabels(path));
        Assert.StartsWith(path + ": ", ex.Message);
        Assert.Contains(error, ex.Message);
    }

    [Fact]
    public void A_gzip_stream_cut_short_is_an_error_naming_the_file()
    {
        using var dir = new TempDir("idx");
        var path = dir.File("cut.gz");
        IdxReader.WriteImages(path, 20, 8, 8, TestData.Pattern(20 * 64), gzip: true);
        var whole = File.ReadAllBytes(path);
        File.WriteAllBytes(path, whole[..(whole.Length / 2)]);
        var ex = Assert.Throws<InvalidDataException>(() => IdxReader.ReadImages(path));
        Assert.StartsWith(path + ": ", ex.Message);
        Assert.Matches("truncated: header says 20 images of 8x8, file holds [0-9]+ bytes of pixels|corrupt gzip data", ex.Message);
    }

    [Fact]
    public void A_missing_idx_file_is_a_file_not_found_error_naming_it()
    {
        using var dir = new TempDir("idx");
        var ex = Assert.Throws<FileNotFoundException>(() => IdxReader.ReadLabels(dir.File("absent")));
        Assert.Contains(dir.File("absent"), ex.Message);
    }

    [Fact]
    public void Writing_images_checks_the_pixel_count() =>
        Assert.Contains("2 images of 2x2 need 8 pixels, got 7", Assert.Throws<ArgumentException>(() => IdxReader.WriteImages("unused", 2, 2, 2, new byte[7])).Message);
}
