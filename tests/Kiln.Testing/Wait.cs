namespace Kiln.Testing;

/// <summary>Polling for what a real process, server or browser does in its own time; never a timing assertion.</summary>
public static class Wait
{
    /// <summary>Returns once <paramref name="condition"/> holds; throws, saying what it waited for, after <paramref name="seconds"/>.</summary>
    public static Task UntilAsync(Func<bool> condition, string what, double seconds = 60, int pollMilliseconds = 50) =>
        UntilAsync(() => Task.FromResult(condition()), done => done, what, seconds, pollMilliseconds);

    /// <summary>Asks <paramref name="probe"/> until <paramref name="done"/> holds for its answer, and returns that answer.</summary>
    public static async Task<T> UntilAsync<T>(Func<Task<T>> probe, Func<T, bool> done, string what, double seconds = 60, int pollMilliseconds = 50)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        for (;;)
        {
            var answer = await probe();
            if (done(answer)) return answer;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"timed out after {seconds:0} s waiting for {what}");
            await Task.Delay(pollMilliseconds);
        }
    }
}
