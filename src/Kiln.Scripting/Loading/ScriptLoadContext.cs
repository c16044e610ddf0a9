using System.Reflection;
using System.Runtime.Loader;

namespace Kiln.Scripting.Loading;

/// <summary>
/// One collectible context per loaded source, so unloading frees it. Everything the source references (Kiln's
/// SDK, the BCL) resolves from the default context: the callback's <c>IKilnCallback</c> is the kernel's.
/// </summary>
internal sealed class ScriptLoadContext(string name) : AssemblyLoadContext(name, isCollectible: true)
{
    protected override Assembly? Load(AssemblyName assemblyName) => null;

    public Assembly Load(byte[] image, byte[] pdb)
    {
        using var i = new MemoryStream(image, writable: false);
        using var p = pdb.Length > 0 ? new MemoryStream(pdb, writable: false) : null;
        return p is null ? LoadFromStream(i) : LoadFromStream(i, p);
    }
}
