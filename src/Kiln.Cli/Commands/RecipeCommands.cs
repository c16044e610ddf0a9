using System.CommandLine;
using System.Text.Json.Nodes;
using Kiln.Cli.Output;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln recipe export|validate|patch-template</c>.</summary>
internal static class RecipeCommands
{
    public static Command Build(Cli cli)
    {
        var recipe = new Command("recipe", "Export, check and adjust recipes (the run's applied changes, replayable)");
        recipe.Subcommands.Add(Export(cli));
        recipe.Subcommands.Add(Validate(cli));
        recipe.Subcommands.Add(PatchTemplate(cli));
        return recipe;
    }

    private static Command Export(Cli cli)
    {
        var output = new Option<string>("--out") { Description = "Where to write (default kiln.recipe.jsonl in the run)" };
        var json = Cli.JsonOption();
        var command = new Command("export", "Write the recipe of the run's ledger: every applied cb, opt and loss change") { output, json };
        cli.Handle(command, c =>
        {
            var (entries, path, warnings) = c.Run.ExportRecipe(c.Get(output));
            if (c.Get(json))
            {
                c.Out.Json(new JsonObject
                {
                    ["path"] = path, ["entries"] = entries.Count, ["warnings"] = new JsonArray(warnings.Select(w => (JsonNode?)w).ToArray()),
                });
            }
            else
            {
                c.Out.Line($"wrote {entries.Count} entr{(entries.Count == 1 ? "y" : "ies")} to {path}");
                foreach (var w in warnings) Terminal.Warn(w);
            }
            return 0;
        });
        return command;
    }

    private static Command Validate(Cli cli)
    {
        var path = new Option<string>("--recipe") { Description = "The recipe to check (default kiln.recipe.jsonl in the run)" };
        var json = Cli.JsonOption();
        var command = new Command("validate", "Check every line of a recipe") { path, json };
        cli.Handle(command, c =>
        {
            var problems = c.Run.ValidateRecipe(c.Get(path));
            if (c.Get(json))
            {
                c.Out.Json(new JsonObject { ["valid"] = problems.Count == 0, ["problems"] = new JsonArray(problems.Select(p => (JsonNode?)p).ToArray()) });
            }
            else if (problems.Count == 0)
            {
                c.Out.Line("", "valid", "green", "");
            }
            else
            {
                foreach (var p in problems) Output.Terminal.Error(p);
            }
            return problems.Count == 0 ? 0 : 1;
        });
        return command;
    }

    private static Command PatchTemplate(Cli cli)
    {
        var recipe = new Option<string>("--recipe") { Description = "The recipe to read (default kiln.recipe.jsonl in the run)" };
        var output = new Option<string>("--output") { Description = "Where to write (default kiln.adjust.yaml in the run)" };
        var force = new Option<bool>("--force") { Description = "Replace an existing file" };
        var command = new Command("patch-template", "Write an adjust overlay with one commented stub per module/op/id of a recipe") { recipe, output, force };
        cli.Handle(command, c =>
        {
            var (stubs, path) = c.Run.WritePatchTemplate(c.Get(recipe), c.Get(output), c.Get(force));
            c.Out.Line($"wrote {stubs} patch stub{(stubs == 1 ? "" : "s")} to {path}");
            return 0;
        });
        return command;
    }
}
