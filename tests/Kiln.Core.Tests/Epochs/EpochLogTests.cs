using System.Globalization;
using System.Text;
using Kiln.Metrics.Epochs;
using Kiln.Protocol;
using Kiln.Testing;

namespace Kiln.Core.Tests;

/// <summary>epoch_log.csv from batch_log.csv: the reductions, the line structure, bad input and the cache.</summary>
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
    public void A_malformed_number_drops_its_column_whichever_stretch_it_is_in()
    {
        var log = new StringBuilder("epoch,mode,loss,grad_norm\n");
        for (var i = 0; i < 400; i++) log.Append(i / 50).Append(i % 7 == 0 ? ",val," : ",train,").Append(i).Append(',').Append(i == 377 ? "1.2.3" : "2").Append('\n');
        using var dir = new TempDir("epochs");
        var path = Write(dir, log.ToString());
        foreach (var (segment, threads) in new[] { (100L, 1), (100L, 2), (EpochAggregation.DefaultSegmentBytes, 1) })
        {
            var table = new EpochAggregation { SegmentBytes = segment, Threads = threads }.Run(path);
            Assert.Equal(["loss"], table.Columns);
            Assert.Equal(400, table.BatchRows);
        }
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
    public void A_torn_last_line_is_found_whatever_the_buffer_size()
    {
        using var dir = new TempDir("epochs");
        var torn = Write(dir, "epoch,mode,loss,extra_column_with_a_long_name\n1,train,1,2\n1,train,3,4\n1,train,5,", "torn.csv");
        var whole = Write(dir, "epoch,mode,loss,extra_column_with_a_long_name\n1,train,1,2\n1,train,3,4\n", "whole.csv");
        foreach (var buffer in new[] { 16, 17, 23, 40, 64, 4096 })
        {
            var table = new EpochAggregation { BufferBytes = buffer }.Run(torn);
            Assert.Equal((2, true), (table.BatchRows, table.TornTail));
            Assert.Equal("epoch,mode,loss,extra_column_with_a_long_name,n_batches\n1,train,2,3,2\n", EpochLog.ToCsv(table));
            var complete = new EpochAggregation { BufferBytes = buffer }.Run(whole);
            Assert.Equal((2, false), (complete.BatchRows, complete.TornTail));
        }
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
    public void The_first_bad_row_is_reported_whatever_the_buffers_stretches_and_threads()
    {
        var log = new StringBuilder("epoch,mode,loss\n");
        for (var i = 0; i < 5000; i++) log.Append(i / 100).Append(",train,").Append(i).Append('\n');
        log.Append("7,train\n");
        for (var i = 0; i < 5000; i++) log.Append(i == 4000 ? "bad" : "9").Append(",val,1\n");
        using var dir = new TempDir("epochs");
        var path = Write(dir, log.ToString());
        foreach (var (buffer, segment, threads) in new[] { (16, 100L, 1), (100, 100L, 2), (100, 4096L, 3), (4096, 1L, 2), (EpochAggregation.DefaultBufferBytes, EpochAggregation.DefaultSegmentBytes, 1) })
        {
            var ex = Assert.Throws<ProtocolException>(() => new EpochAggregation { BufferBytes = buffer, SegmentBytes = segment, Threads = threads }.Run(path));
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
    public void Buffers_stretches_and_threads_of_any_size_give_the_same_table()
    {
        // Modes interleave, so groups come back and their medians are gathered again, in batches as small as one
        // group when the budget is tiny; the buffer, smaller than most lines, grows to hold the long one.
        var log = new StringBuilder("epoch,mode,batch,loss,lr,grad_norm,time,note\r\n");
        var rng = new Random(3);
        for (var i = 0; i < 300; i++)
        {
            var mode = rng.Next(3) == 0 ? "val" : "train";
            log.Append(i / 40).Append(',').Append(mode).Append(',').Append(i).Append(',').Append(rng.Next(100) / 2.0)
                .Append(',').Append(rng.Next(5) == 0 ? "" : (rng.Next(10) / 4.0).ToString(CultureInfo.InvariantCulture))
                .Append(',').Append(rng.Next(50)).Append(',').Append(i * 0.5).Append(',')
                .Append(i == 250 ? "a rather long note that spans several of the smallest buffers in this test" : "")
                .Append(i % 37 == 0 ? "\r\n\n" : "\r\n");
        }
        log.Append("7,train,1,2,3");
        using var dir = new TempDir("epochs");
        var path = Write(dir, log.ToString());
        var expected = EpochLog.ToCsv(EpochLog.Aggregate(path));
        Assert.Contains("note", log.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("note", expected, StringComparison.Ordinal);
        foreach (var buffer in new[] { 16, 17, 31, 64, 100, 257, 1000, 4096 })
        {
            foreach (var (budget, segment, threads) in new[] { (1, 10L, 1), (50, 700L, 2), (EpochAggregation.DefaultMedianBudget, EpochAggregation.DefaultSegmentBytes, 3) })
            {
                var table = new EpochAggregation { BufferBytes = buffer, MedianBudget = budget, SegmentBytes = segment, Threads = threads }.Run(path);
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
}
