using System.Globalization;

namespace Kiln.Autopilot.Expressions;

/// <summary>
/// Parses a rule's condition: numbers, metric names (letters, digits, <c>_</c> and <c>.</c>; any other name between
/// backquotes, <c>`train/loss`</c>; <c>step</c> is the current step), <c>+ - * /</c>, comparisons, <c>&amp;&amp; || !</c>, parentheses and the functions of
/// <see cref="Call.Functions"/> — <c>val_loss &gt; 1.5 * min(val_loss, 50)</c>. Nothing else: an expression cannot
/// name a type, call a method or touch a file. Errors say where, as <c>column N: …</c>.
/// </summary>
public static class ExprParser
{
    /// <summary>Longer expressions are refused: a rule is a line, not a program.</summary>
    public const int MaxLength = 1000;

    /// <summary>The largest window a function may look back over.</summary>
    public const int MaxWindow = 100_000;

    public static Expr Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length > MaxLength) throw new ExprException($"the expression is {text.Length} characters long; at most {MaxLength}");
        var p = new Parser(text);
        var e = p.Or();
        p.Skip();
        if (!p.End) throw p.Error($"unexpected '{p.Rest}'");
        return e;
    }

    private sealed class Parser(string text)
    {
        private int _at;
        private int _depth;

        public bool End => _at >= text.Length;
        public string Rest => text[_at..];

        public ExprException Error(string message) => new($"column {_at + 1}: {message} in \"{text}\"");

        public void Skip()
        {
            while (!End && char.IsWhiteSpace(text[_at])) _at++;
        }

        private bool Take(string token)
        {
            Skip();
            if (string.CompareOrdinal(text, _at, token, 0, token.Length) != 0) return false;
            // "<" is not the start of "<=", "!" not of "!=".
            if (token is "<" or ">" or "!" or "=" && _at + 1 < text.Length && text[_at + 1] == '=') return false;
            _at += token.Length;
            return true;
        }

        public Expr Or()
        {
            var e = And();
            while (Take("||")) e = new Binary("||", e, And());
            return e;
        }

        private Expr And()
        {
            var e = Comparison();
            while (Take("&&")) e = new Binary("&&", e, Comparison());
            return e;
        }

        private Expr Comparison()
        {
            var e = Sum();
            foreach (var op in new[] { "<=", ">=", "==", "!=", "<", ">" })
                if (Take(op)) return new Binary(op, e, Sum());
            return e;
        }

        private Expr Sum()
        {
            var e = Product();
            while (true)
            {
                if (Take("+")) e = new Binary("+", e, Product());
                else if (Take("-")) e = new Binary("-", e, Product());
                else return e;
            }
        }

        private Expr Product()
        {
            var e = Unary();
            while (true)
            {
                if (Take("*")) e = new Binary("*", e, Unary());
                else if (Take("/")) e = new Binary("/", e, Unary());
                else return e;
            }
        }

        private Expr Unary()
        {
            if (++_depth > 64) throw Error("nested too deeply");
            try
            {
                if (Take("-")) return new Unary('-', Unary());
                if (Take("!")) return new Unary('!', Unary());
                return Atom();
            }
            finally
            {
                _depth--;
            }
        }

        private Expr Atom()
        {
            Skip();
            if (End) throw Error("the expression ends where a value was expected");
            if (Take("("))
            {
                var e = Or();
                if (!Take(")")) throw Error("')' expected");
                return e;
            }
            var c = text[_at];
            if (char.IsAsciiDigit(c) || c == '.') return new Number(NumberToken());
            if (c == '`') return new Metric(Name());
            if (char.IsAsciiLetter(c) || c == '_') return NameOrCall();
            throw Error($"unexpected '{c}'");
        }

        private double NumberToken()
        {
            var start = _at;
            while (!End && (char.IsAsciiDigit(text[_at]) || text[_at] == '.')) _at++;
            if (!End && text[_at] is 'e' or 'E')
            {
                _at++;
                if (!End && text[_at] is '+' or '-') _at++;
                while (!End && char.IsAsciiDigit(text[_at])) _at++;
            }
            var token = text[start.._at];
            if (!double.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out var v)) { _at = start; throw Error($"'{token}' is not a number"); }
            return v;
        }

        private string Name()
        {
            var start = _at;
            if (!End && text[_at] == '`')
            {
                var close = text.IndexOf('`', _at + 1);
                if (close < 0) throw Error("a name opened with ` is not closed");
                _at = close + 1;
                return text[(start + 1)..close];
            }
            while (!End && (char.IsAsciiLetterOrDigit(text[_at]) || text[_at] is '_' or '.')) _at++;
            return text[start.._at];
        }

        private Expr NameOrCall()
        {
            var start = _at;
            var name = Name();
            if (!Take("(")) return new Metric(name);
            if (!Call.Functions.ContainsKey(name))
            {
                _at = start;
                throw Error($"unknown function '{name}' (known: {string.Join(", ", Call.Functions.Keys)})");
            }
            if (Call.Windowed.Contains(name) || name == "count")
            {
                Skip();
                var metricAt = _at;
                var series = End || !(char.IsAsciiLetter(text[_at]) || text[_at] is '_' or '`') ? "" : Name();
                if (series.Length == 0) { _at = metricAt; throw Error($"{name}: a metric name expected first ({Call.Functions[name]})"); }
                var window = 1;
                if (name != "count")
                {
                    if (!Take(",")) throw Error($"{name}: ',' and a number of points expected ({Call.Functions[name]})");
                    Skip();
                    var at = _at;
                    var n = NumberToken();
                    if (n < 1 || n > MaxWindow || n != Math.Floor(n)) { _at = at; throw Error($"{name}: the number of points must be a whole number from 1 to {MaxWindow}, got {n}"); }
                    window = (int)n;
                }
                if (!Take(")")) throw Error($"{name}: ')' expected");
                return new Call(name, [], series, window);
            }
            var arg = Or();
            if (!Take(")")) throw Error($"{name}: one argument and ')' expected");
            return new Call(name, [arg], null, 0);
        }
    }
}

/// <summary>An expression that cannot be parsed.</summary>
public sealed class ExprException(string message) : Exception(message);
