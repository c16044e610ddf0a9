namespace Kiln.Testing;

/// <summary>
/// The YAML of issue 11 that once killed or stalled a run or <c>kiln trials expand</c>: malformed flow collections, 1,000
/// levels of nesting, recursive aliases (the stack overflowed) and a few hundred bytes of nested aliases that expanded to
/// 9^9 strings (1.77 GB).
/// </summary>
public static class YamlProbes
{
    public const string Malformed = "lr: [0.1, 0.2\nseed: {";

    public static readonly string DeepFlow = "version: 1\nopt: {params: {lr: " + new string('[', 1000) + "0.1" + new string(']', 1000) + "}}\n";

    public static readonly string DeepBlock = "version: 1\n" + string.Concat(Enumerable.Range(0, 1000).Select(i => new string(' ', i) + "k:\n")) + new string(' ', 1000) + "v\n";

    public const string RecursiveSequence = "x: &a [1, *a]\n";

    public const string RecursiveMapping = "&a {self: *a}\n";

    /// <summary>"Billion laughs": 359 bytes whose aliases expand to 9^9 strings; the first alias of line 7 passes the limit.</summary>
    public const string BillionLaughs = """
        a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
        b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
        c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
        d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
        e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
        f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
        g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
        h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
        i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
        """;

    /// <summary>These and their relatives: a value out of range, a number too large, a tag that is no URI, a lone surrogate.</summary>
    public static readonly string[] All =
    [
        Malformed, DeepFlow, DeepBlock, RecursiveSequence, RecursiveMapping, BillionLaughs,
        "version: 1\nkernel: {debounce_steps: 100000000000}\n",
        "version: 1\nopt: {params: {lr: 1e400}}\n",
        "!<[>\n:\\\"",
        "x: \"\\ud800\"\n",
    ];
}
