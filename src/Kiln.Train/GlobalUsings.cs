global using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
global using Kiln.Runs;
