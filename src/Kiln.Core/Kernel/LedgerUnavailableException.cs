namespace Kiln.Kernel;

/// <summary>
/// The kernel cannot write (or read) its ledger, <c>kiln.applied.jsonl</c>: a full disk, a read-only directory. Without
/// its ledger no command can be applied exactly once, so the kernel applies nothing more: this safe point and every later
/// one throw, and a <see cref="Kiln.Runs.KilnRun"/> ends <c>failed</c> naming the cause.
/// </summary>
public sealed class LedgerUnavailableException(string message, Exception? inner = null) : IOException(message, inner);
