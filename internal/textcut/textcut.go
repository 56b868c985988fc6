// Package textcut shortens text that is kept or shown to a byte limit
// without cutting a character in two.
package textcut

import (
	"bytes"
	"unicode/utf8"
)

// Cut shortens s to at most n bytes, not inside a character: one that
// starts before n and runs past it goes whole. Bytes that are no UTF-8 are
// cut where they are.
func Cut[T string | []byte](s T, n int) T {
	if len(s) <= n {
		return s
	}
	for i := n - 1; i >= 0 && i > n-utf8.UTFMax; i-- {
		if utf8.RuneStart(s[i]) {
			if r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))])); r != utf8.RuneError || size > 1 {
				if i+size > n {
					n = i
				}
			}
			break
		}
	}
	return s[:n]
}

// TrimRune drops the start of a character that the end of p cuts (text
// read or written a piece at a time): what starts one within its last
// UTFMax-1 bytes and does not end it.
func TrimRune(p []byte) []byte {
	for i := len(p) - 1; i >= 0 && i >= len(p)-utf8.UTFMax+1; i-- {
		if utf8.RuneStart(p[i]) {
			if !utf8.FullRune(p[i:]) {
				return p[:i]
			}
			break
		}
	}
	return p
}

// CutLines shortens text to at most n bytes after the last whole line that
// fits, or, when not even one line fits, as Cut does.
func CutLines(text []byte, n int) []byte {
	if len(text) <= n {
		return text
	}
	if i := bytes.LastIndexByte(text[:n+1], '\n'); i > 0 { // text[n] may end a line that fits
		return text[:i]
	}
	return Cut(text, n)
}
