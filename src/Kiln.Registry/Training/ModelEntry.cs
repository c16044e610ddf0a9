using System.Text.Json.Nodes;

namespace Kiln.Registry.Training;

/// <summary>A trained model as the registry knows it: the run that trained it, its hyper-parameters, its trial result.</summary>
public sealed record ModelEntry(string Id, string Dir, string Fingerprint, JsonObject Params, JsonObject? Result, bool HasWeights, double? Start)
{
    public string? WeightsPath => HasWeights ? Path.Combine(Dir, Kiln.Protocol.RunFiles.Weights) : null;
}
