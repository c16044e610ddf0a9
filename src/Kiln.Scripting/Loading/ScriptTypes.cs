using System.Reflection;
using Kiln.Modules.Callbacks;
using Kiln.Protocol;

namespace Kiln.Scripting.Loading;

internal static class ScriptTypes
{
    /// <summary>
    /// The type named <paramref name="symbol"/> (full name or simple name) in a compiled source; with no symbol, the
    /// only public type assignable to <paramref name="kind"/>.
    /// </summary>
    public static Type Find(Assembly assembly, string? symbol, Type kind, string file) =>
        Find(assembly, symbol, file, kind.IsAssignableFrom, kind.Name, _ => $"target: {file} has no public {kind.Name}");

    /// <summary>
    /// The callback type named <paramref name="symbol"/>; with no symbol, the only public callback type, one that
    /// implements <see cref="IKilnCallback"/> or has its shape. When there is none, the error says what the file's public
    /// class lacks.
    /// </summary>
    public static Type FindCallback(Assembly assembly, string? symbol, string file) =>
        Find(assembly, symbol, file, CallbackShape.Fits, "callback", types => NoCallback(types, file));

    private static Type Find(Assembly assembly, string? symbol, string file, Func<Type, bool> isKind, string kindName, Func<List<Type>, string> none)
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
        var concrete = types.Where(t => t.IsPublic && !t.IsAbstract && !t.ContainsGenericParameters).ToList();
        var candidates = concrete.Where(isKind).ToList();
        return candidates.Count switch
        {
            1 => candidates[0],
            0 => throw new ProtocolException(none(concrete)),
            _ => throw new ProtocolException($"target.symbol: {file} has several {kindName} types ({string.Join(", ", candidates.Select(t => t.FullName))}); name one with --symbol"),
        };
    }

    /// <summary>With one public class, why it is not a callback; else what a callback is.</summary>
    private static string NoCallback(List<Type> publicTypes, string file) =>
        publicTypes.Count == 1
            ? $"target: {file} has no public callback type: {CallbackShape.Of(publicTypes[0]).Error}"
            : $"target: {file} has no public callback type; {CallbackShape.Requirement}";
}
