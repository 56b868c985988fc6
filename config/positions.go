package config

import (
	"strconv"
	"strings"
)

// positions maps each key of a TOML document to the line it is on. Keys are
// dotted paths in which every array-of-tables element carries its index:
// "hook.1.action.0.run". BurntSushi/toml does not expose key positions (and
// the ones in its own errors are those of the last element of an array of
// tables), so webhookd reads them itself: this is not a parser, only a
// scanner that knows where keys, strings and brackets begin and end.
type positions struct {
	lines map[string]int
}

// line returns the line of path, or of its nearest ancestor that has one,
// or 0.
func (p *positions) line(path string) int {
	for path != "" {
		if n, ok := p.lines[path]; ok {
			return n
		}
		i := strings.LastIndexByte(path, '.')
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// scanPositions scans src. On input it cannot follow it stops early and
// keeps what it found; lines are then found for fewer keys, never wrong ones
// for the keys before that point.
func scanPositions(src string) (p *positions) {
	s := &scanner{src: src, line: 1, p: &positions{lines: map[string]int{}}, counts: map[string]int{}, arrays: map[string]bool{}}
	p = s.p
	defer func() {
		// A scanner bug must never break loading: positions are a courtesy.
		_ = recover()
	}()
	s.document()
	return p
}

type scanner struct {
	src    string
	i      int
	line   int
	p      *positions
	table  string          // resolved path of the current table
	counts map[string]int  // array-of-tables path → elements so far
	arrays map[string]bool // paths that are arrays of tables
}

func (s *scanner) eof() bool { return s.i >= len(s.src) }

func (s *scanner) peek() byte {
	if s.eof() {
		return 0
	}
	return s.src[s.i]
}

func (s *scanner) advance() {
	if s.src[s.i] == '\n' {
		s.line++
	}
	s.i++
}

func (s *scanner) skipSpace() {
	for !s.eof() && (s.peek() == ' ' || s.peek() == '\t') {
		s.i++
	}
}

func (s *scanner) skipComment() {
	for !s.eof() && s.peek() != '\n' {
		s.i++
	}
}

// skipBlank skips spaces, newlines and comments.
func (s *scanner) skipBlank() {
	for !s.eof() {
		switch s.peek() {
		case ' ', '\t', '\r', '\n':
			s.advance()
		case '#':
			s.skipComment()
		default:
			return
		}
	}
}

func (s *scanner) document() {
	// A byte order mark, which some editors write and the TOML parser
	// skips.
	if strings.HasPrefix(s.src, "\ufeff") {
		s.i = len("\ufeff")
	}
	for {
		s.skipBlank()
		if s.eof() {
			return
		}
		start := s.line
		if s.peek() == '[' {
			s.i++
			array := s.peek() == '['
			if array {
				s.i++
			}
			keys := s.key()
			if len(keys) == 0 {
				s.skipComment()
				continue
			}
			s.skipSpace()
			for !s.eof() && s.peek() == ']' {
				s.i++
			}
			s.header(keys, array, start)
			s.skipSpace()
			if s.peek() == '#' {
				s.skipComment()
			}
			continue
		}
		s.keyValue(s.table, start)
	}
}

// header handles [a.b] and [[a.b]].
func (s *scanner) header(keys []string, array bool, line int) {
	path := s.resolve("", keys[:len(keys)-1])
	path = join(path, keys[len(keys)-1])
	if array {
		n := s.counts[path]
		s.counts[path] = n + 1
		s.arrays[path] = true
		path = path + "." + strconv.Itoa(n)
	}
	s.table = path
	s.p.lines[path] = line
}

// resolve appends keys to base, entering the newest element of any array
// of tables on the way.
func (s *scanner) resolve(base string, keys []string) string {
	path := base
	for _, k := range keys {
		path = join(path, k)
		if s.arrays[path] {
			path = path + "." + strconv.Itoa(s.counts[path]-1)
		}
	}
	return path
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// keyValue reads key = value in table base.
func (s *scanner) keyValue(base string, line int) {
	keys := s.key()
	if len(keys) == 0 {
		// Not a key: give up on this line.
		s.skipComment()
		if !s.eof() {
			s.advance()
		}
		return
	}
	path := join(s.resolve(base, keys[:len(keys)-1]), keys[len(keys)-1])
	s.p.lines[path] = line
	s.skipSpace()
	if s.peek() != '=' {
		s.skipComment()
		return
	}
	s.i++
	s.skipSpace()
	s.value(path)
}

// key reads a dotted key of bare and quoted parts.
func (s *scanner) key() []string {
	var keys []string
	for {
		s.skipSpace()
		switch c := s.peek(); {
		case c == '"':
			keys = append(keys, s.basicString())
		case c == '\'':
			keys = append(keys, s.literalString())
		case isBare(c):
			start := s.i
			for !s.eof() && isBare(s.peek()) {
				s.i++
			}
			keys = append(keys, s.src[start:s.i])
		default:
			return keys
		}
		s.skipSpace()
		if s.peek() != '.' {
			return keys
		}
		s.i++
	}
}

func isBare(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// value skips a value, recording the keys of inline tables under path.
func (s *scanner) value(path string) {
	switch s.peek() {
	case '"':
		if strings.HasPrefix(s.src[s.i:], `"""`) {
			s.multiline(`"""`, true)
		} else {
			s.basicString()
		}
	case '\'':
		if strings.HasPrefix(s.src[s.i:], `'''`) {
			s.multiline(`'''`, false)
		} else {
			s.literalString()
		}
	case '[':
		s.i++
		// Each element is path.N, as the decoder names the elements of
		// an array of inline tables (hook = [{ … }, { … }]).
		for n := 0; ; {
			s.skipBlank()
			if s.eof() {
				return
			}
			if s.peek() == ']' {
				s.i++
				return
			}
			if s.peek() == ',' {
				s.i++
				continue
			}
			elem := path + "." + strconv.Itoa(n)
			n++
			s.p.lines[elem] = s.line
			before := s.i
			s.value(elem)
			if s.i == before {
				s.advance()
			}
		}
	case '{':
		s.i++
		for {
			s.skipBlank()
			if s.eof() {
				return
			}
			switch s.peek() {
			case '}':
				s.i++
				return
			case ',':
				s.i++
				continue
			}
			line := s.line
			keys := s.key()
			if len(keys) == 0 {
				s.advance()
				continue
			}
			inner := path
			for _, k := range keys {
				inner = join(inner, k)
			}
			s.p.lines[inner] = line
			s.skipSpace()
			if s.peek() == '=' {
				s.i++
				s.skipSpace()
				s.value(inner)
			}
		}
	default:
		for !s.eof() {
			switch s.peek() {
			case '\n', '#', ',', ']', '}':
				return
			}
			s.i++
		}
	}
}

func (s *scanner) basicString() string {
	s.i++ // opening quote
	var b strings.Builder
	for !s.eof() {
		c := s.peek()
		switch c {
		case '\\':
			s.i++
			if !s.eof() {
				b.WriteByte(s.peek())
				s.i++
			}
		case '"':
			s.i++
			return b.String()
		case '\n':
			return b.String() // unterminated: let the parser complain
		default:
			b.WriteByte(c)
			s.i++
		}
	}
	return b.String()
}

func (s *scanner) literalString() string {
	s.i++
	start := s.i
	for !s.eof() && s.peek() != '\'' && s.peek() != '\n' {
		s.i++
	}
	str := s.src[start:s.i]
	if s.peek() == '\'' {
		s.i++
	}
	return str
}

func (s *scanner) multiline(delim string, escapes bool) {
	s.i += len(delim)
	for !s.eof() {
		if escapes && s.peek() == '\\' {
			s.advance()
			if !s.eof() {
				s.advance()
			}
			continue
		}
		if strings.HasPrefix(s.src[s.i:], delim) {
			s.i += len(delim)
			// Up to two more quotes may belong to the content.
			for k := 0; k < 2 && !s.eof() && s.peek() == delim[0]; k++ {
				s.i++
			}
			return
		}
		s.advance()
	}
}
