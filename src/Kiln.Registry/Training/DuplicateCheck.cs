using Kiln.IO;
using Kiln.Registry.Records;
using System.Text.Json.Nodes;
using Kiln.Protocol;

namespace Kiln.Registry.Training;

/// <summary>
/// Looks, while a training runs, for its architecture and hyper-parameters (<c>kiln.model.json</c> and
/// <c>kiln.params.json</c>, as the program reports them); when a model of that architecture was already trained with
/// the same hyper-parameters, asks whether to train it again (default No).
/// </summary>
internal sealed class DuplicateCheck(IRunRecords records, string dir, string id, TrainRequest request)
{
    private bool _checked;

    public bool Declined { get; private set; }
    public IReadOnlyList<string> SameAs { get; private set; } = [];

    /// <summary>False when the training should stop.</summary>
    public bool KeepGoing()
    {
        if (_checked || request.Retrain == RetrainAnswer.Yes) return true;
        var model = Read(RunFiles.Model);
        var parameters = Read(RunFiles.Params);
        if (model?["fingerprint"] is not JsonValue fp || !fp.TryGetValue<string>(out var fingerprint) || parameters is null) return true;
        _checked = true;
        var key = CanonicalJson.Params(parameters);
        SameAs = records.Models(fingerprint).Where(m => m.Id != id && CanonicalJson.Params(m.Params) == key).Select(m => m.Id).ToList();
        if (SameAs.Count == 0) return true;
        request.Log($"This architecture has been trained with the same hyper-parameters before: {string.Join(", ", SameAs.Take(5))}{(SameAs.Count > 5 ? ", …" : "")}");
        var again = request.Retrain switch
        {
            RetrainAnswer.No => false,
            _ when request.Ask is { } ask => ask("Are you sure you want to train it again?"),
            _ => false,
        };
        if (!again)
        {
            request.Log(request.Retrain == RetrainAnswer.Ask && request.Ask is null
                ? "Not trained again (no terminal to ask on: --yes trains it again). Stopping."
                : "Not trained again. Stopping.");
            Declined = true;
        }
        return again;
    }

    private JsonObject? Read(string name)
    {
        try
        {
            return JsonObjectFile.Read(Path.Combine(dir, name));
        }
        catch (Exception ex) when (ex is ProtocolException or IOException)
        {
            return null; // being written (atomically, so rarely): looked at again at the next tick
        }
    }
}
