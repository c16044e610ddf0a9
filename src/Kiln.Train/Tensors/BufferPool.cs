namespace Kiln.Train.Tensors;

/// <summary>
/// Reuses float buffers by exact length, per thread: a training step allocates the same shapes every time,
/// so after the first step it allocates nothing (large arrays would otherwise churn the large-object heap).
/// </summary>
internal static class BufferPool
{
    [ThreadStatic] private static Dictionary<int, Stack<float[]>>? _free;

    public static float[] Rent(int length, bool clear)
    {
        var free = _free ??= [];
        if (free.TryGetValue(length, out var stack) && stack.TryPop(out var buffer))
        {
            if (clear) Array.Clear(buffer);
            return buffer;
        }
        // Large buffers live on the pinned heap, so an offset that aligns one (see Ops.RentAligned) stays aligned.
        return length >= 1024 ? GC.AllocateArray<float>(length, pinned: true) : new float[length];
    }

    public static void Return(float[] buffer)
    {
        var free = _free ??= [];
        if (!free.TryGetValue(buffer.Length, out var stack)) free[buffer.Length] = stack = new Stack<float[]>();
        if (stack.Count < 64) stack.Push(buffer);
    }
}
