using System.Collections;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Kiln.Experiments.Hashing;

/// <summary>
/// An unambiguous, typed encoding of a value, hashed with SHA-256. Every part is tagged with its kind and every
/// variable-length part is length-prefixed, so <c>("ab","c")</c> and <c>("a","bc")</c> differ (Dagster #34184) and so do
/// <c>1</c> and <c>"1"</c> (Hamilton's <c>md5(str(x))</c>). Records and classes are encoded by type name and their public
/// properties sorted by name; a value with nothing to encode, a cycle or a type that holds hidden state (streams,
/// pointers, tasks) is a <see cref="FingerprintException"/> naming the value's path — never a constant.
/// </summary>
public sealed class Fingerprint
{
    /// <summary>Nesting deeper than this is taken for a cycle (or a graph too large to be a parameter).</summary>
    public const int MaxDepth = 64;

    // The encoding is gathered here and hashed in one call when it is small (most keys are a few hundred bytes):
    // one hash update per tag would cost a native call each.
    private readonly byte[] _buffer = new byte[2048];
    private int _used;
    private IncrementalHash? _hash;
    private readonly Func<MethodInfo, string>? _code;

    /// <param name="code">How a delegate's code is named (its IL hash); without it, a delegate cannot be fingerprinted.</param>
    public Fingerprint(Func<MethodInfo, string>? code = null) => _code = code;

    /// <summary>The hex SHA-256 of <paramref name="value"/>'s encoding; <paramref name="what"/> names it in errors.</summary>
    public static string Of(object? value, string what, Func<MethodInfo, string>? code = null)
    {
        var f = new Fingerprint(code);
        f.Add(value, what);
        return f.Hex();
    }

    public string Hex()
    {
        if (_hash is null)
        {
            var hex = Convert.ToHexStringLower(SHA256.HashData(_buffer.AsSpan(0, _used)));
            _used = 0;
            return hex;
        }
        Flush();
        return Convert.ToHexStringLower(_hash.GetHashAndReset());
    }

    private void Append(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length <= _buffer.Length - _used)
        {
            bytes.CopyTo(_buffer.AsSpan(_used));
            _used += bytes.Length;
            return;
        }
        Flush();
        if (bytes.Length <= _buffer.Length)
        {
            bytes.CopyTo(_buffer);
            _used = bytes.Length;
        }
        else
        {
            _hash!.AppendData(bytes);
        }
    }

    private void Flush()
    {
        _hash ??= IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        _hash.AppendData(_buffer.AsSpan(0, _used));
        _used = 0;
    }

    /// <summary>Appends a tag and a length-prefixed string.</summary>
    public void AddString(string s)
    {
        Tag('s');
        var length = Encoding.UTF8.GetByteCount(s);
        Int(length);
        if (length <= _buffer.Length - _used)
        {
            Encoding.UTF8.GetBytes(s, _buffer.AsSpan(_used));
            _used += length;
        }
        else
        {
            Append(Encoding.UTF8.GetBytes(s));
        }
    }

    public void AddBytes(ReadOnlySpan<byte> bytes)
    {
        Tag('y');
        Int(bytes.Length);
        Append(bytes);
    }

    public void Add(object? value, string what) => Add(value, what, 0, null);

    /// <summary>Appends a parameter record: its type and hashed members, leaving out <c>Name</c>, <c>Overwrite</c> and <see cref="NotHashedAttribute"/> members.</summary>
    public void AddParams(ExperimentParams? p, string what)
    {
        if (p is null)
        {
            Tag('N');
            return;
        }
        Add(p, what, 0, ExperimentParams.Excluded);
    }

    private void Add(object? value, string what, int depth, IReadOnlySet<string>? exclude)
    {
        if (depth > MaxDepth) throw new FingerprintException($"{what}: nested more than {MaxDepth} levels deep (a cycle?); cannot fingerprint it");
        if (TryAddScalar(value)) return;
        switch (value)
        {
            case JsonNode node: Tag('j'); AddString(node.ToJsonString()); return;
            case byte[] bytes: AddBytes(bytes); return;
            case Delegate del: AddDelegate(del, what, depth); return;
            case Stream or Task or IntPtr or UIntPtr or Thread or WaitHandle or MemberInfo or Assembly:
                throw new FingerprintException($"{what}: a {value.GetType().Name} holds state outside its value; cannot fingerprint it (pass what it stands for: a path, a number, a record)");
        }
        var type = value!.GetType();
        if (value is IDictionary dict)
        {
            // Entries in the order of their keys' fingerprints: a dictionary's insertion order is not its value.
            var entries = new List<(string Key, object? Value, string Label)>();
            foreach (DictionaryEntry entry in dict)
            {
                var label = $"{what}[{entry.Key}]";
                entries.Add((Of(entry.Key, label, _code), entry.Value, label));
            }
            Tag('D');
            Int(entries.Count);
            foreach (var (key, v, label) in entries.OrderBy(e => e.Key, StringComparer.Ordinal))
            {
                AddString(key);
                Add(v, label, depth + 1, null);
            }
            return;
        }
        if (value is ITuple tuple)
        {
            Tag('U');
            Int(tuple.Length);
            for (var i = 0; i < tuple.Length; i++) Add(tuple[i], $"{what}.Item{i + 1}", depth + 1, null);
            return;
        }
        if (value is IEnumerable items)
        {
            var list = items.Cast<object?>().ToList();
            var kind = CollectionKind(type);
            Tag('L');
            AddString(kind);
            Int(list.Count);
            if (kind == "set")
            {
                // A set's enumeration order follows hash codes, which .NET randomizes per process: sort by fingerprint.
                foreach (var h in list.Select((x, i) => Of(x, $"{what}[{i}]", _code)).Order(StringComparer.Ordinal)) AddString(h);
                return;
            }
            for (var i = 0; i < list.Count; i++)
            {
                // Most items are numbers or strings: their label (only for errors) is not worth building.
                if (!TryAddScalar(list[i])) Add(list[i], $"{what}[{i}]", depth + 1, null);
            }
            return;
        }
        AddObject(value, type, what, depth, exclude);
    }

    /// <summary>Appends a value of a type that encodes without recursion; false for anything else.</summary>
    private bool TryAddScalar(object? value)
    {
        switch (value)
        {
            case null: Tag('N'); return true;
            case string s: AddString(s); return true;
            case bool b: Tag('b'); Append([b ? (byte)1 : (byte)0]); return true;
            case char c: Tag('c'); Int(c); return true;
            case Enum e: Tag('e'); AddString(e.GetType().FullName!); AddString(e.ToString("D")); return true;
            case int i: Tag('i'); Int(i); return true;
            case long l: Tag('l'); Long(l); return true;
            case short or sbyte or byte or ushort or uint: Tag('I'); AddString(value.GetType().Name); Long(Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture)); return true;
            case ulong ul: Tag('u'); Long(unchecked((long)ul)); return true;
            case double d: Tag('d'); Long(BitConverter.DoubleToInt64Bits(d == 0 ? 0.0 : d)); return true;
            case float f: Tag('f'); Int(BitConverter.SingleToInt32Bits(f == 0 ? 0f : f)); return true;
            case Half h: Tag('h'); Int(BitConverter.HalfToInt16Bits(h)); return true;
            case decimal m: Tag('m'); AddString(m.ToString(System.Globalization.CultureInfo.InvariantCulture)); return true;
            case DateTime dt: Tag('t'); Long(dt.Ticks); Int((int)dt.Kind); return true;
            case DateTimeOffset dto: Tag('T'); Long(dto.UtcTicks); return true;
            case TimeSpan ts: Tag('p'); Long(ts.Ticks); return true;
            case Guid g: Tag('g'); Span<byte> guid = stackalloc byte[16]; g.TryWriteBytes(guid); Append(guid); return true;
            case Type t: Tag('Y'); AddString(t.FullName ?? t.Name); return true;
            default: return false;
        }
    }

    private void AddObject(object value, Type type, string what, int depth, IReadOnlySet<string>? exclude)
    {
        var members = Members.GetValue(type, t => [.. t.GetProperties(BindingFlags.Public | BindingFlags.Instance)
                .Where(p => p.CanRead && p.GetIndexParameters().Length == 0)
                .Select(p => (Member: (MemberInfo)p, p.Name))
                .Concat(t.GetFields(BindingFlags.Public | BindingFlags.Instance).Select(f => (Member: (MemberInfo)f, f.Name)))
                .Where(m => !m.Member.IsDefined(typeof(NotHashedAttribute), true) && !m.Member.IsDefined(typeof(CompilerGeneratedAttribute), false))
                .Where(m => m.Name != "EqualityContract")
                .OrderBy(m => m.Name, StringComparer.Ordinal)])
            .Where(m => exclude is null || !exclude.Contains(m.Name))
            .ToList();
        if (members.Count == 0 && exclude is null)
            throw new FingerprintException($"{what}: a {type.FullName} has no public properties or fields to fingerprint; give it some, or pass its values instead");
        Tag('O');
        AddString(type.FullName ?? type.Name);
        Int(members.Count);
        foreach (var (member, name) in members)
        {
            AddString(name);
            var v = member is PropertyInfo p ? p.GetValue(value) : ((FieldInfo)member).GetValue(value);
            Add(v, $"{what}.{name}", depth + 1, null);
        }
    }

    /// <summary>A delegate is its code and what it captured: a closure's captured values change what it computes (Prefect #23062).</summary>
    private void AddDelegate(Delegate del, string what, int depth)
    {
        if (_code is null) throw new FingerprintException($"{what}: a delegate's code cannot be fingerprinted here");
        foreach (var d in del.GetInvocationList())
        {
            Tag('F');
            AddString(_code(d.Method));
            if (d.Target is { } target) AddCaptured(target, $"{what} (captured by {d.Method.Name})", depth + 1);
            else Tag('N');
        }
    }

    /// <summary>The fields of a delegate's target (a closure's captured variables, private ones included).</summary>
    public void AddCaptured(object target, string what, int depth = 0)
    {
        var fields = target.GetType().GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance)
            .OrderBy(f => f.Name, StringComparer.Ordinal).ToList();
        Tag('C');
        AddString(target.GetType().FullName ?? "");
        Int(fields.Count);
        foreach (var f in fields)
        {
            AddString(f.Name);
            Add(f.GetValue(target), $"{what}.{f.Name}", depth + 1, null);
        }
    }

    // A list and a set of the same items are different values; List<T> and T[] are the same sequence.
    private static string CollectionKind(Type type) => Kinds.GetValue(type, t =>
        t.GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(ISet<>)) ? "set" : "seq");

    // Per type, computed once (weakly held: a collectible experiment assembly can still unload).
    private static readonly ConditionalWeakTable<Type, string> Kinds = new();
    private static readonly ConditionalWeakTable<Type, (MemberInfo Member, string Name)[]> Members = new();

    private void Tag(char c)
    {
        if (_used == _buffer.Length) Flush();
        _buffer[_used++] = (byte)c;
    }

    private void Int(int v)
    {
        Span<byte> b = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(b, v);
        Append(b);
    }

    private void Long(long v)
    {
        Span<byte> b = stackalloc byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(b, v);
        Append(b);
    }
}
