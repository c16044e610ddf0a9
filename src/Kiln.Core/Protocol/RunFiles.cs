namespace Kiln.Protocol;

/// <summary>The file names of a run directory (docs/protocol.md) and their paths for one run.</summary>
public sealed class RunFiles
{
    public const string Config = "kiln.yaml";
    public const string Commands = "kiln.commands.jsonl";
    public const string Ledger = "kiln.applied.jsonl";
    public const string Freeze = "kiln.freeze.json";
    public const string Recipe = "kiln.recipe.jsonl";
    public const string EffectiveRecipe = "kiln.recipe.effective.jsonl";
    public const string Adjust = "kiln.adjust.yaml";
    public const string Metrics = "kiln.metrics.jsonl";
    public const string Actuators = "kiln.actuators.json";
    public const string Run = "kiln.run.json";
    public const string SourcesDir = "kiln.sources";
    public const string KernelLock = "kiln.kernel.lock";
    /// <summary>A built-in run's checkpoint: a folder holding <c>checkpoint.json</c> and the tensors file it names.</summary>
    public const string Checkpoint = "kiln.checkpoint";
    /// <summary>The <c>tune</c> module's settings, counts and last verdicts (the ledger has every decision).</summary>
    public const string TuneState = "kiln.tune.json";
    /// <summary>A trial's per-batch log (seed 002); the trainer writes it last, so its presence marks the trial complete.</summary>
    public const string BatchLog = "batch_log.csv";
    /// <summary>The per-epoch aggregate of <see cref="BatchLog"/>.</summary>
    public const string EpochLog = "epoch_log.csv";

    // What a trainer run by `kiln train`, `kiln trial` or `kiln queue run` reports through the SDK (docs/protocol.md):
    /// <summary>The model's architecture: its fingerprint and a readable summary.</summary>
    public const string Model = "kiln.model.json";
    /// <summary>The hyper-parameters the trainer registered.</summary>
    public const string Params = "kiln.params.json";
    /// <summary>A trial's result (accuracy, …).</summary>
    public const string TrialResult = "kiln.result.json";
    /// <summary>The trained weights, saved when the trainer ends.</summary>
    public const string Weights = "weights.safetensors";
    /// <summary>In a trial: the weights the parent chose for the child to load (or why there are none).</summary>
    public const string Choice = "kiln.choice.json";
    /// <summary>The code snapshot of the run: its commit, hidden ref, HEAD, branch and whether the tree was dirty.</summary>
    public const string Snapshot = "kiln.snapshot.json";
    /// <summary>A cfg-tree trial's description (seed 002): written when the tree is expanded, before the trial runs.</summary>
    public const string Trial = "kiln.trial.json";

    // What the autopilot following a run writes (docs/autopilot.md):
    /// <summary>Its proposals and what became of each, one line per change of state.</summary>
    public const string Autopilot = "kiln.autopilot.jsonl";
    /// <summary>Its mode, rules and process while it follows the run.</summary>
    public const string AutopilotState = "kiln.autopilot.json";
    /// <summary>The AI autopilot's calls: prompt, reply, reasoning, tokens and cost of each.</summary>
    public const string AutopilotAi = "kiln.autopilot.ai.jsonl";

    /// <param name="dir">The run directory.</param>
    /// <param name="configPath">Another configuration file than <c>kiln.yaml</c> in the directory (the standalone controller's).</param>
    /// <param name="commandsPath">Another inbox than <c>kiln.commands.jsonl</c> in the directory.</param>
    public RunFiles(string dir, string? configPath = null, string? commandsPath = null)
    {
        Dir = Path.GetFullPath(dir);
        ConfigPath = configPath is null ? Path.Combine(Dir, Config) : Path.GetFullPath(configPath);
        CommandsPath = commandsPath is null ? Path.Combine(Dir, Commands) : Path.GetFullPath(commandsPath);
    }

    public string Dir { get; }
    public string ConfigPath { get; }
    public string CommandsPath { get; }
    public string LedgerPath => Path.Combine(Dir, Ledger);
    public string FreezePath => Path.Combine(Dir, Freeze);
    public string RecipePath => Path.Combine(Dir, Recipe);
    public string EffectiveRecipePath => Path.Combine(Dir, EffectiveRecipe);
    public string AdjustPath => Path.Combine(Dir, Adjust);
    public string MetricsPath => Path.Combine(Dir, Metrics);
    public string ActuatorsPath => Path.Combine(Dir, Actuators);
    public string RunPath => Path.Combine(Dir, Run);
    public string SourcesPath => Path.Combine(Dir, SourcesDir);
    public string KernelLockPath => Path.Combine(Dir, KernelLock);
    public string CheckpointPath => Path.Combine(Dir, Checkpoint);
    public string TunePath => Path.Combine(Dir, TuneState);

    /// <summary>Resolves a path given in a file of this run: relative paths are relative to the run directory.</summary>
    public string Resolve(string path) => Path.GetFullPath(Path.IsPathRooted(path) ? path : Path.Combine(Dir, path));
}
