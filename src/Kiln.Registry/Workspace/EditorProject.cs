using System.Security;
using System.Text;

namespace Kiln.Registry.Workspace;

/// <summary>
/// The <c>&lt;name&gt;.csproj</c> that <c>kiln workspace init</c> writes so editors give IntelliSense in
/// <c>experiments/</c>, <c>params/</c> and <c>callbacks/</c>. Kiln never builds it: it compiles those files itself
/// (Kiln.Scripting, Roslyn) against its own assemblies, with the same implicit usings as here. The project references
/// the Kiln SDK assemblies by path, from <c>$(KilnHome)</c>: the folder of the kiln that wrote it, or <c>$KILN_HOME</c>
/// when set. Its build output goes to <c>.kiln/bin</c> and <c>.kiln/obj</c>, out of the way and ignored by git.
/// </summary>
public static class EditorProject
{
    /// <summary>The assemblies user code compiles against (the callbacks, train functions, experiments and the SDK hooks).</summary>
    public static readonly IReadOnlyList<string> SdkAssemblies = ["Kiln.Core", "Kiln.Train"];

    /// <summary>The global usings Kiln adds when it compiles a user source (Kiln.Scripting's ScriptCompiler.ImplicitUsings).</summary>
    public static readonly IReadOnlyList<string> ImplicitUsings =
    [
        "System", "System.Collections.Generic", "System.IO", "System.Linq", "System.Threading", "System.Threading.Tasks",
        "System.Text.Json.Nodes", "Kiln.Kernel", "Kiln.Modules", "Kiln.Modules.Callbacks", "Kiln.Runs",
    ];

    /// <summary>The folders whose <c>.cs</c> files are the workspace's code.</summary>
    public static readonly IReadOnlyList<string> SourceFolders = ["experiments", "params", "callbacks"];

    /// <summary>The file name for a workspace called <paramref name="name"/>: characters a file name should not hold become '_'.</summary>
    public static string FileName(string name)
    {
        var sb = new StringBuilder();
        foreach (var c in name.Trim()) sb.Append(char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' ? c : '_');
        var stem = sb.ToString().Trim('.');
        return (stem.Length == 0 ? "workspace" : stem) + ".csproj";
    }

    public static string Render(string name, string kilnHome)
    {
        string X(string s) => SecurityElement.Escape(s);
        var sb = new StringBuilder();
        sb.Append($"""
            <!--
              The editor project of the Kiln workspace "{X(name).Replace("--", "- -", StringComparison.Ordinal)}", written by `kiln workspace init`.
              It only gives editors IntelliSense for experiments/, params/ and callbacks/: kiln compiles those files
              itself, against the same assemblies and implicit usings. KilnHome is the folder of the kiln assemblies;
              set the KILN_HOME environment variable (or edit the default below) when kiln moves.
            -->
            <Project>
              <PropertyGroup>
                <BaseIntermediateOutputPath>.kiln/obj/</BaseIntermediateOutputPath>
                <BaseOutputPath>.kiln/bin/</BaseOutputPath>
              </PropertyGroup>
              <Import Project="Sdk.props" Sdk="Microsoft.NET.Sdk" />
              <PropertyGroup>
                <TargetFramework>net10.0</TargetFramework>
                <OutputType>Library</OutputType>
                <Nullable>enable</Nullable>
                <ImplicitUsings>disable</ImplicitUsings>
                <EnableDefaultItems>false</EnableDefaultItems>
                <KilnHome Condition="'$(KilnHome)' == ''">$(KILN_HOME)</KilnHome>
                <KilnHome Condition="'$(KilnHome)' == ''">{X(Path.TrimEndingDirectorySeparator(kilnHome))}</KilnHome>
              </PropertyGroup>
              <ItemGroup>

            """);
        foreach (var folder in SourceFolders) sb.Append($"    <Compile Include=\"{folder}/**/*.cs\" />\n");
        sb.Append("  </ItemGroup>\n  <ItemGroup>\n");
        foreach (var assembly in SdkAssemblies)
            sb.Append($"    <Reference Include=\"{assembly}\" HintPath=\"$(KilnHome)/{assembly}.dll\" Private=\"false\" />\n");
        sb.Append("  </ItemGroup>\n  <ItemGroup>\n");
        foreach (var u in ImplicitUsings) sb.Append($"    <Using Include=\"{u}\" />\n");
        sb.Append("  </ItemGroup>\n  <Import Project=\"Sdk.targets\" Sdk=\"Microsoft.NET.Sdk\" />\n</Project>\n");
        return sb.ToString();
    }
}
