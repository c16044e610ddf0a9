using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Kiln.Protocol;
using Kiln.Registry.Records;
using Microsoft.Data.Sqlite;

namespace Kiln.Registry.Store;

/// <summary>Turns a <see cref="ModelQuery"/> into SQL: a WHERE clause with bound values, and an ORDER BY.</summary>
internal static class QuerySql
{
    private static readonly Dictionary<string, string> Columns = new(StringComparer.Ordinal)
    {
        ["started"] = "started", ["ended"] = "ended", ["id"] = "id", ["kind"] = "kind", ["status"] = "status",
        ["trialled_at"] = "trialled_at", ["fingerprint"] = "fingerprint",
    };

    private static readonly Dictionary<string, string> JsonColumns = new(StringComparer.Ordinal)
    {
        ["param"] = "params", ["metric"] = "metrics", ["result"] = "trial_result",
    };

    /// <summary>Fills <paramref name="command"/>'s text with <c>SELECT {select} FROM runs WHERE … [ORDER BY …] [LIMIT …]</c>.</summary>
    public static void Build(SqliteCommand command, ModelQuery q, string select, bool order)
    {
        var where = new List<string>();
        var n = 0;
        string Bind(object value)
        {
            var name = "@p" + n++;
            command.Parameters.AddWithValue(name, value);
            return name;
        }

        if (q.ModelsOnly) where.Add("fingerprint IS NOT NULL AND weights IS NOT NULL");
        if (!string.IsNullOrEmpty(q.Architecture)) where.Add($"fingerprint GLOB {Bind(GlobPrefix(q.Architecture))}");
        if (q.Trialled is { } trialled) where.Add(trialled ? "trial_result IS NOT NULL" : "trial_result IS NULL");
        if (q.Kinds.Count > 0) where.Add($"kind IN ({string.Join(", ", q.Kinds.Select(k => Bind(k)))})");
        if (q.Statuses.Count > 0) where.Add($"status IN ({string.Join(", ", q.Statuses.Select(s => Bind(s)))})");
        foreach (var (key, value) in q.Params) where.Add(ParamMatch(key, value, Bind));
        if (!string.IsNullOrEmpty(q.Text))
        {
            var like = Bind("%" + EscapeLike(q.Text) + "%");
            where.Add("(" + string.Join(" OR ", new[] { "id", "dir", "config", "params", "fingerprint", "summary", "error" }
                .Select(c => $"{c} LIKE {like} ESCAPE '\\'")) + ")");
        }

        var sql = new StringBuilder("SELECT ").Append(select).Append(" FROM runs");
        if (where.Count > 0) sql.Append(" WHERE ").AppendJoin(" AND ", where);
        if (order)
        {
            var by = SortExpression(q.Sort, Bind);
            var dir = q.Descending ? "DESC" : "ASC";
            // Runs without the value come last either way; ties are broken by the id, so pages never overlap.
            sql.Append($" ORDER BY ({by}) IS NULL, {by} {dir}, id {dir}");
            if (q.Limit is not null || q.Offset > 0)
            {
                sql.Append($" LIMIT {Bind(q.Limit is { } limit ? Math.Max(0, limit) : -1)}");
                if (q.Offset > 0) sql.Append($" OFFSET {Bind(q.Offset)}");
            }
        }
        command.CommandText = sql.ToString();
    }

    private static string SortExpression(string sort, Func<object, string> bind)
    {
        if (Columns.TryGetValue(sort, out var column)) return column;
        var dot = sort.IndexOf('.', StringComparison.Ordinal);
        if (dot > 0 && JsonColumns.TryGetValue(sort[..dot], out var json) && dot + 1 < sort.Length)
            return $"json_extract({json}, {bind(JsonPath(sort[(dot + 1)..]))})";
        throw new ArgumentException(
            $"sort: unknown key '{sort}' (known: {string.Join(", ", Columns.Keys)}, param.<key>, metric.<name>, result.<name>)");
    }

    /// <summary>A hyper-parameter that must equal <paramref name="value"/> as a JSON value: same type, same value.</summary>
    private static string ParamMatch(string key, JsonNode? value, Func<object, string> bind)
    {
        var path = bind(JsonPath(key));
        var type = $"json_type(params, {path})";
        var extract = $"json_extract(params, {path})";
        switch (value)
        {
            case null:
                return $"{type} = 'null'";
            case JsonValue v when v.GetValueKind() is JsonValueKind.True or JsonValueKind.False:
                return $"{type} = '{(v.GetValueKind() == JsonValueKind.True ? "true" : "false")}'";
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                return $"{type} = 'text' AND {extract} = {bind(v.GetValue<string>())}";
            case JsonValue v when JsonValues.TryGetDouble(v, out var d):
                // SQLite compares 3 and 3.0 as equal: the stored integer and the given real meet.
                return $"{type} IN ('integer', 'real') AND {extract} = {bind(d)}";
            default:
                // Objects and arrays: stored canonical, so their text compares.
                return $"{type} IN ('object', 'array') AND {extract} = {bind(CanonicalJson.Of(value))}";
        }
    }

    /// <summary>A JSON path to one top-level key, quoted so dots and spaces in the key are part of its name.</summary>
    private static string JsonPath(string key)
    {
        if (key.Contains('"', StringComparison.Ordinal) || key.Contains('\\', StringComparison.Ordinal))
            throw new ArgumentException($"'{key}': a key with a quote or backslash cannot be matched");
        return "$.\"" + key + "\"";
    }

    private static string EscapeLike(string text) =>
        text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("%", "\\%", StringComparison.Ordinal).Replace("_", "\\_", StringComparison.Ordinal);

    private static string GlobPrefix(string prefix)
    {
        var sb = new StringBuilder();
        foreach (var c in prefix) sb.Append(c is '*' or '?' or '[' ? $"[{c}]" : c.ToString());
        return sb.Append('*').ToString();
    }
}
