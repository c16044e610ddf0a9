using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using Kiln.Protocol;

namespace Kiln.Modules.Callbacks;

/// <summary>
/// Creates a callback from its type — one that implements <see cref="IKilnCallback"/> or has its shape (see
/// <see cref="CallbackShape"/>): <c>init</c> keys bind to constructor parameters by name
/// (<c>log_every</c> matches <c>logEvery</c>), a parameter named <c>id</c> gets the callback's id,
/// and optional parameters keep their defaults.
/// </summary>
public static class CallbackFactory
{
    public static IKilnCallback Create(Type type, string id, JsonObject? init)
    {
        var shape = CallbackShape.Of(type);
        if (!shape.IsCallback) throw new ProtocolException("target: " + shape.Error);
        if (type.IsAbstract || type.IsInterface || type.ContainsGenericParameters)
            throw new ProtocolException($"{type.FullName} cannot be instantiated (abstract, interface or open generic)");
        var given = init ?? [];
        // Fresh options per creation: a shared options object would cache the callback's parameter types, and a
        // cached type keeps a collectible load context from ever unloading.
        var json = new JsonSerializerOptions { TypeInfoResolver = new DefaultJsonTypeInfoResolver(), PropertyNameCaseInsensitive = true };
        string? lastError = null;
        foreach (var ctor in type.GetConstructors().OrderByDescending(c => c.GetParameters().Length))
        {
            var args = TryBind(ctor, id, given, json, out lastError);
            if (args is not null) return shape.Bind(ctor.Invoke(args));
        }
        throw new ProtocolException($"init: no constructor of {type.FullName} fits ({lastError ?? "it has no public constructor"}); constructors: {Describe(type)}");
    }

    private static object?[]? TryBind(ConstructorInfo ctor, string id, JsonObject init, JsonSerializerOptions json, out string? error)
    {
        error = null;
        var ps = ctor.GetParameters();
        var args = new object?[ps.Length];
        var used = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < ps.Length; i++)
        {
            var p = ps[i];
            var key = FindKey(init, p.Name!);
            if (key is not null)
            {
                used.Add(key);
                try
                {
                    args[i] = init[key] is null ? null : init[key]!.Deserialize(p.ParameterType, json);
                }
                catch (JsonException)
                {
                    error = $"init.{key}: expected {TypeNames.Show(p.ParameterType)}, got {JsonValues.Show(init[key])}";
                    return null;
                }
            }
            else if (p.Name == "id" && p.ParameterType == typeof(string)) args[i] = id;
            else if (p.HasDefaultValue) args[i] = p.DefaultValue;
            else
            {
                error = $"init: missing '{p.Name}'";
                return null;
            }
        }
        var unused = init.Select(kv => kv.Key).Where(k => !used.Contains(k)).ToList();
        if (unused.Count > 0)
        {
            error = $"init: no constructor parameter for {string.Join(", ", unused.Select(u => $"'{u}'"))}";
            return null;
        }
        return args;
    }

    private static string? FindKey(JsonObject init, string parameter)
    {
        foreach (var (k, _) in init)
        {
            if (string.Equals(k, parameter, StringComparison.OrdinalIgnoreCase)
                || string.Equals(k.Replace("_", "", StringComparison.Ordinal), parameter, StringComparison.OrdinalIgnoreCase))
                return k;
        }
        return null;
    }

    private static string Describe(Type type)
    {
        var ctors = type.GetConstructors();
        return ctors.Length == 0 ? "none" : string.Join(" | ", ctors.Select(TypeNames.Parameters));
    }
}
