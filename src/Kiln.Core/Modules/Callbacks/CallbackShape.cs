using System.Reflection;
using System.Text.Json.Nodes;
using Kiln.Protocol;

namespace Kiln.Modules.Callbacks;

/// <summary>
/// Whether a type is a callback, and how to call it. A callback implements <see cref="IKilnCallback"/>, or, like seed
/// 001's structurally typed protocol, has its members by name and signature: a string <c>Id</c> (property or field),
/// <c>void Handle(string evt, env)</c> and <c>void SetParams(params)</c>, and optionally <c>void OnAttach(env)</c> and
/// <c>void Close()</c> — env a <see cref="KernelEnv"/> or a dictionary view of it (<see cref="KernelEnvView"/>), params a
/// <see cref="JsonObject"/> or a dictionary of plain values. Nothing is cached per type: a collectible load context
/// stays free to unload.
/// </summary>
public sealed class CallbackShape
{
    /// <summary>The end of every "not a callback" error.</summary>
    public const string Requirement = "a callback implements IKilnCallback or has Id, Handle(string, env) and SetParams(params) (see docs/callbacks.md)";

    private const string EnvTypes = "KernelEnv, IDictionary<string, object?> or IReadOnlyDictionary<string, object?>";
    private const string ParamsTypes = "JsonObject, IDictionary<string, object?> or IReadOnlyDictionary<string, object?>";

    private readonly MemberInfo? _id;
    private readonly MethodInfo? _handle, _setParams, _onAttach, _close;

    private CallbackShape(Type type, bool implements, List<string> problems, MemberInfo? id = null,
        MethodInfo? handle = null, MethodInfo? setParams = null, MethodInfo? onAttach = null, MethodInfo? close = null)
    {
        Type = type;
        Implements = implements;
        Problems = problems;
        (_id, _handle, _setParams, _onAttach, _close) = (id, handle, setParams, onAttach, close);
    }

    public Type Type { get; }

    /// <summary>The type implements <see cref="IKilnCallback"/>: its instances are callbacks as they are.</summary>
    public bool Implements { get; }

    /// <summary>What the type lacks or has with the wrong signature, each as "has …"; empty for a callback.</summary>
    public IReadOnlyList<string> Problems { get; }

    public bool IsCallback => Problems.Count == 0;

    /// <summary><c>Foo has no Handle(string evt, KernelEnv env) method; a callback implements …</c></summary>
    public string Error => $"{Type.FullName ?? Type.Name} {Join(Problems)}; {Requirement}";

    /// <summary>Whether <paramref name="type"/> implements <see cref="IKilnCallback"/> or has its shape.</summary>
    public static bool Fits(Type type) => Of(type).IsCallback;

    public static CallbackShape Of(Type type)
    {
        if (typeof(IKilnCallback).IsAssignableFrom(type)) return new(type, implements: true, []);
        var problems = new List<string>();
        var id = FindId(type, problems);
        var handle = FindMethod(type, "Handle", ps => ps.Length == 2 && ps[0] == typeof(string) ? EnvRank(ps[1]) : null,
            $"Handle(string evt, env) with env {EnvTypes}", required: "Handle(string evt, KernelEnv env)", problems);
        var setParams = FindMethod(type, "SetParams", ps => ps.Length == 1 ? ParamsRank(ps[0]) : null,
            $"SetParams(params) with params {ParamsTypes}", required: "SetParams(JsonObject parameters)", problems);
        var onAttach = FindMethod(type, "OnAttach", ps => ps.Length == 1 ? EnvRank(ps[0]) : null,
            $"OnAttach(env) with env {EnvTypes}", required: null, problems);
        var close = FindMethod(type, "Close", ps => ps.Length == 0 ? 0 : null, "Close()", required: null, problems);
        return new(type, implements: false, problems, id, handle, setParams, onAttach, close);
    }

    /// <summary>An instance of a callback type or of a type of its shape, as the kernel calls it.</summary>
    public static IKilnCallback Adapt(object callback) => callback as IKilnCallback ?? Of(callback.GetType()).Bind(callback);

    /// <summary>Binds an instance of this type: itself when it implements the interface, else a <see cref="StructuralCallback"/>.</summary>
    public IKilnCallback Bind(object instance)
    {
        if (!IsCallback) throw new ProtocolException("target: " + Error);
        if (Implements) return (IKilnCallback)instance;
        var view = TakesView(_handle!, 1) || (_onAttach is not null && TakesView(_onAttach, 0)) ? new KernelEnvView(new KernelEnv()) : null;
        return new StructuralCallback(instance, BindId(instance), BindHandle(instance, view), BindSetParams(instance),
            _onAttach is null ? null : BindOnAttach(instance, view), _close?.CreateDelegate<Action>(instance));
    }

    private Func<string?> BindId(object instance) => _id switch
    {
        PropertyInfo p => p.GetMethod!.CreateDelegate<Func<string?>>(instance),
        FieldInfo f => () => (string?)f.GetValue(instance),
        _ => throw new InvalidOperationException("no Id"),
    };

    // Dictionary-typed parameters bind to the concrete view or dictionary: a delegate may pass a more derived argument.
    private Action<string, KernelEnv> BindHandle(object instance, KernelEnvView? view)
    {
        if (!TakesView(_handle!, 1)) return _handle!.CreateDelegate<Action<string, KernelEnv>>(instance);
        var handle = _handle!.CreateDelegate<Action<string, KernelEnvView>>(instance);
        return (evt, env) => handle(evt, view!.On(env));
    }

    private Action<KernelEnv> BindOnAttach(object instance, KernelEnvView? view)
    {
        if (!TakesView(_onAttach!, 0)) return _onAttach!.CreateDelegate<Action<KernelEnv>>(instance);
        var attach = _onAttach!.CreateDelegate<Action<KernelEnvView>>(instance);
        return env => attach(view!.On(env));
    }

    private Action<JsonObject> BindSetParams(object instance)
    {
        if (_setParams!.GetParameters()[0].ParameterType == typeof(JsonObject)) return _setParams.CreateDelegate<Action<JsonObject>>(instance);
        var set = _setParams.CreateDelegate<Action<Dictionary<string, object?>>>(instance);
        return p => set(PlainJson.ToDictionary(p));
    }

    private static bool TakesView(MethodInfo m, int parameter) => m.GetParameters()[parameter].ParameterType != typeof(KernelEnv);

    /// <summary>0 for the env itself, 1 for a dictionary view (the env is preferred when both overloads exist), null for neither.</summary>
    private static int? EnvRank(Type t) =>
        t == typeof(KernelEnv) ? 0 : t == typeof(IDictionary<string, object?>) || t == typeof(IReadOnlyDictionary<string, object?>) ? 1 : null;

    private static int? ParamsRank(Type t) =>
        t == typeof(JsonObject) ? 0 : t == typeof(IDictionary<string, object?>) || t == typeof(IReadOnlyDictionary<string, object?>) ? 1 : null;

    private static MemberInfo? FindId(Type type, List<string> problems)
    {
        MemberInfo? id = type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.Name == "Id" && p.GetMethod is { IsPublic: true } && p.GetIndexParameters().Length == 0)
            .OrderBy(p => p.PropertyType == typeof(string) ? 0 : 1)
            .FirstOrDefault();
        id ??= type.GetField("Id", BindingFlags.Public | BindingFlags.Instance);
        if (id is null)
        {
            problems.Add("has no Id property or field" + Hint(type, "Id"));
            return null;
        }
        var t = id is PropertyInfo p ? p.PropertyType : ((FieldInfo)id).FieldType;
        if (t == typeof(string)) return id;
        problems.Add($"has an Id of type {TypeNames.Show(t)}, not string");
        return null;
    }

    /// <summary>
    /// The public instance method <paramref name="name"/> returning void whose parameter types <paramref name="rank"/>
    /// accepts (the lowest rank wins). A required method that is missing, or any method of that name with no fitting
    /// overload, is a problem: an optional member with the wrong signature would otherwise never be called, silently.
    /// </summary>
    private static MethodInfo? FindMethod(Type type, string name, Func<Type[], int?> rank, string expected, string? required, List<string> problems)
    {
        var named = type.GetMethods(BindingFlags.Public | BindingFlags.Instance).Where(m => m.Name == name && !m.IsGenericMethodDefinition).ToList();
        var best = named
            .Where(m => m.ReturnType == typeof(void))
            .Select(m => (Method: m, Rank: rank(m.GetParameters().Select(p => p.ParameterType).ToArray())))
            .Where(c => c.Rank is not null)
            .OrderBy(c => c.Rank)
            .Select(c => c.Method)
            .FirstOrDefault();
        if (best is not null) return best;
        if (named.Count > 0)
            problems.Add($"has {string.Join(" and ", named.Select(Signature))}, which does not fit {expected}, returning void");
        else if (required is not null)
            problems.Add($"has no {required} method{Hint(type, name)}");
        return null;
    }

    private static string Signature(MethodInfo m) =>
        (m.ReturnType == typeof(void) ? "" : TypeNames.Show(m.ReturnType) + " ") + m.Name + TypeNames.Parameters(m);

    /// <summary>Why a member was not found, when the reason is near: it is private or static, or spelled another way (<c>set_params</c>).</summary>
    private static string Hint(Type type, string name)
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static;
        var members = type.GetMembers(all);
        if (members.Any(m => m.Name == name)) return $" ({name} must be public and not static)";
        var near = members.FirstOrDefault(m => IsPublicInstance(m) && Normalize(m.Name) == Normalize(name));
        return near is null ? "" : $" (it has {near.Name}; the names are case-sensitive)";
    }

    private static string Normalize(string name) => name.Replace("_", "", StringComparison.Ordinal).ToUpperInvariant();

    private static bool IsPublicInstance(MemberInfo m) => m switch
    {
        MethodInfo x => x.IsPublic && !x.IsStatic,
        FieldInfo x => x.IsPublic && !x.IsStatic,
        PropertyInfo x => x.GetMethod is { IsPublic: true, IsStatic: false },
        _ => false,
    };

    private static string Join(IReadOnlyList<string> parts) =>
        parts.Count <= 1 ? string.Concat(parts) : string.Join(", ", parts.Take(parts.Count - 1)) + " and " + parts[^1];
}
