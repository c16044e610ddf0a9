using Kiln.Server.Security;
using Kiln.Testing;

namespace Kiln.Server.Tests;

/// <summary>Resolving paths as the operating system does, with real links: what the confinement of the served directory stands on.</summary>
public sealed class ConfinementTests : IDisposable
{
    private readonly TempDir _dir = new("confine");

    public void Dispose() => _dir.Dispose();

    private string P(string relative) => Path.Combine(_dir.Path, relative);

    [Fact]
    public void Links_are_followed_part_by_part_and_dot_dot_in_a_link_climbs_from_where_it_leads()
    {
        _dir.Sub("root/in");
        _dir.Sub("elsewhere/deep");
        Directory.CreateSymbolicLink(P("root/jump"), P("elsewhere/deep"));
        File.CreateSymbolicLink(P("root/in/chain"), "../jump/file");
        var real = Confinement.Resolve(_dir.Path)!;
        Assert.Equal(Path.Combine(real, "elsewhere", "deep", "file"), Confinement.Resolve(P("root/in/chain")));
        // A path is made absolute as .NET opens it (root/jump/.. is root); inside a link's target the system climbs
        // from where the link leads.
        Assert.Equal(Path.Combine(real, "root", "x"), Confinement.Resolve(P("root/jump/../x")));
        File.CreateSymbolicLink(P("root/in/up"), "../jump/../x");
        Assert.Equal(Path.Combine(real, "elsewhere", "x"), Confinement.Resolve(P("root/in/up")));
        var root = new Confinement(P("root"));
        Assert.True(root.Holds(P("root/in/missing/file")));
        Assert.False(root.Holds(P("root/in/chain")));
        Assert.False(root.Holds(P("root/in/up")));
        Assert.False(root.Holds(P("root/../root-sibling")));
        Assert.False(root.Holds(P("root-other")));
        Assert.True(root.Holds(P("root")));
    }

    [Fact]
    public void Links_that_loop_resolve_to_nothing()
    {
        File.CreateSymbolicLink(P("a"), "b");
        File.CreateSymbolicLink(P("b"), "a");
        Assert.Null(Confinement.Resolve(P("a")));
        Assert.False(new Confinement(_dir.Path).Holds(P("a")));
    }

    [Fact]
    public void Only_links_among_the_named_files_that_lead_out_are_reported()
    {
        _dir.Sub("root/run");
        File.WriteAllText(P("outside.txt"), "x");
        File.WriteAllText(P("root/inside.txt"), "x");
        File.CreateSymbolicLink(P("root/run/in"), "../inside.txt");
        File.CreateSymbolicLink(P("root/run/out"), P("outside.txt"));
        File.CreateSymbolicLink(P("root/run/dangling-out"), P("no-such-file"));
        var root = new Confinement(P("root"));
        Assert.Null(root.LinkOut(P("root/run"), ["in", "missing"]));
        Assert.Equal("out", root.LinkOut(P("root/run"), ["in", "out"]));
        Assert.Equal("dangling-out", root.LinkOut(P("root/run"), ["dangling-out"]));
    }
}
