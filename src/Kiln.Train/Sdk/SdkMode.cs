namespace Kiln.Train.Sdk;

/// <summary>Why the program runs: what <c>KILN_MODE</c> says, once <c>KILN_RUN_DIR</c> names a run directory.</summary>
public enum SdkMode
{
    /// <summary>Run by hand (no <c>KILN_RUN_DIR</c>): every SDK call does nothing and says so once.</summary>
    None,

    /// <summary><c>kiln train</c>: the architecture and parameters are recorded, the weights saved when the program ends.</summary>
    Train,

    /// <summary><c>kiln trial</c>: <see cref="KilnSdk.Model"/> loads the weights the parent chose; the program reports a result.</summary>
    Trial,

    /// <summary><c>kiln queue run</c>: a training whose hyper-parameters are injected through <c>KILN_QUEUE</c>.</summary>
    Queue,

    /// <summary>
    /// A run directory with a mode the SDK does not know (a cfg-tree trial's <c>sweep</c> or <c>experiment</c>): the
    /// architecture and parameters are recorded, nothing else.
    /// </summary>
    Other,
}
