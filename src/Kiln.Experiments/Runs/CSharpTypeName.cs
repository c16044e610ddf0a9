namespace Kiln.Experiments.Runs;

/// <summary>A type as C# source spells it (<c>Dictionary&lt;string, double[]&gt;</c>), for code Kiln writes for people (notebooks).</summary>
internal static class CSharpTypeName
{
    private static readonly Dictionary<Type, string> Keywords = new()
    {
        [typeof(bool)] = "bool", [typeof(byte)] = "byte", [typeof(sbyte)] = "sbyte", [typeof(char)] = "char", [typeof(short)] = "short",
        [typeof(ushort)] = "ushort", [typeof(int)] = "int", [typeof(uint)] = "uint", [typeof(long)] = "long", [typeof(ulong)] = "ulong",
        [typeof(float)] = "float", [typeof(double)] = "double", [typeof(decimal)] = "decimal", [typeof(string)] = "string", [typeof(object)] = "object",
    };

    public static string Of(Type type)
    {
        ArgumentNullException.ThrowIfNull(type);
        if (Keywords.TryGetValue(type, out var keyword)) return keyword;
        if (type.IsArray) return Of(type.GetElementType()!) + "[" + new string(',', type.GetArrayRank() - 1) + "]";
        if (Nullable.GetUnderlyingType(type) is { } inner) return Of(inner) + "?";
        var name = (type.IsNested ? Of(type.DeclaringType!) + "." : type.Namespace is { Length: > 0 } ns ? ns + "." : "") + type.Name;
        if (type.Name.IndexOf('`', StringComparison.Ordinal) is var tick and >= 0) name = name[..(name.Length - type.Name.Length + tick)];
        if (!type.IsGenericType) return name;
        // A nested type's own arguments are those after its declaring type's.
        var args = type.GetGenericArguments().Skip(type.IsNested ? type.DeclaringType!.GetGenericArguments().Length : 0).ToList();
        return args.Count == 0 ? name : $"{name}<{string.Join(", ", args.Select(Of))}>";
    }
}
