namespace Kiln.Experiments;

/// <summary>
/// A stage declared or called wrongly — curifactory's signature errors under one type, told apart by
/// <see cref="Kind"/>: outputs that do not match what the method returns, cachers that do not match outputs, inputs that
/// the method does not take or the record does not hold.
/// </summary>
public sealed class StageSignatureException(StageSignatureException.Kinds kind, string message) : Exception(message)
{
    public enum Kinds
    {
        /// <summary>curifactory's OutputSignatureError: the return value does not match the declared outputs, or a Lazy output has no cacher.</summary>
        Outputs,
        /// <summary>curifactory's InputSignatureError: a declared input the method does not take, or a missing input without a default.</summary>
        Inputs,
        /// <summary>curifactory's KeyError: an input no earlier stage of the record produced.</summary>
        MissingInput,
        /// <summary>curifactory's CachersMismatchError and EmptyCachersError.</summary>
        Cachers,
        /// <summary>curifactory's ExecutingWithSkippedInputError, and reading a value during the map pass.</summary>
        Skipped,
    }

    public Kinds Kind { get; } = kind;
}
