// Package tmpl compiles and evaluates the two small languages of a webhookd
// config file: Go text/template templates (an action's run, env, url,
// headers, body and key) and expr-lang expressions (an action's when).
//
// Both are compiled once, when the config is loaded, and evaluated per event
// over a [Data]. The invariants:
//
//   - A template that refers to a key the payload lacks fails with an error
//     that names the key; it never renders an empty string in its place.
//   - A mistake that would fail every run is refused by [Parse], at its
//     line: a field the data does not have (.paylod), or one of the
//     template functions called with the wrong number of arguments.
//   - A when expression must produce a boolean; this is checked at compile
//     time where the types allow it and at run time otherwise.
//   - When a when expression is false, [Expr.Explain] says why, naming the
//     values it looked at ("payload.ref is \"refs/heads/dev\"").
//
// The payload is parsed lazily, once per event: a JSON body (or GitHub's
// form-encoded payload= field) becomes a tree of maps, slices, strings,
// bools, int64 and float64 (in templates an [Integer], which printf's
// float verbs format too, and a [Number], which prints without an
// exponent), and json.Number for what neither holds (a [Decimal] in
// templates, printed as sent); any other form body
// becomes a map of its fields.
// Anything else is available only as the raw body.
package tmpl
