using System.Text.Json.Nodes;

namespace Kiln.Modules.Callbacks;

/// <summary>
/// A callback that has seed 001's shape (see <see cref="CallbackShape"/>) without implementing <see cref="IKilnCallback"/>.
/// Its methods are bound to delegates once, when it loads, so a safe point costs a delegate call, as for any callback,
/// and what they throw reaches the kernel unwrapped. It holds the user's object and nothing static, so unloading the
/// callback lets its load context go.
/// </summary>
public sealed class StructuralCallback : IKilnCallback
{
    private readonly Func<string?> _id;
    private readonly Action<string, KernelEnv> _handle;
    private readonly Action<JsonObject> _setParams;
    private readonly Action<KernelEnv>? _onAttach;
    private readonly Action? _close;

    internal StructuralCallback(object target, Func<string?> id, Action<string, KernelEnv> handle, Action<JsonObject> setParams, Action<KernelEnv>? onAttach, Action? close)
    {
        Target = target;
        _id = id;
        _handle = handle;
        _setParams = setParams;
        _onAttach = onAttach;
        _close = close;
    }

    /// <summary>The user's object.</summary>
    public object Target { get; }

    public string Id => _id() ?? "";

    public void Handle(string evt, KernelEnv env) => _handle(evt, env);

    public void SetParams(JsonObject parameters) => _setParams(parameters);

    public void OnAttach(KernelEnv env) => _onAttach?.Invoke(env);

    public void Close() => _close?.Invoke();

    public override string? ToString() => Target.ToString();
}
