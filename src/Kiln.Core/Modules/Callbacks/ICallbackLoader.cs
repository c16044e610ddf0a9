using System.Text.Json.Nodes;
using Kiln.Protocol;

namespace Kiln.Modules.Callbacks;

/// <summary>What a loader is asked to load.</summary>
/// <param name="Capture">On replay, the captured copy of a source file to load instead of <c>Target.Path</c>.</param>
public sealed record CallbackLoadRequest(string Id, CallbackTarget Target, JsonObject? Init, SourceCapture? Capture, RunFiles Run);

/// <summary>A loaded callback and how to let go of what loading it took (an assembly load context, say).</summary>
public sealed class LoadedCallback(IKilnCallback callback, SourceCapture? capture = null, Action? unload = null)
{
    public IKilnCallback Callback { get; } = callback;

    /// <summary>Where the source was copied in the run, for files; named in the ledger and in recipes.</summary>
    public SourceCapture? Capture { get; } = capture;

    public void Unload() => unload?.Invoke();
}

/// <summary>Turns a <see cref="CallbackTarget"/> into a callback. Throw with a message that names the cause.</summary>
public interface ICallbackLoader
{
    bool CanLoad(CallbackTarget target);

    LoadedCallback Load(CallbackLoadRequest request);

    /// <summary>Called when a kernel starts, before any load: a chance to warm up (a compiler, say) in the background.</summary>
    void Prepare() { }
}
