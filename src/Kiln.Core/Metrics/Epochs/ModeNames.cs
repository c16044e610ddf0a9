namespace Kiln.Metrics.Epochs;

/// <summary>The distinct modes of a batch log (a handful: train, val, …), numbered in order of first appearance.</summary>
internal sealed class ModeNames
{
    private readonly List<byte[]> _bytes = [];
    private readonly List<string> _names = [];

    public int Count => _bytes.Count;

    /// <summary>The mode's UTF-8 bytes.</summary>
    public byte[] Bytes(int mode) => _bytes[mode];

    /// <summary>The mode's text.</summary>
    public string Name(int mode) => _names[mode];

    /// <summary>The number of <paramref name="mode"/>, given one when it is new; <paramref name="text"/> is its text when already decoded.</summary>
    public int Intern(ReadOnlySpan<byte> mode, string? text = null)
    {
        for (var i = 0; i < _bytes.Count; i++)
        {
            if (mode.SequenceEqual(_bytes[i])) return i;
        }
        _bytes.Add(mode.ToArray());
        _names.Add(text ?? System.Text.Encoding.UTF8.GetString(mode));
        return _bytes.Count - 1;
    }
}
