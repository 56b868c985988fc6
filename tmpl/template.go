package tmpl

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"
)

// Template is a compiled text/template. The zero value is not usable; a nil
// *Template renders as the empty string.
type Template struct {
	text    string
	t       *template.Template
	plain   bool // no actions: Execute returns text as it is
	payload bool // it may read .payload: parse it first
	// warnings are mistakes in parts some runs skip (Warnings).
	warnings []string
}

// dataFields are the fields of the data every template renders over
// (Data.templateData); Parse refuses any other.
var dataFields = []string{"id", "hook", "event", "delivery", "payload", "body", "headers", "query", "received"}

// Funcs are the functions every template may call, besides text/template's
// own (printf, index, urlquery, ...).
func funcs() template.FuncMap {
	return template.FuncMap{
		"env":        os.Getenv,
		"json":       toJSON,
		"lower":      strings.ToLower,
		"upper":      strings.ToUpper,
		"trim":       strings.TrimSpace,
		"trimPrefix": func(prefix, s string) string { return strings.TrimPrefix(s, prefix) },
		"trimSuffix": func(suffix, s string) string { return strings.TrimSuffix(s, suffix) },
		"replace":    func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
	}
}

func toJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// Parse compiles text as a template called name (used in error messages).
func Parse(name, text string) (*Template, error) {
	if !strings.Contains(text, "{{") {
		return &Template{text: text, plain: true}, nil
	}
	fm := funcs()
	t, err := template.New(name).Option("missingkey=error").Funcs(fm).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("template: %s", trimTemplateErr(err.Error(), name))
	}
	warnings, err := check(t, text, fm)
	if err != nil {
		return nil, err
	}
	return &Template{text: text, t: t, payload: mayReadPayload(t), warnings: warnings}, nil
}

// Warnings are the mistakes Parse found in parts of the template that
// some runs skip (see check): it renders for the others.
func (t *Template) Warnings() []string { return t.warnings }

// check finds the mistakes of t that fail a run whenever it gets to them,
// whatever the event: a field the data does not have (.paylod), where dot
// or $ is the data, and a call of one of fm with the wrong number of
// arguments. One in a part that every run evaluates (the top level, the
// condition of if, with and range, the first operand of and and or) is an
// error, returned, as a syntax error is: the template can never render.
// One in a part some runs skip (a branch, a loop's body, a later operand of
// and or or) is only a warning, returned too: the template renders for the
// events that do not take it, as it did before this check. What a field
// of the payload is, or dot inside with, range and a defined template,
// depends on the event, and is left to the run.
func check(t *template.Template, text string, fm template.FuncMap) (warnings []string, err error) {
	trees := t.Templates()
	// In order, so that of several mistakes the same one is reported
	// every time.
	slices.SortFunc(trees, func(a, b *template.Template) int { return strings.Compare(a.Name(), b.Name()) })
	report := func(n parse.Node, always bool, format string, args ...any) {
		line := 1 + strings.Count(text[:min(int(n.Position()), len(text))], "\n")
		msg := fmt.Sprintf("template: %d: %s", line, fmt.Sprintf(format, args...))
		if !always {
			warnings = append(warnings, msg+" (in a part some runs skip: the runs that take it fail)")
		} else if err == nil {
			err = errors.New(msg)
		}
	}
	for _, tt := range trees {
		if tt.Tree == nil {
			continue
		}
		// In a defined template, dot and $ are what {{ template }} gives
		// it, and it runs only where it is called.
		main := tt == t
		walkEval(tt.Tree.Root, main, main, func(n parse.Node, top, always bool) {
			switch n := n.(type) {
			case *parse.FieldNode:
				if top && !slices.Contains(dataFields, n.Ident[0]) {
					report(n, always, "no field .%s: the data has %s", n.Ident[0], fieldList())
				}
			case *parse.VariableNode:
				if main && n.Ident[0] == "$" && len(n.Ident) > 1 && !slices.Contains(dataFields, n.Ident[1]) {
					report(n, always, "no field .%s: the data has %s", n.Ident[1], fieldList())
				}
			case *parse.PipeNode:
				for i, c := range n.Cmds {
					sc := shortCircuits(c)
					for j, a := range c.Args {
						always := always && !(sc && j >= 2)
						if num, ok := a.(*parse.NumberNode); ok && overflowsInt(num) {
							report(num, always, "%s is past the integers of this platform (%d to %d): compare the number as text, such as eq (printf \"%%d\" .payload.x) %q", num.Text, math.MinInt, math.MaxInt, num.Text)
							continue
						}
						id, ok := a.(*parse.IdentifierNode)
						if !ok || fm[id.Ident] == nil {
							continue
						}
						// A function first in a command is called with the
						// arguments after it, and the pipeline's value
						// after a |; anywhere else, with none.
						got := 0
						if j == 0 {
							got = len(c.Args) - 1
							if i > 0 {
								got++
							}
						}
						ft := reflect.TypeOf(fm[id.Ident])
						if want := ft.NumIn(); ft.IsVariadic() && got < want-1 {
							report(id, always, "wrong number of args for %s: want at least %d got %d", id.Ident, want-1, got)
						} else if !ft.IsVariadic() && got != want {
							report(id, always, "wrong number of args for %s: want %d got %d", id.Ident, want, got)
						}
					}
				}
			}
		})
	}
	return warnings, err
}

// overflowsInt reports whether text/template fails on the constant n at
// every run: it makes an integer constant an int (as it does in
// idealConstant), and one past int (past ±2^31 on a 32-bit platform) is
// an error there.
func overflowsInt(n *parse.NumberNode) bool {
	hexInt := len(n.Text) > 2 && n.Text[0] == '0' && (n.Text[1] == 'x' || n.Text[1] == 'X') && !strings.ContainsAny(n.Text, "pP")
	switch {
	case n.IsComplex:
		return false
	case n.IsFloat && !hexInt && !strings.HasPrefix(n.Text, "'") && strings.ContainsAny(n.Text, ".eEpP"):
		return false
	case n.IsInt:
		return int64(int(n.Int64)) != n.Int64
	}
	return n.IsUint
}

// walkEval calls hit for each dot, field, variable and pipeline node of
// the tree n, with top telling whether dot is the data there (with and
// range bind it to something else in their bodies) and always whether
// every run that gets to n's place evaluates it: not in the branches of
// if, with and range, nor in the operands of and and or after the first
// (which stop at the first that decides).
func walkEval(n parse.Node, top, always bool, hit func(n parse.Node, top, always bool)) {
	switch n := n.(type) {
	case *parse.DotNode, *parse.FieldNode, *parse.VariableNode:
		hit(n, top, always)
	case *parse.ChainNode:
		walkEval(n.Node, top, always, hit)
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			walkEval(c, top, always, hit)
		}
	case *parse.ActionNode:
		walkEval(n.Pipe, top, always, hit)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		hit(n, top, always)
		for _, c := range n.Cmds {
			walkEval(c, top, always, hit)
		}
	case *parse.CommandNode:
		sc := shortCircuits(n)
		for j, a := range n.Args {
			walkEval(a, top, always && !(sc && j >= 2), hit)
		}
	case *parse.IfNode:
		walkEval(n.Pipe, top, always, hit)
		walkEval(n.List, top, false, hit)
		walkEval(n.ElseList, top, false, hit)
	case *parse.RangeNode:
		walkEval(n.Pipe, top, always, hit)
		walkEval(n.List, false, false, hit)
		walkEval(n.ElseList, top, false, hit)
	case *parse.WithNode:
		walkEval(n.Pipe, top, always, hit)
		walkEval(n.List, false, false, hit)
		walkEval(n.ElseList, top, false, hit)
	case *parse.TemplateNode:
		walkEval(n.Pipe, top, always, hit)
	}
}

// shortCircuits reports whether c calls and or or, which evaluate their
// operands after the first only while none has decided.
func shortCircuits(c *parse.CommandNode) bool {
	if len(c.Args) == 0 {
		return false
	}
	id, ok := c.Args[0].(*parse.IdentifierNode)
	return ok && (id.Ident == "and" || id.Ident == "or")
}

// fieldList is dataFields as a sentence: .id, .hook, ... and .received.
func fieldList() string {
	s := "." + strings.Join(dataFields[:len(dataFields)-1], ", .")
	return s + " and ." + dataFields[len(dataFields)-1]
}

// mayReadPayload reports whether any template in t can reach .payload: by
// naming it (.payload, $.payload) or through the whole data (., $), as
// {{ json . }} and {{ range $k, $v := . }} do. It may say yes for a
// template that does not (.payload of a rebound dot); never no for one
// that does.
func mayReadPayload(t *template.Template) bool {
	for _, tt := range t.Templates() {
		if tt.Tree != nil && reachesPayload(tt.Tree.Root) {
			return true
		}
	}
	return false
}

func reachesPayload(n parse.Node) bool {
	return anyNode(n, true, func(n parse.Node, _ bool) bool {
		switch n := n.(type) {
		case *parse.DotNode:
			return true
		case *parse.FieldNode:
			return n.Ident[0] == "payload"
		case *parse.VariableNode:
			return n.Ident[0] == "$" && (len(n.Ident) == 1 || n.Ident[1] == "payload")
		}
		return false
	})
}

// UsesField reports whether t reads the field name of the data it renders
// (.name, $.name, or all of the data, as {{ json . }} does); .name inside
// with or range, where dot is something else, does not count.
func (t *Template) UsesField(name string) bool {
	if t == nil || t.plain {
		return false
	}
	for _, tt := range t.t.Templates() {
		if tt.Tree != nil && usesField(tt.Tree.Root, name) {
			return true
		}
	}
	return false
}

// usesField reports whether n reads field name of the data (see UsesField).
func usesField(n parse.Node, name string) bool {
	return anyNode(n, true, func(n parse.Node, top bool) bool {
		switch n := n.(type) {
		case *parse.DotNode:
			return top
		case *parse.FieldNode:
			return top && n.Ident[0] == name
		case *parse.VariableNode:
			return n.Ident[0] == "$" && (len(n.Ident) == 1 || n.Ident[1] == name)
		}
		return false
	})
}

// anyNode reports whether hit holds for a dot, field, variable or pipeline
// node of the tree n, walking its pipelines, branches and lists; top tells
// hit whether dot is the data itself there (with and range bind it to
// something else in their bodies).
func anyNode(n parse.Node, top bool, hit func(n parse.Node, top bool) bool) bool {
	switch n := n.(type) {
	case *parse.DotNode, *parse.FieldNode, *parse.VariableNode:
		return hit(n, top)
	case *parse.ChainNode:
		return anyNode(n.Node, top, hit)
	case *parse.ListNode:
		if n == nil {
			return false
		}
		for _, c := range n.Nodes {
			if anyNode(c, top, hit) {
				return true
			}
		}
	case *parse.ActionNode:
		return anyNode(n.Pipe, top, hit)
	case *parse.PipeNode:
		if n == nil {
			return false
		}
		if hit(n, top) {
			return true
		}
		for _, c := range n.Cmds {
			if anyNode(c, top, hit) {
				return true
			}
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			if anyNode(a, top, hit) {
				return true
			}
		}
	case *parse.IfNode:
		return anyNode(n.Pipe, top, hit) || anyNode(n.List, top, hit) || anyNode(n.ElseList, top, hit)
	case *parse.RangeNode:
		return anyNode(n.Pipe, top, hit) || anyNode(n.List, false, hit) || anyNode(n.ElseList, top, hit)
	case *parse.WithNode:
		return anyNode(n.Pipe, top, hit) || anyNode(n.List, false, hit) || anyNode(n.ElseList, top, hit)
	case *parse.TemplateNode:
		return anyNode(n.Pipe, top, hit)
	}
	return false
}

// MustParse is Parse for templates known to be valid; it panics otherwise.
func MustParse(name, text string) *Template {
	t, err := Parse(name, text)
	if err != nil {
		panic(err)
	}
	return t
}

// Text returns the template's source.
func (t *Template) Text() string {
	if t == nil {
		return ""
	}
	return t.text
}

// IsPlain reports whether the template has no actions.
func (t *Template) IsPlain() bool { return t == nil || t.plain }

// noValue is what text/template prints for a nil value.
const noValue = "<no value>"

// Execute renders the template over d. A key the payload lacks, or a value
// that is JSON null, is an error that names it.
func (t *Template) Execute(d *Data) (string, error) {
	if t == nil {
		return "", nil
	}
	if t.plain {
		return t.text, nil
	}
	var b strings.Builder
	if err := t.t.Execute(&b, d.templateData(t.payload)); err != nil {
		return "", &RenderError{Template: t.text, Msg: renderMsg(err)}
	}
	out := b.String()
	// text/template prints a null or missing value as noValue. Unless the
	// event itself holds that text, and the template may have printed it
	// from there: then a payload that says "<no value>" renders as it is,
	// however the body encoded it (and, in that event alone, a null would
	// too).
	if strings.Contains(out, noValue) && !strings.Contains(t.text, noValue) && !d.mentions(noValue, t.payload) {
		return "", &RenderError{Template: t.text, Msg: "a value it refers to is null or missing"}
	}
	return out, nil
}

// RenderError is a template that could not be rendered for one event.
type RenderError struct {
	Template string // the template's source
	Msg      string // what went wrong, naming the key
}

func (e *RenderError) Error() string {
	return fmt.Sprintf("%s in %q", e.Msg, e.Template)
}

var (
	reNoEntry = regexp.MustCompile(`at <([^>]*)>: map has no entry for key "([^"]*)"`)
	reNilPtr  = regexp.MustCompile(`at <([^>]*)>: nil pointer evaluating [^.]*\.(\S+)`)
	reAt      = regexp.MustCompile(`^template: [^:]*:\d+:\d+: executing "[^"]*" `)
)

// renderMsg turns text/template's execution errors into a sentence that
// names the missing key.
func renderMsg(err error) string {
	var ee template.ExecError
	s := err.Error()
	if errors.As(err, &ee) {
		s = ee.Err.Error()
	}
	if m := reNoEntry.FindStringSubmatch(s); m != nil {
		return fmt.Sprintf("no key %q (%s)", m[2], m[1])
	}
	if m := reNilPtr.FindStringSubmatch(s); m != nil {
		return fmt.Sprintf("no key %q: its parent is null or missing (%s)", m[2], m[1])
	}
	return reAt.ReplaceAllString(s, "")
}

func trimTemplateErr(s, name string) string {
	return strings.TrimPrefix(s, "template: "+name+":")
}
