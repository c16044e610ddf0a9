using System.Text;

namespace Kiln.Modules.Callbacks;

/// <summary>Types as C# spells them (<c>int</c>, <c>IDictionary&lt;string, object&gt;</c>, <c>double?</c>), for error messages.</summary>
internal static class TypeNames
{
    public static string Show(Type t)
    {
        if (Nullable.GetUnderlyingType(t) is { } u) return Show(u) + "?";
        if (t.IsArray) return Show(t.GetElementType()!) + "[" + new string(',', t.GetArrayRank() - 1) + "]";
        if (t.IsByRef) return Show(t.GetElementType()!);
        if (t.IsEnum) return t.Name;
        var keyword = Keyword(t);
        if (keyword is not null) return keyword;
        if (!t.IsGenericType) return t.Name;
        var name = t.Name;
        var tick = name.IndexOf('`', StringComparison.Ordinal);
        var sb = new StringBuilder(tick > 0 ? name[..tick] : name).Append('<');
        sb.AppendJoin(", ", t.GetGenericArguments().Select(Show));
        return sb.Append('>').ToString();
    }

    /// <summary><c>(string evt, int every)</c>: a method's parameters.</summary>
    public static string Parameters(System.Reflection.MethodBase m) =>
        "(" + string.Join(", ", m.GetParameters().Select(p => $"{Show(p.ParameterType)} {p.Name}")) + ")";

    private static string? Keyword(Type t) => Type.GetTypeCode(t) switch
    {
        TypeCode.Boolean => "bool", TypeCode.Byte => "byte", TypeCode.SByte => "sbyte", TypeCode.Char => "char",
        TypeCode.Int16 => "short", TypeCode.UInt16 => "ushort", TypeCode.Int32 => "int", TypeCode.UInt32 => "uint",
        TypeCode.Int64 => "long", TypeCode.UInt64 => "ulong", TypeCode.Single => "float", TypeCode.Double => "double",
        TypeCode.Decimal => "decimal", TypeCode.String => "string",
        _ when t == typeof(object) => "object",
        _ when t == typeof(void) => "void",
        _ => null,
    };
}
