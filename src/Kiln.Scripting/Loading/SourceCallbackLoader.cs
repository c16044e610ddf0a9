using Kiln.Modules.Callbacks;
using Kiln.Protocol;
using Kiln.Scripting.Compilation;

namespace Kiln.Scripting.Loading;

/// <summary>
/// Loads callbacks from C# source files (<c>kiln cb load viz --file callbacks/FeatViz.cs --symbol FeatureVizCallback</c>):
/// the file is captured into the run, compiled (or found in the compile cache), loaded into its own collectible
/// context, and its type — one that implements <c>IKilnCallback</c> or has its shape — constructed with the <c>init</c>
/// values. On replay the captured copy is loaded instead.
/// </summary>
public sealed class SourceCallbackLoader : ICallbackLoader
{
    public bool CanLoad(CallbackTarget target) => target.Kind == CallbackTarget.FileKind;

    /// <summary>Warms Roslyn up in the background when a kernel starts, so the first load is quick.</summary>
    public void Prepare() => ScriptCompiler.WarmUp();

    public LoadedCallback Load(CallbackLoadRequest request)
    {
        var (capture, bytes) = request.Capture is { } replayed
            ? (replayed, SourceCaptures.Read(request.Run, replayed))
            : SourceCaptures.Capture(request.Run, request.Run.Resolve(request.Target.Path));
        CompiledScript compiled;
        try
        {
            compiled = ScriptCompiler.Compile(bytes, request.Target.Path);
        }
        catch (CompilationFailedException ex)
        {
            throw new ProtocolException(string.Join("; ", ex.Errors), ex);
        }
        var context = new ScriptLoadContext($"kiln-callback:{request.Id}:{capture.Sha256[..12]}");
        try
        {
            var assembly = context.Load(compiled.Image, compiled.Pdb);
            var type = ScriptTypes.FindCallback(assembly, request.Target.Symbol, request.Target.Path);
            var callback = request.Create(type);
            return new LoadedCallback(callback, capture, context.Unload);
        }
        catch
        {
            context.Unload();
            throw;
        }
    }
}
