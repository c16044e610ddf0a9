namespace Kiln.Autopilot.Engine;

/// <summary>
/// What the autopilot may do (seed 000's <c>--autopilot</c>): nothing; propose every action for a person to accept or
/// reject; apply what it is sure of (high and medium confidence) and propose the rest. The <c>ai_*</c> modes leave the
/// decisions to a language model, the rules only raising alerts for it.
/// </summary>
public static class AutopilotMode
{
    public const string Off = "off";
    public const string Suggest = "suggest";
    public const string Auto = "auto";
    public const string AiSuggest = "ai_suggest";
    public const string AiAuto = "ai_auto";

    public static readonly string[] All = [Off, Suggest, Auto, AiSuggest, AiAuto];

    public static bool IsAi(string mode) => mode is AiSuggest or AiAuto;
}
