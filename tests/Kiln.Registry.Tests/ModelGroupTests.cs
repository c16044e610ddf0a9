using Kiln.Registry.Models;
using Kiln.Registry.Records;

namespace Kiln.Registry.Tests;

public sealed class ModelGroupTests
{
    private static RunRecord R(string id, string? fingerprint, double? start, string? summary = null) =>
        new() { Id = id, Kind = RunKinds.Train, Dir = "runs/" + id, Status = "completed", Start = start, Fingerprint = fingerprint, ArchitectureSummary = summary };

    [Fact]
    public void Groups_by_architecture_newest_group_and_newest_entry_first()
    {
        var groups = ModelGroup.From([R("a1", "A", 1, "old summary"), R("b1", "B", 2), R("a2", "A", 5, "A summary"), R("b2", "B", 3), R("x", null, 4), R("a0", "A", null)]);
        Assert.Equal(["A", null, "B"], groups.Select(g => g.Fingerprint));
        Assert.Equal(["a2", "a1", "a0"], groups[0].Models.Select(m => m.Id));
        Assert.Equal("A summary", groups[0].Summary);
        Assert.Equal(5, groups[0].Newest);
        Assert.Equal(["b2", "b1"], groups[2].Models.Select(m => m.Id));
    }
}
