using System.Reflection;
using Kiln.Protocol;

namespace Kiln.Scripting.Loading;

internal static class ScriptTypes
{
    /// <summary>
    /// The type named <paramref name="symbol"/> (full name or simple name) in a compiled source; with no symbol, the
    /// only public type assignable to <paramref name="kind"/>.
    /// </summary>
    public static Type Find(Assembly assembly, string? symbol, Type kind, string file)
    {
        var types = assembly.GetTypes().Where(t => !t.IsNested || t.IsNestedPublic).ToArray();
        if (symbol is not null)
        {
            var matches = types.Where(t => t.FullName == symbol || t.Name == symbol).ToList();
            return matches.Count switch
            {
                1 => matches[0],
                0 => throw new ProtocolException($"target.symbol: no type {symbol} in {file} (types: {string.Join(", ", types.Select(t => t.FullName))})"),
                _ => throw new ProtocolException($"target.symbol: {symbol} is ambiguous in {file} ({string.Join(", ", matches.Select(t => t.FullName))}); give the full name"),
            };
        }
        var candidates = types.Where(t => t.IsPublic && !t.IsAbstract && kind.IsAssignableFrom(t)).ToList();
        return candidates.Count switch
        {
            1 => candidates[0],
            0 => throw new ProtocolException($"target: {file} has no public {kind.Name}"),
            _ => throw new ProtocolException($"target.symbol: {file} has several {kind.Name} types ({string.Join(", ", candidates.Select(t => t.FullName))}); name one with --symbol"),
        };
    }
}
