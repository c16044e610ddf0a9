using System.Text.Json.Nodes;
using Kiln.Protocol;
using Kiln.Registry.Workspace;
using Kiln.Testing;

namespace Kiln.Registry.Tests;

public sealed class WorkspaceConfigTests
{
    private static string Error(string json)
    {
        using var tmp = new TempDir("config");
        var path = tmp.File("kiln.json");
        File.WriteAllText(path, json);
        var ex = Assert.Throws<ProtocolException>(() => WorkspaceConfig.Read(path));
        Assert.StartsWith(path + ": ", ex.Message);
        return ex.Message[(path.Length + 2)..];
    }

    [Fact]
    public void Written_config_reads_back_with_argv_arrays_that_keep_spaces()
    {
        using var tmp = new TempDir("config");
        var path = tmp.File("kiln.json");
        var config = WorkspaceConfig.For(tmp.Path, "demo") with
        {
            Train = [["python", "train.py", "--note", "two words"], ["sh", "-c", "echo 'done'"]],
            Executor = "slurm",
            Defaults = new JsonObject { ["jobs"] = 2 },
        };
        config.Write(path);
        var text = File.ReadAllText(path);
        Assert.Contains("\n    [\"python\", \"train.py\", \"--note\", \"two words\"],\n", text);
        Assert.Contains("\n  \"executor\": \"slurm\",\n", text);

        var back = WorkspaceConfig.Read(path);
        Assert.Equal("demo", back.Name);
        Assert.Equal(["python", "train.py", "--note", "two words"], back.Train[0]);
        Assert.Equal(["sh", "-c", "echo 'done'"], back.Train[1]);
        Assert.Equal(WorkspaceConfig.DefaultTrial[0], back.Trial[0]);
        Assert.Equal("slurm", back.Executor);
        Assert.Equal(2, (int)back.Defaults["jobs"]!);
    }

    [Fact]
    public void Only_the_name_is_required()
    {
        var config = WorkspaceConfig.FromJson(JsonNode.Parse("""{"name": "x"}"""));
        Assert.Equal((WorkspaceConfig.LocalExecutor, "dotnet"), (config.Executor, config.Train[0][0]));
        Assert.Empty(config.Defaults);
    }

    [Fact]
    public void Errors_name_the_file_and_the_key()
    {
        Assert.StartsWith("content: invalid JSON", Error("{\"name\": "));
        Assert.Equal("name: expected a string, got null", Error("{}"));
        Assert.Equal("unknown key 'trian' (known: name, train, trial, executor, defaults)", Error("""{"name": "x", "trian": []}"""));
        Assert.Equal("""train[0]: expected an array of strings (the program and its arguments), got "python train.py"; write it as an array of arguments, e.g. ["python", "train.py"]""",
            Error("""{"name": "x", "train": ["python train.py"]}"""));
        Assert.Equal("trial[0][1]: expected a string, got 3", Error("""{"name": "x", "trial": [["run", 3]]}"""));
        Assert.Equal("train[1]: expected the program and its arguments, got an empty array", Error("""{"name": "x", "train": [["a"], []]}"""));
        Assert.StartsWith("train: expected a list of commands", Error("""{"name": "x", "train": "python train.py"}"""));
        Assert.Equal("executor: unknown executor 'k8s' (known: local, slurm)", Error("""{"name": "x", "executor": "k8s"}"""));
        Assert.Equal("defaults: expected an object, got [1]", Error("""{"name": "x", "defaults": [1]}"""));
        Assert.Equal("kiln.json: expected an object, got [1]", Error("[1]"));
    }

    [Fact]
    public void A_missing_file_says_how_to_make_one()
    {
        using var tmp = new TempDir("config");
        var ex = Assert.Throws<ProtocolException>(() => WorkspaceConfig.Read(tmp.File("kiln.json")));
        Assert.Equal($"{tmp.File("kiln.json")}: no such file (`kiln workspace init` creates it)", ex.Message);
    }
}
