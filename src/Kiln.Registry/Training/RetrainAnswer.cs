namespace Kiln.Registry.Training;

/// <summary>What to do when a run trains a model already trained with the same hyper-parameters.</summary>
public enum RetrainAnswer
{
    /// <summary>Ask on the terminal (No when there is none to ask on).</summary>
    Ask,
    Yes,
    No,
}
