using System.Diagnostics;

namespace Kiln.Bench;

/// <summary>
/// The Python client's figures (clients/python): bench/python/kiln_client_bench.py run by the interpreter that can
/// import torch (scripts/python.sh), with PyTorch at its fastest here (OpenBLAS's Haswell kernels, one thread).
/// </summary>
internal static class PythonClientBench
{
    public static int Run(string root, string[] args)
    {
        var python = Capture(Path.Combine(root, "scripts", "python.sh"), []).Trim();
        if (python.Length == 0) { Console.Error.WriteLine("python: no interpreter (scripts/python.sh)"); return 1; }
        var start = new ProcessStartInfo(python) { UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(root, "bench", "python", "kiln_client_bench.py"));
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["OPENBLAS_CORETYPE"] = "Haswell";
        start.Environment["OPENBLAS_NUM_THREADS"] = "1";
        using var p = Process.Start(start)!;
        p.WaitForExit();
        return p.ExitCode;
    }

    private static string Capture(string program, string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var p = Process.Start(start)!;
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return output;
    }
}
