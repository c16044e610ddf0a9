using System.Text.Json.Nodes;
using Kiln.Registry.Records;

namespace Kiln.Registry.Tests;

public sealed class CanonicalJsonTests
{
    [Theory]
    [InlineData("""{"lr": 0.1, "bs": 32}""", """{"bs":32,"lr":0.1}""")]
    [InlineData("""{"b": {"z": 1, "a": [3, 1.0]}, "a": null}""", """{"a":null,"b":{"a":[3,1],"z":1}}""")]
    [InlineData("""{"lr": 1e-4, "wd": 3E-05, "n": 2.50, "m": -0.0}""", """{"lr":0.0001,"m":0,"n":2.5,"wd":3e-05}""")]
    [InlineData("""{"seed": 12345678901234567, "big": 1e30}""", """{"big":1e+30,"seed":12345678901234567}""")]
    [InlineData("""{"name": "naïve \"q\"", "ok": true}""", """{"name":"naïve \"q\"","ok":true}""")]
    public void Equal_values_have_one_text(string json, string canonical)
    {
        Assert.Equal(canonical, CanonicalJson.Normalize(json));
        Assert.Equal(canonical, CanonicalJson.Normalize(canonical));
    }

    [Fact]
    public void Absent_parameters_are_an_empty_object()
    {
        Assert.Equal("{}", CanonicalJson.Params(null));
        Assert.Equal(CanonicalJson.Params(new JsonObject { ["a"] = 1.0 }), CanonicalJson.Params(new JsonObject { ["a"] = 1 }));
    }

    [Fact]
    public void Fields_read_as_a_person_reads_them()
    {
        Assert.Equal([("a", "x y"), ("b", "0.0001"), ("c", "[1,2]"), ("d", "{\"e\":null}"), ("f", "true"), ("g", "null")],
            CanonicalJson.Fields(CanonicalJson.Normalize("""{"g": null, "f": true, "d": {"e": null}, "c": [1, 2], "b": 1e-4, "a": "x y"}""")));
        Assert.Empty(CanonicalJson.Fields(null));
        Assert.Empty(CanonicalJson.Fields("[1]"));
        Assert.Equal([("a", "1")], CanonicalJson.Fields("""{"a": 1, "b": """));
    }
}
