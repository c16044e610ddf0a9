using System.Text;
using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Kernel;
using Kiln.Protocol;

namespace Kiln.Testing;

/// <summary>Reads and writes a run directory's files the way outside tools do.</summary>
public sealed class RunDir(string path)
{
    public string Path { get; } = path;
    public RunFiles Files { get; } = new(path);

    /// <summary>Appends a command line (JSON text) to the inbox.</summary>
    public void Send(string json) => JsonlFile.Append(Files.CommandsPath, Encoding.UTF8.GetBytes(json));

    public string Send(string module, string op, string? id = null, JsonObject? parameters = null)
    {
        var cid = Command.NewCid();
        JsonlFile.Append(Files.CommandsPath, new Command { Cid = cid, Source = "test", Module = module, Op = op, Id = id, Params = parameters }.ToJson());
        return cid;
    }

    public string Set(string module, string json, string? id = null) => Send(module, "set_params", id, (JsonObject)JsonNode.Parse(json)!);

    /// <summary>Appends raw bytes to the inbox (a torn write, a bad line).</summary>
    public void AppendRaw(string text)
    {
        using var fs = new FileStream(Files.CommandsPath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
        fs.Write(Encoding.UTF8.GetBytes(text));
    }

    public List<LedgerEntry> Ledger() => File.Exists(Files.LedgerPath) ? Kiln.Kernel.Ledger.ReadAll(Files.LedgerPath) : [];

    /// <summary>Ledger lines that came from outside (not the kernel's own baseline and bookkeeping).</summary>
    public List<LedgerEntry> Decisions() => Ledger().Where(e => e.Event != KilnKernel.StartEvent).ToList();

    public void WriteConfig(string yaml) => File.WriteAllText(Files.ConfigPath, yaml);

    /// <summary>Every metrics line without its wall time, in order: what two runs that trained alike have in common.</summary>
    public List<string> MetricLines()
    {
        var lines = new List<string>();
        if (!File.Exists(Files.MetricsPath)) return lines;
        JsonlTail.ReadAll(Files.MetricsPath, line =>
        {
            var o = (JsonObject)JsonNode.Parse(line.Bytes.Span)!;
            o.Remove("wall_time");
            lines.Add(o.ToJsonString());
        });
        return lines;
    }
}
