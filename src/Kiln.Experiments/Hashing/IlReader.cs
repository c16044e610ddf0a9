using System.Reflection;
using System.Reflection.Emit;

namespace Kiln.Experiments.Hashing;

/// <summary>One IL instruction: its opcode, where its operand starts, and how long the operand is.</summary>
internal readonly record struct IlInstruction(OpCode OpCode, int OperandOffset, int OperandLength);

/// <summary>Walks a method body's IL (ECMA-335 III), instruction by instruction.</summary>
internal static class IlReader
{
    private static readonly OpCode[] OneByte = new OpCode[0x100];
    private static readonly OpCode[] TwoByte = new OpCode[0x100];

    static IlReader()
    {
        foreach (var field in typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static))
        {
            if (field.GetValue(null) is not OpCode op) continue;
            var value = (ushort)op.Value;
            if (op.Size == 1) OneByte[value] = op;
            else TwoByte[value & 0xFF] = op;
        }
    }

    public static IEnumerable<IlInstruction> Read(byte[] il)
    {
        var i = 0;
        while (i < il.Length)
        {
            OpCode op;
            if (il[i] == 0xFE)
            {
                op = TwoByte[il[i + 1]];
                i += 2;
            }
            else
            {
                op = OneByte[il[i]];
                i += 1;
            }
            var length = op.OperandType switch
            {
                OperandType.InlineNone => 0,
                OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
                OperandType.InlineVar => 2,
                OperandType.InlineI8 or OperandType.InlineR => 8,
                OperandType.InlineSwitch => 4 + 4 * BitConverter.ToInt32(il, i),
                _ => 4,
            };
            yield return new IlInstruction(op, i, length);
            i += length;
        }
    }

    /// <summary>Whether the operand is a metadata token (whose number changes when unrelated code is added).</summary>
    public static bool IsToken(OperandType t) =>
        t is OperandType.InlineMethod or OperandType.InlineField or OperandType.InlineType or OperandType.InlineTok
            or OperandType.InlineString or OperandType.InlineSig;
}
