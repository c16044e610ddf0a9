using System.Globalization;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Kiln.Metrics.Epochs;
using Kiln.Protocol;
using Kiln.Testing;

namespace Kiln.Core.Tests;

/// <summary>
/// The streaming reader: the same table as the plain reading whatever its buffer, stretches, budget and threads, and
/// memory that stays the same when the log grows.
/// </summary>
public sealed class EpochStreamingTests
{
    private static readonly string[] Columns =
        ["loss", "acc", "lr", "iter_budget", "grad_norm", "error_min", "error_med", "error_max", "iter_min", "iter_med", "iter_max", "time"];

    [Fact]
    public void A_large_log_matches_the_plain_reading_whatever_the_stretches_and_threads()
    {
        using var dir = new TempDir("large");
        var path = dir.File(RunFiles.BatchLog);
        GenerateLog(path, epochs: 8, rowsPerEpoch: 25_000, interleaved: false);
        // Each group is one run, summed within one stretch: the means agree with the plain reading to the bit.
        var expected = EpochLog.ToCsv(ReferenceEpochs.Of(File.ReadAllText(path)));
        var table = EpochLog.Aggregate(path);
        Assert.Equal(200_000, table.BatchRows);
        Assert.Equal(expected, EpochLog.ToCsv(table));
        foreach (var (segment, threads) in new[] { (1L << 20, 1), (1L << 20, 3), (300_000L, 2) })
        {
            Assert.Equal(expected, EpochLog.ToCsv(new EpochAggregation { BufferBytes = 1000, SegmentBytes = segment, Threads = threads }.Run(path)));
        }
    }

    [Fact]
    public void What_a_thread_holds_does_not_grow_with_the_log()
    {
        using var dir = new TempDir("memory");
        var (small, large) = SmallAndLarge(dir, interleaved: false);
        var a = new EpochAggregation { BufferBytes = 4096, SegmentBytes = 64 << 10, Threads = 2 };
        var b = new EpochAggregation { BufferBytes = 4096, SegmentBytes = 64 << 10, Threads = 2 };
        a.Run(small);
        var table = b.Run(large);
        Assert.Equal(80_000, table.BatchRows);
        Assert.Equal((4096, 4096), (a.PeakBufferBytes, b.PeakBufferBytes));
        // One group's median columns (1,800 train rows × 7, in arrays that double as they fill).
        Assert.Equal(a.PeakMedianValues, b.PeakMedianValues);
        Assert.InRange(b.PeakMedianValues, 7 * 1_800, 2 * 7 * 2_048);
        var held = 2 * (b.PeakBufferBytes + 8 * b.PeakMedianValues);
        Assert.True(new FileInfo(large).Length > 20 * held, $"the large log is not much larger than the {held} bytes held");
    }

    [Fact]
    public void Groups_spread_over_the_log_are_gathered_again_within_the_budget()
    {
        using var dir = new TempDir("memory");
        // Train and validation rows alternate, so every group comes back and needs its medians gathered again.
        var (small, large) = SmallAndLarge(dir, interleaved: true);
        const int budget = 10_000;
        var a = new EpochAggregation { BufferBytes = 4096, MedianBudget = budget, Threads = 2 };
        var b = new EpochAggregation { BufferBytes = 4096, MedianBudget = budget, Threads = 2 };
        Assert.Equal(EpochLog.ToCsv(ReferenceEpochs.Of(File.ReadAllText(small))), EpochLog.ToCsv(a.Run(small)));
        Assert.Equal(EpochLog.ToCsv(ReferenceEpochs.Of(File.ReadAllText(large))), EpochLog.ToCsv(b.Run(large)));
        Assert.Equal(a.PeakMedianValues, b.PeakMedianValues);
        Assert.InRange(b.PeakMedianValues, 1, 2 * budget);
        Assert.Equal(4096, b.PeakBufferBytes);
    }

    [Fact]
    public void Any_log_in_one_stretch_reads_as_the_plain_reading_reads_it()
    {
        // Not -0: it equals 0, and which of the two a median or maximum shows is arbitrary.
        var number = ArbMap.Default.GeneratorFor<double>().Where(d => double.IsFinite(d) && !(d == 0 && double.IsNegative(d)))
            .Select(d => d.ToString("R", CultureInfo.InvariantCulture));
        CheckAgainstThePlainReading(Gen.OneOf(Quarters, number), Gen.Constant(EpochAggregation.DefaultSegmentBytes));
    }

    [Fact]
    public void Any_log_cut_in_stretches_anywhere_reads_as_the_plain_reading_reads_it()
    {
        // Sums of quarters are exact in any order, so stretches' partial sums add up to the plain reading's.
        CheckAgainstThePlainReading(Quarters, Gen.Choose(1, 600).Select(n => (long)n));
    }

    private static readonly Gen<string> Quarters = Gen.Choose(-400, 400).Select(i => (i / 4.0).ToString(CultureInfo.InvariantCulture));

    /// <summary>
    /// Random logs — groups coming back, blank and CRLF lines, missing cells, a torn tail — read through random
    /// buffers, stretches, budgets and threads, against <see cref="ReferenceEpochs"/>.
    /// </summary>
    private static void CheckAgainstThePlainReading(Gen<string> number, Gen<long> segments)
    {
        var cell = Gen.Frequency((1, Gen.Constant("")), (1, Gen.Constant("nan")), (8, number));
        var row =
            from epoch in Gen.Choose(-1, 3)
            from mode in Gen.Elements("train", "val", "test")
            from cells in Gen.ArrayOf(cell, 5)
            from end in Gen.Elements("\n", "\n", "\r\n", "\n\n", "\n \t\r\n")
            select $"{mode},{epoch},{string.Join(',', cells)}{end}";
        var runs =
            from first in row
            from length in Gen.Frequency((3, Gen.Constant(1)), (1, Gen.Choose(2, 20)))
            select string.Concat(Enumerable.Repeat(first, length));
        var log =
            from rows in Gen.ListOf(Gen.OneOf(row, runs))
            from tail in Gen.Elements("", "", "tr", "val,1,2")
            from buffer in Gen.Choose(16, 300)
            from segment in segments
            from budget in Gen.Choose(1, 40)
            from threads in Gen.Choose(1, 3)
            select (Text: "mode,epoch,loss,lr,grad_norm,time,extra\n" + string.Concat(rows) + tail, Buffer: buffer, Segment: segment, Budget: budget, Threads: threads);
        using var dir = new TempDir("property");
        var path = dir.File(RunFiles.BatchLog);
        Prop.ForAll(log.ToArbitrary(), input =>
        {
            File.WriteAllText(path, input.Text);
            var table = new EpochAggregation { BufferBytes = input.Buffer, SegmentBytes = input.Segment, MedianBudget = input.Budget, Threads = input.Threads }.Run(path);
            var expected = ReferenceEpochs.Of(input.Text);
            Assert.Equal(EpochLog.ToCsv(expected), EpochLog.ToCsv(table));
            Assert.Equal((expected.BatchRows, expected.TornTail), (table.BatchRows, table.TornTail));
        }).QuickCheckThrowOnFailure();
    }

    /// <summary>Two logs of the same epochs, the large one with ten times as many of them.</summary>
    private static (string Small, string Large) SmallAndLarge(TempDir dir, bool interleaved)
    {
        var small = dir.File("small.csv");
        var large = dir.File("large.csv");
        GenerateLog(small, epochs: 4, rowsPerEpoch: 2_000, interleaved);
        GenerateLog(large, epochs: 40, rowsPerEpoch: 2_000, interleaved);
        return (small, large);
    }

    /// <summary>
    /// A seeded training log: per epoch <paramref name="rowsPerEpoch"/> rows, nine in ten training; either training
    /// then validation, or the two alternating.
    /// </summary>
    private static void GenerateLog(string path, int epochs, int rowsPerEpoch, bool interleaved)
    {
        var rng = new Random(99);
        using var writer = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 16);
        writer.Write("epoch,mode,batch," + string.Join(',', Columns) + "\n");
        var time = 0.0;
        for (var i = 0; i < epochs * rowsPerEpoch; i++)
        {
            long epoch = i / rowsPerEpoch;
            var mode = interleaved ? (i % 10 == 0 ? "val" : "train") : i % rowsPerEpoch < rowsPerEpoch * 9 / 10 ? "train" : "val";
            time += 0.004 + 0.001 * rng.NextDouble();
            double?[] values =
            [
                2 * rng.NextDouble(), rng.NextDouble(), 0.1 / (1 + epoch), 20 + epoch + i % 3,
                mode == "val" ? null : 3 * rng.NextDouble(), 1e-5 * rng.NextDouble(), 1e-3 * rng.NextDouble(), rng.NextDouble() * 1e3,
                rng.Next(3, 8), rng.Next(5, 15), rng.Next(10, 40), time,
            ];
            if (rng.Next(100) == 0) values[1] = null;
            writer.Write(string.Create(CultureInfo.InvariantCulture, $"{epoch},{mode},{i}"));
            foreach (var v in values)
            {
                writer.Write(',');
                writer.Write(v is { } x ? x.ToString("R", CultureInfo.InvariantCulture) : rng.Next(2) == 0 ? "" : "nan");
            }
            writer.Write('\n');
        }
    }
}
