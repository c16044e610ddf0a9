using System.Collections;
using System.Diagnostics.CodeAnalysis;

namespace Kiln.Modules.Callbacks;

/// <summary>
/// A <see cref="KernelEnv"/> as a dictionary, like seed 001's <c>env</c>: what a callback whose <c>Handle</c> or
/// <c>OnAttach</c> takes <c>IDictionary&lt;string, object?&gt;</c> or <c>IReadOnlyDictionary&lt;string, object?&gt;</c> receives.
/// The kernel's keys (<see cref="KernelKeys"/>) read the env as it is now and cannot be written; every other key is an
/// entry of <see cref="KernelEnv.Items"/> (the trainer's extras, such as <c>batch_x</c>), which callbacks may also add and remove.
/// </summary>
public sealed class KernelEnvView : IDictionary<string, object?>, IReadOnlyDictionary<string, object?>
{
    /// <summary>The keys every view has, in this order; <c>Items</c>' own keys follow.</summary>
    public static IReadOnlyList<string> KernelKeys { get; } =
        ["step", "event", "epoch", "phase", "max_steps", "loss", "metrics", "model", "optimizer", "items", "run_dir", "log", "emit", "request_stop"];

    private readonly Action<string, double> _emit;
    private readonly Action<string> _requestStop;

    public KernelEnvView(KernelEnv env)
    {
        Env = env;
        // Made once, so reading "emit" or "request_stop" at every step allocates nothing.
        _emit = (name, value) => Env.Emit((name, value));
        _requestStop = reason => Env.RequestStop(reason);
    }

    /// <summary>The env the view reads. A callback keeps one view for its life; the kernel points it at each safe point's env.</summary>
    public KernelEnv Env { get; private set; }

    internal KernelEnvView On(KernelEnv env)
    {
        Env = env;
        return this;
    }

    private bool TryKernel(string key, out object? value)
    {
        var env = Env;
        switch (key)
        {
            case "step": value = env.Step; return true;
            case "event": value = env.Event; return true;
            case "epoch": value = env.Epoch; return true;
            case "phase": value = env.Phase; return true;
            case "max_steps": value = env.MaxSteps; return true;
            case "loss": value = env.Loss; return true;
            case "metrics": value = env.Metrics; return true;
            case "model": value = env.Model; return true;
            case "optimizer": value = env.Optimizer; return true;
            case "items": value = env.Items; return true;
            case "run_dir": value = env.RunDir; return true;
            case "log": value = env.Log; return true;
            case "emit": value = _emit; return true;
            case "request_stop": value = _requestStop; return true;
            default: value = null; return false;
        }
    }

    private bool IsKernelKey(string key) => TryKernel(key, out _);

    public object? this[string key]
    {
        get => TryGetValue(key, out var value) ? value
            : throw new KeyNotFoundException($"env has no key '{key}' (keys: {string.Join(", ", Keys)})");
        set
        {
            ThrowIfKernelKey(key);
            Env.Items[key] = value;
        }
    }

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out object? value) =>
        TryKernel(key, out value) || Env.Items.TryGetValue(key, out value);

    public bool ContainsKey(string key) => IsKernelKey(key) || Env.Items.ContainsKey(key);

    public int Count => KernelKeys.Count + Env.Items.Keys.Count(k => !IsKernelKey(k));

    public ICollection<string> Keys => this.Select(kv => kv.Key).ToList();

    public ICollection<object?> Values => this.Select(kv => kv.Value).ToList();

    IEnumerable<string> IReadOnlyDictionary<string, object?>.Keys => Keys;

    IEnumerable<object?> IReadOnlyDictionary<string, object?>.Values => Values;

    public bool IsReadOnly => false;

    public void Add(string key, object? value)
    {
        ThrowIfKernelKey(key);
        Env.Items.Add(key, value);
    }

    public void Add(KeyValuePair<string, object?> item) => Add(item.Key, item.Value);

    public bool Remove(string key)
    {
        ThrowIfKernelKey(key);
        return Env.Items.Remove(key);
    }

    public bool Remove(KeyValuePair<string, object?> item) => Contains(item) && Remove(item.Key);

    public bool Contains(KeyValuePair<string, object?> item) => TryGetValue(item.Key, out var value) && Equals(value, item.Value);

    public void Clear() => throw new NotSupportedException("env: the kernel's keys cannot be removed; remove items one by one");

    public void CopyTo(KeyValuePair<string, object?>[] array, int arrayIndex)
    {
        ArgumentNullException.ThrowIfNull(array);
        foreach (var kv in this) array[arrayIndex++] = kv;
    }

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
    {
        foreach (var key in KernelKeys)
        {
            TryKernel(key, out var value);
            yield return new(key, value);
        }
        foreach (var kv in Env.Items)
        {
            if (!IsKernelKey(kv.Key)) yield return kv;
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private void ThrowIfKernelKey(string key)
    {
        if (IsKernelKey(key)) throw new NotSupportedException($"env['{key}'] is the kernel's and read-only; other keys are the trainer's items and can be set");
    }
}
