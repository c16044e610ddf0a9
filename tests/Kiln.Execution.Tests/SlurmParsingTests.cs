using System.Text.Json.Nodes;
using Kiln.Execution.Jobs;
using Kiln.Execution.Slurm;
using Kiln.Protocol;

namespace Kiln.Execution.Tests;

/// <summary>What the Slurm tools print, read back; and the executor's kiln.json section.</summary>
public sealed class SlurmParsingTests
{
    [Theory]
    [InlineData("12_3", "12_3")]
    [InlineData("12_[0-3]", "12_0 12_1 12_2 12_3")]
    [InlineData("12_[1,4-5%2]", "12_1 12_4 12_5")]
    [InlineData("12_[0-6:3]", "12_0 12_3 12_6")]
    public void Task_ids_and_pending_ranges_expand_to_one_id_per_task(string listed, string expected) =>
        Assert.Equal(expected, string.Join(' ', SlurmStatusReader.ExpandTaskIds(listed)));

    [Fact]
    public void A_completion_record_gives_the_task_its_state_and_exit_code()
    {
        var line = "JobId=9 UserId=root(0) GroupId=root(0) Name=kiln JobState=FAILED Partition=debug ArrayJobId=7 ArrayTaskId=2 DerivedExitCode=0:0 ExitCode=3:0";
        var (id, state) = SlurmStatusReader.ParseJobComp(line)!.Value;
        Assert.Equal("7_2", id);
        Assert.Equal(new SlurmTaskState("FAILED", 3), state);
        Assert.Null(SlurmStatusReader.ParseJobComp("JobId=9 JobState=COMPLETED ExitCode=0:0"));
    }

    [Theory]
    [InlineData("CANCELLED by 0", "CANCELLED", JobState.Stopped)]
    [InlineData("COMPLETED", "COMPLETED", JobState.Completed)]
    [InlineData("TIMEOUT", "TIMEOUT", JobState.Failed)]
    [InlineData("PREEMPTED", "PREEMPTED", JobState.Stopped)]
    [InlineData("pending", "PENDING", JobState.Queued)]
    [InlineData("RUNNING", "RUNNING", JobState.Running)]
    public void State_words_map_to_job_states(string raw, string word, JobState kind)
    {
        Assert.Equal(word, SlurmTaskState.Word(raw));
        Assert.Equal(kind, new SlurmTaskState(SlurmTaskState.Word(raw)).Kind);
    }

    [Theory]
    [InlineData("0:0", 0)]
    [InlineData("3:0", 3)]
    [InlineData("0:15", 143)]
    [InlineData("", null)]
    public void Exit_fields_become_exit_codes(string field, int? code) => Assert.Equal(code, SlurmTaskState.ParseExit(field));

    [Fact]
    public void The_executor_section_of_kiln_json_is_read_strictly()
    {
        var o = (JsonObject)JsonNode.Parse("""{"kind":"slurm","partition":"gpu","time":"1:00:00","cpus_per_task":4,"mem_mb":8000,"throttle":8,"sbatch_args":["--qos=high"],"max_array_size":500}""")!;
        var options = SlurmOptions.FromJson(o);
        Assert.Equal(["--job-name=kiln", "--partition=gpu", "--time=1:00:00", "--cpus-per-task=4", "--mem=8000M", "--signal=B:USR1@90", "--requeue", "--qos=high"],
            options.SbatchArguments(1, null));
        Assert.Equal(options, SlurmOptions.FromJson(options.ToJson()) with { SbatchArgs = options.SbatchArgs });

        Assert.Equal("executor: unknown key 'partiton' (known: kind, partition, account, time, cpus_per_task, mem_mb, throttle, sbatch_args, max_array_size, signal_seconds, requeue, job_name)",
            Assert.Throws<ProtocolException>(() => SlurmOptions.FromJson((JsonObject)JsonNode.Parse("""{"partiton":"gpu"}""")!)).Message);
        Assert.Equal("executor.throttle: must be an integer from 1 to 2147483647, got 0",
            Assert.Throws<ProtocolException>(() => SlurmOptions.FromJson((JsonObject)JsonNode.Parse("""{"throttle":0}""")!)).Message);
        Assert.StartsWith("executor.sbatch_args: expected an array of strings",
            Assert.Throws<ProtocolException>(() => SlurmOptions.FromJson((JsonObject)JsonNode.Parse("""{"sbatch_args":"--qos=high"}""")!)).Message);
    }
}
