namespace Kiln.Protocol;

/// <summary>
/// A file and a symbol in it, written <c>path/My.dll:Namespace.Type</c> or <c>path/Train.cs:Namespace.Type.Method</c>:
/// how training functions and callbacks name their code on the command line and in the protocol.
/// </summary>
public readonly record struct FileSymbol(string File, string Symbol)
{
    /// <summary>Splits at the last colon; a path without one (or ending in one) has no symbol.</summary>
    public static bool TryParse(string spec, out FileSymbol result)
    {
        var colon = spec.LastIndexOf(':');
        // "C:\x.dll" has its colon second: a drive letter, not a separator.
        if (colon <= 1 || colon == spec.Length - 1)
        {
            result = default;
            return false;
        }
        result = new FileSymbol(spec[..colon], spec[(colon + 1)..]);
        return true;
    }

    /// <summary>Parses or throws naming the option and the expected shape (<c>--train-fn x: expected &lt;file&gt;:&lt;Namespace.Type.Method&gt;</c>).</summary>
    public static FileSymbol Parse(string spec, string option, string expected) =>
        TryParse(spec, out var result) ? result : throw new ProtocolException($"{option} {spec}: expected {expected}");

    /// <summary>Whether the file is C# source (compiled by Kiln.Scripting) rather than a compiled assembly.</summary>
    public bool IsSource => File.EndsWith(".cs", StringComparison.OrdinalIgnoreCase);

    /// <summary>Whether a spec names C# source: <c>Train.cs</c> or <c>Train.cs:Ns.Type.Method</c>.</summary>
    public static bool NamesSource(string spec) =>
        (TryParse(spec, out var fs) ? fs.File : spec).EndsWith(".cs", StringComparison.OrdinalIgnoreCase);

    /// <summary>The symbol as a type and its member: <c>Ns.Type.Method</c> → (<c>Ns.Type</c>, <c>Method</c>).</summary>
    public (string Type, string Member) TypeAndMember(string option)
    {
        var dot = Symbol.LastIndexOf('.');
        if (dot <= 0 || dot == Symbol.Length - 1)
            throw new ProtocolException($"{option} {File}:{Symbol}: name the method as Type.Method (or Namespace.Type.Method)");
        return (Symbol[..dot], Symbol[(dot + 1)..]);
    }
}
