// Package textcut shortens text that is kept or shown to a byte limit
// without cutting a character in two.
package textcut

import "unicode/utf8"

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
