package jsonstream

// StringState follows JSON text a byte at a time and tells which bytes
// are inside a string: what a scan that indents, measures or cuts JSON
// text must leave as it is.
type StringState struct{ in, escaped bool }

// Step takes the next byte of the text and reports whether it belongs to
// a string: its opening or closing quote, or a byte between them.
func (s *StringState) Step(c byte) bool {
	switch {
	case !s.in:
		s.in = c == '"'
		return s.in
	case s.escaped:
		s.escaped = false
	case c == '\\':
		s.escaped = true
	case c == '"':
		s.in = false
	}
	return true
}

// In reports whether the text taken so far ends inside a string.
func (s *StringState) In() bool { return s.in }
