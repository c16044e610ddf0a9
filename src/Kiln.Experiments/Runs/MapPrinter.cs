using Kiln.Experiments.Pipeline;

namespace Kiln.Experiments.Runs;

/// <summary><c>--map</c> and <c>--paths</c>: the plan, as curifactory printed it, with each stage's status and why it runs.</summary>
public static class MapPrinter
{
    public static void Print(ExperimentManager manager, bool verbose)
    {
        ArgumentNullException.ThrowIfNull(manager);
        foreach (var record in manager.Records.Concat(manager.Nodes.Select(n => n.Record).Where(r => r.Index < 0).Distinct()))
        {
            Console.Out.WriteLine($"==== {record.ReferenceName} hash: {record.Hash[..Math.Min(16, record.Hash.Length)]} ====");
            foreach (var node in record.Nodes)
            {
                var leaf = node.Consumers.Count == 0 ? " (leaf)" : "";
                var status = node.Status switch
                {
                    StageStatus.Cached => "cached",
                    StageStatus.Known => "cached (run only if needed: " + node.Reason + ")",
                    StageStatus.Pending => "pending: " + node.Reason,
                    _ => "runs: " + node.Reason,
                };
                Console.Out.WriteLine($"Stage: {node.Stage.Name}{leaf} [{status}]");
                if (node.Record.InputRecords.Count > 0)
                    Console.Out.WriteLine("\tInput records:\n" + string.Join("\n", node.Record.InputRecords.Select(r => "\t\t" + r.ReferenceName)));
                if (node.InputSources.Count > 0)
                    Console.Out.WriteLine("\tInputs:\n" + string.Join("\n", node.InputSources.Select(i => $"\t\t{i.Name} <- {i.From}")));
                if (node.OutputNames.Count > 0)
                    Console.Out.WriteLine("\tOutputs:\n" + string.Join("\n", node.OutputNames.Select(o => "\t\t" + o)));
                if (verbose && node.Key is not null) Console.Out.WriteLine($"\tKey: {node.Key}\n\tCode: {node.CodeHash}");
            }
        }
        var runs = manager.Nodes.Count(n => n.Status is StageStatus.Run or StageStatus.Pending);
        Console.Out.WriteLine($"{manager.Nodes.Count} stages: {manager.Nodes.Count(n => n.Status == StageStatus.Cached)} cached, {runs} to run or waiting on upstream");
    }

    public static void PrintPaths(ExperimentManager manager)
    {
        ArgumentNullException.ThrowIfNull(manager);
        foreach (var node in manager.Nodes)
        {
            if (node.Key is null) continue;
            for (var i = 0; i < node.OutputNames.Count; i++)
            {
                if (node.ArtifactPath(i) is { } path) Console.Out.WriteLine(path);
                Console.Out.WriteLine(manager.Store.MetadataPath(node.Key, node.Stage.Name, node.OutputNames[i]));
            }
        }
    }
}
