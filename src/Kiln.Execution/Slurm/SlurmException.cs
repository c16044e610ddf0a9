namespace Kiln.Execution.Slurm;

/// <summary>A Slurm command that could not be run or that refused: the command and what it said.</summary>
public sealed class SlurmException(string message) : Exception(message);
