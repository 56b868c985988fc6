package tmpl

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"github.com/webhookd/webhookd/internal/textcut"
)

// Expr is a compiled when expression.
type Expr struct {
	text string
	prog *vm.Program
	// parts are the member chains and names the expression reads, compiled
	// on their own so that Explain can show their values.
	parts []part
	// use is what of the payload the expression reads.
	use payloadUse
}

type part struct {
	text string
	prog *vm.Program
}

// sampleEnv declares the names a when expression may use.
func sampleEnv() map[string]any {
	return map[string]any{
		"event":    "",
		"payload":  map[string]any{},
		"headers":  map[string]string{},
		"query":    map[string]string{},
		"hook":     "",
		"delivery": "",
	}
}

// maxIndent bounds the whitespace toJSON adds by indenting.
const maxIndent = 4 << 20

// exprToJSON is expr's toJSON (indented by two spaces), except for a value
// whose indentation would add more than maxIndent bytes: that one is
// compact.
func exprToJSON(args ...any) (any, error) {
	var b []byte
	var err error
	if IndentFits(args[0], 0, maxIndent) {
		b, err = json.MarshalIndent(args[0], "", "  ")
	} else {
		b, err = json.Marshal(args[0])
	}
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// IndentFits reports whether indenting v (a decoded JSON value) by two
// spaces a level adds at most max bytes, v itself at level (0 at the top;
// 1 as a member of an API answer). Each value on a line of its own costs a
// newline and two spaces a level, and an object's member a space after
// its colon: a body nested thousands deep, a few KB, costs hundreds of MB,
// and a long list many levels deep its length times its depth.
func IndentFits(v any, level, max int) bool {
	budget := max
	var walk func(v any, depth int) bool
	walk = func(v any, depth int) bool {
		var n int
		switch x := v.(type) {
		case map[string]any:
			n = len(x)
			budget -= n // the space after each colon
			for _, e := range x {
				if !walk(e, depth+1) {
					return false
				}
			}
		case []any:
			n = len(x)
			for _, e := range x {
				if !walk(e, depth+1) {
					return false
				}
			}
		default:
			return true
		}
		if n > 0 { // an empty one stays on its line: {} or []
			// Each element's line, and the closing bracket's.
			budget -= n*(2*depth+3) + 2*depth + 1
		}
		return budget >= 0
	}
	return walk(v, level)
}

// Compile compiles a when expression. It must produce a boolean.
func Compile(text string) (*Expr, error) {
	env := sampleEnv()
	prog, err := expr.Compile(text, expr.Env(env), expr.AsBool(),
		// expr's own toJSON indents: over a payload nested thousands
		// deep (well within max_body) its output grows with the square
		// of the depth, gigabytes from a few KB. This one indents as
		// it does, within a bound.
		expr.DisableBuiltin("toJSON"),
		expr.Function("toJSON", exprToJSON, new(func(any) string)))
	if err != nil {
		msg := oneLine(err.Error())
		if strconv.IntSize == 32 && strings.Contains(msg, "integer literal is too large") {
			// expr's integers are ints: 32 bits here.
			msg += fmt.Sprintf("; on this 32-bit platform an integer literal is at most %d: write a larger one with a fraction (4294967297.0), which compares exactly up to 2^53", math.MaxInt32)
		}
		return nil, fmt.Errorf("when: %s", msg)
	}
	e := &Expr{text: text, prog: prog}
	tree, err := parser.Parse(text)
	// Without a tree to look at, the payload is read whole.
	e.use.whole = true
	if err == nil {
		c := &collector{inner: map[ast.Node]bool{}, keyed: map[ast.Node]bool{}}
		ast.Walk(&tree.Node, c)
		e.use = c.payloadUse()
		seen := map[string]bool{}
		for _, n := range c.nodes {
			s := n.String()
			if c.inner[n] || seen[s] {
				continue
			}
			seen[s] = true
			if p, err := expr.Compile(s, expr.Env(env)); err == nil {
				e.parts = append(e.parts, part{text: s, prog: p})
			}
		}
	}
	return e, nil
}

// Text returns the expression's source.
func (e *Expr) Text() string { return e.text }

// Eval runs the expression over d.
func (e *Expr) Eval(d *Data) (bool, error) {
	out, err := expr.Run(e.prog, d.exprEnv(e.use))
	if err != nil {
		return false, fmt.Errorf("when: %s", oneLine(err.Error()))
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("when: result is %T, not a boolean", out)
	}
	return b, nil
}

// Explain says what the values the expression reads were, for a when that
// came out false: `payload.ref is "refs/heads/dev"`.
func (e *Expr) Explain(d *Data) string {
	// Built by hand rather than with fmt: ingest explains every skipped
	// job, and fmt was half of this function's cost.
	env := d.exprEnv(e.use)
	var b strings.Builder
	b.WriteString("when is false: ")
	n := 0
	for _, p := range e.parts {
		v, err := expr.Run(p.prog, env)
		if err != nil {
			continue
		}
		if n > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.text)
		b.WriteString(" is ")
		b.WriteString(show(v))
		n++
	}
	if n == 0 {
		b.WriteString(e.text)
	}
	return b.String()
}

// show formats a value briefly for an explanation: a number as templates
// print it, a long value cut at a character.
func show(v any) string {
	switch x := v.(type) {
	case nil:
		return "missing"
	case string:
		return strconv.Quote(brief(x))
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return Number(x).String()
	case map[string]any:
		return "an object with " + strconv.Itoa(len(x)) + " keys"
	case []any:
		return "a list of " + strconv.Itoa(len(x))
	default:
		return brief(fmt.Sprint(x))
	}
}

// brief cuts s to 80 bytes, 77 and "...", at a character.
func brief(s string) string {
	if len(s) > 80 {
		s = textcut.Cut(s, 77) + "..."
	}
	return s
}

// collector gathers identifier and member nodes in post order, marking the
// ones that are the base of a longer chain.
type collector struct {
	nodes []ast.Node
	inner map[ast.Node]bool
	// payload identifiers, and those that are the base of a member access
	// by a constant string (payload.ref, payload["ref"]), with the keys.
	payloads []ast.Node
	keyed    map[ast.Node]bool
	keys     []string
	env      bool // $env is used: anything may be read
}

// payloadUse says what of the payload the expression reads: the top-level
// keys of constant member accesses, or, if payload is used in any other
// way (payload[name], len(payload), payload alone), all of it.
func (c *collector) payloadUse() payloadUse {
	if c.env {
		// $env.payload, $env["payload"]: read through the whole env.
		return payloadUse{whole: true}
	}
	for _, p := range c.payloads {
		if !c.keyed[p] {
			return payloadUse{whole: true}
		}
	}
	return payloadUse{keys: c.keys}
}

func (c *collector) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		c.nodes = append(c.nodes, n)
		switch n.Value {
		case "payload":
			c.payloads = append(c.payloads, n)
		case "$env":
			c.env = true
		}
	case *ast.MemberNode:
		c.inner[n.Node] = true
		c.nodes = append(c.nodes, n)
		if id, ok := n.Node.(*ast.IdentifierNode); ok && id.Value == "payload" {
			if s, ok := n.Property.(*ast.StringNode); ok {
				c.keyed[id] = true
				if !slices.Contains(c.keys, s.Value) {
					c.keys = append(c.keys, s.Value)
				}
			}
		}
	case *ast.CallNode:
		c.inner[n.Callee] = true
	}
}

func oneLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}
