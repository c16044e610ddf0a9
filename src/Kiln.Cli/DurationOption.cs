using System.CommandLine;
using System.Globalization;
using Kiln.Cli.Output;

namespace Kiln.Cli;

/// <summary>
/// Options given in seconds (<c>--max-time</c>, <c>--step-delay</c>, <c>--wait</c>): checked against their range before
/// they become a <see cref="TimeSpan"/>, so a value too large is a usage error quoting it as written, not an overflow.
/// </summary>
internal static class DurationOption
{
    /// <summary>The longest duration (about 23 days): the waits and timers these options set hold no more.</summary>
    public const double MaxSeconds = 2_000_000;

    /// <summary>The option's duration, or null when it was not given.</summary>
    public static TimeSpan? Get(Context c, Option<double?> option, bool zeroAllowed) =>
        c.Get(option) is { } seconds ? Check(seconds, Written(c, option, seconds), option.Name, zeroAllowed) : null;

    public static TimeSpan Get(Context c, Option<double> option, bool zeroAllowed) =>
        Check(c.Get(option), Written(c, option, c.Get(option)), option.Name, zeroAllowed);

    public static TimeSpan Check(double seconds, string written, string name, bool zeroAllowed) =>
        (zeroAllowed ? seconds >= 0 : seconds > 0) && seconds <= MaxSeconds
            ? TimeSpan.FromSeconds(seconds)
            : throw new UsageException($"{name}: must be {(zeroAllowed ? ">= 0" : "> 0")} and at most {MaxSeconds:0} seconds (about 23 days), got {written}");

    /// <summary>The value as the command line gave it (<c>1e300</c>), else as parsed (a default).</summary>
    private static string Written(Context c, Option option, double parsed) =>
        c.Parse.GetResult(option)?.Tokens is [.., var last] ? last.Value : parsed.ToString("R", CultureInfo.InvariantCulture);
}
