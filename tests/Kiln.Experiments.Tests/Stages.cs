using Kiln.Experiments.Caching;

namespace Kiln.Experiments.Tests;

/// <summary>Stages the pipeline tests run; each counts its calls, and some read knobs the tests turn.</summary>
internal static class Stages
{
    public static readonly Dictionary<string, int> Calls = [];

    /// <summary>What <see cref="Thing1"/> adds: a test changes it to make thing1's output differ.</summary>
    public static int Offset;

    public static void Reset()
    {
        Calls.Clear();
        Offset = 0;
    }

    public static int Count(string stage) => Calls.GetValueOrDefault(stage);

    private static void Hit(string stage) => Calls[stage] = Count(stage) + 1;

    [Stage("thing1", Cachers = [typeof(JsonCacher)])]
    public static int[] Thing1(Record record)
    {
        Hit("thing1");
        var p = (P)record.Params!;
        return [p.A, p.B + Offset];
    }

    [Stage("thing2", Cachers = [typeof(JsonCacher)])]
    public static int Thing2(Record record, int[] thing1)
    {
        Hit("thing2");
        return thing1.Sum();
    }

    [Stage]
    public static void Leaf(Record record, int thing2)
    {
        Hit("leaf");
    }

    [Aggregate("total", Cachers = [typeof(JsonCacher)])]
    public static int Total(Record record, IReadOnlyList<Record> records, IReadOnlyDictionary<Record, int> thing2)
    {
        Hit("total");
        return thing2.Values.Sum();
    }

    [Stage("free")]
    public static Stream Free(Record record)
    {
        Hit("free");
        return new MemoryStream();
    }

    [Stage("after_free", Cachers = [typeof(JsonCacher)])]
    public static int AfterFree(Record record, Stream free) => 1;

    [Stage("model", Cachers = [typeof(JsonCacher)], Lazy = ["model"])]
    public static double[] Model(Record record)
    {
        Hit("model");
        return [1.5, 2.5];
    }

    [Stage("path")]
    public static string PathOf(Record record, LazyArtifact model) => model.Path!;

    [Stage("bad_lazy", Lazy = ["bad_lazy"])]
    public static int BadLazy(Record record) => 1;

    [Stage("a", "b", Cachers = [typeof(JsonCacher)])]
    public static (int, int) Mismatch(Record record) => (1, 2);

    [Stage("a", Cachers = [])]
    public static int Empty(Record record) => 1;

    [Stage("a", "b")]
    public static int NotATuple(Record record) => 1;

    [Stage("c", Inputs = ["nope"])]
    public static int WrongInput(Record record, int thing1) => 1;

    [Stage("d")]
    public static int Missing(Record record, int nowhere) => 1;

    [Stage("e", SuppressMissingInputs = true)]
    public static int Suppressed(Record record, int nowhere = 7) => nowhere;

    [Stage("boom", Cachers = [typeof(JsonCacher)])]
    public static int Boom(Record record) => throw new InvalidOperationException("kaboom");
}
