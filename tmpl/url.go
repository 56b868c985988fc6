package tmpl

import (
	"fmt"
	"net/url"
	"strings"
	"text/template"
	"text/template/parse"
)

// Names of the escapers ParseURL adds to a url template's actions.
const (
	urlPathEscaper  = "_webhookd_urlpath"
	urlQueryEscaper = "_webhookd_urlquery"
)

// ParseURL is Parse for a URL template: what an action prints into the
// URL's path or past its ? or # is escaped, so that a payload value
// arrives as that value and cannot end the path, start or add a query
// parameter, or break the request (a ref "feature/x y&z"). In the path a
// value keeps its slashes ("o/r" is two segments), and past ? it is
// escaped as urlquery does. An action before the path (a whole URL,
// such as Slack's response_url, or its scheme and host) prints as it is,
// and so does one whose pipeline ends in urlquery, which escapes already.
// Where an action is goes by the template's text before it.
func ParseURL(name, text string) (*Template, error) {
	t, err := Parse(name, text)
	if err != nil || t.plain {
		return t, err
	}
	t.t.Funcs(template.FuncMap{urlPathEscaper: escapeURLPath, urlQueryEscaper: escapeURLQuery})
	var lit strings.Builder // the template's text so far
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.TextNode:
			lit.Write(n.Text)
		case *parse.ActionNode:
			if len(n.Pipe.Decl) > 0 || endsInURLQuery(n.Pipe) {
				return // prints nothing, or is escaped already
			}
			var esc string
			switch urlPart(lit.String()) {
			case "path":
				esc = urlPathEscaper
			case "query":
				esc = urlQueryEscaper
			default:
				return
			}
			n.Pipe.Cmds = append(n.Pipe.Cmds, &parse.CommandNode{NodeType: parse.NodeCommand, Pos: n.Pos,
				Args: []parse.Node{&parse.IdentifierNode{NodeType: parse.NodeIdentifier, Pos: n.Pos, Ident: esc}}})
		case *parse.IfNode:
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.List)
			walk(n.ElseList)
		}
	}
	walk(t.t.Tree.Root)
	return t, nil
}

// urlPart is the part of a URL that follows text: "prefix" (scheme and
// host, or nothing yet), "path", or "query" (past ? or #).
func urlPart(text string) string {
	text = strings.Replace(text, "://", "", 1)
	switch {
	case strings.ContainsAny(text, "?#"):
		return "query"
	case strings.Contains(text, "/"):
		return "path"
	}
	return "prefix"
}

func endsInURLQuery(p *parse.PipeNode) bool {
	if len(p.Cmds) == 0 {
		return false
	}
	last := p.Cmds[len(p.Cmds)-1]
	id, ok := last.Args[0].(*parse.IdentifierNode)
	return ok && id.Ident == "urlquery"
}

// escapeURLPath escapes v for a URL's path, keeping its slashes. A nil
// (a null) prints as text/template prints it, for Execute to refuse.
func escapeURLPath(v any) string {
	if v == nil {
		return noValue
	}
	return strings.ReplaceAll(url.PathEscape(fmt.Sprint(v)), "%2F", "/")
}

// escapeURLQuery escapes v for a URL's query, as urlquery does.
func escapeURLQuery(v any) string {
	if v == nil {
		return noValue
	}
	return url.QueryEscape(fmt.Sprint(v))
}
