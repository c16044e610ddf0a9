using System.Text.Json.Nodes;

namespace Kiln.Modules.Callbacks;

/// <summary>
/// A callback the kernel calls at every safe point while it is enabled. Loaded callbacks get their
/// <c>init</c> values as constructor arguments (by name; a parameter named <c>id</c> receives the id).
/// </summary>
public interface IKilnCallback
{
    /// <summary>Stable identifier used by the command line and the ledger.</summary>
    string Id { get; }

    /// <summary>Called at each safe point (<c>train_step_end</c>, <c>val_epoch_end</c>, …) while enabled.</summary>
    void Handle(string evt, KernelEnv env);

    /// <summary>Applies new parameters. Must be idempotent: the same values twice leave the same state.</summary>
    void SetParams(JsonObject parameters);

    /// <summary>Called once after loading, before the first <see cref="Handle"/>.</summary>
    void OnAttach(KernelEnv env) { }

    /// <summary>Called on unload and when the run ends; release files and writers here.</summary>
    void Close() { }
}
