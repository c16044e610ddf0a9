// The numb workflow with Kiln's SDK: one program, two modes, chosen by KILN_MODE.
//
//   kiln train             builds the model, registers it, records its hyper-parameters and trains;
//                          the weights are saved when the program ends
//   kiln queue run q.json  the same, once per queued set of hyper-parameters (injected through KILN_QUEUE)
//   kiln trial             builds the same model, loads the weights kiln chose, evaluates them and reports the result
//
// Run by hand (dotnet run --project samples/numb-workflow) it trains and records nothing.
using System.Globalization;
using Kiln.Train.Autograd;
using Kiln.Train.Data;
using Kiln.Train.Nn;
using Kiln.Train.Optim;
using Kiln.Train.Sdk;
using Kiln.Train.Tensors;

const int Features = 8;
const int Classes = 3;
const int Hidden = 32;

// Three classes of noisy points; the last 128 are held out for evaluation.
var data = Synthetic.Blobs(640, Classes, [Features], seed: 1, spread: 1.5f);
var train = data.Subset(Enumerable.Range(0, 512).ToArray(), "train");
var test = data.Subset(Enumerable.Range(512, 128).ToArray(), "test");

return KilnSdk.Mode == SdkMode.Trial ? Trial() : Train();

int Train()
{
    // A queue run injects these; any other run takes the fallbacks.
    var seed = KilnSdk.Queue("seed", 7L);
    var lr = KilnSdk.Queue("lr", 0.01);
    var steps = KilnSdk.Queue("steps", 150);
    var batchSize = KilnSdk.Queue("batch_size", 32);

    var net = Mlp(seed);
    var info = KilnSdk.Model(net, Tensor.Zeros(1, Features));
    Console.Write(info.Summary);
    KilnSdk.Param(new Dictionary<string, object?>
    {
        ["lr"] = lr, ["steps"] = steps, ["batch_size"] = batchSize, ["seed"] = seed, ["optimizer"] = "adam",
    });

    var optimizer = new Adam([new ParamGroup("all", net.Parameters(), lr)]);
    var batches = new Batcher(train, batchSize, shuffle: true, seed);
    for (var step = 0; step < steps; step++)
    {
        if (!batches.Next(out var batch) && !batches.Next(out batch)) throw new InvalidOperationException("no batches");
        optimizer.ZeroGrad();
        float loss;
        using (var tape = new Tape())
        {
            var l = Ops.SoftmaxCrossEntropy(net.Forward(batch.X), batch.Labels);
            tape.Backward(l);
            loss = l.Item();
        }
        optimizer.Step(step);
        if (step % 50 == 0) Console.WriteLine(FormattableString.Invariant($"step {step}: loss {loss:0.0000}"));
    }

    var (accuracy, testLoss) = Evaluate(net);
    Console.WriteLine(FormattableString.Invariant($"test_accuracy={accuracy:R} test_loss={testLoss:R}"));
    return 0; // the weights are saved now, as the program ends
}

int Trial()
{
    var net = Mlp(seed: 0); // its initial weights are replaced by the chosen ones
    KilnSdk.Model(net, Tensor.Zeros(1, Features));
    var (accuracy, loss) = Evaluate(net);
    Console.WriteLine(FormattableString.Invariant($"test_accuracy={accuracy:R} test_loss={loss:R}"));
    KilnSdk.TrialResult(new Dictionary<string, object?> { ["accuracy"] = accuracy, ["loss"] = loss, ["samples"] = test.Count });
    return 0;
}

Sequential Mlp(long seed)
{
    var rng = Rng.For(seed, "model");
    return new Sequential(new Linear(Features, Hidden, rng), new ReLU(), new Linear(Hidden, Classes, rng));
}

(double Accuracy, double Loss) Evaluate(Module net)
{
    net.SetTraining(false);
    using var tape = new Tape(recordGradients: false);
    var logits = net.Forward(Tensor.FromArray(test.Features, test.Count, Features));
    var predicted = Ops.ArgMax(logits);
    var correct = predicted.Where((p, i) => p == test.Labels[i]).Count();
    return ((double)correct / test.Count, Ops.SoftmaxCrossEntropy(logits, test.Labels).Item());
}
