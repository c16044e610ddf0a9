using System.Text.Json.Nodes;
using Kiln.Protocol;

namespace Kiln.Modules.Callbacks;

/// <summary>What a loader is asked to load.</summary>
/// <param name="Capture">On replay, the captured copy of a source file to load instead of <c>Target.Path</c>.</param>
public sealed record CallbackLoadRequest(string Id, CallbackTarget Target, JsonObject? Init, SourceCapture? Capture, RunFiles Run)
{
    /// <summary>
    /// How the kernel runs the callback's own code (its constructor): on the callback thread, under the callback's time
    /// budget, throwing <see cref="CallbackTimeoutException"/> when it overruns. Null: on the caller's thread.
    /// </summary>
    public Func<Func<IKilnCallback>, IKilnCallback>? RunCallbackCode { get; init; }

    /// <summary>
    /// Constructs the callback of <paramref name="type"/> with the request's id and init values (<see cref="CallbackFactory.Create"/>)
    /// under the callback's time budget. Loaders call this once they have the type; finding it (compiling, say) is not
    /// the callback's code and does not count against its budget.
    /// </summary>
    public IKilnCallback Create(Type type) =>
        RunCallbackCode is { } run ? run(() => CallbackFactory.Create(type, Id, Init)) : CallbackFactory.Create(type, Id, Init);
}

/// <summary>A callback's code did not return within its time budget; it was left running.</summary>
public sealed class CallbackTimeoutException(string message) : Exception(message);

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
