using System.Buffers.Binary;

namespace Kiln.Registry.Git;

/// <summary>Reads just enough of git's index format (versions 2 to 4) to tell whether any entry carries a mark.</summary>
internal static class IndexFile
{
    private const ushort AssumeValid = 0x8000;
    private const ushort Extended = 0x4000;
    private const ushort SkipWorktree = 0x4000;

    /// <summary>
    /// Whether an entry may be marked assume-unchanged or skip-worktree (so <c>git add</c> would overlook its file).
    /// True whenever the bytes are not an index this reader follows to the end: then git is asked instead.
    /// </summary>
    public static bool MayHaveOverlookedEntries(ReadOnlySpan<byte> index)
    {
        // Object ids are 20 bytes in SHA-1 repositories and 32 in SHA-256 ones: an index that parses with neither is
        // treated as marked.
        return Marked(index, 20) ?? Marked(index, 32) ?? true;
    }

    /// <summary>Whether some entry is marked, or null when the bytes do not parse with ids of <paramref name="idLength"/> bytes.</summary>
    private static bool? Marked(ReadOnlySpan<byte> index, int idLength)
    {
        if (index.Length < 12 || !index[..4].SequenceEqual("DIRC"u8)) return null;
        var version = BinaryPrimitives.ReadUInt32BigEndian(index[4..]);
        if (version is < 2 or > 4) return null;
        var count = BinaryPrimitives.ReadUInt32BigEndian(index[8..]);
        var at = 12;
        var fixedPart = 40 + idLength + 2;
        for (uint i = 0; i < count; i++)
        {
            if (at + fixedPart > index.Length) return null;
            var flags = BinaryPrimitives.ReadUInt16BigEndian(index[(at + 40 + idLength)..]);
            var nameAt = at + fixedPart;
            if ((flags & AssumeValid) != 0) return true;
            if ((flags & Extended) != 0)
            {
                if (version < 3 || nameAt + 2 > index.Length) return null;
                if ((BinaryPrimitives.ReadUInt16BigEndian(index[nameAt..]) & SkipWorktree) != 0) return true;
                nameAt += 2;
            }
            if (version == 4)
            {
                // A varint (how much of the previous path to drop), then the rest of the path and its NUL.
                while (nameAt < index.Length && (index[nameAt] & 0x80) != 0) nameAt++;
                nameAt++;
                var end = nameAt < index.Length ? index[nameAt..].IndexOf((byte)0) : -1;
                if (end < 0) return null;
                at = nameAt + end + 1;
            }
            else
            {
                var end = nameAt < index.Length ? index[nameAt..].IndexOf((byte)0) : -1;
                if (end < 0) return null;
                var nameLength = flags & 0x0FFF;
                if (nameLength < 0x0FFF && nameLength != end) return null;
                // Entries are padded with 1 to 8 NULs to a multiple of 8 bytes.
                at += (nameAt - at + end + 8) & ~7;
            }
        }
        // Extensions and the trailing checksum follow; the entries ended where the checksum could begin.
        return at + idLength <= index.Length ? false : null;
    }
}
