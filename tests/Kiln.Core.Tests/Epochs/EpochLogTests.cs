using System.Globalization;
using System.Text;
using Kiln.Metrics.Epochs;
using Kiln.Protocol;
using Kiln.Testing;

namespace Kiln.Core.Tests;

/// <summary>epoch_log.csv from batch_log.csv: the reductions, bad input, the cache, the number parser and the chunking.</summary>
public sealed class EpochLogTests
{
    private static string Write(TempDir dir, string content, string name = RunFiles.BatchLog)
    {
        var path = dir.File(name);
        File.WriteAllBytes(path, Encoding.UTF8.GetBytes(content));
        return path;
    }

    private static string Aggregate(string content)
    {
        using var dir = new TempDir("epochs");
        return EpochLog.ToCsv(EpochLog.Aggregate(Write(dir, content)));
    }

    // ---- reductions ----

    [Fact]
    public void The_seed_example_reduces_two_batches_to_one_row()
    {
        const string log = "epoch,mode,batch,loss,lr,time,grad_norm\n1,train,0,1,.1,2,1\n1,train,1,3,.05,5,3\n";
        using var dir = new TempDir("epochs");
        var table = EpochLog.Aggregate(Write(dir, log));
        Assert.Equal(["loss", "lr", "time", "grad_norm"], table.Columns);
        var row = Assert.Single(table.Rows);
        Assert.Equal((1L, "train", 2), (row.Epoch, row.Mode, row.Batches));
        Assert.Equal(2, table.Value(0, "loss"));
        Assert.Equal(.05, table.Value(0, "lr"));
        Assert.Equal(5, table.Value(0, "time"));
        Assert.Equal(2, table.Value(0, "grad_norm"));
        Assert.Equal((2, false), (table.BatchRows, table.TornTail));
        Assert.Equal("epoch,mode,loss,lr,time,grad_norm,n_batches\n1,train,2,0.05,5,2,2\n", EpochLog.ToCsv(table));
    }

    [Fact]
    public void Every_reduction_applies_per_epoch_and_mode()
    {
        const string log = """
            epoch,mode,batch,loss,acc,lr,iter_budget,grad_norm,error_min,error_med,error_max,iter_min,iter_med,iter_max,time,extra
            1,train,0,4,0.5,0.1,10,3,1,2,3,5,6,7,1.5,10
            1,train,1,2,0.75,0.1,12,1,4,5,6,1,2,3,3,20
            1,train,2,0,1,0.05,12,2,7,8,9,3,4,5,2.5,60
            1,val,0,1,0.5,0.05,12,,1,1,1,2,2,2,4,1
            1,val,1,2,1,0.05,12,,2,3,4,4,4,4,4.5,2
            2,train,0,1,0,0.01,14,4,1,1,1,1,1,1,5,0
            2,train,1,1,0,0.01,14,8,2,2,2,2,2,2,6,0
            2,train,2,1,0,0.01,15,2,3,3,3,3,3,3,7,0
            2,train,3,1,0,0.001,15,6,10,10,10,10,10,10,6.5,0

            """;
        Assert.Equal("""
            epoch,mode,loss,acc,lr,iter_budget,grad_norm,error_min,error_med,error_max,iter_min,iter_med,iter_max,time,extra,n_batches
            1,train,2,0.75,0.05,12,2,4,5,6,3,4,5,3,30,3
            1,val,1.5,0.75,0.05,12,,1.5,2,2.5,3,3,3,4.5,1.5,2
            2,train,1,0,0.001,15,5,2.5,2.5,2.5,2.5,2.5,2.5,7,0,4

            """, Aggregate(log));
    }

    [Fact]
    public void The_reductions_table_names_the_seed_columns()
    {
        Assert.Equal("last", EpochLog.Reductions["lr"]);
        Assert.Equal("last", EpochLog.Reductions["iter_budget"]);
        Assert.Equal("max", EpochLog.Reductions["time"]);
        foreach (var c in new[] { "grad_norm", "error_min", "error_med", "error_max", "iter_min", "iter_med", "iter_max" })
        {
            Assert.Equal("median", EpochLog.Reductions[c]);
        }
        Assert.Equal("mean", EpochLog.Reductions["loss"]);
        Assert.Equal("mean", EpochLog.ReductionOf("anything_else"));
    }

    [Theory]
    [InlineData("5", "5")]
    [InlineData("5,1", "3")]
    [InlineData("5,1,3", "3")]
    [InlineData("9,1,3,7", "5")]
    [InlineData("4,4,4,1,9", "4")]
    [InlineData("-2,-8,0.5,-0.5,10,3", "0")]
    [InlineData("1e300,1e300", "1E+300")]
    [InlineData("7,7,7,7", "7")]
    [InlineData("3,1,2,2,2,1", "2")]
    public void Medians_of_odd_and_even_counts(string values, string median)
    {
        var rows = string.Concat(values.Split(',').Select((v, i) => $"0,train,{i},{v}\n"));
        Assert.Equal($"epoch,mode,grad_norm,n_batches\n0,train,{median},{values.Split(',').Length}\n", Aggregate("epoch,mode,batch,grad_norm\n" + rows));
    }

    [Fact]
    public void Medians_of_many_values_match_sorting()
    {
        var rng = new Random(7);
        foreach (var n in new[] { 2, 3, 100, 101, 4096, 4097, 10_000 })
        {
            // Mixed signs and a few heavy repeats exercise the histogram's bucket edges.
            var values = Enumerable.Range(0, n).Select(_ => rng.Next(4) == 0 ? 1.5 : (rng.NextDouble() - 0.3) * Math.Pow(10, rng.Next(-5, 6))).ToArray();
            var rows = string.Concat(values.Select(v => $"0,val,{v.ToString("R", CultureInfo.InvariantCulture)}\n"));
            using var dir = new TempDir("median");
            var table = EpochLog.Aggregate(Write(dir, "epoch,mode,error_med\n" + rows));
            var sorted = values.Order().ToArray();
            var expected = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2] + sorted[n / 2 - 1]) / 2;
            Assert.Equal(expected, table.Value(0, "error_med"));
        }
    }

    [Fact]
    public void Missing_cells_are_skipped_and_an_all_missing_group_is_empty()
    {
        const string log = """
            epoch,mode,loss,lr,time,grad_norm
            1,train,1,NaN,1,nan
            1,train,nan,0.5,,4
            1,train,3,,2,
            1,train,,nan,,NA
            2,train,5,,3,
            2,train,NaN,NaN,4,

            """;
        Assert.Equal("""
            epoch,mode,loss,lr,time,grad_norm,n_batches
            1,train,2,0.5,2,4,4
            2,train,5,,4,,2

            """, Aggregate(log));
    }

    [Fact]
    public void A_column_with_text_is_dropped_and_an_empty_column_is_kept()
    {
        const string log = "epoch,mode,loss,note,blank,acc\n0,train,1,ok,,0.5\n0,train,2,1.5,,1\n1,val,3,,,nan\n";
        using var dir = new TempDir("epochs");
        var table = EpochLog.Aggregate(Write(dir, log));
        Assert.Equal(["loss", "blank", "acc"], table.Columns);
        Assert.Equal("epoch,mode,loss,blank,acc,n_batches\n0,train,1.5,,0.75,2\n1,val,3,,,1\n", EpochLog.ToCsv(table));
    }

    [Fact]
    public void Only_epochs_present_get_rows_and_groups_keep_their_first_appearance_order()
    {
        const string log = "mode,epoch,loss\ntrain,2,1\ntrain,0,5\nval,2,3\ntrain,2,3\nval,0,1\n";
        Assert.Equal("epoch,mode,loss,n_batches\n2,train,2,2\n0,train,5,1\n2,val,3,1\n0,val,1,1\n", Aggregate(log));
    }

    [Fact]
    public void Infinities_and_exponents_read_as_pandas_reads_them()
    {
        const string log = "epoch,mode,loss,time,acc\n0,train,1e2,-inf,+2.5E-1\n0,train,-1E+2,Infinity,.25\n0,train,2e2,1,0.75e0\n";
        Assert.Equal("epoch,mode,loss,time,acc,n_batches\n0,train,66.66666666666667,Infinity,0.4166666666666667,3\n", Aggregate(log));
    }

    [Fact]
    public void Quoted_cells_are_read_inside_their_quotes()
    {
        const string log = "epoch,\"mode\",loss,label\n1,\"train\",\"2\",\"a, b\"\n1,train,4,\"say \"\"hi\"\"\"\n";
        Assert.Equal("epoch,mode,loss,n_batches\n1,train,3,2\n", Aggregate(log));
    }

    // ---- line structure ----

    [Fact]
    public void A_torn_last_line_is_left_out_and_reported()
    {
        using var dir = new TempDir("epochs");
        var table = EpochLog.Aggregate(Write(dir, "epoch,mode,loss\n1,train,1\n1,train,3\n1,tra"));
        Assert.True(table.TornTail);
        Assert.Equal(2, table.BatchRows);
        Assert.Equal("epoch,mode,loss,n_batches\n1,train,2,2\n", EpochLog.ToCsv(table));
        Assert.False(EpochLog.Aggregate(Write(dir, "epoch,mode,loss\n1,train,1\n")).TornTail);
    }

    [Fact]
    public void Crlf_lines_and_blank_lines_read_like_lf_lines()
    {
        const string expected = "epoch,mode,loss,lr,time,grad_norm,n_batches\n1,train,2,0.05,5,2,2\n2,val,7,0.01,9,,1\n";
        var lf = "epoch,mode,loss,lr,time,grad_norm\n1,train,1,.1,2,1\n\n1,train,3,.05,5,3\n2,val,7,0.01,9,\n";
        Assert.Equal(expected, Aggregate(lf));
        Assert.Equal(expected, Aggregate(lf.Replace("\n", "\r\n", StringComparison.Ordinal)));
        Assert.Equal(expected, Aggregate(lf.Replace("\n\n", "\n  \r\n\t\n", StringComparison.Ordinal)));
        Assert.Equal(expected, Aggregate("\uFEFF" + lf));
    }

    [Theory]
    [InlineData("epoch,mode,loss\n1,train,1\n1,train\n", "line 3", "2 cells but the header has 3")]
    [InlineData("epoch,mode,loss\n1,train,1\n\n1,train,2\n1,train,3,4\n", "line 5", "4 cells but the header has 3")]
    [InlineData("epoch,mode,loss\r\n1,train\r\n", "line 2", "2 cells but the header has 3")]
    [InlineData("epoch,mode,loss\n1,train,1\nx1,train,2\n", "line 3", "epoch 'x1' is not an integer")]
    [InlineData("epoch,mode,loss\n1.5,train,1\n", "line 2", "epoch '1.5' is not an integer")]
    [InlineData("epoch,mode,loss\n,train,1\n", "line 2", "epoch '' is not an integer")]
    [InlineData("epoch,mode,loss\n1,,1\n", "line 2", "the mode is empty")]
    [InlineData("epoch,mode,loss\n1,\"train,1\n", "line 2", "a quoted cell is not closed")]
    public void A_bad_row_is_an_error_naming_the_file_line_and_value(string log, string line, string message)
    {
        using var dir = new TempDir("epochs");
        var path = Write(dir, log);
        var ex = Assert.Throws<ProtocolException>(() => EpochLog.Aggregate(path));
        Assert.StartsWith($"{path} {line}: ", ex.Message, StringComparison.Ordinal);
        Assert.Contains(message, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_first_bad_row_is_reported_whatever_the_chunking()
    {
        var log = new StringBuilder("epoch,mode,loss\n");
        for (var i = 0; i < 5000; i++) log.Append(i / 100).Append(",train,").Append(i).Append('\n');
        log.Append("7,train\n");
        for (var i = 0; i < 5000; i++) log.Append(i == 4000 ? "bad" : "9").Append(",val,1\n");
        using var dir = new TempDir("epochs");
        var path = Write(dir, log.ToString());
        foreach (var (threads, chunk) in new[] { (1, 100), (2, 100), (2, 4096), (1, EpochLog.DefaultChunkBytes) })
        {
            var ex = Assert.Throws<ProtocolException>(() => EpochLog.Aggregate(path, threads, chunk));
            Assert.StartsWith($"{path} line 5002: ", ex.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("epoch,loss\n1,2\n", "no 'mode' column (columns: epoch, loss)")]
    [InlineData("mode,loss\ntrain,2\n", "no 'epoch' column")]
    [InlineData("epoch,mode,loss,loss\n1,train,2,3\n", "column 'loss' appears twice")]
    [InlineData("epoch,mode,,loss\n1,train,2,3\n", "column 3 has no name")]
    [InlineData("epoch,mode,n_batches\n1,train,2\n", "column 'n_batches' clashes")]
    [InlineData("", "the file is empty")]
    [InlineData("epoch,mode,loss", "the header line has no newline")]
    public void A_bad_header_is_an_error_naming_the_file(string log, string message)
    {
        using var dir = new TempDir("epochs");
        var path = Write(dir, log);
        var ex = Assert.Throws<ProtocolException>(() => EpochLog.Aggregate(path));
        Assert.StartsWith(path, ex.Message, StringComparison.Ordinal);
        Assert.Contains(message, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_header_alone_gives_an_empty_table()
    {
        using var dir = new TempDir("epochs");
        var table = EpochLog.Aggregate(Write(dir, "epoch,mode,batch,loss\n"));
        Assert.Empty(table.Rows);
        Assert.Equal("epoch,mode,loss,n_batches\n", EpochLog.ToCsv(table));
    }

    [Fact]
    public void Chunk_boundaries_anywhere_give_the_same_table()
    {
        // Integers and halves sum exactly, so every chunking must agree to the last bit.
        var log = new StringBuilder("epoch,mode,batch,loss,lr,grad_norm,time,note\r\n");
        var rng = new Random(3);
        for (var i = 0; i < 300; i++)
        {
            var mode = rng.Next(3) == 0 ? "val" : "train";
            log.Append(i / 40).Append(',').Append(mode).Append(',').Append(i).Append(',').Append(rng.Next(100) / 2.0)
                .Append(',').Append(rng.Next(5) == 0 ? "" : (rng.Next(10) / 4.0).ToString(CultureInfo.InvariantCulture))
                .Append(',').Append(rng.Next(50)).Append(',').Append(i * 0.5).Append(',')
                .Append(i == 250 ? "a rather long note that spans several of the smallest chunks in this test" : "")
                .Append(i % 37 == 0 ? "\r\n\n" : "\r\n");
        }
        log.Append("7,train,1,2,3");
        using var dir = new TempDir("epochs");
        var path = Write(dir, log.ToString());
        var expected = EpochLog.ToCsv(EpochLog.Aggregate(path, 1, EpochLog.DefaultChunkBytes));
        Assert.Contains("note", log.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("note", expected, StringComparison.Ordinal);
        foreach (var chunk in new[] { 16, 17, 31, 64, 100, 257, 1000, 4096 })
        {
            foreach (var threads in new[] { 1, 2, 3 })
            {
                var table = EpochLog.Aggregate(path, threads, chunk);
                Assert.Equal(expected, EpochLog.ToCsv(table));
                Assert.Equal((300, true), (table.BatchRows, table.TornTail));
            }
        }
    }

    // ---- the cached epoch_log.csv ----

    [Fact]
    public void Ensure_without_a_batch_log_names_the_missing_file()
    {
        using var dir = new TempDir("trial");
        var ex = Assert.Throws<FileNotFoundException>(() => EpochLog.Ensure(dir.Path));
        Assert.Contains(RunFiles.BatchLog, ex.Message, StringComparison.Ordinal);
        Assert.Equal(dir.File(RunFiles.BatchLog), ex.FileName);
    }

    [Fact]
    public void Ensure_writes_the_epoch_log_and_reuses_it_while_fresh()
    {
        using var dir = new TempDir("trial");
        var batch = Write(dir, "epoch,mode,batch,loss,lr\n1,train,0,1,.1\n1,train,1,3,.05\n");
        File.SetLastWriteTimeUtc(batch, DateTime.UtcNow.AddMinutes(-10));
        var epoch = dir.File(RunFiles.EpochLog);

        var first = EpochLog.Ensure(dir.Path);
        Assert.Equal("epoch,mode,loss,lr,n_batches\n1,train,2,0.05,2\n", File.ReadAllText(epoch));
        Assert.True(File.GetLastWriteTimeUtc(epoch) > File.GetLastWriteTimeUtc(batch));
        var written = File.GetLastWriteTimeUtc(epoch);

        // A fresh cache is read, not rebuilt: a marker planted in it comes back and its time stays.
        const string marker = "epoch,mode,loss,lr,n_batches\n1,train,42,0.05,2\n";
        File.WriteAllText(epoch, marker);
        File.SetLastWriteTimeUtc(epoch, written);
        var second = EpochLog.Ensure(dir.Path);
        Assert.Equal(42, second.Value(0, "loss"));
        Assert.Equal(marker, File.ReadAllText(epoch));
        Assert.Equal(written, File.GetLastWriteTimeUtc(epoch));
        Assert.Equal(EpochLog.ToCsv(first).Replace(",2,", ",42,", StringComparison.Ordinal), EpochLog.ToCsv(second));
        Assert.Equal([RunFiles.BatchLog, RunFiles.EpochLog], Directory.GetFileSystemEntries(dir.Path).Select(p => Path.GetFileName(p)).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Ensure_rebuilds_when_the_batch_log_is_newer_and_leaves_no_temporary_files()
    {
        using var dir = new TempDir("trial");
        var batch = Write(dir, "epoch,mode,loss\n1,train,1\n");
        File.SetLastWriteTimeUtc(batch, DateTime.UtcNow.AddMinutes(-10));
        var epoch = dir.File(RunFiles.EpochLog);
        EpochLog.Ensure(dir.Path);
        var before = File.GetLastWriteTimeUtc(epoch);

        File.AppendAllText(batch, "1,train,3\n2,val,5\n");
        File.SetLastWriteTimeUtc(batch, before.AddSeconds(2));
        var table = EpochLog.Ensure(dir.Path);
        Assert.Equal("epoch,mode,loss,n_batches\n1,train,2,2\n2,val,5,1\n", File.ReadAllText(epoch));
        Assert.Equal(EpochLog.ToCsv(table), File.ReadAllText(epoch));
        Assert.True(File.GetLastWriteTimeUtc(epoch) > before.AddSeconds(2));
        Assert.Equal(3, table.BatchRows);
        Assert.Equal([RunFiles.BatchLog, RunFiles.EpochLog], Directory.GetFileSystemEntries(dir.Path).Select(p => Path.GetFileName(p)).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Ensure_rebuilds_a_missing_or_unreadable_cache_and_reports_a_torn_tail_from_the_cache()
    {
        using var dir = new TempDir("trial");
        var batch = Write(dir, "epoch,mode,loss\n1,train,1\n1,train,2\n1,tr");
        File.SetLastWriteTimeUtc(batch, DateTime.UtcNow.AddMinutes(-10));
        var epoch = dir.File(RunFiles.EpochLog);
        const string expected = "epoch,mode,loss,n_batches\n1,train,1.5,2\n";

        Assert.True(EpochLog.Ensure(dir.Path).TornTail);
        Assert.Equal(expected, File.ReadAllText(epoch));
        var cached = EpochLog.Ensure(dir.Path);
        Assert.Equal((true, 2), (cached.TornTail, cached.BatchRows));

        File.WriteAllText(epoch, "not,an epoch log\n");
        File.SetLastWriteTimeUtc(epoch, DateTime.UtcNow);
        Assert.Equal(expected, EpochLog.ToCsv(EpochLog.Ensure(dir.Path)));
        Assert.Equal(expected, File.ReadAllText(epoch));

        File.Delete(epoch);
        EpochLog.Ensure(dir.Path);
        Assert.Equal(expected, File.ReadAllText(epoch));
    }

    [Fact]
    public void Values_round_trip_through_the_cache_exactly()
    {
        using var dir = new TempDir("trial");
        var batch = Write(dir, "epoch,mode,loss,time,acc\n-3,\"a,b\",0.1,1e-310,\n-3,\"a,b\",0.2,2.5e300,\n4,train,1,3,\n");
        File.SetLastWriteTimeUtc(batch, DateTime.UtcNow.AddMinutes(-10));
        var built = EpochLog.Ensure(dir.Path);
        var read = EpochLog.Ensure(dir.Path);
        Assert.Equal(EpochLog.ToCsv(built), EpochLog.ToCsv(read));
        Assert.Equal((0.1 + 0.2) / 2, read.Value(0, "loss"));
        Assert.Equal("a,b", read.Rows[0].Mode);
        Assert.Null(read.Value(1, "acc"));
    }

    // ---- numbers ----

    [Fact]
    public void The_fast_number_parser_agrees_with_double_parse_on_random_numbers()
    {
        var rng = new Random(12345);
        string[] formats = ["R", "G6", "E3", "G17", "F4", "0.###############"];
        var fast = 0;
        var total = 0;
        for (var i = 0; i < 300_000; i++)
        {
            var v = (i % 3) switch
            {
                // Any finite double, subnormals included.
                0 => RandomBits(rng),
                1 => (rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(-30, 31)),
                _ => Math.Round(rng.NextDouble() * 1000, rng.Next(0, 6)),
            };
            var text = v.ToString(formats[i % formats.Length], CultureInfo.InvariantCulture);
            if (rng.Next(4) == 0 && text[0] != '-') text = "+" + text;
            total++;
            if (Check(text)) fast++;
        }
        for (var i = 0; i < 100_000; i++)
        {
            // Digit strings of every length, points anywhere and exponents across the whole range.
            var digits = string.Concat(Enumerable.Range(0, rng.Next(1, 24)).Select(_ => (char)('0' + rng.Next(10))));
            var point = rng.Next(digits.Length + 1);
            var text = (rng.Next(2) == 0 ? "-" : "") + digits[..point] + "." + digits[point..];
            if (rng.Next(3) > 0) text += (rng.Next(2) == 0 ? "e" : "E") + (rng.Next(3) switch { 0 => "-", 1 => "+", _ => "" }) + rng.Next(0, 360);
            total++;
            if (Check(text)) fast++;
        }
        // The fast paths, not the fallback, must carry almost all of it.
        Assert.True(fast > total * 0.8, $"{fast} of {total} parsed on the fast paths");
    }

    [Theory]
    [InlineData("9007199254740993")]
    [InlineData("9007199254740995")]
    [InlineData("9007199254740992.5")]
    [InlineData("2.2250738585072011e-308")]
    [InlineData("2.2250738585072012e-308")]
    [InlineData("2.2250738585072014e-308")]
    [InlineData("4.9406564584124654e-324")]
    [InlineData("2.4703282292062327e-324")]
    [InlineData("2.4703282292062328e-324")]
    [InlineData("1.7976931348623157e308")]
    [InlineData("1.7976931348623158e308")]
    [InlineData("1.7976931348623159e308")]
    [InlineData("1e23")]
    [InlineData("8.98846567431158e307")]
    [InlineData("1e-400")]
    [InlineData("1e400")]
    [InlineData("-0")]
    [InlineData("0e10")]
    [InlineData("000000000000000000000001.5")]
    [InlineData("0.000000000000000000000000000001234")]
    [InlineData("1234567890123456789")]
    [InlineData("12345678901234567890")]
    [InlineData("1.")]
    [InlineData(".5")]
    [InlineData("-.5e-3")]
    [InlineData("+5E+2")]
    [InlineData("1e+0308")]
    [InlineData("1E-0323")]
    [InlineData("7.2057594037927933e16")]
    [InlineData("3.0517578125e-05")]
    [InlineData("1.00000000000000011102230246251565404236316680908203125")]
    public void Hard_cases_parse_like_double_parse(string text) => Check(text);

    [Theory]
    [InlineData("")]
    [InlineData("-")]
    [InlineData(".")]
    [InlineData("1e")]
    [InlineData("1e+")]
    [InlineData("e5")]
    [InlineData("1_000")]
    [InlineData("0x10")]
    [InlineData("1,5")]
    [InlineData("abc")]
    public void Non_numbers_are_rejected(string text) => Assert.False(CsvNumbers.TryParseCell(Encoding.ASCII.GetBytes(text), out _));

    [Fact]
    public void The_parser_reports_how_far_the_number_reaches()
    {
        Assert.Equal(4, CsvNumbers.ParsePrefix("1.25,7"u8, out var v));
        Assert.Equal(1.25, v);
        Assert.Equal(5, CsvNumbers.ParsePrefix("-3e-2\r\n"u8, out v));
        Assert.Equal(-0.03, v);
        Assert.Equal(0, CsvNumbers.ParsePrefix(",1"u8, out _));
    }

    private static double RandomBits(Random rng)
    {
        while (true)
        {
            var v = BitConverter.Int64BitsToDouble(rng.NextInt64(long.MinValue, long.MaxValue));
            if (double.IsFinite(v)) return v;
        }
    }

    /// <summary>Asserts the parser gives double.Parse's exact bits; true when the fast path took it.</summary>
    private static bool Check(string text)
    {
        var expected = double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);
        var bytes = Encoding.ASCII.GetBytes(text);
        Assert.True(CsvNumbers.TryParseCell(bytes, out var parsed), text);
        Assert.True(BitConverter.DoubleToInt64Bits(expected) == BitConverter.DoubleToInt64Bits(parsed), $"{text}: expected {expected:R}, got {parsed:R}");
        var consumed = CsvNumbers.ParsePrefix(bytes, out var prefix);
        if (consumed == 0) return false;
        Assert.Equal(bytes.Length, consumed);
        Assert.Equal(BitConverter.DoubleToInt64Bits(expected), BitConverter.DoubleToInt64Bits(prefix));
        return true;
    }

    // ---- a large log ----

    [Fact]
    public void A_large_log_gives_the_same_table_on_any_number_of_threads_and_matches_a_plain_reading()
    {
        using var dir = new TempDir("large");
        var path = dir.File(RunFiles.BatchLog);
        var rows = GenerateLog(path, 200_000);
        const int chunk = 256 << 10;
        var single = EpochLog.ToCsv(EpochLog.Aggregate(path, 1, chunk));
        Assert.Equal(single, EpochLog.ToCsv(EpochLog.Aggregate(path, 2, chunk)));
        Assert.Equal(single, EpochLog.ToCsv(EpochLog.Aggregate(path, 3, chunk)));

        var table = EpochLog.Aggregate(path);
        Assert.Equal(200_000, table.BatchRows);
        var reference = Reference(rows);
        Assert.Equal(reference.Count, table.Rows.Count);
        for (var r = 0; r < reference.Count; r++)
        {
            var (key, values, count) = reference[r];
            Assert.Equal(key, (table.Rows[r].Epoch, table.Rows[r].Mode));
            Assert.Equal(count, table.Rows[r].Batches);
            for (var c = 0; c < table.Columns.Length; c++)
            {
                var expected = values[table.Columns[c]];
                var actual = table.Rows[r].Values[c];
                if (expected is null || EpochLog.ReductionOf(table.Columns[c]) != "mean") Assert.Equal(expected, actual);
                else Assert.Equal(expected.Value, actual!.Value, Math.Abs(expected.Value) * 1e-12);
            }
        }
    }

    private static readonly string[] Columns =
        ["loss", "acc", "lr", "iter_budget", "grad_norm", "error_min", "error_med", "error_max", "iter_min", "iter_med", "iter_max", "time"];

    private static List<(long Epoch, string Mode, double?[] Values)> GenerateLog(string path, int rows)
    {
        var rng = new Random(99);
        var list = new List<(long, string, double?[])>(rows);
        using var writer = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 16);
        writer.Write("epoch,mode,batch," + string.Join(',', Columns) + "\n");
        var time = 0.0;
        for (var i = 0; i < rows; i++)
        {
            long epoch = i / 25_000;
            var mode = i % 25_000 < 22_000 ? "train" : "val";
            time += 0.004 + 0.001 * rng.NextDouble();
            double?[] values =
            [
                2 * rng.NextDouble(), rng.NextDouble(), 0.1 / (1 + epoch), 20 + epoch + i % 3,
                mode == "val" ? null : 3 * rng.NextDouble(), 1e-5 * rng.NextDouble(), 1e-3 * rng.NextDouble(), rng.NextDouble() * 1e3,
                rng.Next(3, 8), rng.Next(5, 15), rng.Next(10, 40), time,
            ];
            if (rng.Next(100) == 0) values[1] = null;
            list.Add((epoch, mode, values));
            writer.Write(string.Create(CultureInfo.InvariantCulture, $"{epoch},{mode},{i}"));
            foreach (var v in values)
            {
                writer.Write(',');
                writer.Write(v is { } x ? x.ToString("R", CultureInfo.InvariantCulture) : rng.Next(2) == 0 ? "" : "nan");
            }
            writer.Write('\n');
        }
        return list;
    }

    /// <summary>The reductions done the plain way: lists per group, sorted for medians.</summary>
    private static List<((long, string) Key, Dictionary<string, double?> Values, int Count)> Reference(List<(long Epoch, string Mode, double?[] Values)> rows)
    {
        var order = new List<(long, string)>();
        var groups = new Dictionary<(long, string), List<double?[]>>();
        foreach (var (epoch, mode, values) in rows)
        {
            if (!groups.TryGetValue((epoch, mode), out var list))
            {
                groups[(epoch, mode)] = list = [];
                order.Add((epoch, mode));
            }
            list.Add(values);
        }
        return order.ConvertAll(key =>
        {
            var list = groups[key];
            var reduced = new Dictionary<string, double?>();
            for (var c = 0; c < Columns.Length; c++)
            {
                var present = list.Where(v => v[c] is not null).Select(v => v[c]!.Value).ToList();
                if (present.Count == 0)
                {
                    reduced[Columns[c]] = null;
                    continue;
                }
                var sorted = present.Order().ToList();
                reduced[Columns[c]] = EpochLog.ReductionOf(Columns[c]) switch
                {
                    "last" => present[^1],
                    "max" => sorted[^1],
                    "median" => sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2,
                    _ => present.Sum() / present.Count,
                };
            }
            return (key, reduced, list.Count);
        });
    }
}
