using System.Collections.Concurrent;
using System.Reflection;
using System.Reflection.Emit;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;

namespace Kiln.Experiments.Hashing;

/// <summary>
/// The version of a stage's code: a hash of the IL of the stage method and of every method it reaches in user
/// assemblies — calls, constructors, lambdas (<c>ldftn</c>), async and iterator state machines, the static
/// initializers of types whose static fields it reads, and the overrides of virtual or interface methods it calls.
/// Metadata tokens are replaced by the names of what they refer to, so a comment or whitespace edit (and an unrelated
/// method added to the file) changes nothing, while an edit of a called helper re-runs the stage — the gap of Hamilton,
/// Prefect (#23062) and Dagster (#15242), whose code versions miss called helpers.
/// Code outside user assemblies (the BCL, Kiln, packages) is named, not read: its version is the environment's.
/// </summary>
public sealed class CodeHasher
{
    private readonly Func<Assembly, bool> _isUser;
    private readonly ConcurrentDictionary<MethodBase, (string Body, MethodBase[] Callees)> _bodies = new();
    private readonly ConcurrentDictionary<MethodBase, string> _closures = new();

    /// <param name="isUser">Which assemblies hold user code whose IL is read.</param>
    public CodeHasher(Func<Assembly, bool> isUser) => _isUser = isUser;

    /// <summary>User code: compiled experiment sources, and the given assemblies (a test's own).</summary>
    public static CodeHasher ForUserAssemblies(params Assembly[] user)
    {
        var set = new HashSet<Assembly>(user);
        return new CodeHasher(a => set.Contains(a) || a.GetName().Name?.StartsWith("kiln-script-", StringComparison.Ordinal) == true);
    }

    /// <summary>The hex SHA-256 over <paramref name="method"/> and everything it reaches in user code.</summary>
    public string Of(MethodBase method) => _closures.GetOrAdd(Definition(method), m =>
    {
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        var queue = new Queue<MethodBase>();
        queue.Enqueue(m);
        var visited = new HashSet<MethodBase>();
        while (queue.Count > 0)
        {
            var next = queue.Dequeue();
            if (!visited.Add(next)) continue;
            var (body, callees) = _bodies.GetOrAdd(next, Read);
            seen[Identity(next)] = body;
            foreach (var c in callees) queue.Enqueue(c);
        }
        var f = new Fingerprint();
        f.AddString(Identity(m));
        foreach (var (id, body) in seen.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            f.AddString(id);
            f.AddString(body);
        }
        return f.Hex();
    });

    /// <summary>A method's canonical body (hashed) and the user methods it reaches.</summary>
    private (string Body, MethodBase[] Callees) Read(MethodBase method)
    {
        var callees = new List<MethodBase>();
        var sb = new StringBuilder();
        sb.Append(Identity(method)).Append('\n');
        if (method.GetCustomAttribute<StateMachineAttribute>() is { } sm)
        {
            // An async method or iterator is a stub; its code is the state machine's MoveNext.
            if (sm.StateMachineType.GetMethod("MoveNext", BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public) is { } moveNext)
                callees.Add(moveNext);
        }
        var body = method.GetMethodBody();
        if (body?.GetILAsByteArray() is not { } il) return (Sha(sb.ToString()), [.. callees]);
        foreach (var local in body.LocalVariables) sb.Append("local ").Append(local.LocalType.FullName).Append('\n');
        foreach (var clause in body.ExceptionHandlingClauses)
        {
            sb.Append("try ").Append(clause.Flags).Append(' ').Append(clause.TryOffset).Append(' ').Append(clause.TryLength)
                .Append(' ').Append(clause.HandlerOffset).Append(' ').Append(clause.HandlerLength);
            if (clause.Flags == ExceptionHandlingClauseOptions.Clause) sb.Append(' ').Append(clause.CatchType?.FullName);
            sb.Append('\n');
        }
        var module = method.Module;
        var typeArgs = method.DeclaringType is { IsGenericType: true } dt ? dt.GetGenericArguments() : null;
        var methodArgs = method is MethodInfo { IsGenericMethod: true } gm ? gm.GetGenericArguments() : null;
        foreach (var ins in IlReader.Read(il))
        {
            sb.Append(ins.OpCode.Name);
            if (IlReader.IsToken(ins.OpCode.OperandType))
            {
                var token = BitConverter.ToInt32(il, ins.OperandOffset);
                sb.Append(' ').Append(Resolve(module, token, ins.OpCode.OperandType, typeArgs, methodArgs, callees));
            }
            else if (ins.OperandLength > 0)
            {
                sb.Append(' ').Append(Convert.ToHexString(il, ins.OperandOffset, ins.OperandLength));
            }
            sb.Append('\n');
        }
        return (Sha(sb.ToString()), [.. callees]);
    }

    private string Resolve(Module module, int token, OperandType kind, Type[]? typeArgs, Type[]? methodArgs, List<MethodBase> callees)
    {
        try
        {
            switch (kind)
            {
                case OperandType.InlineString:
                    return "\"" + module.ResolveString(token) + "\"";
                case OperandType.InlineSig:
                    return Convert.ToHexString(module.ResolveSignature(token));
                case OperandType.InlineField:
                {
                    var field = module.ResolveField(token, typeArgs, methodArgs)!;
                    if (field.IsStatic && field.DeclaringType is { } owner && _isUser(owner.Assembly) && owner.TypeInitializer is { } cctor)
                        callees.Add(Definition(cctor));
                    return $"{field.DeclaringType?.FullName}::{field.Name}";
                }
                case OperandType.InlineType:
                    return module.ResolveType(token, typeArgs, methodArgs).FullName ?? "?";
                default:
                {
                    var member = module.ResolveMember(token, typeArgs, methodArgs)!;
                    if (member is MethodBase target)
                    {
                        Follow(target, callees);
                        return Identity(target);
                    }
                    return member is Type t ? t.FullName ?? t.Name : $"{member.DeclaringType?.FullName}::{member.Name}";
                }
            }
        }
        catch (Exception ex) when (ex is ArgumentException or BadImageFormatException or TypeLoadException or MissingMemberException)
        {
            // A token that does not resolve cannot be named: the raw token is still part of the key (never dropped).
            return $"token:{token:x8}";
        }
    }

    private void Follow(MethodBase target, List<MethodBase> callees)
    {
        var type = target.DeclaringType;
        if (type is null || !_isUser(type.Assembly)) return;
        var definition = Definition(target);
        if (!definition.IsAbstract) callees.Add(definition);
        if (!target.IsVirtual || target is not MethodInfo method) return;
        // A virtual call may land in any override in user code: each is part of what the stage may run.
        foreach (var candidate in SafeTypes(type.Assembly))
        {
            if (candidate == type || candidate.IsInterface || !type.IsAssignableFrom(candidate) || candidate.ContainsGenericParameters && !type.IsGenericTypeDefinition) continue;
            if (type.IsInterface)
            {
                try
                {
                    var map = candidate.GetInterfaceMap(type);
                    var i = Array.IndexOf(map.InterfaceMethods, method);
                    if (i >= 0 && map.TargetMethods[i].DeclaringType?.Assembly is { } a && _isUser(a)) callees.Add(Definition(map.TargetMethods[i]));
                }
                catch (ArgumentException)
                {
                }
            }
            else
            {
                var parameters = method.GetParameters().Select(p => p.ParameterType).ToArray();
                var over = candidate.GetMethod(method.Name, BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly, null, parameters, null);
                if (over is not null && over.GetBaseDefinition() == method.GetBaseDefinition()) callees.Add(Definition(over));
            }
        }
    }

    private static IEnumerable<Type> SafeTypes(Assembly assembly)
    {
        try
        {
            return assembly.GetTypes();
        }
        catch (ReflectionTypeLoadException ex)
        {
            return ex.Types.OfType<Type>();
        }
    }

    /// <summary>The generic definition of a method (its IL is the same for every instantiation).</summary>
    private static MethodBase Definition(MethodBase m)
    {
        if (m is MethodInfo { IsGenericMethod: true, IsGenericMethodDefinition: false } gm) m = gm.GetGenericMethodDefinition();
        if (m.DeclaringType is { IsGenericType: true, IsGenericTypeDefinition: false } dt)
            m = MethodBase.GetMethodFromHandle(m.MethodHandle, dt.GetGenericTypeDefinition().TypeHandle) ?? m;
        return m;
    }

    private static string Identity(MethodBase m) => $"{m.DeclaringType?.FullName}::{m}";

    private static string Sha(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}
