using System.Text;
using System.Text.Json.Nodes;
using Kiln.Protocol;
using Kiln.Registry.Reports;
using Kiln.Testing;

namespace Kiln.Registry.Tests;

public sealed class RunReportTests
{
    private static string TrainedRun(TempDir tmp)
    {
        var dir = tmp.Sub("runs/20261204-101500-train");
        File.WriteAllText(Path.Combine(dir, RunFiles.Run), new RunInfo
        {
            Id = "20261204-101500-train", Kind = "train", Config = "lenet", Status = RunInfo.Completed, Start = 1_790_000_000, End = 1_790_000_060,
            Host = "box", Metrics = new JsonObject { ["val_loss"] = 0.25 },
        }.ToJson().ToJsonString());
        File.WriteAllText(Path.Combine(dir, RunFiles.Model), """{"fingerprint":"sha256:abc123","summary":"fc1 Linear [784,32]\nfc2 Linear [32,10]","parameters":25450}""");
        File.WriteAllText(Path.Combine(dir, RunFiles.Params), """{"lr":0.001,"batch_size":64,"note":"<script>alert(1)</script>"}""");
        File.WriteAllText(Path.Combine(dir, RunFiles.TrialResult), """{"accuracy":0.91}""");
        File.WriteAllText(Path.Combine(dir, "kiln.snapshot.json"), """{"commit":"1111111111111111111111111111111111111111","ref":"refs/kiln/runs/20261204-101500-train","head":"2222222222222222222222222222222222222222","branch":"main","dirty":true}""");
        var metrics = new StringBuilder();
        for (var step = 0; step < 5000; step++)
            metrics.Append(System.Globalization.CultureInfo.InvariantCulture, $"{{\"step\":{step},\"metrics\":{{\"train_loss\":{1.0 / (step + 1)},\"val_loss\":{(step == 2500 ? 50 : 2.0 / (step + 1))}}}}}\n");
        File.WriteAllText(Path.Combine(dir, RunFiles.Metrics), metrics.ToString());
        File.WriteAllText(Path.Combine(dir, RunFiles.Ledger),
            """{"seq":1,"cid":"c1","step":120,"event":"train_step_end","module":"opt","op":"set_params","source":"cli","decision":"applied","params":{"lr":0.0005},"payload":{"lr":0.0005},"wall_time":1790000010}""" + "\n");
        File.WriteAllBytes(Path.Combine(dir, RunFiles.Weights), [1, 2, 3, 4]);
        return dir;
    }

    [Fact]
    public void A_report_holds_the_weights_and_a_page_of_the_record_code_params_result_curves_and_changes()
    {
        using var tmp = new TempDir("report");
        var run = TrainedRun(tmp);
        var result = RunReport.Write(run, Path.Combine(tmp.Path, "report-x"));

        Assert.Empty(result.Problems);
        Assert.Equal([1, 2, 3, 4], File.ReadAllBytes(result.Weights!));
        var html = File.ReadAllText(result.Html);
        foreach (var heading in new[] { "Run", "Code", "Architecture", "Hyper-parameters", "Trial result", "Final metrics", "Metric curves", "Changes while training", "Files" })
            Assert.Contains($"<h2>{heading}</h2>", html);
        Assert.Contains("refs/kiln/runs/20261204-101500-train", html);
        Assert.Contains("kiln revert 20261204-101500-train", html);
        Assert.Contains("sha256:abc123", html);
        Assert.Contains("<td>accuracy</td><td>0.91</td>", html);
        Assert.Contains("{&quot;lr&quot;:0.0005}", html);
        // Values are text, never markup.
        Assert.DoesNotContain("<script>", html);
        Assert.Contains("&lt;script&gt;", html);
        // One plot per default metric, drawn as SVG; the spike at step 2500 is kept by the reduction.
        Assert.Equal(2, html.Split("<svg").Length - 1);
        var (_, ys) = MetricPlot.Reduce(Enumerable.Range(0, 5000).Select(i => (long)i).ToArray(), Enumerable.Range(0, 5000).Select(i => i == 2500 ? 50.0 : 1.0).ToArray());
        Assert.True(ys.Length <= MetricPlot.MaxPoints);
        Assert.Contains(50.0, ys);
    }

    [Fact]
    public void A_run_without_model_snapshot_or_trial_says_so_and_a_broken_file_is_listed_not_fatal()
    {
        using var tmp = new TempDir("report");
        var dir = tmp.Sub("runs/plain");
        File.WriteAllText(Path.Combine(dir, RunFiles.Run), new RunInfo { Id = "plain", Kind = "launch", Status = RunInfo.Completed, GitCommit = "abcdef0" }.ToJson().ToJsonString());
        File.WriteAllText(Path.Combine(dir, RunFiles.Model), "{not json");
        var result = RunReport.Write(dir, Path.Combine(tmp.Path, "out"));
        var html = File.ReadAllText(result.Html);
        Assert.Contains("No code snapshot; the repository was at abcdef0", html);
        Assert.Contains("Not trialled yet.", html);
        Assert.Contains("No metrics were logged.", html);
        Assert.Contains("No command reached the run", html);
        Assert.Null(result.Weights);
        var problem = Assert.Single(result.Problems);
        Assert.Contains(RunFiles.Model, problem);
        Assert.Contains("<h2>Problems</h2>", html);
    }

    [Fact]
    public void A_missing_run_directory_is_a_clear_error()
    {
        using var tmp = new TempDir("report");
        var ex = Assert.Throws<ProtocolException>(() => RunReport.Write(Path.Combine(tmp.Path, "nope"), Path.Combine(tmp.Path, "out")));
        Assert.Contains("no such run directory", ex.Message);
    }
}
