using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Kiln.IO;

namespace Kiln.Protocol;

/// <summary>One line of the ledger, <c>kiln.applied.jsonl</c>: what the kernel decided about one change.</summary>
public sealed record LedgerEntry
{
    public long Seq { get; init; }
    public string? Cid { get; init; }
    public long? Step { get; init; }
    public int? Epoch { get; init; }
    public string? Event { get; init; }
    public string? Phase { get; init; }
    public string? Module { get; init; }
    public string? Op { get; init; }
    public string? Id { get; init; }
    public string? Source { get; init; }
    public required string Decision { get; init; }
    public JsonObject? Params { get; init; }
    public JsonObject? Payload { get; init; }
    public string? Error { get; init; }
    public string? Notes { get; init; }
    public double WallTime { get; init; }
    /// <summary>The exception's stack trace when applying threw; omitted otherwise.</summary>
    public string? Traceback { get; init; }

    /// <summary>
    /// Serializes in the documented field order, as one line without the newline, never longer than a JSONL line may be
    /// (<see cref="JsonlFile.MaxLineBytes"/>): a line that would be is written without the command's params (the payload
    /// says what took effect), then without the payload, then with its texts cut, each noted in <c>notes</c>.
    /// </summary>
    public byte[] ToJsonLine()
    {
        var line = Serialize();
        if (line.Length <= JsonlFile.MaxLineBytes) return line;
        var entry = this;
        if (entry.Params is not null)
        {
            entry = entry with { Params = null, Notes = Note(entry.Notes, $"params ({Size(entry.Params)} bytes) left out of the ledger: the line would exceed {JsonlFile.MaxLineBytes} bytes") };
            line = entry.Serialize();
            if (line.Length <= JsonlFile.MaxLineBytes) return line;
        }
        if (entry.Payload is not null)
        {
            entry = entry with { Payload = null, Notes = Note(entry.Notes, $"payload ({Size(entry.Payload)} bytes) left out of the ledger: the line would exceed {JsonlFile.MaxLineBytes} bytes") };
            line = entry.Serialize();
            if (line.Length <= JsonlFile.MaxLineBytes) return line;
        }
        const int Texts = 64 * 1024;
        return (entry with
        {
            Error = entry.Error is null ? null : JsonCheck.Excerpt(entry.Error, Texts),
            Notes = entry.Notes is null ? null : JsonCheck.Excerpt(entry.Notes, Texts),
            Traceback = entry.Traceback is null ? null : JsonCheck.Excerpt(entry.Traceback, Texts),
            Module = Cut(entry.Module), Op = Cut(entry.Op), Id = Cut(entry.Id), Source = Cut(entry.Source),
            Event = Cut(entry.Event), Phase = Cut(entry.Phase),
        }).Serialize();
    }

    // The cid stays whole: it is what a restarted kernel recognizes (commands keep it short, Command.MaxCidLength).
    private static string? Cut(string? text) => text is null ? null : JsonCheck.Excerpt(text, 1024);

    private static long Size(JsonNode node) => System.Text.Encoding.UTF8.GetByteCount(node.ToJsonString());

    private static string Note(string? notes, string note) => notes is null ? note : notes + "; " + note;

    private byte[] Serialize()
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("seq", Seq);
            WriteString(w, "cid", Cid);
            if (Step is null) w.WriteNull("step"); else w.WriteNumber("step", Step.Value);
            if (Epoch is null) w.WriteNull("epoch"); else w.WriteNumber("epoch", Epoch.Value);
            WriteString(w, "event", Event);
            WriteString(w, "phase", Phase);
            WriteString(w, "module", Module);
            WriteString(w, "op", Op);
            WriteString(w, "id", Id);
            WriteString(w, "source", Source);
            w.WriteString("decision", Decision);
            WriteNode(w, "params", Params);
            WriteNode(w, "payload", Payload);
            WriteString(w, "error", Error);
            WriteString(w, "notes", Notes);
            w.WriteNumber("wall_time", Math.Round(WallTime, 6));
            if (Traceback is not null) w.WriteString("traceback", Traceback);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteString(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null) w.WriteNull(name); else w.WriteString(name, value);
    }

    private static void WriteNode(Utf8JsonWriter w, string name, JsonNode? node)
    {
        w.WritePropertyName(name);
        if (node is null) w.WriteNullValue(); else node.WriteTo(w);
    }

    public static LedgerEntry FromJson(JsonNode node)
    {
        var o = JsonValues.GetObject(node, "ledger line");
        return new LedgerEntry
        {
            Seq = o["seq"] is null ? 0 : JsonValues.GetLong(o["seq"], "seq"),
            Cid = JsonValues.GetOptionalString(o, "cid"),
            Step = o["step"] is null ? null : JsonValues.GetLong(o["step"], "step"),
            Epoch = o["epoch"] is null ? null : JsonValues.GetInt(o["epoch"], "epoch"),
            Event = JsonValues.GetOptionalString(o, "event"),
            Phase = JsonValues.GetOptionalString(o, "phase"),
            Module = JsonValues.GetOptionalString(o, "module"),
            Op = JsonValues.GetOptionalString(o, "op"),
            Id = JsonValues.GetOptionalString(o, "id"),
            Source = JsonValues.GetOptionalString(o, "source"),
            Decision = JsonValues.GetString(o["decision"], "decision"),
            Params = o["params"] as JsonObject is { } p ? (JsonObject)p.DeepClone() : null,
            Payload = o["payload"] as JsonObject is { } q ? (JsonObject)q.DeepClone() : null,
            Error = JsonValues.GetOptionalString(o, "error"),
            Notes = JsonValues.GetOptionalString(o, "notes"),
            WallTime = o["wall_time"] is null ? 0 : JsonValues.GetDouble(o["wall_time"], "wall_time"),
            Traceback = JsonValues.GetOptionalString(o, "traceback"),
        };
    }
}
