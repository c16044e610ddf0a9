using System.Text;
using Kiln.Protocol;

namespace Kiln.Replay;

/// <summary>Writes an adjust-file template with one commented stub per distinct (module, op, id) of a recipe.</summary>
public static class PatchTemplate
{
    public static string Generate(IEnumerable<RecipeEntry> recipe, string recipeName)
    {
        var sb = new StringBuilder();
        sb.Append("# Generated from ").Append(recipeName).Append('\n');
        sb.Append("# Uncomment and edit the actions you want; patches apply in order.\n");
        sb.Append("# match also takes at_event, at_step, step_min, step_max, has_param and nth (0-based).\n");
        sb.Append("version: 1\n");
        var seen = new HashSet<(string, string, string?)>();
        var any = false;
        foreach (var e in recipe)
        {
            if (!seen.Add((e.Module, e.Op, e.Id))) continue;
            if (!any) { sb.Append("patches:\n"); any = true; }
            sb.Append("  - match:\n");
            sb.Append("      module: ").Append(e.Module).Append('\n');
            sb.Append("      op: ").Append(e.Op).Append('\n');
            if (e.Id is not null) sb.Append("      id: ").Append(Quote(e.Id)).Append('\n');
            sb.Append("    # drop: false\n");
            if (e.Op == "set_params")
            {
                var keys = e.Params is null ? "" : string.Join(", ", e.Params.Select(kv => $"{kv.Key}: {JsonValues.Show(kv.Value)}"));
                sb.Append("    # replace_params: {").Append(keys).Append("}\n");
                var numeric = e.Params?.FirstOrDefault(kv => JsonValues.IsNumber(kv.Value)).Key;
                sb.Append("    # transform_params: {").Append(numeric ?? "key").Append(": {scale: 1.0, add: 0.0}}\n");
            }
            sb.Append("    # shift_step: 0\n");
        }
        if (!any) sb.Append("patches: []\n");
        return sb.ToString();
    }

    private static string Quote(string s) =>
        s.Length > 0 && s.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.') && !char.IsAsciiDigit(s[0]) ? s : "\"" + s.Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
}
