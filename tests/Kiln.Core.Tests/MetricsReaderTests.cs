using System.Globalization;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Kiln.Metrics;
using Kiln.Protocol;
using Kiln.Testing;

namespace Kiln.Core.Tests;

/// <summary>The metrics reader's parser: the writer's own lines take the fast path and read the same as through the JSON reader.</summary>
public sealed class MetricsReaderParsingTests
{
    [Fact]
    public void The_writers_lines_take_the_fast_path_and_others_the_full_reader_with_the_same_result()
    {
        using var dir = new TempDir("metrics");
        var path = dir.File(RunFiles.Metrics);
        using (var writer = new MetricsWriter(path))
        {
            writer.Write(0, null, null, [("loss", 1.5), ("lr", 1e-5), ("acc", -0.25)]);
            writer.Write(1, 3, "train", [("loss", 1e300), ("lr", 123456789.125)]);
            writer.Write(2, 3, "val", []);
        }
        File.AppendAllText(path,
            "{\"step\":3,\"metrics\":{\"lo\\u0073s\":7}}\n" +                       // an escaped name
            "{\"step\":4,\"metrics\":{\"loss\":8,\"hist\":[1]}}\n" +                 // a nested value
            "{\"step\":5,\"metrics\":{\"loss\":9},\"note\":\"after\"}\n" +            // a key after the metrics
            "{\"step\":6,\"phase\":\"a\\\"metrics\\\":{\",\"metrics\":{\"loss\":10}}\n" + // the key's text inside a string
            "{\"step\":7,\"metrics\":{\"loss\":11,\"acc\":1E-3}}\n");
        var metrics = new MetricsReader(path);
        Assert.Equal(8, metrics.Read());
        Assert.Equal(4, metrics.CanonicalLines);
        Assert.Equal([0L, 1, 3, 4, 5, 6, 7], metrics.Series["loss"].Steps.ToArray());
        Assert.Equal([1.5, 1e300, 7, 8, 9, 10, 11], metrics.Series["loss"].Values.ToArray());
        Assert.Equal([1e-5, 123456789.125], metrics.Series["lr"].Values.ToArray());
        Assert.Equal([-0.25, 1e-3], metrics.Series["acc"].Values.ToArray());
        Assert.False(metrics.Series.ContainsKey("hist"));
    }
}

/// <summary>A large read goes in chunks, each split across the cores, into columns sized once: it must read as a line-by-line parse does.</summary>
public sealed class LargeReadTests
{
    [Fact]
    public void A_file_of_several_chunks_reads_like_one_line_at_a_time_with_metrics_that_come_and_go()
    {
        using var dir = new TempDir("metrics-large");
        var path = dir.File(RunFiles.Metrics);
        const int Lines = 120_000; // about 13 MB: several 4 MB chunks, each parsed in parts
        var expected = new Dictionary<string, (List<long> Steps, List<double> Values)>();
        void Expect(string name, long step, double value)
        {
            if (!expected.TryGetValue(name, out var column)) expected[name] = column = ([], []);
            column.Steps.Add(step);
            column.Values.Add(value);
        }
        using (var writer = new StreamWriter(path))
        {
            for (var i = 0; i < Lines; i++)
            {
                // The steps start over two thirds of the way through (a resumed run), so that column is not ordered.
                long step = i < Lines * 2 / 3 ? i : i - Lines / 2;
                var metrics = new List<(string, double)> { ("loss", 1.0 / (i + 1)) };
                if (i < 5_000) metrics.Add(("warmup", i * 0.5));             // only in the first chunk
                if (i >= Lines - 7_000) metrics.Add(("late", -i));            // only in the last chunk
                if (i % 1000 == 0) metrics.Add(("val_acc", i / (double)Lines)); // sparse, in every chunk
                foreach (var (name, value) in metrics) Expect(name, step, value);
                writer.Write(string.Create(CultureInfo.InvariantCulture,
                    $"{{\"step\":{step},\"epoch\":0,\"phase\":\"train\",\"wall_time\":{1.7e9 + i:0.00},\"metrics\":{{{string.Join(',', metrics.Select(m => $"\"{m.Item1}\":{m.Item2:R}"))}}}}}\n"));
            }
        }
        var read = new MetricsReader(path);
        Assert.Equal(Lines, read.Read());
        Assert.Equal(Lines, read.CanonicalLines);
        Assert.Equal(expected.Keys.Order(), read.Series.Keys.Order());
        foreach (var (name, column) in expected)
        {
            Assert.Equal(column.Steps, read.Series[name].Steps.ToArray());
            Assert.Equal(column.Values, read.Series[name].Values.ToArray());
        }
        Assert.False(read.Series["loss"].Ordered);
        Assert.True(read.Series["warmup"].Ordered);

        // Lines appended later land after the large read's points.
        File.AppendAllText(path, "{\"step\":999999,\"metrics\":{\"loss\":0.125,\"warmup\":2}}\n");
        Assert.Equal(1, read.Read());
        Assert.Equal(expected["loss"].Steps.Count + 1, read.Series["loss"].Count);
        Assert.Equal((999999L, 0.125), (read.Series["loss"].Steps[^1], read.Series["loss"].Values[^1]));
        Assert.Equal((999999L, 2.0), (read.Series["warmup"].Steps[^1], read.Series["warmup"].Values[^1]));
    }
}

/// <summary>Following a metrics file as it grows: only what was appended is read, a torn line waits for its end.</summary>
public sealed class MetricsReaderTests
{
    private static string Line(long step, string metrics) => $"{{\"step\":{step},\"metrics\":{{{metrics}}}}}\n";

    private static void Append(string path, string text) => File.AppendAllText(path, text);

    [Fact]
    public void Each_read_takes_only_what_was_appended_since_the_last()
    {
        using var dir = new TempDir("reader");
        var path = dir.File(RunFiles.Metrics);
        var reader = new MetricsReader(path);
        Assert.Equal(0, reader.Read()); // no file yet
        Assert.Empty(reader.Series);

        Append(path, Line(0, "\"loss\":1") + Line(1, "\"loss\":0.5"));
        Assert.Equal(2, reader.Read());
        Assert.Equal(new FileInfo(path).Length, reader.Offset);
        Assert.Equal(0, reader.Read());

        Append(path, Line(2, "\"loss\":0.25,\"acc\":0.75"));
        Assert.Equal(1, reader.Read());
        Assert.Equal(3, reader.Lines);
        Assert.Equal([0L, 1, 2], reader.Series["loss"].Steps.ToArray());
        Assert.Equal([1.0, 0.5, 0.25], reader.Series["loss"].Values.ToArray());
        Assert.Equal([2L], reader.Series["acc"].Steps.ToArray());
        Assert.True(reader.Bytes > 0);
    }

    [Fact]
    public void A_torn_last_line_waits_for_its_end()
    {
        using var dir = new TempDir("reader");
        var path = dir.File(RunFiles.Metrics);
        Append(path, Line(0, "\"loss\":1") + "{\"step\":1,\"metr");
        var reader = new MetricsReader(path);
        Assert.Equal(1, reader.Read());
        Assert.Equal(Line(0, "\"loss\":1").Length, reader.Offset);

        Append(path, "ics\":{\"loss\":2}}");
        Assert.Equal(0, reader.Read()); // whole, but its newline is not written yet
        Append(path, "\n" + Line(2, "\"loss\":3"));
        Assert.Equal(2, reader.Read());
        Assert.Equal([0L, 1, 2], reader.Series["loss"].Steps.ToArray());
        Assert.Equal([1.0, 2, 3], reader.Series["loss"].Values.ToArray());
    }

    [Fact]
    public void Lines_appended_while_reading_are_each_read_once_in_order()
    {
        using var dir = new TempDir("reader");
        var path = dir.File(RunFiles.Metrics);
        const int Steps = 30_000;
        var reader = new MetricsReader(path);
        using (var writer = new MetricsWriter(path, flushInterval: TimeSpan.Zero))
        {
            var trainer = new Thread(() =>
            {
                for (var s = 0; s < Steps; s++) writer.Write(s, 0, "train", [("loss", s * 0.5), ("lr", 1e-3)]);
            });
            trainer.Start();
            while (trainer.IsAlive) reader.Read();
            trainer.Join();
        }
        reader.Read();
        Assert.Equal(Steps, reader.Lines);
        var loss = reader.Series["loss"];
        Assert.Equal(Enumerable.Range(0, Steps).Select(s => (long)s), loss.Steps.ToArray());
        Assert.Equal(Enumerable.Range(0, Steps).Select(s => s * 0.5), loss.Values.ToArray());
        Assert.True(loss.Ordered);
        Assert.Equal(Steps, reader.Series["lr"].Count);
    }

    [Fact]
    public void However_the_bytes_arrive_the_columns_are_those_of_one_whole_read()
    {
        var gen =
            from count in Gen.Choose(0, 20)
            from values in Gen.ArrayOf(Gen.Choose(-1000, 1000), count)
            from cuts in Gen.ArrayOf(Gen.Choose(1, 40), 30)
            select (values, cuts);
        Prop.ForAll(gen.ToArbitrary(), input =>
        {
            using var dir = new TempDir("reader");
            var path = dir.File(RunFiles.Metrics);
            var bytes = Encoding.UTF8.GetBytes(string.Concat(input.values.Select((v, s) =>
                Line(s, s % 3 == 0 ? $"\"loss\":{v}" : $"\"loss\":{v},\"extra\":{v * 0.25}"))));
            var reader = new MetricsReader(path);
            for (int at = 0, cut = 0; at < bytes.Length; cut++)
            {
                var n = Math.Min(input.cuts[cut % input.cuts.Length], bytes.Length - at);
                using (var fs = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) fs.Write(bytes, at, n);
                at += n;
                reader.Read();
            }
            var whole = new MetricsReader(path);
            whole.Read();
            return reader.Lines == input.values.Length && reader.Offset == bytes.Length
                && whole.Series.Keys.Order().SequenceEqual(reader.Series.Keys.Order())
                && whole.Series.All(kv => kv.Value.Steps.SequenceEqual(reader.Series[kv.Key].Steps) && kv.Value.Values.SequenceEqual(reader.Series[kv.Key].Values));
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Non_numbers_non_finite_numbers_and_malformed_lines_are_passed_over()
    {
        using var dir = new TempDir("reader");
        var path = dir.File(RunFiles.Metrics);
        File.WriteAllText(path,
            Line(0, "\"loss\":1,\"big\":1e999,\"small\":-1e999") +              // out of double's range: not finite
            "{\"step\":1,\"metrics\":{\"loss\":NaN}}\n" +                         // not JSON
            "{\"step\":2,\"metrics\":{\"loss\":Infinity,\"acc\":1}}\n" +
            "{\"step\":3,\"metrics\":{\"loss\":\"NaN\",\"acc\":null,\"ok\":true,\"h\":[1],\"o\":{\"x\":1}}}\n" +
            "{\"metrics\":{\"loss\":5}}\n" +                                       // no step
            "{\"step\":6.5,\"metrics\":{\"loss\":6}}\n" +                           // a step that is not an integer
            "{\"step\":1e1,\"metrics\":{\"loss\":6}}\n" +
            "{\"step\":\"6\",\"metrics\":{\"loss\":6}}\n" +                          // a step that is not a number
            "{\"step\":{\"at\":6},\"metrics\":{\"loss\":6}}\n" +
            "{\"step\":null,\"metrics\":{\"loss\":6}}\n" +
            "{\"step\":7,\"metrics\":[1,2]}\n" +                                   // metrics not an object
            "[1,2,3]\n" +
            "\n   \n" +                                                         // blank lines
            "{\"step\":8,\"metrics\":{\"loss\":8}\n" +                              // unclosed
            "{\"step\":9,\"metrics\":{\"loss\":-0.0}}\r\n" +                        // CRLF
            Line(10, "\"loss\":1E+2,\"acc\":-2.5e-3"));
        var reader = new MetricsReader(path);
        reader.Read();
        Assert.Equal(new FileInfo(path).Length, reader.Offset);
        Assert.Equal([0L, 9, 10], reader.Series["loss"].Steps.ToArray());
        Assert.Equal([1.0, -0.0, 100], reader.Series["loss"].Values.ToArray());
        Assert.Equal([10L], reader.Series["acc"].Steps.ToArray());
        Assert.Equal([-2.5e-3], reader.Series["acc"].Values.ToArray());
        foreach (var skipped in new[] { "big", "small", "ok", "h", "o" }) Assert.False(reader.Series.ContainsKey(skipped), skipped);
        // Lines that were objects with a step and a metrics object count, even when none of their values did.
        Assert.Equal(4, reader.Lines);
    }

    [Fact]
    public void A_replaced_file_is_read_again_from_its_start()
    {
        using var dir = new TempDir("reader");
        var path = dir.File(RunFiles.Metrics);
        File.WriteAllText(path, Line(0, "\"loss\":1") + Line(1, "\"loss\":2") + Line(2, "\"loss\":3"));
        var reader = new MetricsReader(path);
        reader.Read();
        Assert.False(reader.Restarted);
        File.WriteAllText(path, Line(0, "\"acc\":9"));
        Assert.Equal(1, reader.Read());
        Assert.True(reader.Restarted);
        Assert.Equal(1, reader.Lines);
        Assert.Equal(["acc"], reader.Series.Keys);
        Assert.Equal(0, reader.Read());
        Assert.False(reader.Restarted);
    }

    [Fact]
    public void A_follower_starts_at_an_offset_and_forgets_what_it_has_used()
    {
        using var dir = new TempDir("reader");
        var path = dir.File(RunFiles.Metrics);
        File.WriteAllText(path, Line(0, "\"loss\":1") + Line(1, "\"loss\":2"));
        var first = new MetricsReader(path);
        first.Read();

        Append(path, Line(2, "\"loss\":3"));
        var follower = new MetricsReader(path, startOffset: first.Offset);
        Assert.Equal(1, follower.Read());
        Assert.Equal([2L], follower.Series["loss"].Steps.ToArray());

        follower.Forget();
        Assert.Equal(0, follower.Series["loss"].Count);
        Append(path, Line(3, "\"loss\":4") + Line(2, "\"loss\":5"));
        Assert.Equal(2, follower.Read());
        Assert.Equal([3L, 2], follower.Series["loss"].Steps.ToArray());
        Assert.False(follower.Series["loss"].Ordered);
        follower.Forget();
        Append(path, Line(4, "\"loss\":6"));
        follower.Read();
        Assert.True(follower.Series["loss"].Ordered);
        Assert.Equal(4, follower.Lines);
    }
}
