using System.Globalization;
using System.Text;

namespace Kiln.Testing;

/// <summary>
/// Hostile input for the property tests: inbox lines that are no commands or damaged ones, JSON with text
/// that is not text, keys given twice, deep nesting and odd numbers, and YAML with the probes of issue 11
/// (<see cref="YamlProbes"/>). Every piece comes from a <see cref="Random"/>, so a failing case is reproduced from its seed.
/// </summary>
public static class BadInput
{
    public static readonly string[] Modules = ["opt", "loss", "cb", "core", "tune", "gauge", ""];
    public static readonly string[] Ops = ["set_params", "enable", "disable", "load", "unload", "freeze", "unfreeze", "explode"];
    private static readonly string[] Keys = ["cid", "ts", "source", "module", "op", "id", "params", "target", "init", "enabled", "lr", "cls_w", "kind", "path", "k", "x", "parms", "time_budget_s"];

    /// <summary>One inbox line (without its newline) that a writer might produce by mistake or by malice.</summary>
    public static byte[] Line(Random r) => r.Next(10) switch
    {
        0 => RandomBytes(r, r.Next(0, 120)),
        1 => Json(r, 0),
        2 => CommandShaped(r),
        3 => Damaged(r, GoodCommand(r, "bad-" + r.Next())),
        4 => GoodCommand(r, "torn-" + r.Next())[..r.Next(1, 30)],
        5 => Encoding.UTF8.GetBytes(new string('[', r.Next(60, 400)) + new string(']', r.Next(0, 400))),
        6 => Encoding.UTF8.GetBytes("{\"cid\":\"n" + r.Next() + "\",\"module\":\"opt\",\"op\":\"set_params\",\"params\":{\"lr\":" + Number(r) + "}}"),
        7 => [.. Encoding.UTF8.GetBytes("{\"cid\":\"u" + r.Next() + "\",\"module\":\"loss\",\"op\":\"set_params\",\"id\":"), .. String(r), .. "}"u8],
        8 => Encoding.UTF8.GetBytes("{\"cid\":\"d" + r.Next() + "\",\"module\":\"loss\",\"op\":\"set_params\",\"params\":{\"cls_w\":1,\"cls_w\":2}}"),
        _ => Json(r, 2),
    };

    /// <summary>A valid command to the loss's <c>cls_w</c> weight (applied by any kernel with the harness's loss).</summary>
    public static byte[] GoodCommand(Random r, string cid) =>
        Encoding.UTF8.GetBytes("{\"cid\":\"" + cid + "\",\"source\":\"test\",\"module\":\"loss\",\"op\":\"set_params\",\"params\":{\"cls_w\":"
            + r.Next(0, 100).ToString(CultureInfo.InvariantCulture) + "}}");

    public static byte[] RandomBytes(Random r, int length)
    {
        var bytes = new byte[length];
        r.NextBytes(bytes);
        return bytes;
    }

    /// <summary>A command with bytes added, removed or changed somewhere.</summary>
    public static byte[] Damaged(Random r, byte[] line)
    {
        var list = line.ToList();
        for (var n = r.Next(1, 4); n > 0; n--)
        {
            var at = r.Next(list.Count);
            switch (list.Count == 0 ? 0 : r.Next(3))
            {
                case 0: list.Insert(at, Hostile(r)); break;
                case 1: list.RemoveAt(at); break;
                default: list[at] = Hostile(r); break;
            }
        }
        return [.. list];
    }

    private static byte Hostile(Random r) => r.Next(6) switch
    {
        0 => 0xFF,
        1 => 0xC0,
        2 => 0x80,
        3 => 0xED,
        4 => (byte)"{}[]\":,\\"[r.Next(8)],
        _ => (byte)r.Next(256),
    };

    /// <summary>An object with command fields given odd values, some twice, some missing, some unknown.</summary>
    public static byte[] CommandShaped(Random r)
    {
        var sb = new List<byte>("{"u8.ToArray());
        var fields = r.Next(0, 9);
        for (var i = 0; i < fields; i++)
        {
            if (i > 0) sb.Add((byte)',');
            var key = Keys[r.Next(Keys.Length)];
            sb.AddRange(r.Next(8) == 0 ? String(r) : Encoding.UTF8.GetBytes("\"" + key + "\""));
            sb.Add((byte)':');
            sb.AddRange(key switch
            {
                "module" when r.Next(2) == 0 => Encoding.UTF8.GetBytes("\"" + Modules[r.Next(Modules.Length)] + "\""),
                "op" when r.Next(2) == 0 => Encoding.UTF8.GetBytes("\"" + Ops[r.Next(Ops.Length)] + "\""),
                _ => Json(r, 1),
            });
        }
        sb.Add((byte)'}');
        return [.. sb];
    }

    /// <summary>A JSON value (or almost one) whose strings and numbers are hostile.</summary>
    public static byte[] Json(Random r, int depth)
    {
        switch (depth > 3 ? r.Next(5) : r.Next(8))
        {
            case 0: return Encoding.UTF8.GetBytes(Number(r));
            case 1: return String(r);
            case 2: return "true"u8.ToArray();
            case 3: return "null"u8.ToArray();
            case 4: return RandomBytes(r, r.Next(0, 3));
            case 5:
            {
                var a = new List<byte> { (byte)'[' };
                for (var i = r.Next(0, 4); i > 0; i--)
                {
                    a.AddRange(Json(r, depth + 1));
                    if (i > 1) a.Add((byte)',');
                }
                a.Add((byte)']');
                return [.. a];
            }
            default:
            {
                var o = new List<byte> { (byte)'{' };
                for (var i = r.Next(0, 4); i > 0; i--)
                {
                    o.AddRange(r.Next(3) == 0 ? String(r) : Encoding.UTF8.GetBytes("\"" + Keys[r.Next(Keys.Length)] + "\""));
                    o.Add((byte)':');
                    o.AddRange(Json(r, depth + 1));
                    if (i > 1) o.Add((byte)',');
                }
                o.Add((byte)'}');
                return [.. o];
            }
        }
    }

    /// <summary>A JSON string token whose content may be no text: bad bytes, lone surrogate escapes, control characters.</summary>
    public static byte[] String(Random r)
    {
        var s = new List<byte> { (byte)'"' };
        for (var i = r.Next(0, 12); i > 0; i--)
        {
            s.AddRange(r.Next(12) switch
            {
                0 => [0xFF],
                1 => [0xED, 0xA0, 0x80],
                2 => [0xC3],
                3 => "\\ud800"u8.ToArray(),
                4 => "\\udc00\\ud800"u8.ToArray(),
                5 => "\\ud83d\\ude00"u8.ToArray(),
                6 => "é😀"u8.ToArray(),
                7 => "\\\""u8.ToArray(),
                8 => "\\u0000"u8.ToArray(),
                9 => [(byte)r.Next(0, 32)],
                _ => [(byte)r.Next('a', 'z' + 1)],
            });
        }
        s.Add((byte)'"');
        return [.. s];
    }

    public static string Number(Random r) => r.Next(8) switch
    {
        0 => "1e400",
        1 => "-1e-400",
        2 => "123456789012345678901234567890",
        3 => "-0",
        4 => "1E+308",
        5 => "0.5",
        6 => "01",
        _ => r.Next(-5, 100).ToString(CultureInfo.InvariantCulture),
    };

    private const string YamlAlphabet = "ab1: -?[]{},&*!|>'\"#%@`\n\t \\.0e+~<=";

    /// <summary>YAML text: a probe, a near-valid kiln.yaml with odd values, or characters of YAML's syntax at random.</summary>
    public static string Yaml(Random r)
    {
        switch (r.Next(4))
        {
            case 0:
                return YamlProbes.All[r.Next(YamlProbes.All.Length)];
            case 1:
            {
                var sb = new StringBuilder();
                for (var i = r.Next(1, 40); i > 0; i--)
                    sb.Append(r.Next(25) == 0 ? (char)r.Next(0, 0x10000) : YamlAlphabet[r.Next(YamlAlphabet.Length)]);
                return sb.ToString();
            }
            default:
            {
                var values = new[] { "1", "0", "-3", "1e-4", "1e400", ".inf", "yes", "~", "[1, 2]", "{a: 1}", "&x [1]", "*x", "\"\\ud800\"", "'q'", "[", "99999999999999999999", "!!str 5", "&y {k: *y}" };
                string V() => values[r.Next(values.Length)];
                var sb = new StringBuilder(r.Next(3) == 0 ? "" : "version: " + V() + "\n");
                var sections = new[] { "kernel", "opt", "loss", "callbacks", "tune", "x", "seed", "lr" };
                for (var i = r.Next(0, 5); i > 0; i--)
                {
                    var section = sections[r.Next(sections.Length)];
                    sb.Append(section).Append(':');
                    switch (r.Next(3))
                    {
                        case 0: sb.Append(' ').Append(V()).Append('\n'); break;
                        case 1: sb.Append(" {poll_interval_ms: ").Append(V()).Append(", debounce_steps: ").Append(V()).Append(", callback_time_budget_s: ").Append(V()).Append(", params: {lr: ").Append(V()).Append("}, bounds: {lr: ").Append(V()).Append("}}\n"); break;
                        default: sb.Append("\n  ").Append(sections[r.Next(sections.Length)]).Append(": ").Append(V()).Append("\n  id: ").Append(V()).Append('\n'); break;
                    }
                }
                return sb.ToString();
            }
        }
    }
}
