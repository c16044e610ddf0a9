using Kiln.Train.Nn;
using Kiln.Train.Serialization;

namespace Kiln.Train.Sdk;

/// <summary>
/// Saves the registered model's state dict as <c>weights.safetensors</c> when the program ends normally — its
/// main returned, or it called <c>Environment.Exit</c>, with exit code 0 — or when asked. The file is written to a
/// temporary name and renamed, so a program killed mid-way (SIGKILL, SIGTERM, a crash) leaves no weights rather
/// than half of them, and a failed run (exit code other than 0) leaves none either.
/// </summary>
internal sealed class WeightsSaver(string path, TextWriter log)
{
    private readonly Lock _gate = new();
    private Module? _model;
    private string? _fingerprint;
    private bool _armed;
    private bool _hooked;

    public string Path { get; } = path;

    /// <summary>The model whose weights are saved; a later registration replaces an earlier one.</summary>
    public void Register(Module model, string fingerprint, bool hookProcessExit)
    {
        lock (_gate)
        {
            if (_model is not null && !ReferenceEquals(_model, model) && _fingerprint != fingerprint)
                log.WriteLine($"kiln: a second model ({fingerprint}) replaces the first ({_fingerprint}); only its weights will be saved");
            _model = model;
            _fingerprint = fingerprint;
            _armed = true;
            if (hookProcessExit && !_hooked)
            {
                _hooked = true;
                AppDomain.CurrentDomain.ProcessExit += (_, _) => OnProcessExit();
            }
        }
    }

    /// <summary>Writes the weights now; false (and a note) when no model was registered.</summary>
    public bool Save()
    {
        lock (_gate) return SaveLocked();
    }

    /// <summary>Saves now and not again at exit (<see cref="KilnSdk.End"/>).</summary>
    public void End()
    {
        lock (_gate)
        {
            if (SaveLocked()) _armed = false;
        }
    }

    private bool SaveLocked()
    {
        if (_model is null)
        {
            log.WriteLine("kiln: no model to save: register it with KilnSdk.Model(net) first");
            return false;
        }
        Safetensors.Save(Path, _model.StateDict(), new Dictionary<string, string>(StringComparer.Ordinal) { ["fingerprint"] = _fingerprint! });
        return true;
    }

    private void OnProcessExit()
    {
        lock (_gate)
        {
            if (!_armed) return;
            _armed = false;
            var code = Environment.ExitCode;
            if (code != 0)
            {
                log.WriteLine($"kiln: the program ends with exit code {code}; its weights are not saved (KilnSdk.SaveWeights() saves them anyway)");
                return;
            }
            try
            {
                SaveLocked();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
            {
                log.WriteLine($"kiln: could not save the weights to {Path}: {ex.Message}");
                Environment.ExitCode = 1;
            }
            log.Flush();
        }
    }
}
