/// Logistic regression on two blobs: data, training, evaluation, and a comparison of the parameter sets
using Kiln.Experiments;
using Kiln.Experiments.Caching;
using Kiln.Experiments.Pipeline;
using Kiln.Experiments.Reporting;

public static class Demo
{
    /// <summary>Two Gaussian blobs in two dimensions, 400 points, the same for a seed.</summary>
    [Stage("data", Cachers = [typeof(JsonCacher)])]
    public static double[][] Data(Record r)
    {
        var p = (Knobs)r.Params!;
        var rng = new Random(p.Seed);
        double Normal() => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        return [.. Enumerable.Range(0, 400).Select(i =>
        {
            var label = i % 2;
            return new[] { Normal() + (label == 1 ? 1.5 : -1.5), Normal() + (label == 1 ? 1.0 : -1.0), label };
        })];
    }

    /// <summary>Full-batch gradient descent; the weights and the loss after each epoch.</summary>
    [Stage("weights", "losses", Cachers = [typeof(JsonCacher), typeof(JsonCacher)])]
    public static (double[] Weights, double[] Losses) Train(Record r, double[][] data)
    {
        var p = (Knobs)r.Params!;
        var w = new double[3];
        var losses = new double[p.Epochs];
        for (var epoch = 0; epoch < p.Epochs; epoch++)
        {
            var grad = new double[3];
            var loss = 0.0;
            foreach (var row in data)
            {
                var z = w[0] * row[0] + w[1] * row[1] + w[2];
                var y = Sigmoid(z);
                loss += -(row[2] * Math.Log(y + 1e-12) + (1 - row[2]) * Math.Log(1 - y + 1e-12));
                grad[0] += (y - row[2]) * row[0];
                grad[1] += (y - row[2]) * row[1];
                grad[2] += y - row[2];
            }
            for (var k = 0; k < 3; k++) w[k] -= p.Lr * grad[k] / data.Length;
            losses[epoch] = loss / data.Length;
        }
        return (w, losses);
    }

    [Stage("accuracy", Cachers = [typeof(JsonCacher)])]
    public static double Evaluate(Record r, double[][] data, double[] weights)
    {
        var right = data.Count(row => (Sigmoid(weights[0] * row[0] + weights[1] * row[1] + weights[2]) > 0.5 ? 1 : 0) == (int)row[2]);
        return (double)right / data.Length;
    }

    /// <summary>Every parameter set side by side: a table and the loss curves in the report.</summary>
    [Aggregate("comparison", Cachers = [typeof(CsvCacher)])]
    public static Table Compare(Record r, IReadOnlyList<Record> records, IReadOnlyDictionary<Record, double> accuracy, IReadOnlyDictionary<Record, double[]> losses)
    {
        var table = Table.Of(["name", "lr", "accuracy", "final loss"],
            records.Select(x => new object?[] { x.Params!.Name, ((Knobs)x.Params).Lr, accuracy[x], losses[x][^1] }));
        r.Report(new TableReportable(table, "comparison"));
        r.Report(new LinePlotReportable(records.ToDictionary(x => x.Params!.Name!, x => (IReadOnlyList<double>)losses[x]), "losses", "training loss per epoch"));
        return table;
    }

    private static double Sigmoid(double z) => 1 / (1 + Math.Exp(-z));

    public static void Run(IReadOnlyList<Knobs> ps, ExperimentManager manager)
    {
        var records = ps.Select(p => new Record(manager, p).Run(Data).Run(Train).Run(Evaluate)).ToList();
        new Record(manager, null).Aggregate(Compare);
    }
}
