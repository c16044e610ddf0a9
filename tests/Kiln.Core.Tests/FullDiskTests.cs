using System.Text;
using Kiln.IO;
using Kiln.Testing;

namespace Kiln.Core.Tests;

/// <summary>A run whose directory is on a file system that fills up (a real tmpfs of 1 MiB).</summary>
public sealed class FullDiskTests
{
    private const int DiskBytes = 1 << 20;

    [SmallDiskFact]
    public void An_append_cut_short_by_a_full_disk_is_taken_back_whole()
    {
        using var disk = new SmallDisk(DiskBytes);
        var path = Path.Combine(disk.Path, "kiln.commands.jsonl");
        JsonlFile.Append(path, Encoding.UTF8.GetBytes("""{"cid":"a"}"""));
        disk.Fill();
        // The file's page has room for part of this line, and the disk none for the rest.
        var line = Encoding.UTF8.GetBytes("""{"cid":"b","pad":""" + "\"" + new string('x', 6000) + "\"}");
        Assert.ThrowsAny<IOException>(() => JsonlFile.Append(path, line));
        Assert.Equal("{\"cid\":\"a\"}\n", File.ReadAllText(path));
    }
}
