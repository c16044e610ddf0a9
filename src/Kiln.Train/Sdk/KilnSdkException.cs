namespace Kiln.Train.Sdk;

/// <summary>
/// The SDK could not do what the run needs: a trial's parent is gone or never chose, the chosen weights do not fit
/// the model, a file or variable from the parent is malformed. The message says which and what to do.
/// </summary>
public sealed class KilnSdkException : Exception
{
    public KilnSdkException()
    {
    }

    public KilnSdkException(string message) : base(message)
    {
    }

    public KilnSdkException(string message, Exception innerException) : base(message, innerException)
    {
    }
}
